//! The walk of one probe's packet, node by node: at each node the kernel is asked what it
//! would do with the packet (`kernel`), and between nodes the model says where the frame
//! goes (`layer2`). The first thing that would not pass the packet on ends the walk, named
//! in one line; a walk that reaches its target turns round for the reply.

use super::kernel::{self, Answer, Question, Route};
use super::layer2::{self, Blocked};
use super::{Stop, Way};
use crate::kind::IfaceKind;
use crate::model::{IfaceId, Lab, NodeId};
use std::fs::File;
use std::net::IpAddr;

/// A packet goes through at most this many nodes before the walk calls it a loop.
const MOST_NODES: usize = 64;

/// How the walk reaches each node's kernel: the node's namespace, opened.
pub trait Kernels {
    fn namespace(&self, node: NodeId) -> std::io::Result<&File>;
}

/// One way of a walk: the interfaces crossed, and how it ended.
pub struct Leg {
    pub path: Vec<IfaceId>,
    /// The node that took the packet in, or where it stopped.
    pub end: Result<Arrived, Stop>,
}

/// Where the packet arrived, and the source it was sent from.
pub struct Arrived {
    pub node: NodeId,
    pub source: Option<IpAddr>,
}

/// What a walk reads: the lab's model, its links by interface, and each node's kernel.
pub struct Ground<'a> {
    pub lab: &'a Lab,
    pub links: &'a layer2::Links,
    pub kernels: &'a dyn Kernels,
}

/// Walks a packet from node `from` to `dst` (from `src` when the sender's choice is known).
pub fn leg(ground: &Ground<'_>, way: Way, from: NodeId, dst: IpAddr, src: Option<IpAddr>) -> Leg {
    let Ground { lab, links, kernels } = *ground;
    let mut walker = Walker { lab, links, kernels, way, path: Vec::new(), seen: Vec::new() };
    let end = walker.walk(from, dst, src);
    Leg { path: walker.path, end }
}

struct Walker<'a> {
    lab: &'a Lab,
    links: &'a layer2::Links,
    kernels: &'a dyn Kernels,
    way: Way,
    path: Vec<IfaceId>,
    /// The nodes walked through.
    seen: Vec<NodeId>,
}

