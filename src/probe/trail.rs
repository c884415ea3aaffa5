//! What the path watcher's sightings say about one probe that got no reply: whether the
//! request left, reached its target, was answered, and where it (or the reply) was last
//! seen. The evidence a `reach = false` rests on, in one clause. Pure: reads observations.

use super::watch::{Frame, Lost, Resolution, Sighting};
use crate::model::{Check, Expectation, IfaceId, Lab, NodeId, Target};
use std::net::IpAddr;

/// The evidence, in words: "the request reached namespace1:macvlan1; namespace1 sent no
/// reply". `target` is the node that has the probed address, when the lab has one.
pub fn explain(
    lab: &Lab,
    sightings: &[Sighting],
    resolutions: &[Resolution],
    from: NodeId,
    to: &Target,
) -> String {
    let target = to.iface.map(|i| i.node);
    let seen = |frame: Frame, leaving: bool, node: Option<NodeId>| {
        // A node that joins another's namespace sends and receives by that one's interfaces.
        let home = node.map(|n| lab.home(n));
        sightings
            .iter()
            .filter(move |s| s.frame == frame && s.leaving == leaving && Some(lab.home(s.at.node)) == home)
    };
    let last = |frame: Frame| sightings.iter().filter(|s| s.frame == frame).max_by_key(|s| s.stamp);
    if seen(Frame::Request, true, Some(from)).next().is_none() {
        let wanted: Vec<IpAddr> = std::iter::once(to.addr).chain(next_hops(lab, from)).collect();
        return format!(
            "the request never left {}{}",
            lab.node(from).name,
            unanswered(lab, resolutions, from, &wanted)
        );
    }
    if let Some(error) = seen(Frame::Error, false, Some(from)).next() {
        return format!("an ICMP error about the request came back to {}", lab.iface_label(error.at));
    }
    let Some(target) = target else {
        return match last(Frame::Request) {
            Some(s) => format!("the request was last seen {}", place(lab, s)),
            None => "the request was seen nowhere".into(),
        };
    };
    let name = &lab.node(target).name;
    let Some(arrived) = seen(Frame::Request, false, Some(target)).next() else {
        let stopped =
            last(Frame::Request).map(|s| format!(", last seen {}", place(lab, s))).unwrap_or_default();
        return format!("the request never reached {name}{stopped}");
    };
    if seen(Frame::Reply, true, Some(target)).next().is_none() {
        let back: Vec<IpAddr> = addresses(lab, from).chain(next_hops(lab, target)).collect();
        let why = unanswered(lab, resolutions, target, &back);
        return format!("the request reached {}; {name} sent no reply{why}", lab.iface_label(arrived.at));
    }
    if let Some(back) = seen(Frame::Reply, false, Some(from)).next() {
        return format!(
            "{name} answered and the reply reached {}, where no socket took it",
            lab.iface_label(back.at)
        );
    }
    let stopped = last(Frame::Reply).map(|s| format!(", last seen {}", place(lab, s))).unwrap_or_default();
    format!("{name} answered, but the reply never came back{stopped}")
}

/// "arriving at sw1:p1" or "leaving net1:eth0".
fn place(lab: &Lab, sighting: &Sighting) -> String {
    let way = if sighting.leaving { "leaving" } else { "arriving at" };
    format!("{way} {}", lab.iface_label(sighting.at))
}

/// The next hops a node's routes name.
fn next_hops(lab: &Lab, node: NodeId) -> impl Iterator<Item = IpAddr> + '_ {
    lab.node(node).routes.iter().filter_map(|r| r.via)
}

fn addresses(lab: &Lab, node: NodeId) -> impl Iterator<Item = IpAddr> + '_ {
    lab.node(node).ifaces.iter().flat_map(|i| i.addresses.iter().map(|a| a.addr()))
}

/// " (no ARP/ND answer for 10.0.0.9 on eth0)", when the node asked for one of the `wanted`
/// addresses (the probe's next hops) and no answer came back to it.
fn unanswered(lab: &Lab, resolutions: &[Resolution], node: NodeId, wanted: &[IpAddr]) -> String {
    let asked: Vec<(IpAddr, IfaceId)> = resolutions
        .iter()
        .filter(|r| !r.answer && r.leaving && r.at.node == node && wanted.contains(&r.target))
        .map(|r| (r.target, r.at))
        .collect();
    let answered = |target: IpAddr| {
        resolutions.iter().any(|r| r.answer && !r.leaving && r.at.node == node && r.sender == target)
    };
    match asked.iter().find(|(target, _)| !answered(*target)) {
        Some((target, at)) => format!(" (no ARP/ND answer for {target} on {})", lab.iface(*at).name),
        None => String::new(),
    }
}

/// Why a silence proves nothing because a frame it depended on was lost: an echo of the
/// probe, or a question or answer about an address on its way (target, source, next hops).
pub fn lost_on_the_way(
    lab: &Lab,
    expectation: &Expectation,
    echo: Option<u16>,
    lost: &[Lost],
) -> Option<String> {
    let (from, to) = match &expectation.check {
        Check::Reach { from, to, .. } | Check::Resolves { from, to, .. } => (*from, to),
        _ => return None,
    };
    let target = to.iface.map(|i| i.node);
    let mut addresses: Vec<IpAddr> = vec![to.addr];
    addresses.extend(addresses_of(lab, from));
    addresses.extend(next_hops(lab, from));
    if let Some(target) = target {
        addresses.extend(next_hops(lab, target));
    }
    let frame = lost
        .iter()
        .find(|l| (echo.is_some() && l.echo == echo) || l.about.is_some_and(|a| addresses.contains(&a)))?;
    Some(format!("the machine dropped a frame of it on its way to {}", lab.iface_label(frame.at)))
}

fn addresses_of(lab: &Lab, node: NodeId) -> Vec<IpAddr> {
    addresses(lab, node).collect()
}
