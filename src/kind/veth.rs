//! Cables (`link = ...`): veth pairs, one end in each node, and the switch-port settings an
//! end on a switch takes (`access`, `trunk`, `hairpin`). Owns the pair's model, its `ip`
//! words and its netlink message (the peer made in its own namespace, down).

use super::{KernelFeature, LinkType};
use crate::kernel::netlink::LinkSettings;
use crate::model::{IfaceId, Mac};
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkMessage};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVeth};
use serde::Serialize;
use std::fmt::Write;
use std::os::fd::RawFd;

pub const NAME: &str = "veth";
pub const KEYS: &[&str] = &["link", "access", "trunk", "hairpin"];
pub const FEATURES: &[KernelFeature] = &[KernelFeature::Veth];
pub const MODULE: &str = "veth";

/// A veth pair. `a` is created first; `b` is its peer, made directly in its own namespace.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Cable {
    pub a: IfaceId,
    pub b: IfaceId,
}

/// A bridge port's VLAN membership (`bridge vlan add ... dev PORT`) and reflective relay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PortVlans {
    pub master: Option<IfaceId>,
    /// Untagged member and PVID.
    pub access: Option<u16>,
    /// Tagged members.
    pub trunk: Vec<u16>,
    pub hairpin: bool,
}

impl PortVlans {
    pub fn has_vlans(&self) -> bool {
        self.access.is_some() || !self.trunk.is_empty()
    }

    /// Whether the port is in VLAN 1, the bridge's default: otherwise it is taken off.
    pub fn keeps_default_vlan(&self) -> bool {
        self.access == Some(1) || self.trunk.contains(&1)
    }
}

/// The far end of a new pair: made in `netns`, down (the kernel cannot open a veth before
/// its pair is joined), with its own address and MTU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    pub peer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<Mac>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

impl Link {
    /// `veth peer name PEER [address MAC] [mtu MTU] [netns NS]`
    pub fn ip_type(&self) -> String {
        let mut words = format!("veth peer name {}", crate::plan::quote(&self.peer));
        if let Some(mac) = self.mac {
            let _ = write!(words, " address {mac}");
        }
        if let Some(mtu) = self.mtu {
            let _ = write!(words, " mtu {mtu}");
        }
        if let Some(netns) = &self.netns {
            let _ = write!(words, " netns {}", crate::plan::quote(netns));
        }
        words
    }

    pub fn message(&self, name: &str, settings: &LinkSettings, peer_netns: Option<RawFd>) -> LinkMessage {
        let far = LinkSettings { mac: self.mac, mtu: self.mtu, up: false, netns: peer_netns, master: None };
        let peer = far.apply(LinkMessageBuilder::<LinkUnspec>::new().name(&self.peer)).build();
        let builder = LinkVeth::new(name, "").set_info_data(InfoData::Veth(InfoVeth::Peer(peer)));
        settings.apply(builder).build()
    }
}

pub fn sample() -> LinkType {
    LinkType::Veth(Link { peer: "probepeer".into(), netns: None, mac: None, mtu: None })
}
