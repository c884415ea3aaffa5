//! Workers of one wave: its expectations sorted into probes per namespace, run on threads
//! that enter their namespace first, and their results filed as observations. Must not
//! judge: what the observations mean is `judge`'s.

use super::queues::Queues;
use super::settle::Settle;
use super::watch::{self, Watch};
use super::{Error, Observed, arp, capture, icmp, inspect, transport};
use crate::kernel::netns;
use crate::model::{Check, Expectation, IfaceId, Lab, NodeId, Proto};
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long probes wait: for an answer (`timeout`), and at most in all (`deadline`).
pub struct Settings {
    pub timeout: Duration,
    pub deadline: Duration,
}

/// What a wave lost: why its silences all prove nothing (a neighbour table full, a socket of
/// ours overflowing), and the frames the path watcher saw dropped.
pub struct Losses {
    pub reasons: Vec<String>,
    pub frames: Vec<watch::Lost>,
}

/// Who does what: expectations sorted into workers by namespace.
pub struct Plan {
    echoes: BTreeMap<NodeId, Vec<(usize, icmp::Echo)>>,
    asks: BTreeMap<NodeId, Vec<(usize, arp::Ask)>>,
    looks: BTreeMap<NodeId, Vec<(usize, IfaceId, inspect::Look)>>,
    connects: BTreeMap<NodeId, Vec<(usize, transport::Connect)>>,
    captures: BTreeMap<IfaceId, HashSet<u16>>,
    cookie: [u8; 8],
    /// The longest any probe of the wave may take.
    longest: Duration,
}

impl Plan {
    /// The probes of the expectations `wave` (indexes into the lab's expectations).
    pub fn new(lab: &Lab, settings: &Settings, wave: &[usize]) -> Plan {
        let mut plan = Plan {
            echoes: BTreeMap::new(),
            asks: BTreeMap::new(),
            looks: BTreeMap::new(),
            connects: BTreeMap::new(),
            captures: BTreeMap::new(),
            cookie: random(),
            longest: Duration::ZERO,
        };
        let first_id = u16::from_be_bytes([plan.cookie[0], plan.cookie[1]]);
        for &index in wave {
            let expectation = &lab.expectations[index];
            let timeout = expectation.timeout.unwrap_or(settings.timeout);
            let deadline = settings.deadline.max(timeout);
            plan.longest = plan.longest.max(deadline);
            plan.add(lab, index, expectation, timeout, deadline, first_id.wrapping_add(index as u16));
        }
        plan
    }

    fn add(
        &mut self,
        lab: &Lab,
        index: usize,
        expectation: &Expectation,
        timeout: Duration,
        deadline: Duration,
        id: u16,
    ) {
        match &expectation.check {
            Check::Reach { from, to, reach, proto: Proto::Icmp, tagged, encap, redirect, .. } => {
                let echo = icmp::Echo {
                    target: to.addr,
                    positive: *reach,
                    timeout,
                    deadline,
                    id,
                    wants_redirect: redirect.is_some(),
                };
                self.echoes.entry(*from).or_default().push((index, echo));
                let watched = tagged.as_ref().map(|t| t.on).into_iter().chain(encap.map(|e| e.on));
                for on in watched {
                    self.captures.entry(on).or_default().insert(id);
                }
            }
            Check::Reach { from, to, reach, proto: Proto::Arp, .. } => {
                self.asks
                    .entry(*from)
                    .or_default()
                    .push((index, arp::Ask { target: to.addr, positive: *reach, timeout, deadline }));
            }
            Check::Resolves { from, to, .. } => {
                self.asks
                    .entry(*from)
                    .or_default()
                    .push((index, arp::Ask { target: to.addr, positive: true, timeout, deadline }));
            }
            Check::State { iface, mac, .. } => {
                self.look(lab, index, *iface, None);
                if let Some(crate::model::MacOf::Iface(other)) = mac {
                    self.look(lab, index, *other, None);
                }
            }
            Check::Route { iface, prefix } => self.look(lab, index, *iface, Some(*prefix)),
            Check::Connect { from, to, port, proto, want, .. } => {
                let positive = *want == crate::model::Want::Answered;
                let connect = transport::Connect {
                    target: to.addr,
                    port: *port,
                    proto: *proto,
                    positive,
                    timeout,
                    deadline,
                };
                self.connects.entry(*from).or_default().push((index, connect));
            }
            // What opening the lab's services gave is known before any wave; qualities are
            // measured after the waves.
            Check::Listening { .. } | Check::Quality { .. } | Check::Throughput { .. } => {}
        }
    }

    fn look(&mut self, lab: &Lab, index: usize, iface: IfaceId, route: Option<ipnet::IpNet>) {
        let look = inspect::Look { iface: lab.iface(iface).name.clone(), route };
        self.looks.entry(iface.node).or_default().push((index, iface, look));
    }

