//! Bridges: what a `[[switch]]` is made of, one per switch, VLAN-aware when a port of it has
//! `access` or `trunk`. Owns the bridge's `ip` words, netlink message and kernel features.

use super::KernelFeature;
use crate::kernel::netlink::LinkSettings;
use rtnetlink::packet_route::link::LinkMessage;
use rtnetlink::{LinkBridge, LinkMessageBuilder};
use serde::Serialize;

pub const NAME: &str = "bridge";
pub const KEYS: &[&str] = &[];
pub const FEATURES: &[KernelFeature] = &[KernelFeature::Bridge, KernelFeature::BridgeVlanFiltering];
pub const MODULE: &str = "bridge";
pub const VLAN_FILTERING: &str = "bridge VLAN filtering";

pub fn feature(vlan_filtering: bool) -> KernelFeature {
    if vlan_filtering { KernelFeature::BridgeVlanFiltering } else { KernelFeature::Bridge }
}

pub fn describe(vlan_filtering: bool) -> String {
    if vlan_filtering { "bridge, VLAN filtering".into() } else { NAME.into() }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    pub vlan_filtering: bool,
}

impl Link {
    /// `bridge [vlan_filtering 1]`: a kernel's bridge filters no VLANs unless told, and a
    /// kernel without VLAN filtering refuses even `vlan_filtering 0`.
    pub fn ip_type(&self) -> String {
        if self.vlan_filtering { "bridge vlan_filtering 1".into() } else { NAME.into() }
    }

    pub fn message(&self, name: &str, settings: &LinkSettings) -> LinkMessage {
        let mut builder = LinkMessageBuilder::<LinkBridge>::new(name);
        if self.vlan_filtering {
            builder = builder.vlan_filtering(true);
        }
        settings.apply(builder).build()
    }

    /// The changelink that turns VLAN filtering on or off on a live bridge.
    pub fn filtering_message(&self, index: u32) -> LinkMessage {
        use rtnetlink::packet_route::link::{InfoBridge, InfoData, InfoKind};
        let data = InfoData::Bridge(vec![InfoBridge::VlanFiltering(self.vlan_filtering)]);
        super::change_message(index, InfoKind::Bridge, data)
    }
}