impl Walker<'_> {
    fn stop(&self, at: String, reason: String) -> Stop {
        Stop { way: self.way, at, reason }
    }

    fn walk(&mut self, from: NodeId, dst: IpAddr, mut src: Option<IpAddr>) -> Result<Arrived, Stop> {
        let lab = self.lab;
        let (mut node, mut iif) = (from, None::<IfaceId>);
        for _ in 0..MOST_NODES {
            if let Some(child) = iif.and_then(|i| ipvlan_child_with(lab, i, dst)) {
                self.path.push(child);
                (node, iif) = (child.node, Some(child));
            }
            if has_address(lab, node, dst) {
                return Ok(Arrived { node, source: src });
            }
            if self.seen.contains(&node) {
                return Err(self.looped(node));
            }
            self.seen.push(node);
            let at = match iif {
                Some(i) => format!("{} (in {})", lab.node(node).name, lab.iface(i).name),
                None => lab.node(node).name.clone(),
            };
            let question = Question {
                dst,
                src: src.filter(|_| iif.is_some()),
                iif: iif.map(|i| lab.iface(i).name.clone()),
            };
            let answer = self
                .kernels
                .namespace(node)
                .and_then(|ns| kernel::ask(ns, &question))
                .map_err(|e| self.stop(at.clone(), format!("its kernel could not be asked: {e}")))?;
            let route = self.routed(node, &at, &question, answer)?;
            if route.local {
                return Ok(Arrived { node, source: src });
            }
            src = src.or(route.source);
            (node, iif) = match self.next_node(node, &route, dst)? {
                Entry::In(next) => (next.node, Some(next)),
                Entry::Routed(parent) => (parent.node, None),
            };
        }
        Err(self.looped(node))
    }

    /// The packet came back to a node it passed: "the packet goes round in a loop: r1 → r2 → r1".
    fn looped(&self, node: NodeId) -> Stop {
        let start = self.seen.iter().position(|n| *n == node).unwrap_or(0);
        let names: Vec<&str> =
            self.seen[start..].iter().chain([&node]).map(|n| self.lab.node(*n).name.as_str()).collect();
        self.stop(
            self.lab.node(node).name.clone(),
            format!("the packet goes round in a loop: {}", names.join(" → ")),
        )
    }

    /// The route, or where the kernel would drop the packet and why.
    fn routed(&self, node: NodeId, at: &str, question: &Question, answer: Answer) -> Result<Route, Stop> {
        let dst = question.dst;
        if let Some(iif) = question.iif.as_deref().filter(|_| !answer.forwarding) {
            let key = match (dst.is_ipv4(), answer.forwarding_all) {
                (true, false) => "net.ipv4.ip_forward = 0".to_string(),
                (false, false) => "net.ipv6.conf.all.forwarding = 0".to_string(),
                (v4, true) => format!("net.{}.conf.{iif}.forwarding = 0", if v4 { "ipv4" } else { "ipv6" }),
            };
            return Err(self.stop(at.into(), format!("forwarding is off ({key}), so {dst} is not routed on")));
        }
        let rp_filter = answer.rp_filter;
        let gone =
            |errno| (errno == libc::ENETUNREACH).then(|| self.link_gone(node, dst, &answer.links)).flatten();
        answer.route.clone().map_err(|errno| {
            let reason = refused(question, rp_filter, errno);
            let reason = match gone(errno) {
                Some(why) => format!("{reason}: {why}"),
                None => reason,
            };
            self.stop(at.into(), reason)
        })
    }

    /// Why a connected route a node should have is gone: the link whose subnet has `dst` is
    /// down, or not there at all (its cable unplugged).
    fn link_gone(&self, node: NodeId, dst: IpAddr, links: &[(String, bool)]) -> Option<String> {
        let lab = self.lab;
        let home = lab.home(node);
        let (iface, net) = lab.iface_ids().filter(|i| lab.home(i.node) == home).find_map(|i| {
            let net = lab.iface(i).addresses.iter().find(|a| a.contains(&dst))?;
            Some((lab.iface(i).name.clone(), net.trunc()))
        })?;
        match links.iter().find(|(name, _)| *name == iface) {
            None => Some(format!("{iface}, whose route {net} this was, is gone (its cable unplugged?)")),
            Some((_, false)) => Some(format!("{iface} is down, and its route {net} went with it")),
            Some((_, true)) => None,
        }
    }

    /// From the output interface to the interface that owns the next hop: the next node.
    fn next_node(&mut self, node: NodeId, route: &Route, dst: IpAddr) -> Result<Entry, Stop> {
        let lab = self.lab;
        let name = &lab.node(node).name;
        let Some(oif) = node_iface(lab, node, &route.oif) else {
            return Err(self.stop(
                name.clone(),
                format!("the route to {dst} leaves by {}, which the lab did not make", route.oif),
            ));
        };
        let at = layer2::place(lab, oif);
        if !route.oif_up || !route.carrier {
            self.path.push(oif);
            let reason = if route.oif_up { no_carrier(lab, oif) } else { format!("{} is down", route.oif) };
            return Err(self.stop(at, reason));
        }
        let hop = route.next_hop(dst);
        let owner = owner_of(lab, self.links, hop, oif);
        if let Some(parent) = routed_by_parent(lab, oif, owner) {
            self.path.extend([oif, parent]);
            return Ok(Entry::Routed(parent));
        }
        let Some(owner) = owner else {
            self.path.push(oif);
            return Err(self.stop(at, nobody_has(lab, route, hop, dst, oif)));
        };
        if !layer2::joined(lab, self.links, oif, owner) && layer2::tunnel_mismatch(lab, oif).is_none() {
            self.path.push(oif);
            return Err(self.stop(at, off_link(lab, self.links, route, hop, dst, oif, owner)));
        }
        match layer2::carry(lab, self.links, oif, owner) {
            Ok(crossed) => self.path.extend(crossed),
            Err(Blocked { at, reason, path }) => {
                self.path.extend(path);
                return Err(self.stop(at, reason));
            }
        }
        if route.neighbour == Some(false) {
            return Err(self
                .filtered_request(route, hop, owner)
                .or_else(|| self.answer_lost(oif, owner))
                .unwrap_or_else(|| self.stop(at, unresolved(lab, hop, &route.oif, owner))));
        }
        Ok(Entry::In(owner))
    }

    /// When the next hop's owner answered but its answer cannot come back to `oif` (it
    /// comes in untagged where the asker listens on a sub-interface), where and why.
    fn answer_lost(&self, oif: IfaceId, owner: IfaceId) -> Option<Stop> {
        let Blocked { at, reason, .. } = layer2::carry(self.lab, self.links, owner, oif).err()?;
        let asker = self.lab.iface_label(oif);
        let reason =
            format!("the ARP answer of {} to {asker} stops here: {reason}", self.lab.iface_label(owner));
        Some(self.stop(at, reason))
    }

    /// When the owner of the next hop drops the ARP request itself by its reverse-path
    /// filter (the request's sender is routed back by another interface), where and why.
    fn filtered_request(&self, route: &Route, hop: IpAddr, owner: IfaceId) -> Option<Stop> {
        let lab = self.lab;
        let sender = route.source.filter(|s| s.is_ipv4())?;
        let iif = lab.iface(owner).name.clone();
        let question = Question { dst: hop, src: Some(sender), iif: Some(iif.clone()) };
        let answer = self.kernels.namespace(owner.node).and_then(|ns| kernel::ask(ns, &question)).ok()?;
        if answer.route.as_ref().err() != Some(&libc::EINVAL) || answer.rp_filter == 0 {
            return None;
        }
        let at = format!("{} (in {iif})", lab.node(owner.node).name);
        let reason = format!(
            "the reverse-path filter drops the ARP request for {hop} (rp_filter = {}): the route back to {sender} does not leave by {iif}",
            answer.rp_filter
        );
        Some(self.stop(at, reason))
    }
}