    /// The expectations of the wave that probe.
    fn indexes(&self) -> impl Iterator<Item = usize> + '_ {
        let echoes = self.echoes.values().flatten().map(|(i, _)| *i);
        let connects = self.connects.values().flatten().map(|(i, _)| *i);
        echoes.chain(self.asks.values().flatten().map(|(i, _)| *i)).chain(connects)
    }

    /// Whether the wave sends probes (echoes, link-layer questions, connections).
    pub fn probes(&self) -> bool {
        !self.echoes.is_empty() || !self.asks.is_empty() || !self.connects.is_empty()
    }

    /// Whether every probe of the wave expects silence: then the path watcher runs, so
    /// that each silence says where the request stopped.
    pub fn expects_silence(&self) -> bool {
        let echoes = self.echoes.values().flatten().all(|(_, e)| !e.positive);
        let asks = self.asks.values().flatten().all(|(_, a)| !a.positive);
        let connects = self.connects.values().flatten().all(|(_, c)| !c.positive);
        echoes && asks && connects && self.probes()
    }

    /// Captures and the path watcher first (each reports when it listens), then every probe
    /// at once. They stop when the probes are done, when a worker fails, or at the latest
    /// deadline. Returns why the wave lost frames, if it did (its silences prove nothing).
    pub fn run(
        &self,
        lab: &Lab,
        namespaces: &[File],
        queues: &Queues<'_>,
        watch: Option<&Watch>,
        observed: &mut Observed,
    ) -> Result<Losses, Error> {
        let stop = AtomicBool::new(false);
        let until = Instant::now() + self.longest + icmp::SETTLE_CAP + Duration::from_secs(1);
        let cookie = self.cookie;
        let quiet = &Settle::new();
        let ids = self.echoes.values().flatten().map(|(_, e)| e.id).collect();
        let watching = match watch {
            Some(watch) => Some(watch.start(ids, cookie).map_err(|e| Error::Watch(e.into()))?),
            None => None,
        };
        std::thread::scope(|scope| {
            let _stop_captures = StopOnDrop(&stop);
            let kernel = scope.spawn(|| quiet.watch_kernel(queues));
            let _stop_kernel = StopSettle(quiet);
            let watcher = watching.map(|w| scope.spawn(|| w.run(quiet, &stop)));
            let captures = self.start_captures(scope, lab, namespaces, &stop, until);
            let echoes = spawn_workers(
                scope,
                namespaces,
                &self.echoes,
                |(_, e)| e.clone(),
                move |list| icmp::run(&list, cookie, quiet),
            );
            let asks = spawn_workers(
                scope,
                namespaces,
                &self.asks,
                |(_, a)| a.clone(),
                move |list| arp::run(&list, quiet),
            );
            let looks = spawn_workers(
                scope,
                namespaces,
                &self.looks,
                |(_, _, l)| l.clone(),
                |list| inspect::run(&list),
            );
            let connects = spawn_workers(
                scope,
                namespaces,
                &self.connects,
                |(_, c)| c.clone(),
                move |list| transport::run(&list, quiet),
            );
            let echoes = join_workers(echoes, "probing", lab);
            let connects = join_workers(connects, "connecting", lab);
            let asks = join_workers(asks, "asking who has an address", lab);
            let looks = join_workers(looks, "reading interfaces", lab);
            stop.store(true, Ordering::SeqCst);
            quiet.stop();
            for (iface, handle) in captures {
                let captured = joined(handle, "capturing", lab, iface.node)?;
                observed.captured.entry(iface).or_default().frames.extend(captured.frames);
            }
            let mut frames = Vec::new();
            if let Some(watcher) = watcher {
                let trails = watcher.join().map_err(|_| Error::Panicked {
                    doing: "watching the paths".into(),
                    node: "the lab".into(),
                })?;
                observed.trails.echoes.extend(trails.echoes);
                observed.trails.resolutions.extend(trails.resolutions);
                observed.watched.extend(self.indexes());
                frames = trails.lost;
            }
            let _ = kernel.join();
            self.record(echoes, asks, looks, observed)?;
            self.record_connects(connects, observed)?;
            Ok(Losses { reasons: quiet.losses(), frames })
        })
    }

    /// One capture per watched interface; returns once every capture listens (or failed).
    fn start_captures<'s>(
        &'s self,
        scope: &'s std::thread::Scope<'s, '_>,
        lab: &Lab,
        namespaces: &'s [File],
        stop: &'s AtomicBool,
        until: Instant,
    ) -> Vec<(IfaceId, Worker<'s, capture::Captured>)> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let captures: Vec<_> = self
            .captures
            .iter()
            .map(|(iface, ids)| {
                let ready = ready_tx.clone();
                let name = lab.iface(*iface).name.clone();
                let handle = netns::spawn_in(scope, &namespaces[iface.node.0], move || {
                    let opened = index_of(&name).and_then(capture::open);
                    let _ = ready.send(());
                    capture::run(&opened?, ids, stop, until)
                });
                (*iface, handle)
            })
            .collect();
        drop(ready_tx);
        for _ in 0..captures.len() {
            let _ = ready_rx.recv();
        }
        captures
    }

    /// Files each worker's results under the expectations they answer.
    fn record(
        &self,
        echoes: Vec<(NodeId, Result<Vec<icmp::Seen>, Error>)>,
        asks: Vec<(NodeId, Result<Vec<arp::Answers>, Error>)>,
        looks: Vec<(NodeId, Result<Vec<inspect::Seen>, Error>)>,
        observed: &mut Observed,
    ) -> Result<(), Error> {
        for (node, seen) in echoes {
            for ((index, echo), seen) in self.echoes[&node].iter().zip(seen?) {
                observed.echo.insert(*index, (echo.clone(), seen));
            }
        }
        for (node, answers) in asks {
            for ((index, _), answers) in self.asks[&node].iter().zip(answers?) {
                observed.answers.insert(*index, answers);
            }
        }
        for (node, seen) in looks {
            for ((index, iface, _), seen) in self.looks[&node].iter().zip(seen?) {
                observed.looks.insert((*index, *iface), seen);
            }
        }
        Ok(())
    }

    fn record_connects(
        &self,
        connects: Vec<(NodeId, Result<Vec<transport::Seen>, Error>)>,
        observed: &mut Observed,
    ) -> Result<(), Error> {
        for (node, seen) in connects {
            for ((index, connect), seen) in self.connects[&node].iter().zip(seen?) {
                observed.connects.insert(*index, (connect.clone(), seen));
            }
        }
        Ok(())
    }

    /// For each unanswered positive echo, what its source node knows of the way.
    pub fn diagnose(&self, namespaces: &[File], observed: &mut Observed) {
        let wanted: BTreeMap<NodeId, Vec<(usize, std::net::IpAddr)>> = self
            .echoes
            .iter()
            .map(|(node, jobs)| {
                let failed = jobs
                    .iter()
                    .filter(|(i, e)| {
                        e.positive
                            && observed
                                .echo
                                .get(i)
                                .is_some_and(|(_, s)| s.reply.is_none() && s.error.is_none())
                    })
                    .map(|(i, e)| (*i, e.target))
                    .collect();
                (*node, failed)
            })
            .filter(|(_, failed): &(NodeId, Vec<_>)| !failed.is_empty())
            .collect();
        for (node, failed) in wanted {
            let targets: Vec<_> = failed.iter().map(|(_, t)| *t).collect();
            if let Ok(notes) = netns::run_in(&namespaces[node.0], || inspect::diagnose(&targets)) {
                for ((index, _), note) in failed.iter().zip(notes) {
                    if let Some(note) = note {
                        observed.notes.insert(*index, note);
                    }
                }
            }
        }
    }
}

