//! Probing: checks every expectation of a lab that is up, from inside its namespaces, in
//! waves that fit the machine's neighbour tables (`waves`). Work runs on threads that enter
//! a namespace before opening sockets: echo and ARP/ND workers per source node, captures on
//! watched trunks, netlink inspections, and for expectations of silence a path watcher in
//! every namespace (`watch`). No absence is concluded before the network is quiet
//! (`settle`); what the machine lost is asked again. Observations are judged in `judge`.
//! Sends and reads packets only: never changes a lab's configuration, apart from flushing its
//! neighbour entries before each wave.

mod arp;
mod capture;
mod icmp;
mod inspect;
mod judge;
mod namespaces;
mod quality;
mod queues;
mod series;
mod service;
mod settle;
pub(crate) mod socket;
mod stream;
mod trail;
mod transport;
mod watch;
mod waves;
mod workers;

pub use judge::{Outcome, Sighted, Verification};
use workers::{Plan, Settings};

use crate::kernel::OsError;
use crate::model::{IfaceId, Lab};
use crate::state::State;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Observations, one slot per expectation.
#[derive(Default)]
pub(crate) struct Observed {
    pub echo: BTreeMap<usize, (icmp::Echo, icmp::Seen)>,
    pub answers: BTreeMap<usize, arp::Answers>,
    pub looks: BTreeMap<(usize, IfaceId), inspect::Seen>,
    pub connects: BTreeMap<usize, (transport::Connect, transport::Seen)>,
    pub series: BTreeMap<usize, series::Measured>,
    pub streams: BTreeMap<usize, stream::Measured>,
    /// What opening each of the lab's services gave.
    pub bound: service::Bound,
    pub captured: BTreeMap<IfaceId, capture::Captured>,
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
        let connect = || self.connects.get(&index).and_then(|(_, seen)| seen.undecided.clone());
        echo.or_else(|| self.answers.get(&index).and_then(|a| a.undecided.clone())).or_else(connect)
    }
}

/// Why probing could not be done (never a verdict: what a probe saw is in `Verification`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("lab `{lab}` is not up: namespace {ns} is missing (lab up FILE)")]
    NotUp { lab: String, ns: String },
    #[error("opening namespace {ns}")]
    Namespace {
        ns: String,
        #[source]
        source: OsError,
    },
    #[error("starting the prober's runtime")]
    Runtime(#[source] OsError),
    #[error("opening netlink in the lab's namespaces")]
    Netlink(#[source] OsError),
    #[error("watching the lab")]
    Watch(#[source] OsError),
    #[error("opening the lab's services")]
    Services(#[source] OsError),
    #[error("{doing} in {node}")]
    Worker {
        doing: String,
        node: String,
        #[source]
        source: OsError,
    },
    #[error("{doing} in {node}: the worker panicked")]
    Panicked { doing: String, node: String },
}

/// Checks every expectation of `lab`, which `state` says is up. `timeout` overrides the
/// file's probe timeout.
pub fn verify(lab: &Lab, state: &State, timeout: Option<Duration>) -> Result<Verification, Error> {
    let started = Instant::now();
    let namespaces = namespaces::Namespaces::open(lab, state)?;
    let settings = Settings {
        timeout: timeout.unwrap_or(lab.verify.timeout),
        deadline: lab.verify.deadline.max(timeout.unwrap_or_default()),
    };
    let settings_timeout = settings.timeout;
    let queues = queues::Queues::find(&namespaces);
    let mut verifier = Verifier {
        lab,
        state,
        settings,
        namespaces: &namespaces,
        queues,
        watch: None,
        observed: Observed::default(),
        waves: 0,
        rechecking: false,
    };
    let services = service::Services::open(lab, &namespaces.files).map_err(|e| Error::Services(e.into()))?;
    verifier.observed.bound = services.bound.clone();
    let stop_serving = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let _stop = workers::StopOnDrop(&stop_serving);
        scope.spawn(|| services.serve(&stop_serving));
        verifier.rounds()?;
        quality::measure(lab, &namespaces.files, settings_timeout, &mut verifier.observed);
        Ok::<(), Error>(())
    })?;
    let observed = &verifier.observed;
    let outcomes =
        lab.expectations.iter().enumerate().map(|(i, e)| judge::judge(lab, state, e, i, observed)).collect();
    Ok(Verification { lab: lab.name.clone(), outcomes, elapsed: started.elapsed(), waves: verifier.waves })
}

/// How many times an expectation a wave could not decide (frames were lost, or the network
/// never went quiet) is asked again, each time in waves half as large.
const ROUNDS: usize = 3;

/// One verification: the lab's namespaces, what was observed so far, and the path watcher,
/// opened at the first wave of silence and kept for the others.
struct Verifier<'v> {
    lab: &'v Lab,
    state: &'v State,
    settings: Settings,
    namespaces: &'v namespaces::Namespaces,
    queues: queues::Queues<'v>,
    watch: Option<watch::Watch>,
    observed: Observed,
    waves: usize,
    /// Set after the first round: every wave that probes is watched, so that a positive
    /// probe that got no answer fails only on the evidence of where its request stopped.
    rechecking: bool,
}

