//! Link kinds: everything lab knows about one kind of link lives in that kind's file: its
//! keys in the topology, its settings in the model, its kernel feature and module, how it is
//! described, its `ip link add ... type ...` words and its netlink message. This file only
//! dispatches, one `match` per operation, and derives the tables (keys, features, modules)
//! from the kinds.
//!
//! Adding a kind: write `src/kind/NAME.rs` like its siblings (a header saying what it owns;
//! `KEYS`; the model's settings; a `Link` with `ip_type` and `message`; `FEATURES`, `MODULE`
//! and `describe`), add it to `Kind` and `Kind::ALL`, add a variant to `IfaceKind` and to
//! `LinkType`, then follow the compiler to each `match` below.

pub mod bridge;
pub mod dummy;
pub mod ipvlan;
pub mod macvlan;
pub mod veth;
pub mod vlan;
pub mod vxlan;

pub use ipvlan::{IpvlanFlag, IpvlanMode};
pub use macvlan::MacvlanMode;
pub use veth::{Cable, PortVlans};
pub use vlan::VlanProtocol;
pub use vxlan::{Flood, Tunnel};

use crate::kernel::netlink::LinkSettings;
use crate::model::{IfaceId, Lab, Mac};
use crate::topology::reader::{S, Table};
use crate::topology::validate::Draft;
use rtnetlink::packet_route::link::LinkMessage;
use serde::Serialize;
use std::os::fd::RawFd;

/// The kinds of link lab makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Veth,
    Bridge,
    Vlan,
    Macvlan,
    Ipvlan,
    Dummy,
    Vxlan,
}

impl Kind {
    /// Every kind, the one list the tables below are derived from.
    pub const ALL: [Kind; 7] =
        [Kind::Veth, Kind::Bridge, Kind::Vlan, Kind::Macvlan, Kind::Ipvlan, Kind::Dummy, Kind::Vxlan];

