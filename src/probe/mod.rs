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
mod namespaces;
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
use crate::realize::State;
use std::collections::BTreeMap;
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
    let namespaces = namespaces::Namespaces::open(lab, state)?;
    let settings = Settings {
        timeout: timeout.unwrap_or(lab.verify.timeout),
        deadline: lab.verify.deadline.max(timeout.unwrap_or_default()),
    };
    let queues = queues::Queues::find(&namespaces);
    // Opened at the first wave of silence, and kept for the others.
    let mut watch: Option<watch::Watch> = None;
    let mut observed = Observed::default();
    let mut todo: Vec<usize> = (0..lab.expectations.len()).collect();
    let mut room = waves::Room::now();
    let mut waves_run = 0;
    for round in 0..=ROUNDS {
        let mut again = Vec::new();
        observed.unsettled.clear();
        let mut planner = waves::Planner::new(lab, &todo);
        while let Some((wave, foreseen)) = planner.next_wave(lab, room) {
            namespaces.flush_neighbours();
            let before = waves::entries_now();
            let plan = Plan::new(lab, &settings, &wave);
            if plan.expects_silence() && watch.is_none() {
                watch = Some(
                    watch::Watch::open(lab, &namespaces)
                        .map_err(|e| Error(format!("watching the lab: {e}")))?,
                );
            }
            let watching = watch.as_ref().filter(|_| plan.expects_silence());
            let losses = plan.run(lab, &namespaces.files, &queues, watching, &mut observed)?;
            let after = waves::entries_now();
            planner.learn(foreseen, (after.0.saturating_sub(before.0), after.1.saturating_sub(before.1)));
            plan.diagnose(&namespaces.files, &mut observed);
            waves_run += 1;
            for &i in &wave {
                let expectation = &lab.expectations[i];
                let outcome = judge::judge(lab, state, expectation, i, &observed);
                let mut why: Vec<String> = observed.undecided(i).into_iter().collect();
                if judge::rests_on_silence(expectation, &outcome) {
                    why.extend(losses.reasons.iter().cloned());
                    let echo = observed.echo.get(&i).map(|(echo, _)| echo.id);
                    why.extend(trail::lost_on_the_way(lab, expectation, echo, &losses.frames));
                }
                if !why.is_empty() {
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
