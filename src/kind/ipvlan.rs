//! IPVLAN children (`kind = "ipvlan"`, `parent`, `mode`, `flag`): children share their
//! parent's MAC and are told apart by address; L3 modes route for them. Owns the kind's
//! model, `ip` words, netlink message and kernel feature.

use super::{KernelFeature, Kind, LinkType};
use crate::kernel::netlink::LinkSettings;
use crate::model::{IfaceId, IfaceKind};
use crate::topology::diagnostic::Span;
use crate::topology::reader::{S, Table};
use rtnetlink::LinkIpVlan;
use rtnetlink::packet_route::link::{InfoData, InfoIpVlan, InfoKind, IpVlanFlags, IpVlanMode, LinkMessage};
use serde::Serialize;
use std::collections::HashMap;

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

/// Whether a child in this mode hears the broadcasts that reach its parent: in L2 it does its
/// own ARP; in L3 modes the parent's stack answers for it.
pub fn hears_lower_broadcasts(mode: IpvlanMode) -> bool {
    !mode.is_l3()
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

    /// The changelink of a live child: its parent's mode, for every child of that parent.
    pub fn mode_message(&self, index: u32) -> LinkMessage {
        let data = InfoData::IpVlan(vec![InfoIpVlan::Mode(self.mode.kernel())]);
        super::change_message(index, InfoKind::IpVlan, data)
    }
}

pub fn sample() -> LinkType {
    LinkType::Ipvlan(Link { mode: IpvlanMode::L2, flag: IpvlanFlag::Bridge })
}

/// The kernel refuses a macvlan or a VLAN on an ipvlan child.
pub fn accepts_child(child: Kind) -> bool {
    !matches!(child, Kind::Macvlan | Kind::Vlan)
}

/// An ipvlan child's own keys as written.
#[derive(Clone)]
pub struct Doc {
    pub parent: Option<S<String>>,
    pub mode: Option<S<String>>,
    pub flag: Option<S<Vec<S<String>>>>,
}

pub fn read(t: &Table<'_, '_>) -> Doc {
    Doc { parent: t.string("parent"), mode: t.string("mode"), flag: t.strings("flag") }
}

// Validation: this kind's keys, and the rules among siblings of one lower device.

use crate::topology::diagnostic::Diagnostic;
use crate::topology::document::IfaceDoc;
use crate::topology::validate::Draft;
use crate::topology::validate::children::{parent, word};

/// Rules among the ipvlan children of one parent (the ipvlan port).
pub(crate) fn check_siblings(d: &Draft<'_>, ipvlans: &[IfaceId]) {
    check_port(d, ipvlans);
    check_addresses(d, ipvlans);
}

pub(crate) fn validate(d: &Draft<'_>, id: IfaceId, iface: &IfaceDoc, doc: &Doc) -> Option<IfaceKind> {
    let parent = parent(d, id, iface);
    let mode = match &doc.mode {
        Some(mode) => word(d, mode, "mode", &IpvlanMode::ALL)?,
        None => {
            d.error(
                Diagnostic::warning(
                    iface.span.clone(),
                    "ipvlan `mode` not given: it will be l3, as with `ip link`",
                )
                .label("mode defaults to l3")
                .help("write `mode = \"l3\"` to keep this, or choose l2 or l3s"),
            );
            IpvlanMode::L3
        }
    };
    if let Some(mac) = &iface.mac {
        d.error(
            Diagnostic::error(mac.span(), "an ipvlan child cannot have its own MAC")
                .label("ipvlan children always carry their parent's MAC")
                .help("remove `mac`, or use a macvlan child, which has a MAC of its own"),
        );
    }
    let flag = ipvlan_flag(d, doc)?;
    Some(IfaceKind::Ipvlan { parent: parent?, mode, flag })
}

