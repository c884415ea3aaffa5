//! Explaining: why an expectation failed (or why a `reach = false` was reached after all).
//! Walks the packet of a failed expectation through the lab, there and back (`walk`): at
//! each node the kernel is asked what it would do with it (`kernel`: the route lookup for
//! that input interface and source, forwarding, rp_filter, the output link's state and
//! carrier, the next hop's neighbour entry), and between nodes the model says where the
//! frame goes (`layer2`: VLAN tags, switch ports' VLANs and PVID, hairpin, macvlan and
//! ipvlan modes, tunnels). The first hop that would not pass the packet on is the
//! explanation, in one line. Runs after the verdicts, only for failures; never changes the
//! lab. For drawings of results, every other expectation gets its predicted path (`path`).

mod kernel;
mod layer2;
mod path;
mod walk;

use crate::graph::LabGraph;
use crate::model::{Expectation, Lab, NodeId};
use crate::probe::Verification;
use crate::state::State;
use serde::Serialize;
use std::fs::File;

/// Walks the path of every failed expectation that sends something, and leaves the walk,
/// with where the packet stopped, on its outcome.
pub fn failures(lab: &Lab, state: &State, verification: &mut Verification) {
    let failed =
        |number: usize| verification.outcomes.iter().any(|o| o.number == number && !o.passed && o.decided);
    let wanted: Vec<&Expectation> =
        lab.expectations.iter().filter(|e| failed(e.number) && path::sent(e).is_some()).collect();
    if wanted.is_empty() {
        return;
    }
    let kernels = Namespaces::open(lab, state);
    let links = layer2::Links::of(lab);
    let ground = walk::Ground { lab, links: &links, kernels: &kernels };
    for expectation in wanted {
        let mut walked = walk_of(&ground, expectation);
        if let Some(outcome) = verification.outcomes.iter_mut().find(|o| o.number == expectation.number) {
            if let (Some(walk), Some(sighted)) = (&mut walked, &outcome.sighted) {
                mark_seen(lab, walk, sighted);
            }
            outcome.walk = walked;
        }
    }
}

/// Marks each hop of a walk with whether the path watcher saw the frame there (the request
/// on the way there, the reply on the way back).
fn mark_seen(lab: &Lab, walk: &mut Walk, sighted: &[crate::probe::Sighted]) {
    for hop in &mut walk.hops {
        let seen = sighted.iter().any(|s| {
            s.reply == (hop.way == Way::Back)
                && s.leaving != hop.arriving
                && lab.node(s.at.node).name == hop.node
                && lab.iface(s.at).name == hop.iface
        });
        hop.seen = Some(seen);
    }
}

/// Gives every outcome not walked yet whose expectation sends something (from a node to a
/// target in the lab) the path its frames are meant to take, there and back: what a drawing
/// of the results highlights.
pub fn paths(lab: &Lab, verification: &mut Verification) {
    let graph = LabGraph::new(lab);
    for outcome in verification.outcomes.iter_mut().filter(|o| o.walk.is_none()) {
        let expectation = lab.expectations.iter().find(|e| e.number == outcome.number);
        if let Some((from, to)) = expectation.and_then(path::ends) {
            outcome.walk = Some(path::predicted(&graph, from, to));
        }
    }
}

/// The walk of one expectation's packet: there, and when it arrives, the reply back.
fn walk_of(ground: &walk::Ground<'_>, expectation: &Expectation) -> Option<Walk> {
    let lab = ground.lab;
    let (from, to) = path::sent(expectation)?;
    let there = walk::leg(ground, Way::There, from, to.addr, None);
    let mut hops = path::hops_of(lab, &there.path, Way::There);
    let stop = match there.end {
        Err(stop) => Some(stop),
        Ok(walk::Arrived { source: None, .. }) => None,
        Ok(walk::Arrived { node, source: Some(source) }) => {
            let back = walk::leg(ground, Way::Back, node, source, Some(to.addr));
            hops.extend(path::hops_of(lab, &back.path, Way::Back));
            back.end.err()
        }
    };
    Some(Walk { hops, stop, asked: true })
}

/// The lab's namespaces, opened once for a walk.
struct Namespaces {
    files: Vec<std::io::Result<File>>,
}

impl Namespaces {
    fn open(lab: &Lab, state: &State) -> Namespaces {
        let files = (0..lab.nodes.len())
            .map(|n| {
                let home = lab.node(lab.home(NodeId(n)));
                let name = state
                    .node(&home.name)
                    .map(|s| s.netns.clone())
                    .unwrap_or_else(|| lab.netns_name(NodeId(n)));
                crate::kernel::netns::open(&name)
            })
            .collect();
        Namespaces { files }
    }
}

impl walk::Kernels for Namespaces {
    fn namespace(&self, node: NodeId) -> std::io::Result<&File> {
        self.files[node.0].as_ref().map_err(|e| std::io::Error::new(e.kind(), e.to_string()))
    }
}

/// Which way a hop's frames travel: the request towards the target, or the reply back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Way {
    There,
    Back,
}

/// One interface on the path, and what was asked there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hop {
    pub way: Way,
    pub node: String,
    /// The interface's name in its node.
    pub iface: String,
    /// Whether the frame enters the node here (else it leaves by it).
    pub arriving: bool,
    /// Whether the path watcher saw the frame here, when it watched the probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<bool>,
}

