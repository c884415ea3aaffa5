//! Waves: the kernel keeps one ARP table and one neighbour (ND) table for the whole
//! machine, shared by every namespace and capped by `gc_thresh3` (1024 by default), which
//! only the host's own namespace may change. A probe makes entries at its source (for the
//! target, or the gateway toward it), at its target (for the way back), and at the routers
//! between; a full mesh of 50 hosts needs 2450. So probes run in waves that fit the room
//! left, the lab's learned entries are flushed before each wave, and the planner learns from
//! each wave how many entries its probes really made (routers it could not foresee), so that
//! the next waves fit. A wave that overflowed the table anyway is noticed (`settle`) and its
//! silences asked again: a full table never becomes a verdict.
//!
//! What a probe teaches a neighbour table can let another through: an ARP request from d
//! makes c learn d's MAC, so c reaches d even where d never answers ARP. So expectations of
//! silence (`reach = false`) run in waves of their own, before the others, each wave from
//! empty tables: a verdict does not depend on which other expectations the file has, nor on
//! an earlier `verify`.

use crate::model::{Check, Destination, Expectation, Lab, NodeId};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;

/// Entries kept free for the rest of the machine.
const MARGIN: usize = 64;

/// Free entries in the machine's ARP (IPv4) and ND (IPv6) tables, read from the host's
/// namespace (the calling thread must be there).
#[derive(Clone, Copy, Debug)]
pub struct Room {
    pub v4: usize,
    pub v6: usize,
}

impl Room {
    pub fn now() -> Room {
        Room { v4: free("ipv4", "arp_cache"), v6: free("ipv6", "ndisc_cache") }
    }

    /// Half the room, for asking again what a wave that lost frames could not decide.
    pub fn halved(self) -> Room {
        Room { v4: (self.v4 / 2).max(1), v6: (self.v6 / 2).max(1) }
    }
}

fn free(family: &str, table: &str) -> usize {
    let limit = std::fs::read_to_string(format!("/proc/sys/net/{family}/neigh/default/gc_thresh3"))
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(1024);
    limit.saturating_sub(used(table) + MARGIN).max(MARGIN)
}

/// Entries in the machine's ARP and ND tables now.
pub fn entries_now() -> (usize, usize) {
    (used("arp_cache"), used("ndisc_cache"))
}

/// The first column of /proc/net/stat/<table>: the table's entry count, in hex.
fn used(table: &str) -> usize {
    std::fs::read_to_string(format!("/proc/net/stat/{table}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .nth(1)
                .and_then(|l| l.split_whitespace().next())
                .and_then(|h| usize::from_str_radix(h, 16).ok())
        })
        .unwrap_or(0)
}

/// A neighbour entry a probe makes: who holds it, about whom, in which table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Entry {
    holder: NodeId,
    about: IpAddr,
}

/// The entries a probe makes, as far as the lab's addresses and routes tell: at the source
/// for its next hop, at the target for the source, and at a first router for both.
fn entries(lab: &Lab, owners: &HashMap<IpAddr, NodeId>, expectation: &Expectation) -> Vec<Entry> {
    let (from, to) = match &expectation.check {
        Check::Reach { from, to, .. } | Check::Resolves { from, to, .. } => (*from, to),
        Check::Connect { from, to, .. } => (lab.home(*from), to),
        Check::State { .. }
        | Check::Route { .. }
        | Check::Listening { .. }
        | Check::Quality { .. }
        | Check::Throughput { .. } => return Vec::new(),
    };
    if lab.node(from).ifaces.is_empty() {
        return Vec::new();
    }
    let hop = next_hop(lab, from, to.addr);
    let mut made = vec![Entry { holder: from, about: hop }];
    let source = source_address(lab, from, to.addr.is_ipv6());
    if let (Some(target), Some(source)) = (to.iface.map(|i| i.node), source) {
        if target != from {
            made.push(Entry { holder: target, about: source });
        }
    }
    if hop != to.addr {
        if let (Some(&router), Some(source)) = (owners.get(&hop), source) {
            made.push(Entry { holder: router, about: source });
            made.push(Entry { holder: router, about: to.addr });
        }
    }
    made
}

/// The address `from` resolves to reach `target`: the target itself when a subnet of
/// `from` holds it, else the gateway of the route that would carry it.
fn next_hop(lab: &Lab, from: NodeId, target: IpAddr) -> IpAddr {
    let node = lab.node(from);
    if node.ifaces.iter().any(|i| i.addresses.iter().any(|a| a.contains(&target))) {
        return target;
    }
    let covers = |route: &&crate::model::Route| match route.to {
        Destination::Default { v6 } => v6 == target.is_ipv6(),
        Destination::Net(net) => net.contains(&target),
    };
    let prefix = |route: &&crate::model::Route| match route.to {
        Destination::Default { .. } => 0,
        Destination::Net(net) => net.prefix_len(),
    };
    node.routes.iter().filter(covers).max_by_key(prefix).and_then(|r| r.via).unwrap_or(target)
}

fn source_address(lab: &Lab, node: NodeId, v6: bool) -> Option<IpAddr> {
    let addresses = lab.node(node).ifaces.iter().flat_map(|i| i.addresses.iter());
    addresses.map(|a| a.addr()).find(|a| a.is_ipv6() == v6)
}