/// How the packet goes on to the next node.
enum Entry {
    /// It comes in by this interface.
    In(IfaceId),
    /// An ipvlan L3 child's parent routes it, in the parent's namespace, as if it sent it.
    Routed(IfaceId),
}

/// The parent of an ipvlan L3 (or L3S) child that a packet leaves by, when the parent's
/// namespace routes it: for any next hop but a sibling on the same parent.
fn routed_by_parent(lab: &Lab, oif: IfaceId, owner: Option<IfaceId>) -> Option<IfaceId> {
    let IfaceKind::Ipvlan { parent, mode, .. } = lab.iface(oif).kind else { return None };
    let sibling = owner
        .is_some_and(|o| matches!(lab.iface(o).kind, IfaceKind::Ipvlan { parent: p, .. } if p == parent));
    (mode.is_l3() && !sibling).then_some(parent)
}

/// The kernel's refusal in words.
fn refused(question: &Question, rp_filter: u8, errno: i32) -> String {
    let dst = question.dst;
    match (errno, &question.iif, question.src) {
        (libc::ENETUNREACH, _, _) => format!("no route to {dst} (network unreachable)"),
        (libc::EHOSTUNREACH, _, _) => format!("no route to host {dst}"),
        (libc::EACCES, _, _) => format!("a prohibit route refuses {dst}"),
        (libc::EINVAL, Some(iif), Some(src)) if rp_filter == 1 => format!(
            "the reverse-path filter drops it (rp_filter = 1): the route back to {src} does not leave by {iif}"
        ),
        (libc::EINVAL, Some(_), Some(src)) if rp_filter == 2 => {
            format!("the reverse-path filter drops it (rp_filter = 2): there is no route back to {src}")
        }
        (libc::EINVAL, Some(iif), Some(src)) => {
            format!("the kernel drops it as a martian: source {src} on {iif}")
        }
        (libc::EINVAL, None, _) => format!("a blackhole route drops packets to {dst}"),
        (errno, _, _) => {
            format!("the route lookup for {dst} failed: {}", std::io::Error::from_raw_os_error(errno))
        }
    }
}

/// Why the next hop's address went unanswered.
fn unresolved(lab: &Lab, hop: IpAddr, oif: &str, owner: IfaceId) -> String {
    let asking = if hop.is_ipv4() { "ARP" } else { "neighbour discovery" };
    let why = match &lab.iface(owner).kind {
        IfaceKind::Ipvlan { parent, mode, .. } if mode.is_l3() => format!(
            ": {} is ipvlan {}, which answers no ARP (NOARP); route to it via {}'s address",
            lab.iface_label(owner),
            mode.as_str(),
            lab.node(parent.node).name
        ),
        _ => format!(" (the neighbour entry is FAILED: {} did not answer)", lab.iface_label(owner)),
    };
    format!("no {asking} answer for {hop} on {oif}{why}")
}

/// "eth0 has no carrier: its far end, sw1:h1-eth0, is down"; for a child, why its parent
/// has none.
fn no_carrier(lab: &Lab, oif: IfaceId) -> String {
    format!("{} has no carrier: {}", lab.iface(oif).name, carrier_lost(lab, oif, 0))
}

/// Why an interface has no carrier, as the model says: its cable's far end is down, or its
/// parent is down or has none.
fn carrier_lost(lab: &Lab, iface: IfaceId, depth: usize) -> String {
    match lab.iface(iface).kind {
        IfaceKind::Veth { peer, .. } => format!("its far end, {}, is down", lab.iface_label(peer)),
        ref other => match other.parent() {
            Some(parent) if !lab.iface(parent).up => {
                format!("its parent {} is down", lab.iface_label(parent))
            }
            Some(parent) if depth < 8 => {
                format!(
                    "its parent {} has none: {}",
                    lab.iface_label(parent),
                    carrier_lost(lab, parent, depth + 1)
                )
            }
            _ => "its link is down".into(),
        },
    }
}