impl Hop {
    /// Which frame travels this way: "the request" there, "the reply" back.
    fn frame(&self) -> &'static str {
        match self.way {
            Way::There => "the request",
            Way::Back => "the reply",
        }
    }

    /// "arriving at r1:eth0" or "leaving by r1:eth1".
    fn place(&self) -> String {
        let way = if self.arriving { "arriving at" } else { "leaving by" };
        format!("{way} {}", self.label())
    }

    /// "node:iface", as the lab's graph and reports name an interface.
    pub fn label(&self) -> String {
        format!("{}:{}", self.node, self.iface)
    }
}

/// Where the frame stops, and why, in one line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stop {
    pub way: Way,
    /// "sw1 port h2-eth0", "r1 (in eth0)", "h1".
    pub at: String,
    pub reason: String,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let way = match self.way {
            Way::There => "",
            Way::Back => "the reply ",
        };
        write!(f, "{way}stopped at {}: {}", self.at, self.reason)
    }
}

/// The whole walk of one expectation's path; as JSON with its `explanation` line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Walk {
    /// Every hop, the request's first, then the reply's.
    pub hops: Vec<Hop>,
    /// The first hop that would not pass the frame on; `None` when every hop would.
    pub stop: Option<Stop>,
    /// Whether the hops were asked (a failure's walk), or only predicted from the graph.
    pub asked: bool,
}

impl Walk {
    /// The explanation in one line: where the packet stopped, or that nothing stops it and
    /// the way it goes ("h1 → sw1 → h2, and back").
    pub fn summary(&self) -> String {
        match (&self.stop, self.asked) {
            (Some(stop), _) => stop.to_string(),
            (None, true) => format!("nothing on the path stops it: {}", self.route()),
            (None, false) => format!("the path it should take: {}", self.route()),
        }
    }

    /// What the path watcher saw along the walk, when it watched and saw the probe
    /// somewhere: "the request was last seen arriving at r1:eth0, and not leaving by r1:eth1".
    pub fn sightings(&self) -> Option<String> {
        let marked: Vec<(&Hop, bool)> = self.hops.iter().filter_map(|h| h.seen.map(|s| (h, s))).collect();
        if marked.is_empty() {
            return None;
        }
        let last = marked.iter().rposition(|(_, seen)| *seen)?;
        let (hop, _) = marked[last];
        let text = format!("{} was last seen {}", hop.frame(), hop.place());
        Some(match marked.get(last + 1) {
            Some((missed, _)) if missed.way == hop.way => format!("{text}, and not {}", missed.place()),
            Some((missed, _)) => format!("{text}; {} was not seen {}", missed.frame(), missed.place()),
            None => format!("{text}, where the walk ends too"),
        })
    }

    /// The nodes the request passes, each once in a row, and whether the reply was walked.
    fn route(&self) -> String {
        let mut nodes: Vec<&str> = Vec::new();
        for hop in self.hops.iter().filter(|h| h.way == Way::There) {
            if nodes.last() != Some(&hop.node.as_str()) {
                nodes.push(&hop.node);
            }
        }
        let back = if self.hops.iter().any(|h| h.way == Way::Back) { ", and back" } else { "" };
        format!("{}{back}", nodes.join(" → "))
    }
}

impl Serialize for Walk {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut walk = serializer.serialize_struct("Walk", 4)?;
        walk.serialize_field("hops", &self.hops)?;
        walk.serialize_field("stop", &self.stop)?;
        walk.serialize_field("explanation", &self.summary())?;
        walk.serialize_field("seen", &self.sightings())?;
        walk.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(way: Way, label: &str, arriving: bool, seen: bool) -> Hop {
        let (node, iface) = label.split_once(':').unwrap();
        Hop { way, node: node.into(), iface: iface.into(), arriving, seen: Some(seen) }
    }

    #[test]
    fn sightings_name_the_last_interface_that_saw_the_frame_and_the_first_that_did_not() {
        let walk = |hops| Walk { hops, stop: None, asked: true };
        let stopped = walk(vec![
            hop(Way::There, "h1:eth0", false, true),
            hop(Way::There, "r1:eth0", true, true),
            hop(Way::There, "r1:eth1", false, false),
        ]);
        assert_eq!(
            stopped.sightings().as_deref(),
            Some("the request was last seen arriving at r1:eth0, and not leaving by r1:eth1")
        );
        let unanswered = walk(vec![
            hop(Way::There, "h1:eth0", false, true),
            hop(Way::There, "h2:eth0", true, true),
            hop(Way::Back, "h2:eth0", false, false),
        ]);
        assert_eq!(
            unanswered.sightings().as_deref(),
            Some("the request was last seen arriving at h2:eth0; the reply was not seen leaving by h2:eth0")
        );
        let unseen = walk(vec![hop(Way::There, "h1:eth0", false, false)]);
        assert_eq!(unseen.sightings(), None);
        assert_eq!(
            walk(vec![hop(Way::There, "h1:eth0", false, true)]).sightings().as_deref(),
            Some("the request was last seen leaving by h1:eth0, where the walk ends too")
        );
    }
}
