//! The path watcher: while a wave of expectations of silence runs, a packet socket in every
//! namespace of the lab sees the frames of the probes on every interface (`filter` keeps the
//! rest in the kernel). It keeps, for each probe, where its request and reply were seen (so
//! that a `reach = false` that passes says where the request stopped, and one that fails
//! says that the target answered), every ARP/ND question and answer, and it tells `settle`
//! which frames are still on their way and which were lost (`arrivals`). Reads frames only.

mod arrivals;
mod filter;
mod frames;

use super::namespaces::Namespaces;
use super::settle::Settle;
use super::socket::{Received, Socket, wait_any};
use crate::kernel::netns;
use crate::model::{IfaceId, Lab, Mac, NodeId, Role};
use arrivals::{Map, OnTheWay};
use frames::{Parsed, parse};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a frame was, as far as the probes are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Frame {
    Request,
    Reply,
    /// An ICMP error about the request (unreachable, time exceeded).
    Error,
}

/// One frame of a probe, seen on one interface.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Sighting {
    pub frame: Frame,
    pub at: IfaceId,
    /// Seen leaving the interface (else arriving).
    pub leaving: bool,
    /// Kernel time of the sighting, for ordering.
    #[serde(skip)]
    pub stamp: Duration,
}

/// A link-layer question or answer: who has `target`, asked by `sender`; or `sender` is at
/// a MAC.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Resolution {
    pub answer: bool,
    pub sender: IpAddr,
    pub target: IpAddr,
    pub at: IfaceId,
    pub leaving: bool,
}

/// Everything the watcher saw of a wave.
#[derive(Debug, Default)]
pub struct Trails {
    /// By echo identifier, in the order they happened.
    pub echoes: BTreeMap<u16, Vec<Sighting>>,
    pub resolutions: Vec<Resolution>,
    /// Frames that left and never arrived where they could have mattered.
    pub lost: Vec<Lost>,
}

/// A frame the machine dropped on its way to an interface (it left its veth end, every
/// backlog was seen empty since, and it never arrived), which that interface's node could
/// have acted on: an echo of a probe, or a question about an address it has.
#[derive(Clone, Copy, Debug)]
pub struct Lost {
    pub at: IfaceId,
    /// The probe's echo identifier, for an echo or an error about one.
    pub echo: Option<u16>,
    /// The address asked about or answered for, for ARP/ND.
    pub about: Option<IpAddr>,
    /// Who asked, for an ARP/ND question: a question lost once but asked again and arrived
    /// is no loss.
    pub asker: Option<IpAddr>,
}

/// A frame the watcher filed: its identity, and whether it is news.
struct Filed {
    key: u64,
    new: bool,
}

/// One namespace's socket, and its live interfaces by index.
struct Eye {
    socket: Socket,
    ifaces: HashMap<i32, IfaceId>,
}

/// The watcher's sockets and what it knows of the lab, opened at a verification's first
/// wave of silence and kept for the others; between waves the sockets receive nothing.
pub struct Watch {
    eyes: Vec<Eye>,
    map: Map,
}

/// The watcher at work for one wave: the wave's echo identifiers and cookie.
pub struct Watching<'w> {
    watch: &'w Watch,
    ids: HashSet<u16>,
    cookie: [u8; 8],
}

impl Watch {
    /// Opens a socket in every namespace of the lab, each with the filter of its node, and
    /// reads which interfaces are up.
    pub fn open(lab: &Lab, namespaces: &Namespaces) -> io::Result<Watch> {
        let links = namespaces.each(|netlink| netlink.links());
        let mut live: HashMap<IfaceId, (bool, Option<Mac>)> = HashMap::new();
        let mut indexes: Vec<HashMap<i32, IfaceId>> = Vec::new();
        for (n, links) in links.into_iter().enumerate() {
            let links = links?;
            let node = NodeId(n);
            let mut ifaces = HashMap::new();
            for (index, iface) in lab.node(node).ifaces.iter().enumerate() {
                if let Some(link) = links.iter().find(|l| l.name == iface.name) {
                    let id = IfaceId { node, index };
                    ifaces.insert(link.index as i32, id);
                    live.insert(id, (link.up, link.mac));
                }
            }
            indexes.push(ifaces);
        }
        let map = Map::new(lab, &live);
        let programs: Vec<Vec<filter::Instruction>> = (0..lab.nodes.len())
            .map(|n| match lab.node(NodeId(n)).role {
                Role::Switch => filter::for_switch(),
                _ => filter::for_node(&map.heard_by(lab, NodeId(n)), map.is_proxy(NodeId(n))),
            })
            .collect();
        let sockets = netns::run_in_each(&namespaces.files, 4, |n| {
            let socket = Socket::packet_everywhere()?;
            socket.attach_filter(&programs[n])?;
            socket.listen_everywhere(false)?;
            Ok(socket)
        });
        let mut eyes = Vec::new();
        for (socket, ifaces) in sockets.into_iter().zip(indexes) {
            eyes.push(Eye { socket: socket?, ifaces });
        }
        Ok(Watch { eyes, map })
    }