impl Verifier<'_> {
    /// Asks every expectation, then again those that could not be decided, up to `ROUNDS`
    /// times, each time in waves half as large.
    fn rounds(&mut self) -> Result<(), Error> {
        let expectations = &self.lab.expectations;
        let mut todo: Vec<usize> =
            (0..expectations.len()).filter(|i| !quality::is_measured(&expectations[*i])).collect();
        let mut room = waves::Room::now();
        for round in 0..=ROUNDS {
            self.rechecking = round > 0;
            let again = self.round(&todo, room)?;
            if again.is_empty() || round == ROUNDS {
                break;
            }
            todo = again;
            room = room.halved();
        }
        Ok(())
    }

    /// Asks `todo` in waves that fit `room`; returns those that could not be decided.
    fn round(&mut self, todo: &[usize], room: waves::Room) -> Result<Vec<usize>, Error> {
        self.observed.unsettled.clear();
        let mut again = Vec::new();
        let mut planner = waves::Planner::new(self.lab, todo);
        while let Some((wave, foreseen)) = planner.next_wave(self.lab, room) {
            let before = waves::entries_now();
            let losses = self.wave(&wave)?;
            let after = waves::entries_now();
            planner.learn(foreseen, (after.0.saturating_sub(before.0), after.1.saturating_sub(before.1)));
            again.extend(self.unsettled(&wave, &losses));
        }
        Ok(again)
    }

    /// Runs one wave, from flushed neighbour tables.
    fn wave(&mut self, wave: &[usize]) -> Result<workers::Losses, Error> {
        self.namespaces.flush_neighbours();
        let plan = Plan::new(self.lab, &self.settings, wave);
        let watched = plan.expects_silence() || (self.rechecking && plan.probes());
        if watched && self.watch.is_none() {
            let watch = watch::Watch::open(self.lab, self.namespaces);
            self.watch = Some(watch.map_err(|e| Error::Watch(e.into()))?);
        }
        let watching = self.watch.as_ref().filter(|_| watched);
        let losses =
            plan.run(self.lab, &self.namespaces.files, &self.queues, watching, &mut self.observed)?;
        plan.diagnose(&self.namespaces.files, &mut self.observed);
        self.waves += 1;
        Ok(losses)
    }

    /// The expectations of a wave its observations cannot decide: their probe never saw the
    /// network quiet, or their verdict rests on an absence and the wave lost frames they
    /// depend on, or an answer they wanted did not come while nobody watched the path. Each
    /// is filed with why.
    fn unsettled(&mut self, wave: &[usize], losses: &workers::Losses) -> Vec<usize> {
        let mut unsettled = Vec::new();
        for &i in wave {
            let expectation = &self.lab.expectations[i];
            let outcome = judge::judge(self.lab, self.state, expectation, i, &self.observed);
            let mut why: Vec<String> = self.observed.undecided(i).into_iter().collect();
            if judge::wanted_an_answer(expectation, &outcome, &self.observed, i)
                && !self.observed.watched.contains(&i)
            {
                why.push("no answer came, and its path was not watched".into());
            }
            if judge::rests_on_silence(expectation, &outcome, &self.observed, i) {
                why.extend(losses.reasons.iter().cloned());
                let echo = self.observed.echo.get(&i).map(|(echo, _)| echo.id);
                why.extend(trail::lost_on_the_way(self.lab, expectation, echo, &losses.frames));
            }
            if !why.is_empty() {
                self.observed.unsettled.insert(i, why);
                unsettled.push(i);
            }
        }
        unsettled
    }
}