    /// The kind's name, as `kind = "..."` and `ip -d link` write it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Veth => veth::NAME,
            Kind::Bridge => bridge::NAME,
            Kind::Vlan => vlan::NAME,
            Kind::Macvlan => macvlan::NAME,
            Kind::Ipvlan => ipvlan::NAME,
            Kind::Dummy => dummy::NAME,
            Kind::Vxlan => vxlan::NAME,
        }
    }

    /// Keys of an interface entry that only this kind takes.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Veth => veth::KEYS,
            Kind::Bridge => bridge::KEYS,
            Kind::Vlan => vlan::KEYS,
            Kind::Macvlan => macvlan::KEYS,
            Kind::Ipvlan => ipvlan::KEYS,
            Kind::Dummy => dummy::KEYS,
            Kind::Vxlan => vxlan::KEYS,
        }
    }

    /// Whether a link of this kind is made on a parent (`parent = ...`). A vxlan is not: it
    /// may be made on an underlay (`IfaceKind::made_on`), and is no child of it.
    pub fn stacked(self) -> bool {
        matches!(self, Kind::Vlan | Kind::Macvlan | Kind::Ipvlan)
    }

    /// The MTUs the kernel takes for a device of this kind: 68 to 65535 (the least IPv4
    /// needs, the most an Ethernet-like device carries) unless the kind says otherwise.
    pub fn mtu_range(self) -> (u32, u32) {
        match self {
            Kind::Vlan => vlan::MTU_RANGE,
            Kind::Dummy => dummy::MTU_RANGE,
            Kind::Veth | Kind::Bridge | Kind::Macvlan | Kind::Ipvlan | Kind::Vxlan => ETHERNET_MTU_RANGE,
        }
    }

    /// Whether a child of this kind on a parent of the same kind attaches to the parent's
    /// own lower device instead (the kernel does this for macvlan and ipvlan).
    pub fn stacks_on_lower(self) -> bool {
        matches!(self, Kind::Macvlan | Kind::Ipvlan)
    }

    /// Whether this kind takes its parent for its driver alone: a device serves one such
    /// driver (EBUSY for the other).
    pub fn claims_parent(self) -> bool {
        matches!(self, Kind::Macvlan | Kind::Ipvlan)
    }

    /// Whether the kernel refuses this kind up on a parent that is down (ENETDOWN), rather
    /// than waiting for it.
    pub fn needs_parent_up(self) -> bool {
        self == Kind::Vlan
    }

    /// Whether a child of this kind may have a larger MTU than its parent.
    pub fn may_exceed_parent_mtu(self) -> bool {
        self == Kind::Ipvlan
    }

    /// Whether a child of kind `child` may be stacked on a link of this kind.
    pub fn accepts_child(self, child: Kind) -> bool {
        match self {
            Kind::Ipvlan => ipvlan::accepts_child(child),
            _ => true,
        }
    }

    /// What the kernel needs to make links of this kind.
    pub fn features(self) -> &'static [KernelFeature] {
        match self {
            Kind::Veth => veth::FEATURES,
            Kind::Bridge => bridge::FEATURES,
            Kind::Vlan => vlan::FEATURES,
            Kind::Macvlan => macvlan::FEATURES,
            Kind::Ipvlan => ipvlan::FEATURES,
            Kind::Dummy => dummy::FEATURES,
            Kind::Vxlan => vxlan::FEATURES,
        }
    }

    /// The module that makes this kind, for `modprobe`.
    pub fn module(self) -> &'static str {
        match self {
            Kind::Veth => veth::MODULE,
            Kind::Bridge => bridge::MODULE,
            Kind::Vlan => vlan::MODULE,
            Kind::Macvlan => macvlan::MODULE,
            Kind::Ipvlan => ipvlan::MODULE,
            Kind::Dummy => dummy::MODULE,
            Kind::Vxlan => vxlan::MODULE,
        }
    }

    /// What `kind = "..."` may say: every kind (a bridge inside a host is like Docker's
    /// `docker0`; a switch's own bridge is made by lab).
    pub fn declarable_names() -> Vec<&'static str> {
        Kind::ALL.iter().map(|k| k.name()).collect()
    }

    /// The kind named `name`.
    pub fn named(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Every kind's own keys, each once, in kind order.
    pub fn all_keys() -> Vec<&'static str> {
        each_once(Kind::ALL.iter().flat_map(|k| k.keys()).copied())
    }

    /// The modules of every kind, each once.
    pub fn modules() -> Vec<&'static str> {
        each_once(Kind::ALL.map(Kind::module))
    }
}

/// The words, in order, without repeats.
fn each_once(words: impl IntoIterator<Item = &'static str>) -> Vec<&'static str> {
    let mut once: Vec<&'static str> = Vec::new();
    for word in words {
        if !once.contains(&word) {
            once.push(word);
        }
    }
    once
}

/// What an Ethernet-like device takes: from the least IPv4 needs to the largest frame.
const ETHERNET_MTU_RANGE: (u32, u32) = (68, 65535);

/// What a lab can require of the kernel: a kind, or a capability of one, or NAT (nf_tables
/// for IPv4) or netem, which no kind owns; `kernel::features` probes which ones this kernel
/// has by making `sample`, for NAT by installing rules, for netem by setting one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelFeature {
    Veth,
    Bridge,
    BridgeVlanFiltering,
    Vlan,
    Macvlan,
    Ipvlan,
    Dummy,
    Nat,
    Vxlan,
    Netem,
}

impl KernelFeature {
    /// Every feature of every kind, and NAT.
    pub fn all() -> Vec<KernelFeature> {
        let kinds = Kind::ALL.iter().flat_map(|k| k.features()).copied();
        kinds.chain([KernelFeature::Nat, KernelFeature::Netem]).collect()
    }

