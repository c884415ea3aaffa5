//! Probing: checks every expectation of a lab that is up, from inside its namespaces, all at
//! once. Work runs on threads that enter a namespace before opening sockets: echo and
//! ARP/ND workers per source node, captures on watched trunks (started first), netlink
//! inspections. Observations are judged against the expectations in `judge`.

mod arp;
mod capture;
mod icmp;
mod inspect;
mod judge;
mod socket;
mod waves;

pub use judge::{Outcome, Verification};

use crate::model::{Check, Expectation, IfaceId, Lab, NodeId, Proto};
use crate::realize::{State, netns};
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
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
    for (number, wave) in waves.iter().enumerate() {
        if number > 0 {
            waves::flush(&namespaces);
        }
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
            netns::open(&name).map_err(|_| {
                Error(format!("lab `{}` is not up: namespace {name} is missing (lab up FILE)", lab.name))
            })
        })
        .collect()
}

struct Settings {
    timeout: Duration,
    deadline: Duration,
}

/// Who does what: expectations sorted into workers by namespace.
struct Plan {
    echoes: BTreeMap<NodeId, Vec<(usize, icmp::Echo)>>,
    asks: BTreeMap<NodeId, Vec<(usize, arp::Ask)>>,
    looks: BTreeMap<NodeId, Vec<(usize, IfaceId, inspect::Look)>>,
    captures: BTreeMap<IfaceId, HashSet<u16>>,
    cookie: [u8; 8],
    /// The longest any probe of the wave may take.
    longest: Duration,
}

impl Plan {
    /// The probes of the expectations `wave` (indexes into the lab's expectations).
    fn new(lab: &Lab, settings: &Settings, wave: &[usize]) -> Plan {
        let mut plan = Plan {
            echoes: BTreeMap::new(),
            asks: BTreeMap::new(),
            looks: BTreeMap::new(),
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
            Check::Reach { from, to, reach, proto: Proto::Icmp, tagged, redirect, .. } => {
                let echo = icmp::Echo {
                    target: to.addr,
                    positive: *reach,
                    timeout,
                    deadline,
                    id,
                    wants_redirect: redirect.is_some(),
                };
                self.echoes.entry(*from).or_default().push((index, echo));
                if let Some(tagged) = tagged {
                    self.captures.entry(tagged.on).or_default().insert(id);
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
        }
    }

    fn look(&mut self, lab: &Lab, index: usize, iface: IfaceId, route: Option<ipnet::IpNet>) {
        let look = inspect::Look { iface: lab.iface(iface).name.clone(), route };
        self.looks.entry(iface.node).or_default().push((index, iface, look));
    }

    /// Captures first (each reports when it listens), then every probe at once. Captures
    /// stop when the probes are done, when a worker fails, or at the latest deadline.
    fn run(&self, lab: &Lab, namespaces: &[File], observed: &mut Observed) -> Result<(), Error> {
        let stop = AtomicBool::new(false);
        let until = Instant::now() + self.longest + Duration::from_secs(1);
        std::thread::scope(|scope| {
            let _stop_captures = StopOnDrop(&stop);
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let captures: Vec<_> = self
                .captures
                .iter()
                .map(|(iface, ids)| {
                    let ready = ready_tx.clone();
                    let name = lab.iface(*iface).name.clone();
                    let stop = &stop;
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
            let echoes: Vec<_> = self
                .echoes
                .iter()
                .map(|(node, jobs)| {
                    let list: Vec<icmp::Echo> = jobs.iter().map(|(_, e)| e.clone()).collect();
                    let cookie = self.cookie;
                    (node, netns::spawn_in(scope, &namespaces[node.0], move || icmp::run(&list, cookie)))
                })
                .collect();
            let asks: Vec<_> = self
                .asks
                .iter()
                .map(|(node, jobs)| {
                    let list: Vec<arp::Ask> = jobs.iter().map(|(_, a)| a.clone()).collect();
                    (node, netns::spawn_in(scope, &namespaces[node.0], move || arp::run(&list)))
                })
                .collect();
            let looks: Vec<_> = self
                .looks
                .iter()
                .map(|(node, jobs)| {
                    let list: Vec<inspect::Look> = jobs.iter().map(|(_, _, l)| l.clone()).collect();
                    (node, netns::spawn_in(scope, &namespaces[node.0], move || inspect::run(&list)))
                })
                .collect();
            let echoes: Vec<_> =
                echoes.into_iter().map(|(node, h)| (node, joined(h, "probing", lab, *node))).collect();
            let asks: Vec<_> = asks
                .into_iter()
                .map(|(node, h)| (node, joined(h, "asking who has an address", lab, *node)))
                .collect();
            let looks: Vec<_> = looks
                .into_iter()
                .map(|(node, h)| (node, joined(h, "reading interfaces", lab, *node)))
                .collect();
            stop.store(true, Ordering::SeqCst);
            let captures: Vec<_> = captures
                .into_iter()
                .map(|(iface, h)| (iface, joined(h, "capturing", lab, iface.node)))
                .collect();
            for (node, seen) in echoes {
                for ((index, echo), seen) in self.echoes[node].iter().zip(seen?) {
                    observed.echo.insert(*index, (echo.clone(), seen));
                }
            }
            for (node, answers) in asks {
                for ((index, _), answers) in self.asks[node].iter().zip(answers?) {
                    observed.answers.insert(*index, answers);
                }
            }
            for (node, seen) in looks {
                for ((index, iface, _), seen) in self.looks[node].iter().zip(seen?) {
                    observed.looks.insert((*index, *iface), seen);
                }
            }
            for (iface, tags) in captures {
                observed.tags.entry(iface).or_default().frames.extend(tags?.frames);
            }
            Ok(())
        })
    }

    /// For each unanswered positive echo, what its source node knows of the way.
    fn diagnose(&self, namespaces: &[File], observed: &mut Observed) {
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

/// Tells the captures to stop when dropped: on every way out of a wave.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn joined<T>(
    handle: std::thread::ScopedJoinHandle<'_, std::io::Result<T>>,
    doing: &str,
    lab: &Lab,
    node: NodeId,
) -> Result<T, Error> {
    match handle.join() {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Error(format!("{doing} in {}: {e}", lab.node(node).name))),
        Err(_) => Err(Error(format!("{doing} in {}: the worker panicked", lab.node(node).name))),
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

fn random() -> [u8; 8] {
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
