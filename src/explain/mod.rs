//! Explaining: why an expectation failed (or why a `reach = false` was reached after all).
//! Walks the path a probe's frames should take through the lab, there and back, and asks
//! each hop what it would do with them: the kernel's route lookup for that input interface
//! and source, the link's admin state and carrier, the neighbour entry of the next hop,
//! the switch port's VLANs and PVID, the macvlan/ipvlan mode rules, and the path watcher's
//! sightings. The first hop that would not pass the frame on is the explanation. Runs after
//! the verdicts, only for the expectations asked about; never changes the lab.

use serde::Serialize;

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
    /// What this hop was asked and answered: "route to 10.0.2.2: dev eth1 via 10.0.1.1".
    pub asked: Vec<String>,
    /// Whether the path watcher saw the probe's frame here, when it watched.
    pub seen: Option<bool>,
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
