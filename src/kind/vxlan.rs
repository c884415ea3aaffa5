//! VXLAN tunnels (`kind = "vxlan"`, `vni`, `underlay`, `local`, `remotes` or `group`, `port`,
//! `learning`): Ethernet frames carried in UDP between nodes, as Docker's overlay networks
//! carry them. Frames for unknown MACs go to every remote (head-end replication: one
//! all-zeros FDB entry per remote, appended) or to a multicast group. Owns the kind's model,
//! `ip` words, netlink message and kernel feature, and its rules.

use super::{KernelFeature, LinkType};
use crate::kernel::netlink::LinkSettings;
use crate::model::{IfaceId, IfaceKind, Lab};
use crate::topology::document::IP;
use crate::topology::reader::{S, Table};
use rtnetlink::LinkVxlan;
use rtnetlink::packet_route::link::LinkMessage;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::net::IpAddr;

pub const NAME: &str = "vxlan";
pub const KEYS: &[&str] = &["vni", "underlay", "local", "remotes", "group", "port", "learning", "master"];
pub const FEATURES: &[KernelFeature] = &[KernelFeature::Vxlan];
pub const MODULE: &str = "vxlan";
/// The UDP port IANA gave VXLAN, lab's default; the kernel's own default is Linux's older
/// 8472, so the port is always sent.
pub const IANA_PORT: u16 = 4789;
/// VNIs are 24 bits.
pub const MAX_VNI: i64 = (1 << 24) - 1;

/// Where frames for unknown MACs go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flood {
    /// To each of these, one copy each (`bridge fdb append 00:00:00:00:00:00 ... dst IP`).
    Remotes(Vec<IpAddr>),
    /// To a multicast group, joined on the underlay.
    Group(IpAddr),
}

/// A VXLAN device's settings, references resolved.
#[derive(Clone, Debug, Serialize)]
pub struct Tunnel {
    pub vni: u32,
    pub underlay: Option<IfaceId>,
    pub local: Option<IpAddr>,
    pub flood: Flood,
    pub port: u16,
    pub learning: bool,
    /// The bridge of the node it is a port of (`master`), as Docker's overlay puts its
    /// vxlan on the overlay's bridge.
    pub bridge_port: Option<super::PortVlans>,
}

impl Tunnel {
    /// Whether the tunnel runs over IPv6: the kernel takes the family of `local`, else of the
    /// group, else IPv4.
    pub fn v6(&self) -> bool {
        match (self.local, &self.flood) {
            (Some(local), _) => local.is_ipv6(),
            (None, Flood::Group(group)) => group.is_ipv6(),
            (None, Flood::Remotes(_)) => false,
        }
    }

    /// What the tunnel adds to each frame: the outer IPv4 (20) or IPv6 (40) header, UDP (8),
    /// VXLAN (8) and the inner Ethernet header (14).
    pub fn overhead(&self) -> i64 {
        if self.v6() { 70 } else { 50 }
    }

    pub fn remotes(&self) -> &[IpAddr] {
        match &self.flood {
            Flood::Remotes(remotes) => remotes,
            Flood::Group(_) => &[],
        }
    }

    /// The MTU the kernel gives the device: with an underlay, the underlay's less the
    /// overhead (at least 68), and a written MTU above that is lowered to it without a word
    /// (vxlan_config_apply); without one, as written, else 1500.
    pub fn kernel_mtu(&self, written: Option<i64>, underlay_mtu: Option<i64>) -> i64 {
        match underlay_mtu {
            Some(lower) => {
                let most = (lower - self.overhead()).max(68);
                written.map_or(most, |mtu| mtu.min(most))
            }
            None => written.unwrap_or(1500),
        }
    }
}

/// "vxlan 42 dstport 4789"
pub fn describe(tunnel: &Tunnel) -> String {
    format!("vxlan {} dstport {}", tunnel.vni, tunnel.port)
}

/// The pairs of tunnel ends that carry each other's frames: the same VNI and port, and one
/// sends to the other (a remote of one is the other's `local`, or an address of its node,
/// when it has no `local`), or both join one group. For drawings.
pub fn tunnels(lab: &Lab) -> Vec<(IfaceId, IfaceId)> {
    let mut by_vni: BTreeMap<(u32, u16), Vec<(IfaceId, &Tunnel)>> = BTreeMap::new();
    for id in lab.iface_ids() {
        if let IfaceKind::Vxlan(tunnel) = &lab.iface(id).kind {
            by_vni.entry((tunnel.vni, tunnel.port)).or_default().push((id, tunnel));
        }
    }
    let sends_to = |(_, from): (IfaceId, &Tunnel), (to, tunnel): (IfaceId, &Tunnel)| match &from.flood {
        Flood::Group(group) => tunnel.flood == Flood::Group(*group),
        Flood::Remotes(remotes) => remotes.iter().any(|r| match tunnel.local {
            Some(local) => local == *r,
            None => lab.node(to.node).ifaces.iter().any(|i| i.addresses.iter().any(|a| a.addr() == *r)),
        }),
    };
    let mut pairs = Vec::new();
    for ends in by_vni.values() {
        for (i, &a) in ends.iter().enumerate() {
            for &b in &ends[i + 1..] {
                if sends_to(a, b) || sends_to(b, a) {
                    pairs.push((a.0, b.0));
                }
            }
        }
    }
    pairs
}