    /// The kind that needs the feature; NAT is no kind's.
    pub fn kind(self) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.features().contains(&self))
    }

    pub fn describe(self) -> &'static str {
        match self {
            KernelFeature::BridgeVlanFiltering => bridge::VLAN_FILTERING,
            KernelFeature::Vlan => vlan::DESCRIPTION,
            KernelFeature::Nat => NAT,
            KernelFeature::Netem => NETEM,
            other => other.kind().map_or("?", Kind::name),
        }
    }

    /// The module that provides the feature, for `modprobe` hints.
    pub fn module(self) -> &'static str {
        match self {
            KernelFeature::Netem => NETEM_MODULE,
            _ => self.kind().map_or(NAT_MODULE, Kind::module),
        }
    }

    /// A link that only a kernel with this feature can make; `None` for NAT, which is tried
    /// by installing rules.
    pub fn sample(self) -> Option<LinkType> {
        let sample = match self {
            KernelFeature::Veth => veth::sample(),
            KernelFeature::Bridge => LinkType::Bridge(bridge::Link { vlan_filtering: false }),
            KernelFeature::BridgeVlanFiltering => LinkType::Bridge(bridge::Link { vlan_filtering: true }),
            KernelFeature::Vlan => vlan::sample(),
            KernelFeature::Macvlan => macvlan::sample(),
            KernelFeature::Ipvlan => ipvlan::sample(),
            KernelFeature::Dummy => LinkType::Dummy,
            KernelFeature::Vxlan => vxlan::sample(),
            KernelFeature::Nat | KernelFeature::Netem => return None,
        };
        Some(sample)
    }
}

/// NAT as `lab` installs it: nf_tables for IPv4, with its NAT expressions.
const NAT: &str = "nf_tables NAT for IPv4";
const NAT_MODULE: &str = "nft_nat";
/// Impairments as `lab` sets them: the netem queueing discipline.
const NETEM: &str = "netem (link impairments)";
const NETEM_MODULE: &str = "sch_netem";

/// An interface's kind and that kind's settings, references resolved to interfaces.
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
    Vxlan(Tunnel),
}

