//! 802.1Q and 802.1ad sub-interfaces (`kind = "vlan"`, `parent`, `id`, `protocol`): frames
//! sent on one leave their parent tagged with `id`. Owns the kind's model, `ip` words,
//! netlink message and kernel feature.

use super::{KernelFeature, LinkType};
use crate::kernel::netlink::LinkSettings;
use rtnetlink::LinkVlan;
use rtnetlink::packet_route::link::LinkMessage;
use serde::Serialize;

pub const NAME: &str = "vlan";
pub const KEYS: &[&str] = &["parent", "id", "protocol"];
pub const FEATURES: &[KernelFeature] = &[KernelFeature::Vlan];
pub const MODULE: &str = "8021q";
pub const DESCRIPTION: &str = "802.1Q VLAN (8021q)";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum VlanProtocol {
    #[serde(rename = "802.1Q")]
    Dot1Q,
    #[serde(rename = "802.1ad")]
    Dot1Ad,
}

impl VlanProtocol {
    pub fn ethertype(self) -> u16 {
        match self {
            VlanProtocol::Dot1Q => 0x8100,
            VlanProtocol::Dot1Ad => 0x88a8,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VlanProtocol::Dot1Q => "802.1Q",
            VlanProtocol::Dot1Ad => "802.1ad",
        }
    }

    fn kernel(self) -> rtnetlink::packet_route::link::VlanProtocol {
        match self {
            VlanProtocol::Dot1Q => rtnetlink::packet_route::link::VlanProtocol::Ieee8021Q,
            VlanProtocol::Dot1Ad => rtnetlink::packet_route::link::VlanProtocol::Ieee8021Ad,
        }
    }
}

pub fn describe(id: u16, protocol: VlanProtocol) -> String {
    format!("vlan {} id {id}", protocol.as_str())
}

pub fn summary_label(protocol: VlanProtocol) -> String {
    format!("vlan {}", protocol.as_str())
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    pub id: u16,
    pub protocol: VlanProtocol,
}

impl Link {
    /// `vlan protocol P id ID`
    pub fn ip_type(&self) -> String {
        format!("vlan protocol {} id {}", self.protocol.as_str(), self.id)
    }

    pub fn message(&self, name: &str, parent: u32, settings: &LinkSettings) -> LinkMessage {
        settings.apply(LinkVlan::new(name, parent, self.id).protocol(self.protocol.kernel())).build()
    }
}

pub fn sample() -> LinkType {
    LinkType::Vlan(Link { id: 5, protocol: VlanProtocol::Dot1Q })
}
