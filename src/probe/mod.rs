//! Probing: checks every expectation of a lab that is up, from inside its namespaces, all at
//! once. Work runs on threads that enter a namespace before opening sockets: echo and
//! ARP/ND workers per source node, captures on watched trunks (started first), netlink
//! inspections. Observations are judged against the expectations in `judge`. Sends and
//! reads packets only: never changes a lab's configuration, apart from flushing its
//! neighbour entries before each wave (see `waves`).

mod arp;
mod capture;
mod icmp;
mod inspect;
mod judge;
mod socket;
mod waves;
mod workers;

pub use judge::{Outcome, Verification};
use workers::{Plan, Settings};

use crate::model::{IfaceId, Lab};
use crate::realize::{State, netns};
use std::collections::BTreeMap;
use std::fs::File;
use std::time::{Duration, Instant};

/// Observations, one slot per expectation.
#[derive(Default)]
pub(crate) struct Observed {
    pub echo: BTreeMap<usize, (icmp::Echo, icmp::Seen)>,
    pub answers: BTreeMap<usize, arp::Answers>,
    pub looks: BTreeMap<(usize, IfaceId), inspect::Seen>,
    pub tags: BTreeMap<IfaceId, capture::Tags>,
    pub notes: BTreeMap<usize, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

/// Checks every expectation of `lab`, which `state` says is up. `timeout` overrides the
/// file's probe timeout.
pub fn verify(lab: &Lab, state: &State, timeout: Option<Duration>) -> Result<Verification, Error> {
    let started = Instant::now();
    let namespaces = open_namespaces(lab, state)?;
    let settings = Settings {
        timeout: timeout.unwrap_or(lab.verify.timeout),
        deadline: lab.verify.deadline.max(timeout.unwrap_or_default()),
    };
    let waves = waves::split(lab, waves::Room::now());
    let mut observed = Observed::default();
    for wave in &waves {
        waves::flush(&namespaces);
        let plan = Plan::new(lab, &settings, wave);
        plan.run(lab, &namespaces, &mut observed)?;
        plan.diagnose(&namespaces, &mut observed);
    }
    let outcomes =
        lab.expectations.iter().enumerate().map(|(i, e)| judge::judge(lab, state, e, i, &observed)).collect();
    Ok(Verification { lab: lab.name.clone(), outcomes, elapsed: started.elapsed(), waves: waves.len() })
}

fn open_namespaces(lab: &Lab, state: &State) -> Result<Vec<File>, Error> {
    lab.nodes
        .iter()
        .map(|node| {
            let name = state
                .node(&node.name)
                .map(|n| n.netns.clone())
                .unwrap_or_else(|| crate::model::netns_name(&lab.name, &node.name));
            netns::open(&name).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    Error(format!("lab `{}` is not up: namespace {name} is missing (lab up FILE)", lab.name))
                }
                _ => Error(format!("opening namespace {name}: {e}")),
            })
        })
        .collect()
}
