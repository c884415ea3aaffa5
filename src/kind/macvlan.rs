//! MACVLAN children (`kind = "macvlan"`, `parent`, `mode`, `source_macs`): each child has a
//! MAC of its own on its parent; the mode says whether siblings see each other. Owns the
//! kind's model, `ip` words, netlink message and kernel feature.

use super::{KernelFeature, LinkType};
use crate::kernel::netlink::LinkSettings;
use crate::model::Mac;
use rtnetlink::LinkMacVlan;
use rtnetlink::packet_route::link::{InfoMacVlan, LinkMessage, MacVlanMacAddressMode, MacVlanMode};
use serde::Serialize;

pub const NAME: &str = "macvlan";
pub const KEYS: &[&str] = &["parent", "mode", "source_macs"];
pub const FEATURES: &[KernelFeature] = &[KernelFeature::Macvlan];
pub const MODULE: &str = "macvlan";

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

    fn kernel(self) -> MacVlanMode {
        match self {
            MacvlanMode::Private => MacVlanMode::Private,
            MacvlanMode::Vepa => MacVlanMode::Vepa,
            MacvlanMode::Bridge => MacVlanMode::Bridge,
            MacvlanMode::Passthru => MacVlanMode::Passthrough,
            MacvlanMode::Source => MacVlanMode::Source,
        }
    }
}

pub fn describe(mode: MacvlanMode) -> String {
    format!("macvlan {}", mode.as_str())
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    pub mode: MacvlanMode,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_macs: Vec<Mac>,
}

impl Link {
    /// `macvlan mode M [macaddr set MAC...]`
    pub fn ip_type(&self) -> String {
        let macs: Vec<String> = self.source_macs.iter().map(Mac::to_string).collect();
        let macs = if macs.is_empty() { String::new() } else { format!(" macaddr set {}", macs.join(" ")) };
        format!("macvlan mode {}{macs}", self.mode.as_str())
    }

    pub fn message(&self, name: &str, parent: u32, settings: &LinkSettings) -> LinkMessage {
        let mut builder = LinkMacVlan::new(name, parent, self.mode.kernel());
        if !self.source_macs.is_empty() {
            builder = builder
                .append_info_data(InfoMacVlan::MacAddrMode(MacVlanMacAddressMode::Set))
                .append_info_data(InfoMacVlan::MacAddrData(
                    self.source_macs.iter().map(|m| InfoMacVlan::MacAddr(m.0)).collect(),
                ));
        }
        settings.apply(builder).build()
    }
}

pub fn sample() -> LinkType {
    LinkType::Macvlan(Link { mode: MacvlanMode::Bridge, source_macs: Vec::new() })
}