    /// Starts watching for a wave whose echoes carry `ids` and `cookie`: what the sockets
    /// still held from before is dropped, then they receive again.
    pub fn start(&self, ids: HashSet<u16>, cookie: [u8; 8]) -> io::Result<Watching<'_>> {
        let mut buffer = vec![0u8; 65536];
        for eye in &self.eyes {
            while eye.socket.recv(&mut buffer)?.is_some() {}
            eye.socket.listen_everywhere(true)?;
        }
        Ok(Watching { watch: self, ids, cookie })
    }
}

impl Drop for Watch {
    /// Closes the sockets from many threads at once: the kernel waits for a grace period as
    /// it closes each packet socket, and those of concurrent closes overlap.
    fn drop(&mut self) {
        let mut lanes: Vec<Vec<Eye>> = (0..CLOSERS).map(|_| Vec::new()).collect();
        for (i, eye) in std::mem::take(&mut self.eyes).into_iter().enumerate() {
            lanes[i % CLOSERS].push(eye);
        }
        std::thread::scope(|scope| {
            for lane in lanes.into_iter().filter(|l| !l.is_empty()) {
                scope.spawn(move || drop(lane));
            }
        });
    }
}

/// Threads that close the watcher's sockets.
const CLOSERS: usize = 64;

impl Watching<'_> {
    /// Reads frames until `stop`, telling `settle` of every one and of those on their way;
    /// then the sockets stop receiving.
    pub fn run(self, settle: &Settle, stop: &AtomicBool) -> Trails {
        let trails = self.read(settle, stop);
        for eye in &self.watch.eyes {
            if eye.socket.listen_everywhere(false).is_err() {
                settle.lost("the path watcher could not pause".into());
            }
        }
        trails
    }

    fn read(&self, settle: &Settle, stop: &AtomicBool) -> Trails {
        let mut trails = Trails::default();
        let mut on_the_way = OnTheWay::default();
        let mut questions: HashSet<(IfaceId, bool, IpAddr, IpAddr)> = HashSet::new();
        let mut buffer = vec![0u8; 65536];
        let sockets: Vec<&Socket> = self.watch.eyes.iter().map(|e| &e.socket).collect();
        let mut dropped: Vec<u32> = vec![0; self.watch.eyes.len()];
        loop {
            let stopping = stop.load(Ordering::SeqCst);
            if wait_any(&sockets, Duration::from_millis(5)).is_err() {
                settle.lost("the path watcher could not wait for frames".into());
            }
            // Every socket is read to its end: what `expire` concludes rests on it.
            let read_from = Instant::now();
            for (e, eye) in self.watch.eyes.iter().enumerate() {
                while let Ok(Some(received)) = eye.socket.recv(&mut buffer) {
                    if received.dropped.is_some_and(|d| d > dropped[e]) {
                        dropped[e] = received.dropped.unwrap_or_default();
                        settle.lost("the path watcher's socket overflowed".into());
                    }
                    let Some(&at) = eye.ifaces.get(&received.ifindex) else { continue };
                    let frame = &buffer[..received.len];
                    let Some(filed) = self.classify(frame, at, &received, &mut trails, &mut questions) else {
                        continue;
                    };
                    if filed.new {
                        settle.activity();
                    }
                    let tag = received.vlan.map(|(vid, _)| vid);
                    for expected in self.watch.map.expected(
                        frame,
                        at,
                        received.outgoing,
                        received.to_many,
                        tag,
                        filed.key,
                    ) {
                        on_the_way.change(expected);
                    }
                }
            }
            on_the_way.expire(settle.clear(), read_from, &mut trails.lost);
            settle.set_in_flight(on_the_way.waiting);
            if stopping {
                for sightings in trails.echoes.values_mut() {
                    sightings.sort_by_key(|s| s.stamp);
                }
                // A question the kernel asked again, and that arrived there another time.
                trails.lost.retain(|l| match (l.asker, l.about) {
                    (Some(asker), Some(about)) => !questions.contains(&(l.at, false, asker, about)),
                    _ => true,
                });
                return trails;
            }
        }
    }

    /// Files a frame of interest in the trails; returns its identity (for matching it at its
    /// next hop) and whether it is news, or `None` for frames of no probe. A question asked
    /// again (the kernel repeats an unanswered ARP/ND question every second until it gives
    /// up) is more of the same, not news; `asked` holds the questions seen.
    fn classify(
        &self,
        frame: &[u8],
        at: IfaceId,
        received: &Received,
        trails: &mut Trails,
        asked: &mut HashSet<(IfaceId, bool, IpAddr, IpAddr)>,
    ) -> Option<Filed> {
        let leaving = received.outgoing;
        let stamp = received.stamp.unwrap_or_default();
        let mut new = true;
        match parse(frame)? {
            Parsed::Echo { frame: kind, id, data } => {
                let ours =
                    self.ids.contains(&id) && (kind == Frame::Error || data.get(..8) == Some(&self.cookie));
                if !ours {
                    return None;
                }
                trails.echoes.entry(id).or_default().push(Sighting { frame: kind, at, leaving, stamp });
            }
            Parsed::Resolution { answer, sender, target } => {
                trails.resolutions.push(Resolution { answer, sender, target, at, leaving });
                new = answer || asked.insert((at, leaving, sender, target));
            }
        }
        // The frame's bytes, without the tag the kernel keeps apart: a switch adds or takes
        // one off on the way.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        frame.hash(&mut hasher);
        Some(Filed { key: hasher.finish(), new })
    }
}
