//! Interface kinds: one variant per link kind the kernel makes, with only that kind's settings.

use super::{IfaceId, Mac};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum IfaceKind {
    /// One end of a cable (veth pair). `port` is set when the end is a switch port.
    Veth {
        peer: IfaceId,
        port: Option<PortVlans>,
    },
    /// A switch's bridge; ports name it as their master.
    Bridge {
        vlan_filtering: bool,
    },
    Vlan {
        parent: IfaceId,
        id: u16,
        protocol: VlanProtocol,
    },
    Macvlan {
        parent: IfaceId,
        mode: MacvlanMode,
        source_macs: Vec<Mac>,
    },
    Ipvlan {
        parent: IfaceId,
        mode: IpvlanMode,
        flag: IpvlanFlag,
    },
    Dummy,
}

impl IfaceKind {
    pub fn name(&self) -> &'static str {
        match self {
            IfaceKind::Veth { .. } => "veth",
            IfaceKind::Bridge { .. } => "bridge",
            IfaceKind::Vlan { .. } => "vlan",
            IfaceKind::Macvlan { .. } => "macvlan",
            IfaceKind::Ipvlan { .. } => "ipvlan",
            IfaceKind::Dummy => "dummy",
        }
    }

    /// The interface this one is stacked on, if any.
    pub fn parent(&self) -> Option<IfaceId> {
        match self {
            IfaceKind::Vlan { parent, .. }
            | IfaceKind::Macvlan { parent, .. }
            | IfaceKind::Ipvlan { parent, .. } => Some(*parent),
            _ => None,
        }
    }

    pub fn port(&self) -> Option<&PortVlans> {
        match self {
            IfaceKind::Veth { port, .. } => port.as_ref(),
            _ => None,
        }
    }
}

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
}

/// MACVLAN modes, with the kernel's values (include/uapi/linux/if_link.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    Private,
    Vepa,
    Bridge,
    Passthru,
    Source,
}

impl MacvlanMode {
    pub const ALL: [(&'static str, MacvlanMode); 5] = [
        ("private", MacvlanMode::Private),
        ("vepa", MacvlanMode::Vepa),
        ("bridge", MacvlanMode::Bridge),
        ("passthru", MacvlanMode::Passthru),
        ("source", MacvlanMode::Source),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, m)| *m == self).map(|(s, _)| *s).unwrap_or_default()
    }
}

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
}