/// `flag`: one of bridge (the default), private, vepa; private and vepa exclude each other.
fn ipvlan_flag(d: &Draft<'_>, doc: &Doc) -> Option<IpvlanFlag> {
    let Some(list) = &doc.flag else { return Some(IpvlanFlag::Bridge) };
    let flags: Vec<(IpvlanFlag, Span)> = list
        .get_ref()
        .iter()
        .filter_map(|f| Some((word(d, f, "flag", &IpvlanFlag::ALL)?, f.span())))
        .collect();
    let private = flags.iter().find(|(f, _)| *f == IpvlanFlag::Private);
    let vepa = flags.iter().find(|(f, _)| *f == IpvlanFlag::Vepa);
    if let (Some((_, p)), Some((_, v))) = (private, vepa) {
        d.error(
            Diagnostic::error(v.clone(), "ipvlan flags `private` and `vepa` exclude each other")
                .label("vepa")
                .related(p.clone(), "private")
                .help("choose one: private drops traffic between siblings, vepa sends it out through the parent"),
        );
        return None;
    }
    Some(match (private, vepa) {
        (Some(_), _) => IpvlanFlag::Private,
        (_, Some(_)) => IpvlanFlag::Vepa,
        _ => IpvlanFlag::Bridge,
    })
}

/// ipvlan children of one parent share its MAC, and the kernel tells them apart by address:
/// two with one address are refused (EADDRINUSE).
fn check_addresses(d: &Draft<'_>, ipvlans: &[IfaceId]) {
    let mut first: HashMap<std::net::IpAddr, IfaceId> = HashMap::new();
    for &child in ipvlans {
        let Some(doc) = d.declared.get(&child) else { continue };
        for address in &doc.addresses {
            let ip = address.get_ref().addr();
            match first.get(&ip) {
                Some(&other) if other != child => d.error(
                    Diagnostic::error(address.span(), format!("{ip} is on two ipvlan children of one parent"))
                        .label(format!("on `{}`", d.lab.iface_label(child)))
                        .related(d.iface_span(other), format!("also on `{}`", d.lab.iface_label(other)))
                        .help("ipvlan children share their parent's MAC, so each needs addresses of its own (the kernel refuses: address in use)"),
                ),
                _ => {
                    first.insert(ip, child);
                }
            }
        }
    }
}

/// ipvlan mode and flags belong to the parent (the ipvlan port): every child must agree.
fn check_port(d: &Draft<'_>, ipvlans: &[IfaceId]) {
    let Some((&first, rest)) = ipvlans.split_first() else { return };
    let IfaceKind::Ipvlan { mode, flag, .. } = *d.kind(first) else { return };
    for &other in rest {
        let IfaceKind::Ipvlan { mode: m, flag: f, .. } = *d.kind(other) else { continue };
        if (m, f) == (mode, flag) {
            continue;
        }
        d.error(
            Diagnostic::error(d.iface_span(other), format!(
                "ipvlan children of one parent must share mode and flag: `{}` is {} {}, `{}` is {} {}",
                d.lab.iface_label(other), m.as_str(), f.as_str(),
                d.lab.iface_label(first), mode.as_str(), flag.as_str()
            ))
            .label(format!("{} {}", m.as_str(), f.as_str()))
            .related(d.iface_span(first), format!("{} {}", mode.as_str(), flag.as_str()))
            .help(format!(
                "the mode and flag are the parent's: the kernel would silently switch every child to `{} {}`, the last one created; give all of them the same",
                m.as_str(), f.as_str()
            )),
        );
    }
}

/// A `gateway` on an L3 child is never reached: L3 mode has no ARP. Reported; false then.
pub(crate) fn gateway_works(d: &Draft<'_>, mode: IpvlanMode, gateway: &S<std::net::IpAddr>) -> bool {
    if !mode.is_l3() {
        return true;
    }
    d.error(
        Diagnostic::warning(gateway.span(), format!("a `gateway` on an ipvlan {} child", mode.as_str()))
            .label("L3 mode has no ARP: the gateway's MAC is never learned")
            .help("use `default_dev = true`: the parent's namespace routes for L3 children"),
    );
    false
}