impl IfaceKind {
    pub fn kind(&self) -> Kind {
        match self {
            IfaceKind::Veth { .. } => Kind::Veth,
            IfaceKind::Bridge { .. } => Kind::Bridge,
            IfaceKind::Vlan { .. } => Kind::Vlan,
            IfaceKind::Macvlan { .. } => Kind::Macvlan,
            IfaceKind::Ipvlan { .. } => Kind::Ipvlan,
            IfaceKind::Dummy => Kind::Dummy,
            IfaceKind::Vxlan(_) => Kind::Vxlan,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
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

    /// The interface this one is made on, which must exist first: a child's parent, a
    /// vxlan's underlay.
    pub fn made_on(&self) -> Option<IfaceId> {
        match self {
            IfaceKind::Vxlan(tunnel) => tunnel.underlay,
            other => other.parent(),
        }
    }

    /// The bridge port this interface is, if any: a cable end on a switch or a bridge, or
    /// a vxlan with a `master`.
    pub fn port(&self) -> Option<&PortVlans> {
        match self {
            IfaceKind::Veth { port, .. } => port.as_ref(),
            IfaceKind::Vxlan(tunnel) => tunnel.bridge_port.as_ref(),
            _ => None,
        }
    }

    /// The feature the kernel needs to make this link.
    pub fn feature(&self) -> KernelFeature {
        match self {
            IfaceKind::Bridge { vlan_filtering } => bridge::feature(*vlan_filtering),
            other => other.kind().features()[0],
        }
    }

    /// Whether this interface hears the broadcasts that reach the device it hangs on.
    pub fn hears_lower_broadcasts(&self) -> bool {
        match self {
            IfaceKind::Macvlan { mode, .. } => macvlan::hears_lower_broadcasts(*mode),
            IfaceKind::Ipvlan { mode, .. } => ipvlan::hears_lower_broadcasts(*mode),
            _ => false,
        }
    }

    /// The kind and its settings in a few words, for graphs: "vlan 802.1Q id 19".
    pub fn describe(&self) -> String {
        match self {
            IfaceKind::Veth { .. } => veth::NAME.into(),
            IfaceKind::Bridge { vlan_filtering } => bridge::describe(*vlan_filtering),
            IfaceKind::Vlan { id, protocol, .. } => vlan::describe(*id, *protocol),
            IfaceKind::Macvlan { mode, .. } => macvlan::describe(*mode),
            IfaceKind::Ipvlan { mode, flag, .. } => ipvlan::describe(*mode, *flag),
            IfaceKind::Dummy => dummy::NAME.into(),
            IfaceKind::Vxlan(tunnel) => vxlan::describe(tunnel),
        }
    }

    /// How a lab summary counts this interface among children and dummies ("macvlan
    /// bridge"), `None` for cables and bridges.
    pub fn summary_label(&self) -> Option<String> {
        match self {
            IfaceKind::Vlan { protocol, .. } => Some(vlan::summary_label(*protocol)),
            IfaceKind::Macvlan { mode, .. } => Some(macvlan::describe(*mode)),
            IfaceKind::Ipvlan { mode, flag, .. } => Some(ipvlan::describe(*mode, *flag)),
            IfaceKind::Dummy => Some(dummy::NAME.into()),
            IfaceKind::Vxlan(_) => Some(vxlan::NAME.into()),
            IfaceKind::Veth { .. } | IfaceKind::Bridge { .. } => None,
        }
    }
}

/// An interface entry's own keys, read by the kind it declares; `None` when it declares
/// none lab knows (reported in validation), or a kind with no keys of its own.
#[derive(Clone)]
pub enum KindDoc {
    Veth(veth::Doc),
    Vlan(vlan::Doc),
    Macvlan(macvlan::Doc),
    Ipvlan(ipvlan::Doc),
    Vxlan(vxlan::Doc),
    None,
}

impl KindDoc {
    pub fn read(kind: Option<Kind>, t: &Table<'_, '_>) -> KindDoc {
        match kind {
            Some(Kind::Veth) => KindDoc::Veth(veth::read(t)),
            Some(Kind::Vlan) => KindDoc::Vlan(vlan::read(t)),
            Some(Kind::Macvlan) => KindDoc::Macvlan(macvlan::read(t)),
            Some(Kind::Ipvlan) => KindDoc::Ipvlan(ipvlan::read(t)),
            Some(Kind::Vxlan) => KindDoc::Vxlan(vxlan::read(t)),
            Some(Kind::Bridge | Kind::Dummy) | None => KindDoc::None,
        }
    }

    /// `parent`, as written, for the kinds stacked on one.
    pub fn parent(&self) -> Option<&S<String>> {
        match self {
            KindDoc::Vlan(doc) => doc.parent.as_ref(),
            KindDoc::Macvlan(doc) => doc.parent.as_ref(),
            KindDoc::Ipvlan(doc) => doc.parent.as_ref(),
            KindDoc::Veth(_) | KindDoc::Vxlan(_) | KindDoc::None => None,
        }
    }

    pub fn veth(&self) -> Option<&veth::Doc> {
        match self {
            KindDoc::Veth(doc) => Some(doc),
            _ => None,
        }
    }
}

/// A kind's rules among the siblings of one lower device, all of that kind.
pub(crate) fn check_siblings(kind: Kind, d: &Draft<'_>, siblings: &[IfaceId]) {
    match kind {
        Kind::Vlan => vlan::check_siblings(d, siblings),
        Kind::Macvlan => macvlan::check_siblings(d, siblings),
        Kind::Ipvlan => ipvlan::check_siblings(d, siblings),
        Kind::Veth | Kind::Bridge | Kind::Dummy | Kind::Vxlan => {}
    }
}

/// Whether a `gateway` on this interface can work for its kind; a kind that says no has
/// reported why.
pub(crate) fn gateway_works(d: &Draft<'_>, id: IfaceId, gateway: &S<std::net::IpAddr>) -> bool {
    match d.lab.iface(id).kind {
        IfaceKind::Ipvlan { mode, .. } => ipvlan::gateway_works(d, mode, gateway),
        _ => true,
    }
}

/// A link as the plan makes it: the kind's settings, every reference a name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LinkType {
    Veth(veth::Link),
    Bridge(bridge::Link),
    Vlan(vlan::Link),
    Macvlan(macvlan::Link),
    Ipvlan(ipvlan::Link),
    Dummy,
    Vxlan(vxlan::Link),
}

/// The device an interface really hangs on: its parent, except that the kernel stacks a
/// macvlan on a macvlan's lower device and an ipvlan on an ipvlan's (`Kind::stacks_on_lower`);
/// an interface without a parent hangs on itself.
pub fn lower_device(lab: &Lab, child: IfaceId) -> IfaceId {
    let kind = lab.iface(child).kind.kind();
    let mut lower = lab.iface(child).kind.parent().unwrap_or(child);
    for _ in 0..lab.iface_ids().count() {
        match lab.iface(lower).kind.parent() {
            Some(parent) if kind.stacks_on_lower() && lab.iface(lower).kind.kind() == kind => lower = parent,
            _ => break,
        }
    }
    lower
}

/// The link the plan makes for an interface: its kind's settings, references as names (a
/// cable's far end: its name, namespace, MAC and MTU).
pub fn link_type(lab: &Lab, id: IfaceId) -> LinkType {
    match &lab.iface(id).kind {
        IfaceKind::Veth { peer, .. } => LinkType::Veth(veth::Link::to(lab, id, *peer)),
        IfaceKind::Bridge { vlan_filtering } => {
            LinkType::Bridge(bridge::Link { vlan_filtering: *vlan_filtering })
        }
        IfaceKind::Vlan { id, protocol, .. } => LinkType::Vlan(vlan::Link { id: *id, protocol: *protocol }),
        IfaceKind::Macvlan { mode, source_macs, .. } => {
            LinkType::Macvlan(macvlan::Link { mode: *mode, source_macs: source_macs.clone() })
        }
        IfaceKind::Ipvlan { mode, flag, .. } => LinkType::Ipvlan(ipvlan::Link { mode: *mode, flag: *flag }),
        IfaceKind::Dummy => LinkType::Dummy,
        IfaceKind::Vxlan(tunnel) => LinkType::Vxlan(vxlan::Link::of(lab, tunnel)),
    }
}

/// What realize looked up for a new link: the index of the device it is made on (a child's
/// parent, a vxlan's underlay), the link's own settings (master's index, the namespace to
/// make it in), and the namespace of a veth's peer.
pub struct Resolved {
    pub parent: Option<u32>,
    pub settings: LinkSettings,
    pub peer_netns: Option<RawFd>,
}

impl LinkType {
    pub fn kind(&self) -> Kind {
        match self {
            LinkType::Veth(_) => Kind::Veth,
            LinkType::Bridge(_) => Kind::Bridge,
            LinkType::Vlan(_) => Kind::Vlan,
            LinkType::Macvlan(_) => Kind::Macvlan,
            LinkType::Ipvlan(_) => Kind::Ipvlan,
            LinkType::Dummy => Kind::Dummy,
            LinkType::Vxlan(_) => Kind::Vxlan,
        }
    }