/// The VXLANs whose packets an interface carries, as (VNI, port): those of the vxlans on it
/// as their underlay, and, in its node, of those without one (their packets leave as
/// routing sends them).
pub fn carried(lab: &Lab, iface: IfaceId) -> Vec<(u32, u16)> {
    (0..lab.node(iface.node).ifaces.len())
        .map(|index| IfaceId { node: iface.node, index })
        .filter_map(|id| match &lab.iface(id).kind {
            IfaceKind::Vxlan(tunnel) if tunnel.underlay.is_none_or(|u| u == iface) && id != iface => {
                Some((tunnel.vni, tunnel.port))
            }
            _ => None,
        })
        .collect()
}

/// The device as the plan makes it: its underlay by name, the remotes left to the FDB.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    pub vni: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub underlay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<IpAddr>,
    pub port: u16,
    pub learning: bool,
}

impl Link {
    pub fn of(lab: &Lab, tunnel: &Tunnel) -> Link {
        Link {
            vni: tunnel.vni,
            underlay: tunnel.underlay.map(|u| lab.iface(u).name.clone()),
            local: tunnel.local,
            group: match tunnel.flood {
                Flood::Group(group) => Some(group),
                Flood::Remotes(_) => None,
            },
            port: tunnel.port,
            learning: tunnel.learning,
        }
    }

    /// `vxlan id VNI [dev UNDERLAY] [local IP] [group IP] dstport PORT [nolearning]`
    pub fn ip_type(&self) -> String {
        let mut words = format!("vxlan id {}", self.vni);
        if let Some(underlay) = &self.underlay {
            let _ = write!(words, " dev {}", crate::plan::quote(underlay));
        }
        if let Some(local) = self.local {
            let _ = write!(words, " local {local}");
        }
        if let Some(group) = self.group {
            let _ = write!(words, " group {group}");
        }
        let _ = write!(words, " dstport {}", self.port);
        if !self.learning {
            words.push_str(" nolearning");
        }
        words
    }

    /// The device, on the underlay of index `underlay` when it has one.
    pub fn message(&self, name: &str, underlay: Option<u32>, settings: &LinkSettings) -> LinkMessage {
        let mut builder = LinkVxlan::new(name, self.vni).port(self.port).learning(self.learning);
        if let Some(index) = underlay {
            builder = builder.dev(index);
        }
        builder = match self.local {
            Some(IpAddr::V4(local)) => builder.local(local),
            Some(IpAddr::V6(local)) => builder.local6(local),
            None => builder,
        };
        builder = match self.group {
            Some(IpAddr::V4(group)) => builder.group(group),
            Some(IpAddr::V6(group)) => builder.group6(group),
            None => builder,
        };
        settings.apply(builder).build()
    }
}

pub fn sample() -> LinkType {
    LinkType::Vxlan(Link {
        vni: 1,
        underlay: None,
        local: None,
        group: None,
        port: IANA_PORT,
        learning: true,
    })
}

/// A VXLAN device's own keys as written.
#[derive(Clone)]
pub struct Doc {
    pub vni: Option<S<i64>>,
    pub underlay: Option<S<String>>,
    pub local: Option<S<IpAddr>>,
    pub remotes: Option<S<Vec<S<IpAddr>>>>,
    pub group: Option<S<IpAddr>>,
    pub port: Option<S<i64>>,
    pub learning: Option<S<bool>>,
    pub master: Option<S<String>>,
}

pub fn read(t: &Table<'_, '_>) -> Doc {
    Doc {
        vni: t.integer("vni"),
        underlay: t.string("underlay"),
        local: t.parsed("local", IP),
        remotes: t.parsed_list("remotes", IP),
        group: t.parsed("group", IP),
        port: t.integer("port"),
        learning: t.bool("learning"),
        master: t.string("master"),
    }
}

// Validation: this kind's keys, then, once MTUs are known, the rules among the tunnels of
// one node.

