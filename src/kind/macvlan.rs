//! MACVLAN children (`kind = "macvlan"`, `parent`, `mode`, `source_macs`): each child has a
//! MAC of its own on its parent; the mode says whether siblings see each other. Owns the
//! kind's model, `ip` words, netlink message and kernel feature.

use super::{KernelFeature, LinkType};
use crate::kernel::netlink::LinkSettings;
use crate::model::Mac;
use crate::model::{IfaceId, IfaceKind};
use crate::topology::document::MAC;
use crate::topology::reader::{S, Table};
use crate::topology::validate::children::parent_span;
use rtnetlink::LinkMacVlan;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, LinkMessage, MacVlanMacAddressMode, MacVlanMode,
};
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

/// Whether a child in this mode hears the broadcasts that reach its lower device (passthru
/// takes the device over; source hears only its listed senders).
pub fn hears_lower_broadcasts(mode: MacvlanMode) -> bool {
    matches!(mode, MacvlanMode::Private | MacvlanMode::Vepa | MacvlanMode::Bridge)
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

    /// The changelink of a live child: only its mode (`ip link set dev X type macvlan mode M`).
    pub fn mode_message(&self, index: u32) -> LinkMessage {
        let data = InfoData::MacVlan(vec![InfoMacVlan::Mode(self.mode.kernel())]);
        super::change_message(index, InfoKind::MacVlan, data)
    }
}

pub fn sample() -> LinkType {
    LinkType::Macvlan(Link { mode: MacvlanMode::Bridge, source_macs: Vec::new() })
}

/// A macvlan child's own keys as written.
#[derive(Clone)]
pub struct Doc {
    pub parent: Option<S<String>>,
    pub mode: Option<S<String>>,
    pub source_macs: Option<S<Vec<S<Mac>>>>,
}

pub fn read(t: &Table<'_, '_>) -> Doc {
    Doc { parent: t.string("parent"), mode: t.string("mode"), source_macs: t.parsed_list("source_macs", MAC) }
}

// Validation: this kind's keys, and the rules among siblings of one lower device.

use crate::topology::diagnostic::Diagnostic;
use crate::topology::document::IfaceDoc;
use crate::topology::validate::Draft;
use crate::topology::validate::children::{parent, word};

/// Rules among the macvlan children of one lower device.
pub(crate) fn check_siblings(d: &Draft<'_>, macvlans: &[IfaceId]) {
    check_passthru(d, macvlans);
    check_macs(d, macvlans);
}

pub(crate) fn validate(d: &Draft<'_>, id: IfaceId, iface: &IfaceDoc, doc: &Doc) -> Option<IfaceKind> {
    let parent = parent(d, id, iface);
    let mode = match &doc.mode {
        Some(mode) => word(d, mode, "mode", &MacvlanMode::ALL)?,
        None => {
            d.error(
                Diagnostic::warning(
                    iface.span.clone(),
                    "macvlan `mode` not given: it will be vepa, as with `ip link`",
                )
                .label("mode defaults to vepa")
                .help("write `mode = \"vepa\"` to keep this, or choose private, bridge, passthru or source"),
            );
            MacvlanMode::Vepa
        }
    };
    let source_macs: Vec<_> =
        doc.source_macs.iter().flat_map(|l| l.get_ref().iter().map(|m| *m.get_ref())).collect();
    match (&doc.source_macs, mode) {
        (None, MacvlanMode::Source) => d.error(
            Diagnostic::warning(
                doc.mode.as_ref().map_or(iface.span.clone(), |m| m.span()),
                "a macvlan in `source` mode without `source_macs` receives nothing",
            )
            .label("accepts frames only from listed MACs, and none are listed")
            .help("add `source_macs = [\"02:00:00:00:00:01\"]`: the senders this child receives from"),
        ),
        (Some(list), mode) if mode != MacvlanMode::Source => d.error(
            Diagnostic::error(
                list.span(),
                format!("`source_macs` only applies in `source` mode, not `{}`", mode.as_str()),
            )
            .label("ignored by the kernel in this mode")
            .help("remove `source_macs`, or set `mode = \"source\"`"),
        ),
        _ => {}
    }
    if let (Some(mac), MacvlanMode::Passthru) = (&iface.mac, mode) {
        d.error(
            Diagnostic::error(mac.span(), "a passthru macvlan child cannot have its own MAC")
                .label("passthru takes over its parent: the kernel gives the child the parent's MAC")
                .help("set `mac` on the parent instead, or use another mode"),
        );
    }
    Some(IfaceKind::Macvlan { parent: parent?, mode, source_macs })
}

/// A macvlan that is up may not carry its lower device's MAC or a sibling's: the kernel
/// refuses it (EADDRINUSE).
fn check_macs(d: &Draft<'_>, macvlans: &[IfaceId]) {
    let written = |id: IfaceId| d.declared.get(&id).and_then(|doc| doc.mac.as_ref());
    for (i, &m) in macvlans.iter().enumerate() {
        let Some(mac) = written(m).filter(|_| d.lab.iface(m).up) else { continue };
        let lower = Some(super::lower_device(&d.lab, m));
        let clash =
            lower.filter(|l| written(*l).is_some_and(|l| l.get_ref() == mac.get_ref())).or_else(|| {
                macvlans[..i]
                    .iter()
                    .copied()
                    .find(|o| written(*o).is_some_and(|o| o.get_ref() == mac.get_ref()))
            });
        if let Some(other) = clash {
            d.error(
                Diagnostic::error(
                    mac.span(),
                    format!("`{}` has the MAC of `{}`", d.lab.iface_label(m), d.lab.iface_label(other)),
                )
                .label("the kernel refuses a macvlan with its parent's or a sibling's MAC (address in use)")
                .help("give it a MAC of its own, or none (the kernel picks one)"),
            );
        }
    }
}

/// A passthru child hands the whole parent to itself: it must be alone.
fn check_passthru(d: &Draft<'_>, macvlans: &[IfaceId]) {
    if macvlans.len() < 2 {
        return;
    }
    for &m in macvlans {
        if let IfaceKind::Macvlan { mode: MacvlanMode::Passthru, .. } = d.kind(m) {
            let other = *macvlans.iter().find(|o| **o != m).unwrap_or(&m);
            d.error(
                Diagnostic::error(parent_span(d, m), "a passthru macvlan must be its parent's only macvlan")
                    .label(format!("`{}` is passthru", d.lab.iface_label(m)))
                    .related(parent_span(d, other), format!("`{}` shares the parent", d.lab.iface_label(other)))
                    .help("passthru hands the whole parent to one child: remove the siblings or choose another mode"),
            );
        }
    }
}
