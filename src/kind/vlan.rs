//! 802.1Q and 802.1ad sub-interfaces (`kind = "vlan"`, `parent`, `id`, `protocol`): frames
//! sent on one leave their parent tagged with `id`. Owns the kind's model, `ip` words,
//! netlink message and kernel feature.

use super::{KernelFeature, LinkType};
use crate::kernel::netlink::LinkSettings;
use crate::model::{IfaceId, IfaceKind};
use crate::topology::reader::{S, Table};
use crate::topology::validate::vlan_id;
use rtnetlink::LinkVlan;
use rtnetlink::packet_route::link::LinkMessage;
use serde::Serialize;
use std::collections::BTreeMap;
use toml::Spanned;

pub const NAME: &str = "vlan";
pub const KEYS: &[&str] = &["parent", "id", "protocol"];
pub const FEATURES: &[KernelFeature] = &[KernelFeature::Vlan];
pub const MODULE: &str = "8021q";
pub const DESCRIPTION: &str = "802.1Q VLAN (8021q)";
/// A VLAN goes below 68 (it then carries no IPv4).
pub const MTU_RANGE: (u32, u32) = (0, 65535);

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

/// A VLAN sub-interface's own keys as written.
#[derive(Clone)]
pub struct Doc {
    pub parent: Option<S<String>>,
    pub id: Option<S<i64>>,
    pub protocol: Option<S<String>>,
}

pub fn read(t: &Table<'_, '_>) -> Doc {
    Doc { parent: t.string("parent"), id: t.integer("id"), protocol: t.string("protocol") }
}

// Validation: this kind's keys, and the rules among siblings of one lower device.

use super::KindDoc;
use crate::topology::diagnostic::Diagnostic;
use crate::topology::document::IfaceDoc;
use crate::topology::validate::Draft;
use crate::topology::validate::children::{parent, word};

pub(crate) fn validate(d: &Draft<'_>, id: IfaceId, iface: &IfaceDoc, doc: &Doc) -> Option<IfaceKind> {
    let parent = parent(d, id, iface);
    let vid = match &doc.id {
        // 0 is priority tagging: frames carry a tag with no VLAN, which the kernel allows.
        Some(vid) if *vid.get_ref() == 0 => Some(0),
        Some(vid) => vlan_id(d, vid, "VLAN id"),
        None if iface.written.has("id") => None,
        None => {
            d.error(
                Diagnostic::error(iface.span.clone(), "a vlan interface needs an `id`")
                    .label("which VLAN?")
                    .help("add `id = 19` (1..4094)"),
            );
            None
        }
    };
    let protocol = match doc.protocol.as_ref() {
        None => Some(VlanProtocol::Dot1Q),
        Some(p) => {
            word(d, p, "protocol", &[("802.1Q", VlanProtocol::Dot1Q), ("802.1ad", VlanProtocol::Dot1Ad)])
        }
    };
    Some(IfaceKind::Vlan { parent: parent?, id: vid?, protocol: protocol? })
}

/// A sub-interface whose parent is a cable end on a VLAN-aware switch port that does not
/// carry its VLAN: its frames are dropped at the port (warned at its `id`).
pub(crate) fn check_tag_on_port(d: &Draft<'_>, kid: IfaceId) {
    let IfaceKind::Vlan { parent, id, .. } = *d.kind(kid) else { return };
    let IfaceKind::Veth { peer, .. } = d.kind(parent) else { return };
    let Some(port) = d.kind(*peer).port().filter(|p| p.has_vlans()) else { return };
    if port.access == Some(id) || port.trunk.contains(&id) {
        return;
    }
    let span = match d.declared.get(&kid).map(|doc| &doc.own) {
        Some(KindDoc::Vlan(Doc { id: Some(written), .. })) => written.span(),
        _ => d.iface_span(kid),
    };
    let parent_name = &d.lab.iface(parent).name;
    let mut trunk = port.trunk.clone();
    trunk.push(id);
    trunk.sort_unstable();
    let trunk = trunk.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    d.error(
        Diagnostic::warning(span, format!("VLAN {id} is not on the switch port of `{parent_name}`"))
            .label(format!("the port {} carries {}", d.lab.iface_label(*peer), port.describe()))
            .help(format!(
                "the switch drops the frames of `{}` there: add {id} to the trunk of `{parent_name}` (`trunk = [{trunk}]`)",
                d.lab.iface(kid).name
            )),
    );
}

/// A parent carries each VLAN id once per protocol.
pub(crate) fn check_siblings(d: &Draft<'_>, kids: &[IfaceId]) {
    let mut seen: BTreeMap<(u16, u16, IfaceId), IfaceId> = BTreeMap::new();
    for &kid in kids {
        let IfaceKind::Vlan { parent, id, protocol } = *d.kind(kid) else { continue };
        match seen.get(&(protocol.ethertype(), id, parent)) {
            Some(&first) => d.error(
                Diagnostic::error(
                    d.iface_span(kid),
                    format!("VLAN {id} is on `{}` twice", d.lab.iface_label(parent)),
                )
                .label(format!("`{}`", d.lab.iface_label(kid)))
                .related(d.iface_span(first), format!("`{}` has the same id", d.lab.iface_label(first)))
                .help("a parent carries each VLAN id once per protocol: remove one, or change its `id`"),
            ),
            None => {
                seen.insert((protocol.ethertype(), id, parent), kid);
            }
        }
    }
}

/// The name a VLAN sub-interface gets when it has none: `PARENT.ID`, as `ip` users write it.
pub fn default_name(iface: &IfaceDoc, doc: &Doc) -> Option<Spanned<String>> {
    let parent = doc.parent.as_ref()?;
    let id = doc.id.as_ref()?;
    let parent_name = parent.get_ref().rsplit(':').next().unwrap_or_default();
    Some(Spanned::new(iface.span.clone(), format!("{parent_name}.{}", id.get_ref())))
}
