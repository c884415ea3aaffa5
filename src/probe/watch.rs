//! The path watcher: while a wave of expectations of silence runs, a packet socket in every
//! namespace of the lab sees every frame on every interface, both ways. It keeps, for each
//! probe, where its request and reply were seen (so that a `reach = false` that passes says
//! where the request stopped, and one that fails says that the target answered), every
//! ARP/ND question and answer, and it tells `settle` which frames are still on their way:
//! a frame that left a veth end must arrive at its peer, and a broadcast that reached a
//! macvlan or ipvlan parent from outside must reach each child (the kernel hands those to a
//! worker thread, which a busy machine runs late). Reads frames only.

use super::settle::Settle;
use super::socket::{BATCH, Received, Socket, wait_any};
use crate::model::{IfaceId, IfaceKind, IpvlanMode, Lab, Mac, MacvlanMode, NodeId};
use crate::realize::{Netlink, netns};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

pub struct Watch {
    eyes: Vec<Eye>,
    /// Where a frame that leaves an interface must arrive: a veth end's peer, when it is up.
    peers: HashMap<IfaceId, IfaceId>,
    /// The children a broadcast from outside reaching this interface must reach.
    fanout: HashMap<IfaceId, Vec<IfaceId>>,
    /// The MACs of those children, per parent: a broadcast from one of them is not "from
    /// outside".
    child_macs: HashMap<IfaceId, HashSet<Mac>>,
    cookie: [u8; 8],
    ids: HashSet<u16>,
}

impl Watch {
    /// Opens a socket in every namespace of the lab, and reads which interfaces are up.
    pub fn open(lab: &Lab, namespaces: &[File], ids: HashSet<u16>, cookie: [u8; 8]) -> io::Result<Watch> {
        let opened = netns::run_in_each(namespaces, 4, |_| {
            let socket = Socket::packet_everywhere()?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let netlink = Netlink::open_here(rt.handle())?;
            let links = rt.block_on(netlink.links()).map_err(|e| io::Error::other(e.to_string()))?;
            Ok((socket, links))
        });
        let mut eyes = Vec::new();
        let mut live: HashMap<IfaceId, (bool, Option<Mac>)> = HashMap::new();
        for (n, result) in opened.into_iter().enumerate() {
            let (socket, links) = result?;
            let node = NodeId(n);
            let mut ifaces = HashMap::new();
            for (index, iface) in lab.node(node).ifaces.iter().enumerate() {
                if let Some(link) = links.iter().find(|l| l.name == iface.name) {
                    let id = IfaceId { node, index };
                    ifaces.insert(link.index as i32, id);
                    live.insert(id, (link.up, link.mac));
                }
            }
            eyes.push(Eye { socket, ifaces });
        }
        let up = |id: IfaceId| live.get(&id).is_some_and(|(up, _)| *up);
        let mut peers = HashMap::new();
        let mut fanout: HashMap<IfaceId, Vec<IfaceId>> = HashMap::new();
        let mut child_macs: HashMap<IfaceId, HashSet<Mac>> = HashMap::new();
        for id in lab.iface_ids() {
            match lab.iface(id).kind {
                IfaceKind::Veth { peer, .. } if up(peer) => {
                    peers.insert(id, peer);
                }
                IfaceKind::Macvlan {
                    mode: MacvlanMode::Private | MacvlanMode::Vepa | MacvlanMode::Bridge,
                    ..
                }
                | IfaceKind::Ipvlan { mode: IpvlanMode::L2, .. }
                    if up(id) =>
                {
                    let lower = lower_device(lab, id);
                    fanout.entry(lower).or_default().push(id);
                    if let Some((_, Some(mac))) = live.get(&id) {
                        child_macs.entry(lower).or_default().insert(*mac);
                    }
                }
                _ => {}
            }
        }
        Ok(Watch { eyes, peers, fanout, child_macs, cookie, ids })
    }

