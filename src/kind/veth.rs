//! Cables (`link = ...`): veth pairs, one end in each node, and the switch-port settings an
//! end on a switch takes (`access`, `trunk` with an optional untagged `native` VLAN,
//! `hairpin`). Owns the pair's model, its `ip`
//! words and its netlink message (the peer made in its own namespace, down).

use super::{KernelFeature, LinkType};
use crate::kernel::netlink::LinkSettings;
use crate::model::{IfaceId, Lab, Mac};
use crate::topology::reader::{S, Table};
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkMessage};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVeth};
use serde::Serialize;
use std::fmt::Write;
use std::os::fd::RawFd;

pub const NAME: &str = "veth";
pub const KEYS: &[&str] = &["link", "access", "trunk", "native", "hairpin"];
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
    /// Untagged member and PVID: the access VLAN, or a trunk's native VLAN.
    pub access: Option<u16>,
    /// Tagged members.
    pub trunk: Vec<u16>,
    pub hairpin: bool,
}

impl PortVlans {
    pub fn has_vlans(&self) -> bool {
        self.access.is_some() || !self.trunk.is_empty()
    }

    /// The port's VLANs in words: "access 20", "trunk 10, 20", "access 1, trunk 10, 20".
    pub fn describe(&self) -> String {
        let trunk = self.trunk.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        match (self.access, trunk.is_empty()) {
            (Some(access), true) => format!("access {access}"),
            (Some(access), false) => format!("access {access}, trunk {trunk}"),
            (None, false) => format!("trunk {trunk}"),
            (None, true) => "no VLAN".into(),
        }
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
    /// The far end `peer` of the cable whose near end is `near`.
    pub fn to(lab: &Lab, near: IfaceId, peer: IfaceId) -> Link {
        let far = lab.iface(peer);
        let netns = (peer.node != near.node).then(|| lab.netns_name(peer.node));
        Link { peer: far.name.clone(), netns, mac: far.mac, mtu: far.mtu }
    }

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

/// A cable end's own keys as written.
#[derive(Clone, Default)]
pub struct Doc {
    pub link: Option<S<String>>,
    pub access: Option<S<i64>>,
    pub trunk: Option<S<Vec<S<i64>>>>,
    pub native: Option<S<i64>>,
    pub hairpin: Option<S<bool>>,
}

pub fn read(t: &Table<'_, '_>) -> Doc {
    Doc {
        link: t.string("link"),
        access: t.integer("access"),
        trunk: t.integers("trunk"),
        native: t.integer("native"),
        hairpin: t.bool("hairpin"),
    }
}

// Validation: a cable end's switch-port keys. Which ends a cable joins is the cables
// phase's (`topology::validate::links`).

use crate::topology::diagnostic::Diagnostic;
use crate::topology::validate::{Draft, vlan_id};
use std::collections::BTreeSet;
use toml::Spanned;

/// Port options as written on one interface, with the span that carries them.
pub struct Options {
    pub vlans: PortVlans,
    pub span: Option<std::ops::Range<usize>>,
}

pub(crate) fn port_options(d: &Draft<'_>, doc: &Doc) -> Options {
    let mut vlans = PortVlans::default();
    if let Some(access) = &doc.access {
        vlans.access = vlan_id(d, access, "access VLAN");
    }
    if let Some(trunk) = &doc.trunk {
        vlans.trunk = trunk_vlans(d, trunk);
    }
    if let (Some(access), Some(trunk)) = (&doc.access, &doc.trunk) {
        d.error(
            Diagnostic::error(access.span(), "a port is either `access` or `trunk`, not both")
                .label("access VLAN")
                .related(trunk.span(), "trunk VLANs")
                .help("use `access = VID` for one untagged VLAN, or `trunk = [VID, ...]` for tagged ones"),
        );
    }
    if let Some(native) = &doc.native {
        vlans.access = native_vlan(d, native, doc, &vlans.trunk);
    }
    vlans.hairpin = doc.hairpin.as_ref().is_some_and(|h| *h.get_ref());
    let span = [
        doc.access.as_ref().map(|v| v.span()),
        doc.trunk.as_ref().map(|v| v.span()),
        doc.native.as_ref().map(|v| v.span()),
        doc.hairpin.as_ref().map(|v| v.span()),
    ]
    .into_iter()
    .flatten()
    .next();
    Options { vlans, span }
}

/// `native = VID`: a trunk's untagged VLAN (PVID), which it does not also carry tagged.
fn native_vlan(d: &Draft<'_>, native: &Spanned<i64>, doc: &Doc, trunk: &[u16]) -> Option<u16> {
    let problem = match (&doc.access, &doc.trunk) {
        (Some(_), _) => Some("a native VLAN belongs to a trunk; an access port's VLAN is already untagged"),
        (None, None) => Some("a native VLAN needs a `trunk` for the tagged ones"),
        (None, Some(_)) => None,
    };
    if let Some(problem) = problem {
        d.error(
            Diagnostic::error(native.span(), problem)
                .label("native VLAN")
                .help("write `trunk = [VID, ...]` and `native = VID` together, or `access = VID` alone"),
        );
        return None;
    }
    let vid = vlan_id(d, native, "native VLAN")?;
    if trunk.contains(&vid) {
        d.error(
            Diagnostic::error(native.span(), format!("VLAN {vid} is both native and tagged on this trunk"))
                .label("untagged here")
                .help(format!("remove {vid} from `trunk`, or choose another native VLAN")),
        );
        return None;
    }
    Some(vid)
}

fn trunk_vlans(d: &Draft<'_>, trunk: &Spanned<Vec<Spanned<i64>>>) -> Vec<u16> {
    if trunk.get_ref().is_empty() {
        d.error(
            Diagnostic::error(trunk.span(), "this trunk carries no VLAN")
                .label("empty")
                .help("list the tagged VLANs, e.g. `trunk = [19, 20]`, or remove `trunk`"),
        );
    }
    let mut seen = BTreeSet::new();
    let mut ids = Vec::new();
    for item in trunk.get_ref() {
        let Some(id) = vlan_id(d, item, "trunk VLAN") else { continue };
        if !seen.insert(id) {
            d.error(
                Diagnostic::error(item.span(), format!("VLAN {id} is listed twice in this trunk"))
                    .label("repeated")
                    .help("list each VLAN once"),
            );
        } else {
            ids.push(id);
        }
    }
    ids
}