use crate::topology::diagnostic::{Diagnostic, Span};
use crate::topology::document::IfaceDoc;
use crate::topology::validate::Draft;

pub(crate) fn validate(d: &Draft<'_>, id: IfaceId, iface: &IfaceDoc, doc: &Doc) -> Option<IfaceKind> {
    let vni = vni(d, iface, doc);
    let underlay = underlay(d, id, doc);
    let local = local(d, id, doc);
    let flood = flood(d, iface, doc);
    let port = port(d, doc);
    let learning = doc.learning.as_ref().is_none_or(|l| *l.get_ref());
    let master = match &doc.master {
        Some(master) => Some(master_bridge(d, id, master)?),
        None => None,
    };
    let underlay = underlay?;
    if let (Some(Flood::Group(_)), None, Some(group)) = (&flood, underlay, &doc.group) {
        d.error(
            Diagnostic::error(group.span(), "a vxlan `group` needs an `underlay`")
                .label("the kernel joins the group on the underlay, and refuses a group without one")
                .help("add `underlay = \"eth0\"`: the interface of this node that carries the tunnel"),
        );
        return None;
    }
    Some(IfaceKind::Vxlan(Tunnel {
        vni: vni?,
        underlay,
        local: local?,
        flood: flood?,
        port: port?,
        learning,
        bridge_port: master.map(|m| super::PortVlans { master: Some(m), ..Default::default() }),
    }))
}

/// `master = "BRIDGE"`: a bridge of the same node, which the vxlan becomes a port of.
fn master_bridge(d: &Draft<'_>, id: IfaceId, master: &S<String>) -> Option<IfaceId> {
    let bridge = d.resolve_iface(master, Some(id.node))?;
    if bridge.node == id.node && d.kind(bridge).kind() == super::Kind::Bridge {
        return Some(bridge);
    }
    d.error(
        Diagnostic::error(
            master.span(),
            format!("`{}` is not a bridge of `{}`", master.get_ref(), d.lab.node(id.node).name),
        )
        .label("a vxlan can be a port of a bridge in its own node only")
        .help("declare `kind = \"bridge\"` on an interface of this node and name it here"),
    );
    None
}

/// `vni`: required, 24 bits.
fn vni(d: &Draft<'_>, iface: &IfaceDoc, doc: &Doc) -> Option<u32> {
    let Some(vni) = &doc.vni else {
        if !iface.written.has("vni") {
            d.error(
                Diagnostic::error(iface.span.clone(), "a vxlan interface needs a `vni`")
                    .label("which VXLAN network?")
                    .help(format!("add `vni = 42` (0..{MAX_VNI}): both ends of a tunnel need the same")),
            );
        }
        return None;
    };
    match u32::try_from(*vni.get_ref()) {
        Ok(id) if i64::from(id) <= MAX_VNI => Some(id),
        _ => {
            d.error(
                Diagnostic::error(vni.span(), format!("VNI {} is outside 0..{MAX_VNI}", vni.get_ref()))
                    .label("the kernel refuses it (a VNI has 24 bits)")
                    .help(format!("write a VNI from 0 to {MAX_VNI}")),
            );
            None
        }
    }
}

/// `underlay`: an interface of the same node; `Some(None)` when none is written.
fn underlay(d: &Draft<'_>, id: IfaceId, doc: &Doc) -> Option<Option<IfaceId>> {
    let Some(text) = &doc.underlay else { return Some(None) };
    let underlay = d.resolve_iface(text, Some(id.node))?;
    let problem = if underlay == id {
        "a vxlan cannot be its own underlay"
    } else if underlay.node != id.node {
        "a vxlan's underlay must be an interface of its own node"
    } else {
        return Some(Some(underlay));
    };
    d.error(
        Diagnostic::error(text.span(), problem)
            .label("the kernel looks the underlay up in the namespace the tunnel is made in")
            .help(format!(
                "name the interface of `{}` that carries the tunnel, like \"eth0\"",
                d.lab.node(id.node).name
            )),
    );
    None
}

/// `local`: one of the node's own addresses; `Some(None)` when none is written.
fn local(d: &Draft<'_>, id: IfaceId, doc: &Doc) -> Option<Option<IpAddr>> {
    let Some(local) = &doc.local else { return Some(None) };
    let node = &d.lab.node(id.node).name;
    let own = node_addresses(d, id);
    if own.contains(local.get_ref()) {
        return Some(Some(*local.get_ref()));
    }
    let shown: Vec<String> = own.iter().map(IpAddr::to_string).collect();
    d.error(
        Diagnostic::error(local.span(), format!("`local` {} is not an address of `{node}`", local.get_ref()))
            .label("the tunnel's packets leave from this address, and the kernel sends none from an address the node does not have")
            .help(match shown.as_slice() {
                [] => format!("give an interface of `{node}` this address in its `addresses`, or remove `local`"),
                _ => format!("write one of `{node}`'s addresses: {}", shown.join(", ")),
            }),
    );
    None
}