/// For each node, the number of ports of the largest switch it is cabled to.
fn switch_ports(lab: &Lab) -> HashMap<NodeId, usize> {
    let mut ports = HashMap::new();
    for id in lab.iface_ids() {
        let crate::model::IfaceKind::Veth { peer, .. } = lab.iface(id).kind else { continue };
        let Some(master) = lab.iface(peer).kind.port().and_then(|p| p.master) else { continue };
        let count = lab.node(master.node).ifaces.iter().filter(|i| i.kind.port().is_some()).count();
        let best = ports.entry(id.node).or_insert(0);
        *best = count.max(*best);
    }
    ports
}

pub fn expects_silence(expectation: &Expectation) -> bool {
    matches!(expectation.check, Check::Reach { reach: false, .. })
}

/// Frames a wave of silence may flood across the lab, at most: every one passes the path
/// watcher, whose sockets must not overflow, and the machine's backlogs (1,000 frames a CPU
/// by default) drop what a flood over a big switch brings at once.
const FLOOD_BUDGET: usize = 300_000;

/// The frames a probe of silence may make flood: three ARP/ND questions (the kernel's
/// tries) over every port of the switch its source hangs on, when nobody in the lab has
/// the target (so nobody answers and the questions stay broadcast).
fn flood(
    lab: &Lab,
    owners: &HashMap<IpAddr, NodeId>,
    ports: &HashMap<NodeId, usize>,
    expectation: &Expectation,
) -> usize {
    let (from, to) = match &expectation.check {
        Check::Reach { from, to, .. } | Check::Resolves { from, to, .. } => (*from, to),
        _ => return 0,
    };
    let hop = next_hop(lab, from, to.addr);
    if owners.contains_key(&hop) {
        return 3;
    }
    3 * ports.get(&from).copied().unwrap_or(1).max(1)
}

/// The fewest entries a wave must have foreseen for its count to be a lesson, and the most
/// the planner scales its foresight by.
const LESSON: usize = 64;
const MOST_SCALE: f64 = 4.0;

/// Hands out waves, expectations of silence first, each sized to the room, and learns from
/// each wave how far its estimate fell short.
pub struct Planner {
    silent: VecDeque<usize>,
    rest: VecDeque<usize>,
    /// The node that has each address.
    owners: HashMap<IpAddr, NodeId>,
    /// For each node, the ports of the largest switch it is cabled to.
    ports: HashMap<NodeId, usize>,
    /// Entries really made per entry foreseen, at least 1.
    scale: f64,
}

impl Planner {
    pub fn new(lab: &Lab, todo: &[usize]) -> Planner {
        let (silent, rest): (VecDeque<usize>, VecDeque<usize>) =
            todo.iter().copied().partition(|i| expects_silence(&lab.expectations[*i]));
        let mut owners = HashMap::new();
        for id in lab.iface_ids() {
            for address in &lab.iface(id).addresses {
                owners.entry(address.addr()).or_insert(id.node);
            }
        }
        Planner { silent, rest, owners, ports: switch_ports(lab), scale: 1.0 }
    }

    /// The next wave and the entries it is foreseen to make (IPv4, IPv6), or `None` when
    /// every expectation has had its wave.
    pub fn next_wave(&mut self, lab: &Lab, room: Room) -> Option<(Vec<usize>, (usize, usize))> {
        let silent = !self.silent.is_empty();
        let queue = if silent { &mut self.silent } else { &mut self.rest };
        if queue.is_empty() {
            return None;
        }
        let fits = |count: usize, limit: usize| (count as f64 * self.scale) <= limit as f64;
        let mut wave = Vec::new();
        let mut made: HashSet<Entry> = HashSet::new();
        let (mut v4, mut v6, mut frames) = (0, 0, 0);
        while let Some(&index) = queue.front() {
            let expectation = &lab.expectations[index];
            let needs: Vec<Entry> =
                entries(lab, &self.owners, expectation).into_iter().filter(|e| !made.contains(e)).collect();
            let more_v6 = needs.iter().filter(|e| e.about.is_ipv6()).count();
            let more_v4 = needs.len() - more_v6;
            let more_frames = if silent { flood(lab, &self.owners, &self.ports, expectation) } else { 0 };
            let full = !fits(v4 + more_v4, room.v4)
                || !fits(v6 + more_v6, room.v6)
                || frames + more_frames > FLOOD_BUDGET;
            if !wave.is_empty() && full {
                break;
            }
            made.extend(needs);
            (v4, v6, frames) = (v4 + more_v4, v6 + more_v6, frames + more_frames);
            wave.push(index);
            queue.pop_front();
        }
        Some((wave, (v4, v6)))
    }

    /// What a wave foreseen to make `foreseen` entries really made. Small waves teach
    /// nothing (a few entries of the machine's other work weigh too much in them), and no
    /// lesson makes waves smaller than a quarter of the room.
    pub fn learn(&mut self, foreseen: (usize, usize), made: (usize, usize)) {
        for (foreseen, made) in [(foreseen.0, made.0), (foreseen.1, made.1)] {
            if foreseen >= LESSON && made > foreseen {
                self.scale = self.scale.max(made as f64 / foreseen as f64).min(MOST_SCALE);
            }
        }
    }
}