/// Tells the captures (or the services) to stop when dropped: on every way out of a wave
/// (or of a verification).
pub struct StopOnDrop<'a>(pub &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Stops the reading of the kernel's counters when dropped.
struct StopSettle<'a>(&'a Settle);

impl Drop for StopSettle<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

type Worker<'s, T> = std::thread::ScopedJoinHandle<'s, std::io::Result<T>>;

/// One worker per node, in its namespace, given the probes of that node's jobs.
fn spawn_workers<'s, J, P: Send + 's, T: Send + 's>(
    scope: &'s std::thread::Scope<'s, '_>,
    namespaces: &'s [File],
    jobs: &'s BTreeMap<NodeId, Vec<J>>,
    probe_of: impl Fn(&J) -> P,
    work: impl Fn(Vec<P>) -> std::io::Result<T> + Copy + Send + 's,
) -> Vec<(NodeId, Worker<'s, T>)> {
    jobs.iter()
        .map(|(node, jobs)| {
            let probes: Vec<P> = jobs.iter().map(&probe_of).collect();
            (*node, netns::spawn_in(scope, &namespaces[node.0], move || work(probes)))
        })
        .collect()
}

fn join_workers<T>(
    workers: Vec<(NodeId, Worker<'_, T>)>,
    doing: &str,
    lab: &Lab,
) -> Vec<(NodeId, Result<T, Error>)> {
    workers.into_iter().map(|(node, handle)| (node, joined(handle, doing, lab, node))).collect()
}

fn joined<T>(handle: Worker<'_, T>, doing: &str, lab: &Lab, node: NodeId) -> Result<T, Error> {
    match handle.join() {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            Err(Error::Worker { doing: doing.into(), node: lab.node(node).name.clone(), source: e.into() })
        }
        Err(_) => Err(Error::Panicked { doing: doing.into(), node: lab.node(node).name.clone() }),
    }
}

/// The index of an interface of the calling thread's namespace.
fn index_of(name: &str) -> std::io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(std::io::Error::other)?;
    // SAFETY: a NUL-terminated name, read by the kernel.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(std::io::Error::last_os_error()),
        index => Ok(index),
    }
}

pub(super) fn random() -> [u8; 8] {
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom writes at most the buffer's length.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (nanos ^ u64::from(std::process::id())).to_be_bytes();
    }
    bytes
}