    /// Reads frames until `stop`, telling `settle` of every one and of those on their way.
    pub fn run(&self, settle: &Settle, stop: &AtomicBool) -> Trails {
        let mut trails = Trails::default();
        let mut on_the_way: HashMap<(IfaceId, u64), i64> = HashMap::new();
        let mut questions: HashSet<(IfaceId, bool, IpAddr, IpAddr)> = HashSet::new();
        let mut waiting = 0usize;
        let mut buffer = vec![0u8; 65536];
        let sockets: Vec<&Socket> = self.eyes.iter().map(|e| &e.socket).collect();
        let mut dropped: Vec<u32> = vec![0; self.eyes.len()];
        loop {
            let stopping = stop.load(Ordering::SeqCst);
            if wait_any(&sockets, Duration::from_millis(5)).is_err() {
                settle.lost("the path watcher could not wait for frames".into());
            }
            for (e, eye) in self.eyes.iter().enumerate() {
                for _ in 0..BATCH {
                    let Ok(Some(received)) = eye.socket.recv(&mut buffer) else { break };
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
                    let seen = filed.key;
                    for (place, change) in self.expected(frame, at, &received, seen) {
                        let count = on_the_way.entry(place).or_default();
                        let before = *count > 0;
                        *count += change;
                        match (before, *count > 0) {
                            (false, true) => waiting += 1,
                            (true, false) => waiting -= 1,
                            _ => {}
                        }
                    }
                    settle.set_in_flight(waiting);
                }
            }
            if stopping {
                for sightings in trails.echoes.values_mut() {
                    sightings.sort_by_key(|s| s.stamp);
                }
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
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        received.vlan.hash(&mut hasher);
        frame.hash(&mut hasher);
        Some(Filed { key: hasher.finish(), new })
    }

    /// Where a frame seen here must still arrive (+1), or the arrival it was awaited as (-1).
    fn expected(
        &self,
        frame: &[u8],
        at: IfaceId,
        received: &Received,
        key: u64,
    ) -> Vec<((IfaceId, u64), i64)> {
        let mut changes = Vec::new();
        if received.outgoing {
            if let Some(peer) = self.peers.get(&at) {
                changes.push(((*peer, key), 1));
            }
            return changes;
        }
        changes.push(((at, key), -1));
        let from_a_child = frame
            .get(6..12)
            .and_then(|m| <[u8; 6]>::try_from(m).ok())
            .is_some_and(|m| self.child_macs.get(&at).is_some_and(|macs| macs.contains(&Mac(m))));
        if received.to_many && !from_a_child {
            for child in self.fanout.get(&at).into_iter().flatten() {
                changes.push(((*child, key), 1));
            }
        }
        changes
    }
}

/// The device a macvlan or ipvlan child really hangs on: the kernel stacks a macvlan on a
/// macvlan's lower device, and an ipvlan on an ipvlan's.
fn lower_device(lab: &Lab, child: IfaceId) -> IfaceId {
    let mut lower = lab.iface(child).kind.parent().unwrap_or(child);
    let mut steps = 0;
    while let (IfaceKind::Macvlan { .. }, IfaceKind::Macvlan { parent, .. })
    | (IfaceKind::Ipvlan { .. }, IfaceKind::Ipvlan { parent, .. }) =
        (&lab.iface(child).kind, &lab.iface(lower).kind)
    {
        lower = *parent;
        steps += 1;
        if steps > lab.nodes.len() * 64 {
            break;
        }
    }
    lower
}

enum Parsed<'f> {
    Echo { frame: Frame, id: u16, data: &'f [u8] },
    Resolution { answer: bool, sender: IpAddr, target: IpAddr },
}

/// The probe-related content of an Ethernet frame: an ICMP echo or error, or ARP/ND.
fn parse(frame: &[u8]) -> Option<Parsed<'_>> {
    let mut offset = 12;
    let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        offset += 4;
        ethertype = u16::from_be_bytes([*frame.get(offset)?, *frame.get(offset + 1)?]);
    }
    let payload = frame.get(offset + 2..)?;
    match ethertype {
        0x0806 => arp(payload),
        0x0800 => {
            let header = usize::from(payload.first()? & 0x0f) * 4;
            (*payload.get(9)? == 1).then_some(())?;
            icmp4(payload.get(header..)?)
        }
        0x86dd => {
            (*payload.get(6)? == 58).then_some(())?;
            let source: [u8; 16] = payload.get(8..24)?.try_into().ok()?;
            icmp6(payload.get(40..)?, IpAddr::from(source))
        }
        _ => None,
    }
}

fn arp(body: &[u8]) -> Option<Parsed<'_>> {
    let op = u16::from_be_bytes([*body.get(6)?, *body.get(7)?]);
    let sender: [u8; 4] = body.get(14..18)?.try_into().ok()?;
    let target: [u8; 4] = body.get(24..28)?.try_into().ok()?;
    Some(Parsed::Resolution { answer: op == 2, sender: IpAddr::from(sender), target: IpAddr::from(target) })
}

fn icmp4(icmp: &[u8]) -> Option<Parsed<'_>> {
    let id = |bytes: &[u8]| Some(u16::from_be_bytes([*bytes.get(4)?, *bytes.get(5)?]));
    match *icmp.first()? {
        8 => Some(Parsed::Echo { frame: Frame::Request, id: id(icmp)?, data: icmp.get(8..)? }),
        0 => Some(Parsed::Echo { frame: Frame::Reply, id: id(icmp)?, data: icmp.get(8..)? }),
        3 | 11 => {
            let quoted = icmp.get(8..)?;
            let header = usize::from(quoted.first()? & 0x0f) * 4;
            let inner = quoted.get(header..)?;
            (*inner.first()? == 8).then_some(())?;
            Some(Parsed::Echo { frame: Frame::Error, id: id(inner)?, data: &[] })
        }
        _ => None,
    }
}

fn icmp6(icmp: &[u8], source: IpAddr) -> Option<Parsed<'_>> {
    let id = |bytes: &[u8]| Some(u16::from_be_bytes([*bytes.get(4)?, *bytes.get(5)?]));
    let address = |range: std::ops::Range<usize>| -> Option<IpAddr> {
        let octets: [u8; 16] = icmp.get(range)?.try_into().ok()?;
        Some(IpAddr::from(octets))
    };
    match *icmp.first()? {
        128 => Some(Parsed::Echo { frame: Frame::Request, id: id(icmp)?, data: icmp.get(8..)? }),
        129 => Some(Parsed::Echo { frame: Frame::Reply, id: id(icmp)?, data: icmp.get(8..)? }),
        1 | 3 => {
            let inner = icmp.get(48..)?;
            (*inner.first()? == 128).then_some(())?;
            Some(Parsed::Echo { frame: Frame::Error, id: id(inner)?, data: &[] })
        }
        // Neighbour solicitation and advertisement: the target is the address asked about.
        135 => Some(Parsed::Resolution { answer: false, sender: source, target: address(8..24)? }),
        136 => Some(Parsed::Resolution { answer: true, sender: address(8..24)?, target: address(8..24)? }),
        _ => None,
    }
}