/// Whether a node (or one that shares its namespace) has an address.
fn has_address(lab: &Lab, node: NodeId, addr: IpAddr) -> bool {
    let home = lab.home(node);
    lab.iface_ids()
        .filter(|i| lab.home(i.node) == home)
        .any(|i| lab.iface(i).addresses.iter().any(|a| a.addr() == addr))
}

/// The interface of the lab that has an address: one on the link of `oif` first; for a
/// link-local address, only one there (each link has its own).
fn owner_of(lab: &Lab, links: &layer2::Links, addr: IpAddr, oif: IfaceId) -> Option<IfaceId> {
    let all: Vec<IfaceId> =
        lab.iface_ids().filter(|i| lab.iface(*i).addresses.iter().any(|a| a.addr() == addr)).collect();
    match all.iter().copied().find(|o| layer2::joined(lab, links, oif, *o)) {
        Some(owner) => Some(owner),
        None if link_local(addr) => None,
        None => all.first().copied(),
    }
}

fn link_local(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// "nothing in the lab has 10.0.1.254, the gateway of the route to 10.0.2.2", or for a
/// link-local address owned on another link, that it is that link's.
fn nobody_has(lab: &Lab, route: &Route, hop: IpAddr, dst: IpAddr, oif: IfaceId) -> String {
    let what = if route.gateway.is_some() {
        format!("the gateway of the route to {dst}")
    } else {
        format!("on the link of {}", route.oif)
    };
    let elsewhere = lab.iface_ids().find(|i| lab.iface(*i).addresses.iter().any(|a| a.addr() == hop));
    match elsewhere {
        Some(other) if link_local(hop) => format!(
            "nothing on the link of {} has {hop}, {what}: {} has it, on another link (a link-local address is its link's own)",
            lab.iface(oif).name,
            lab.iface_label(other)
        ),
        _ => format!("nothing in the lab has {hop}, {what}"),
    }
}

/// The owner of the next hop is on another link than the route's interface: the route's
/// mistake in words (a gateway that is no neighbour, or an on-link route to a network
/// behind a router).
fn off_link(
    lab: &Lab,
    links: &layer2::Links,
    route: &Route,
    hop: IpAddr,
    dst: IpAddr,
    oif: IfaceId,
    owner: IfaceId,
) -> String {
    let owner_label = lab.iface_label(owner);
    let link = format!("no cable, switch or tunnel joins {} to it", lab.iface(oif).name);
    match route.gateway {
        Some(gateway) => {
            format!(
                "the gateway {gateway} is {owner_label}'s, which is not on the link of {}: {link}",
                route.oif
            )
        }
        None if lab.iface(oif).addresses.iter().any(|a| a.contains(&dst)) => {
            format!("{owner_label} is on no link of {}: no cable, switch or tunnel joins them", route.oif)
        }
        None if hop == dst => format!(
            "the route to {dst} leaves by {} with no gateway, as if {dst} were on that link, but {dst} is {owner_label}'s: {link}{}",
            route.oif,
            router_on_link(lab, links, oif, dst)
                .map(|via| format!("; route it via {via}"))
                .unwrap_or_default()
        ),
        None => format!("{hop} is {owner_label}'s, which is not on the link of {}: {link}", route.oif),
    }
}

/// A router's address on the link of `oif`, of the same family as `dst`: "10.0.1.1
/// (r1:eth0)", the gateway an on-link route should have named.
fn router_on_link(lab: &Lab, links: &layer2::Links, oif: IfaceId, dst: IpAddr) -> Option<String> {
    lab.iface_ids()
        .filter(|i| i.node != oif.node && lab.node(i.node).role == crate::model::Role::Router)
        .filter(|i| layer2::joined(lab, links, oif, *i))
        .find_map(|i| {
            let address = lab.iface(i).addresses.iter().find(|a| a.addr().is_ipv4() == dst.is_ipv4())?;
            Some(format!("{} ({})", address.addr(), lab.iface_label(i)))
        })
}

/// The interface named `name` in a node's namespace.
fn node_iface(lab: &Lab, node: NodeId, name: &str) -> Option<IfaceId> {
    let home = lab.home(node);
    lab.iface_ids().find(|i| lab.home(i.node) == home && lab.iface(*i).name == name)
}

/// An ipvlan child of `parent` that has `addr`: the parent's ipvlan handler gives such a
/// packet to the child before the parent's own stack sees it.
fn ipvlan_child_with(lab: &Lab, parent: IfaceId, addr: IpAddr) -> Option<IfaceId> {
    lab.iface_ids().find(|c| {
        matches!(lab.iface(*c).kind, IfaceKind::Ipvlan { parent: p, .. } if p == parent)
            && lab.iface(*c).addresses.iter().any(|a| a.addr() == addr)
    })
}
