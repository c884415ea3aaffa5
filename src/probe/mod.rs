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
mod queues;
mod settle;
mod socket;
mod trail;
mod watch;
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
    /// Where the probes of the silence waves were seen, and which expectations were watched.
    pub trails: watch::Trails,
    pub watched: std::collections::BTreeSet<usize>,
    /// Expectations whose last asking could not decide them, and why.
    pub unsettled: BTreeMap<usize, Vec<String>>,
}

impl Observed {
    /// Why a probe's own observation proves nothing, if it does not.
    fn undecided(&self, index: usize) -> Option<String> {
        let echo = self.echo.get(&index).and_then(|(_, seen)| seen.undecided.clone());
        echo.or_else(|| self.answers.get(&index).and_then(|a| a.undecided.clone()))
    }
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
    let queues =
        queues::Queues::find(&namespaces).map_err(|e| Error(format!("reading the lab's queues: {e}")))?;
    let mut observed = Observed::default();
    let mut todo: Vec<usize> = (0..lab.expectations.len()).collect();
    let mut room = waves::Room::now();
    let mut waves_run = 0;
    for round in 0..=ROUNDS {
        let mut again = Vec::new();
        observed.unsettled.clear();
        for wave in waves::split(lab, &todo, room) {
            waves::flush(&namespaces);
            let plan = Plan::new(lab, &settings, &wave);
            let losses = plan.run(lab, &namespaces, &queues, &mut observed)?;
            plan.diagnose(&namespaces, &mut observed);
            waves_run += 1;
            for &i in &wave {
                let outcome = judge::judge(lab, state, &lab.expectations[i], i, &observed);
                let unsure = judge::rests_on_silence(&lab.expectations[i], &outcome);
                let undecided = observed.undecided(i);
                if (unsure && !losses.is_empty()) || undecided.is_some() {
                    let why = undecided.into_iter().chain(losses.iter().cloned()).collect();
                    observed.unsettled.insert(i, why);
                    again.push(i);
                }
            }
        }
        if again.is_empty() || round == ROUNDS {
            break;
        }
        todo = again;
        room = room.halved();
    }
    let outcomes =
        lab.expectations.iter().enumerate().map(|(i, e)| judge::judge(lab, state, e, i, &observed)).collect();
    Ok(Verification { lab: lab.name.clone(), outcomes, elapsed: started.elapsed(), waves: waves_run })
}

/// How many times an expectation a wave could not decide (frames were lost, or the network
/// never went quiet) is asked again, each time in waves half as large.
const ROUNDS: usize = 3;

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