    /// The device a vxlan is made on, by name (`dev` in its `ip` words).
    pub fn underlay(&self) -> Option<&str> {
        match self {
            LinkType::Vxlan(link) => link.underlay.as_deref(),
            _ => None,
        }
    }

    /// The words after `type` in `ip link add`: "vlan protocol 802.1Q id 19".
    pub fn ip_type(&self) -> String {
        match self {
            LinkType::Veth(link) => link.ip_type(),
            LinkType::Bridge(link) => link.ip_type(),
            LinkType::Vlan(link) => link.ip_type(),
            LinkType::Macvlan(link) => link.ip_type(),
            LinkType::Ipvlan(link) => link.ip_type(),
            LinkType::Dummy => dummy::NAME.into(),
            LinkType::Vxlan(link) => link.ip_type(),
        }
    }

    /// The words after `type` in `ip link set` for what `mode_message` changes.
    pub fn mode_words(&self) -> String {
        match self {
            LinkType::Bridge(link) => format!("bridge vlan_filtering {}", u8::from(link.vlan_filtering)),
            other => other.ip_type(),
        }
    }

    /// The changelink that sets a live child's mode (or a bridge's VLAN filtering), for the
    /// kinds whose mode can change.
    pub fn mode_message(&self, index: u32) -> Option<LinkMessage> {
        match self {
            LinkType::Macvlan(link) => Some(link.mode_message(index)),
            LinkType::Ipvlan(link) => Some(link.mode_message(index)),
            LinkType::Bridge(link) => Some(link.filtering_message(index)),
            _ => None,
        }
    }

