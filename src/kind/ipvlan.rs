//! IPVLAN children (`kind = "ipvlan"`, `parent`, `mode`, `flag`): children share their
//! parent's MAC and are told apart by address; L3 modes route for them. Owns the kind's
//! model, `ip` words, netlink message and kernel feature.

use super::{KernelFeature, LinkType};
use crate::kernel::netlink::LinkSettings;
use rtnetlink::LinkIpVlan;
use rtnetlink::packet_route::link::{IpVlanFlags, IpVlanMode, LinkMessage};
use serde::Serialize;

pub const NAME: &str = "ipvlan";
pub const KEYS: &[&str] = &["parent", "mode", "flag"];
pub const FEATURES: &[KernelFeature] = &[KernelFeature::Ipvlan];
pub const MODULE: &str = "ipvlan";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanMode {
    L2,
    L3,
    L3s,
}

impl IpvlanMode {
    pub const ALL: [(&'static str, IpvlanMode); 3] =
        [("l2", IpvlanMode::L2), ("l3", IpvlanMode::L3), ("l3s", IpvlanMode::L3s)];

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, m)| *m == self).map(|(s, _)| *s).unwrap_or_default()
    }

    /// L3 and L3S children do no ARP: the parent's stack routes for them.
    pub fn is_l3(self) -> bool {
        matches!(self, IpvlanMode::L3 | IpvlanMode::L3s)
    }

    fn kernel(self) -> IpVlanMode {
        match self {
            IpvlanMode::L2 => IpVlanMode::L2,
            IpvlanMode::L3 => IpVlanMode::L3,
            IpvlanMode::L3s => IpVlanMode::L3S,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanFlag {
    Bridge,
    Private,
    Vepa,
}

impl IpvlanFlag {
    pub const ALL: [(&'static str, IpvlanFlag); 3] =
        [("bridge", IpvlanFlag::Bridge), ("private", IpvlanFlag::Private), ("vepa", IpvlanFlag::Vepa)];

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, m)| *m == self).map(|(s, _)| *s).unwrap_or_default()
    }

    fn kernel(self) -> IpVlanFlags {
        match self {
            IpvlanFlag::Bridge => IpVlanFlags::empty(),
            IpvlanFlag::Private => IpVlanFlags::Private,
            IpvlanFlag::Vepa => IpVlanFlags::Vepa,
        }
    }
}

pub fn describe(mode: IpvlanMode, flag: IpvlanFlag) -> String {
    format!("ipvlan {} {}", mode.as_str(), flag.as_str())
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    pub mode: IpvlanMode,
    pub flag: IpvlanFlag,
}

impl Link {
    /// `ipvlan mode M FLAG`
    pub fn ip_type(&self) -> String {
        format!("ipvlan mode {} {}", self.mode.as_str(), self.flag.as_str())
    }

    pub fn message(&self, name: &str, parent: u32, settings: &LinkSettings) -> LinkMessage {
        settings.apply(LinkIpVlan::new(name, parent, self.mode.kernel()).flag(self.flag.kernel())).build()
    }
}

pub fn sample() -> LinkType {
    LinkType::Ipvlan(Link { mode: IpvlanMode::L2, flag: IpvlanFlag::Bridge })
}