/// The addresses written on the interfaces of `id`'s node.
fn node_addresses(d: &Draft<'_>, id: IfaceId) -> Vec<IpAddr> {
    (0..d.lab.node(id.node).ifaces.len())
        .filter_map(|index| d.declared.get(&IfaceId { node: id.node, index }))
        .flat_map(|doc| doc.addresses.iter().map(|a| a.get_ref().addr()))
        .collect()
}

/// `remotes` or `group`: one of them, unicast remotes or a multicast group, of the tunnel's
/// family (that of `local`, else IPv4 for remotes).
fn flood(d: &Draft<'_>, iface: &IfaceDoc, doc: &Doc) -> Option<Flood> {
    let local = doc.local.as_ref().map(|l| *l.get_ref());
    let remotes = doc.remotes.as_ref().filter(|r| !r.get_ref().is_empty());
    match (remotes, &doc.group) {
        (Some(remotes), Some(group)) => {
            d.error(
                Diagnostic::error(group.span(), "`remotes` and `group` exclude each other")
                    .label("group")
                    .related(remotes.span(), "remotes")
                    .help("flood to unicast remotes (as Docker's overlay does) or to one multicast group, not both"),
            );
            None
        }
        (Some(remotes), None) => {
            let v6 = local.is_some_and(|l| l.is_ipv6());
            let checked: Vec<Option<IpAddr>> = remotes.get_ref().iter().map(|r| remote(d, r, v6)).collect();
            warn_repeated(d, remotes.get_ref());
            checked.into_iter().collect::<Option<Vec<_>>>().map(Flood::Remotes)
        }
        (None, Some(group)) => self::group(d, group, local).map(Flood::Group),
        (None, None) if iface.written.has("remotes") || iface.written.has("group") => None,
        (None, None) => {
            d.error(
                Diagnostic::error(iface.span.clone(), "a vxlan interface needs `remotes` or a `group`")
                    .label("where do frames for unknown MACs go?")
                    .help("add `remotes = [\"192.0.2.2\"]` (the other ends' addresses), or `group = \"239.1.1.1\"` with an `underlay`"),
            );
            None
        }
    }
}

/// A remote: unicast, of the tunnel's family (the kernel refuses an FDB entry of the other:
/// address family not supported).
fn remote(d: &Draft<'_>, remote: &S<IpAddr>, v6: bool) -> Option<IpAddr> {
    let ip = *remote.get_ref();
    if !is_unicast(ip) {
        d.error(
            Diagnostic::error(remote.span(), format!("remote {ip} is not a unicast address"))
                .label("a remote is the address of another end of the tunnel")
                .help("for a multicast group write `group = \"...\"` instead of `remotes`"),
        );
        return None;
    }
    if ip.is_ipv6() != v6 {
        let (family, tunnel) = if v6 { ("IPv4", "IPv6") } else { ("IPv6", "IPv4") };
        d.error(
            Diagnostic::error(remote.span(), format!("remote {ip} is {family}, but the tunnel is {tunnel}"))
                .label("a tunnel has the family of its `local` (IPv4 without one); the kernel refuses remotes of the other")
                .help(format!("write {tunnel} remotes, or make it an {family} tunnel with an {family} `local`")),
        );
        return None;
    }
    Some(ip)
}

fn is_unicast(ip: IpAddr) -> bool {
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    !ip.is_unspecified() && !ip.is_multicast() && !broadcast
}

/// A remote written twice is one FDB entry: the kernel takes the second append silently.
fn warn_repeated(d: &Draft<'_>, remotes: &[S<IpAddr>]) {
    let mut first: HashMap<IpAddr, Span> = HashMap::new();
    for remote in remotes {
        match first.get(remote.get_ref()) {
            Some(earlier) => d.error(
                Diagnostic::warning(remote.span(), format!("remote {} is listed twice", remote.get_ref()))
                    .label("the kernel keeps one entry per remote")
                    .related(earlier.clone(), "first here")
                    .help("remove the repeated remote"),
            ),
            None => {
                first.insert(*remote.get_ref(), remote.span());
            }
        }
    }
}

