//! Explaining: why an expectation failed (or why a `reach = false` was reached after all).
//! Walks the path a probe's frames should take through the lab, there and back, and asks
//! each hop what it would do with them: the kernel's route lookup for that input interface
//! and source, the link's admin state and carrier, the neighbour entry of the next hop,
//! the switch port's VLANs and PVID, the macvlan/ipvlan mode rules, and the path watcher's
//! sightings. The first hop that would not pass the frame on is the explanation. Runs after
//! the verdicts, only for the expectations asked about; never changes the lab. So far
//! (`path`): the path each expectation's frames are meant to take, for drawings of results;
//! asking the hops is still to come.

mod path;

use crate::graph::LabGraph;
use crate::model::Lab;
use crate::probe::Verification;
use serde::Serialize;

/// Gives every outcome whose expectation sends something (from a node to a target in the
/// lab) the path its frames are meant to take, there and back: what a drawing of the results
/// highlights.
pub fn paths(lab: &Lab, verification: &mut Verification) {
    let graph = LabGraph::new(lab);
    for outcome in &mut verification.outcomes {
        let expectation = lab.expectations.iter().find(|e| e.number == outcome.number);
        if let Some((from, to)) = expectation.and_then(path::ends) {
            outcome.walk = Some(path::predicted(&graph, from, to));
        }
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
}

impl Hop {
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

/// The whole walk of one expectation's path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Walk {
    /// Every hop, the request's first, then the reply's.
    pub hops: Vec<Hop>,
    /// The first hop that would not pass the frame on; `None` when every hop would.
    pub stop: Option<Stop>,
}