    /// The RTM_NEWLINK message that makes the link, built without a socket.
    pub fn message(&self, name: &str, resolved: &Resolved) -> LinkMessage {
        let settings = &resolved.settings;
        match self {
            LinkType::Veth(link) => link.message(name, settings, resolved.peer_netns),
            LinkType::Bridge(link) => link.message(name, settings),
            LinkType::Vlan(link) => link.message(name, resolved.parent.unwrap_or_default(), settings),
            LinkType::Macvlan(link) => link.message(name, resolved.parent.unwrap_or_default(), settings),
            LinkType::Ipvlan(link) => link.message(name, resolved.parent.unwrap_or_default(), settings),
            LinkType::Dummy => dummy::message(name, settings),
            LinkType::Vxlan(link) => link.message(name, resolved.parent, settings),
        }
    }
}

/// An RTM_NEWLINK for an existing link that changes its kind's settings (changelink).
fn change_message(
    index: u32,
    kind: rtnetlink::packet_route::link::InfoKind,
    data: rtnetlink::packet_route::link::InfoData,
) -> LinkMessage {
    use rtnetlink::packet_route::link::{LinkAttribute, LinkInfo};
    let mut message = LinkMessage::default();
    message.header.index = index;
    message.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(kind), LinkInfo::Data(data)]));
    message
}

#[cfg(test)]
mod tests {
    //! The tables derived from the kinds, and each kind's own rules, checked on small files.
    use super::*;

    /// The messages a host with these interface entries gets, besides the lab's own.
    fn messages(ifaces: &str) -> Vec<String> {
        let text = format!("name = \"t-kinds\"\n[[switch]]\nname = \"sw\"\n[[host]]\nname = \"h\"\n{ifaces}");
        let checked = crate::topology::check(crate::topology::Source::new("t.toml", text));
        checked.diagnostics.into_iter().map(|d| d.message).collect()
    }

    const CABLE: &str = "  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n";

    #[test]
    fn the_tables_come_from_the_kinds() {
        for kind in Kind::ALL {
            assert!(!kind.features().is_empty(), "{kind:?} needs some feature");
            for feature in kind.features() {
                assert_eq!(feature.kind(), Some(kind));
                let sample = feature.sample().expect("a kind's feature has a sample link");
                assert_eq!(sample.kind(), kind, "the sample of {feature:?} is a {}", kind.name());
            }
            assert!(Kind::modules().contains(&kind.module()));
            for key in kind.keys() {
                assert!(crate::topology::document::iface_keys().contains(key), "{key}");
            }
        }
        assert_eq!(KernelFeature::all().len(), 10, "the kinds' features, NAT and netem");
        assert_eq!(KernelFeature::Netem.kind(), None);
        assert_eq!(KernelFeature::Nat.kind(), None);
        let modules = crate::sandbox::modules();
        assert_eq!(modules.len(), 8, "ipv6 and each module once: {modules:?}");
        assert_eq!(
            Kind::declarable_names(),
            ["veth", "bridge", "vlan", "macvlan", "ipvlan", "dummy", "vxlan"]
        );
        assert_eq!(Kind::named("bridge"), Some(Kind::Bridge), "a bridge inside a host");
    }

    #[test]
    fn a_key_of_another_kind_is_named_with_its_owners() {
        let found = messages(&format!(
            "{CABLE}  [[host.iface]]\n  name = \"d\"\n  kind = \"dummy\"\n  mode = \"l2\"\n"
        ));
        assert_eq!(found, ["`mode` does not apply to a dummy interface"]);
        let found = messages(&format!(
            "{CABLE}  [[host.iface]]\n  kind = \"vlan\"\n  parent = \"eth0\"\n  id = 5\n  flag = \"private\"\n"
        ));
        assert_eq!(found, ["`flag` does not apply to a vlan interface"]);
    }