/// A group: multicast, of `local`'s family when there is one.
fn group(d: &Draft<'_>, group: &S<IpAddr>, local: Option<IpAddr>) -> Option<IpAddr> {
    let ip = *group.get_ref();
    if !ip.is_multicast() {
        d.error(
            Diagnostic::error(group.span(), format!("group {ip} is not a multicast address"))
                .label("a group is joined on the underlay")
                .help("write a multicast address (224.0.0.0/4, ff00::/8) like \"239.1.1.1\", or use `remotes` for unicast ends"),
        );
        return None;
    }
    if local.is_some_and(|l| l.is_ipv6() != ip.is_ipv6()) {
        d.error(
            Diagnostic::error(group.span(), format!("group {ip} and `local` are of different families"))
                .label("the kernel refuses a local address and a group of two families")
                .help("write a group of the family of `local`"),
        );
        return None;
    }
    Some(ip)
}

/// `port`: the UDP destination port, 4789 unless written.
fn port(d: &Draft<'_>, doc: &Doc) -> Option<u16> {
    let Some(port) = &doc.port else { return Some(IANA_PORT) };
    match u16::try_from(*port.get_ref()) {
        Ok(p) if p > 0 => Some(p),
        _ => {
            d.error(
                Diagnostic::error(port.span(), format!("UDP port {} is outside 1..65535", port.get_ref()))
                    .label("not a port the tunnel can send to")
                    .help(format!(
                        "VXLAN's port is {IANA_PORT}; Linux's old default, 8472, is what flannel uses"
                    )),
            );
            None
        }
    }
}

/// Once MTUs are known: each tunnel's written MTU against its underlay, and one VNI per port
/// and family in each node.
pub(crate) fn check_tunnels(d: &Draft<'_>) {
    let mut first: HashMap<(usize, u32, u16, bool), IfaceId> = HashMap::new();
    for id in d.lab.iface_ids() {
        let IfaceKind::Vxlan(tunnel) = d.kind(id) else { continue };
        check_mtu(d, id, tunnel);
        match first.get(&(id.node.0, tunnel.vni, tunnel.port, tunnel.v6())) {
            Some(&other) => report_same_vni(d, id, other, tunnel),
            None => {
                first.insert((id.node.0, tunnel.vni, tunnel.port, tunnel.v6()), id);
            }
        }
    }
}

/// A written MTU larger than the underlay carries is lowered by the kernel, silently: said
/// here.
fn check_mtu(d: &Draft<'_>, id: IfaceId, tunnel: &Tunnel) {
    let Some(underlay) = tunnel.underlay else { return };
    let Some(written) = d.declared.get(&id).and_then(|doc| doc.mtu.as_ref()) else { return };
    let underlay_mtu = d.mtus.get(&underlay).copied().unwrap_or(1500);
    let made = tunnel.kernel_mtu(Some(*written.get_ref()), Some(underlay_mtu));
    let (low, high) = super::Kind::Vxlan.mtu_range();
    if made >= *written.get_ref() || !(i64::from(low)..=i64::from(high)).contains(written.get_ref()) {
        return;
    }
    let family = if tunnel.v6() { "IPv6" } else { "IPv4" };
    d.error(
        Diagnostic::warning(
            written.span(),
            format!("the kernel lowers this vxlan's MTU {} to {made}", written.get_ref()),
        )
        .label(format!(
            "`{}` has MTU {underlay_mtu}, and VXLAN over {family} takes {} bytes of it",
            d.lab.iface_label(underlay),
            tunnel.overhead()
        ))
        .help(format!(
            "write `mtu = {made}` (or less), or raise the underlay's `mtu` to {}",
            written.get_ref() + tunnel.overhead()
        )),
    );
}

/// The kernel refuses a second VXLAN device with one VNI, port and family in a namespace,
/// whatever its underlay, `local` or learning (EEXIST).
fn report_same_vni(d: &Draft<'_>, id: IfaceId, other: IfaceId, tunnel: &Tunnel) {
    d.error(
        Diagnostic::error(
            vni_span(d, id),
            format!(
                "VNI {} on port {} is on `{}` already",
                tunnel.vni,
                tunnel.port,
                d.lab.iface_label(other)
            ),
        )
        .label(format!("`{}`", d.lab.iface_label(id)))
        .related(vni_span(d, other), format!("`{}` has the same VNI and port", d.lab.iface_label(other)))
        .help("a namespace has one VXLAN device per VNI, port and address family, whatever their underlays (the kernel refuses the second): change `vni` or `port`"),
    );
}

fn vni_span(d: &Draft<'_>, id: IfaceId) -> Span {
    match d.declared.get(&id).map(|doc| &doc.own) {
        Some(super::KindDoc::Vxlan(Doc { vni: Some(vni), .. })) => vni.span(),
        _ => d.iface_span(id),
    }
}