    #[test]
    fn each_kind_checks_its_own_keys() {
        let vlan = messages(&format!(
            "{CABLE}  [[host.iface]]\n  name = \"v\"\n  kind = \"vlan\"\n  parent = \"eth0\"\n"
        ));
        assert_eq!(vlan, ["a vlan interface needs an `id`"]);
        let macvlan = messages(&format!(
            "{CABLE}  [[host.iface]]\n  name = \"m\"\n  kind = \"macvlan\"\n  parent = \"eth0\"\n  mode = \"bridge\"\n  source_macs = [\"02:00:00:00:00:01\"]\n"
        ));
        assert_eq!(macvlan, ["`source_macs` only applies in `source` mode, not `bridge`"]);
        let ipvlan = messages(&format!(
            "{CABLE}  [[host.iface]]\n  name = \"i\"\n  kind = \"ipvlan\"\n  parent = \"eth0\"\n  mode = \"l2\"\n  flag = [\"private\", \"vepa\"]\n"
        ));
        assert_eq!(ipvlan, ["ipvlan flags `private` and `vepa` exclude each other"]);
        let veth =
            messages("  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  access = 10\n  trunk = [20]\n");
        assert_eq!(veth, ["a port is either `access` or `trunk`, not both"]);
        let vxlan = messages(&format!(
            "{CABLE}  [[host.iface]]\n  name = \"vx0\"\n  kind = \"vxlan\"\n  vni = 42\n  underlay = \"eth0\"\n"
        ));
        assert_eq!(vxlan, ["a vxlan interface needs `remotes` or a `group`"]);
    }

    #[test]
    fn each_kind_checks_its_siblings() {
        let two_vlans = messages(&format!(
            "{CABLE}  [[host.iface]]\n  name = \"a\"\n  kind = \"vlan\"\n  parent = \"eth0\"\n  id = 7\n  [[host.iface]]\n  name = \"b\"\n  kind = \"vlan\"\n  parent = \"eth0\"\n  id = 7\n"
        ));
        assert_eq!(two_vlans, ["VLAN 7 is on `h:eth0` twice"]);
        let two_drivers = messages(&format!(
            "{CABLE}  [[host.iface]]\n  name = \"m\"\n  kind = \"macvlan\"\n  parent = \"eth0\"\n  mode = \"bridge\"\n  [[host.iface]]\n  name = \"i\"\n  kind = \"ipvlan\"\n  parent = \"eth0\"\n  mode = \"l2\"\n"
        ));
        assert_eq!(two_drivers, ["macvlan and ipvlan children cannot share a parent"]);
        let passthru = messages(&format!(
            "{CABLE}  [[host.iface]]\n  name = \"p\"\n  kind = \"macvlan\"\n  parent = \"eth0\"\n  mode = \"passthru\"\n  [[host.iface]]\n  name = \"q\"\n  kind = \"macvlan\"\n  parent = \"eth0\"\n  mode = \"bridge\"\n"
        ));
        assert_eq!(passthru, ["a passthru macvlan must be its parent's only macvlan"]);
        let vxlan = |name: &str, vni: u32| {
            format!(
                "  [[host.iface]]\n  name = \"{name}\"\n  kind = \"vxlan\"\n  vni = {vni}\n  remotes = [\"192.0.2.2\"]\n"
            )
        };
        let same_vni = messages(&format!("{CABLE}{}{}", vxlan("a", 7), vxlan("b", 7)));
        assert_eq!(
            same_vni,
            ["VNI 7 on port 4789 is on `h:a` already"],
            "one VNI per namespace, with or without an underlay"
        );
        assert!(messages(&format!("{CABLE}{}{}", vxlan("a", 7), vxlan("b", 8))).is_empty());
    }

    #[test]
    fn each_kind_has_its_ip_words() {
        let words: Vec<String> =
            KernelFeature::all().iter().filter_map(|f| f.sample()).map(|s| s.ip_type()).collect();
        assert_eq!(
            words,
            [
                "veth peer name probepeer",
                "bridge",
                "bridge vlan_filtering 1",
                "vlan protocol 802.1Q id 5",
                "macvlan mode bridge",
                "ipvlan mode l2 bridge",
                "dummy",
                "vxlan id 1 dstport 4789"
            ]
        );
    }
}
