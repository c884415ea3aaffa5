//! Where a frame the watcher saw must still arrive, and what losing it would mean. A frame
//! that leaves a veth end arrives at its peer; one that enters a switch from a host reaches
//! the interfaces of its segment that would act on it (the owner of its destination MAC,
//! or, for a broadcast question, whoever has the address asked about); a broadcast that
//! reaches a macvlan or ipvlan parent from outside reaches each child (handed over by a
//! kernel worker, not a backlog). A frame awaited long after every backlog was seen empty is
//! lost; a lost frame matters when its destination would have acted on it. Pure: works on
//! the lab's model and the live interfaces read when the watcher opened.

use super::Lost;
use super::frames::{Parsed, parse};
use crate::kind::lower_device;
use crate::model::{IfaceId, IfaceKind, Lab, Mac, NodeId, Role};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a broadcast handed to macvlan/ipvlan children (by a worker thread, not through
/// a backlog) may take, once every backlog was seen empty, before it counts as lost.
const FANOUT_GRACE: Duration = Duration::from_secs(1);
/// How long the kernel may take, once a frame is out of its backlog, to hand it to our
/// sockets (the rest of one softirq's work).
const HANDOVER: Duration = Duration::from_millis(2);

/// A switch port as a frame entering or leaving it sees it.
struct Port {
    segment: usize,
    /// The VLANs it carries, or `None` on a switch that does not filter VLANs.
    vlans: Option<Vec<u16>>,
    /// The VLAN of untagged frames entering it.
    pvid: Option<u16>,
    hairpin: bool,
    /// The other end of its cable, and whether that is a host or router (else a switch).
    far: IfaceId,
    edge: bool,
}

/// The lab's links as the watcher needs them.
pub struct Map {
    /// A host or router end of a veth, and its peer (when the peer is up).
    peers: HashMap<IfaceId, IfaceId>,
    /// Switch ports, and each switch's.
    ports: HashMap<IfaceId, Port>,
    ports_of: HashMap<NodeId, Vec<IfaceId>>,
    /// The host or router ends cabled to each segment.
    attached: HashMap<usize, Vec<IfaceId>>,
    /// Children a broadcast from outside reaching a parent must reach, and their MACs.
    fanout: HashMap<IfaceId, Vec<IfaceId>>,
    child_macs: HashMap<IfaceId, HashSet<Mac>>,
    /// Each interface's MAC; each MAC's first stop on a segment (a child's is its parent's
    /// cable end).
    macs: HashMap<IfaceId, Mac>,
    first_stop: HashMap<Mac, IfaceId>,
    /// The addresses each interface answers ARP/ND for: its node's and its children's nodes'.
    answers: HashMap<IfaceId, HashSet<IpAddr>>,
    proxies: HashSet<NodeId>,
    /// Interfaces that are down: nothing arrives at them, nor at a port whose far end is one
    /// (it has no carrier).
    down: HashSet<IfaceId>,
}

impl Map {
    /// The map of `lab`, whose live interfaces are up or not and carry these MACs.
    pub fn new(lab: &Lab, live: &HashMap<IfaceId, (bool, Option<Mac>)>) -> Map {
        let up = |id: IfaceId| live.get(&id).is_some_and(|(up, _)| *up);
        let segments = segments(lab);
        let mut map = Map {
            peers: HashMap::new(),
            ports: HashMap::new(),
            ports_of: HashMap::new(),
            attached: HashMap::new(),
            fanout: HashMap::new(),
            child_macs: HashMap::new(),
            macs: live.iter().filter_map(|(id, (_, mac))| Some((*id, (*mac)?))).collect(),
            first_stop: HashMap::new(),
            answers: HashMap::new(),
            proxies: HashSet::new(),
            down: live.iter().filter(|(_, (up, _))| !*up).map(|(id, _)| *id).collect(),
        };
        for id in lab.iface_ids() {
            match &lab.iface(id).kind {
                IfaceKind::Veth { peer, port: Some(port) } if lab.node(id.node).role == Role::Switch => {
                    let filtering = port.master.is_some_and(|m| {
                        matches!(lab.iface(m).kind, IfaceKind::Bridge { vlan_filtering: true })
                    });
                    let vlans = filtering.then(|| port.access.iter().chain(&port.trunk).copied().collect());
                    let edge = lab.node(peer.node).role != Role::Switch;
                    let pvid = port.access.or((filtering && port.keeps_default_vlan()).then_some(1));
                    let segment = segments[&id.node];
                    map.ports
                        .insert(id, Port { segment, vlans, pvid, hairpin: port.hairpin, far: *peer, edge });
                    map.ports_of.entry(id.node).or_default().push(id);
                    if edge {
                        map.attached.entry(segment).or_default().push(*peer);
                    }
                }
                IfaceKind::Veth { peer, .. } if up(*peer) => {
                    map.peers.insert(id, *peer);
                }
                kind if kind.hears_lower_broadcasts() && up(id) => {
                    let lower = lower_device(lab, id);
                    map.fanout.entry(lower).or_default().push(id);
                    if let Some((_, Some(mac))) = live.get(&id) {
                        map.child_macs.entry(lower).or_default().insert(*mac);
                    }
                }
                _ => {}
            }
        }
        for (id, mac) in &map.macs {
            // A child's frames enter the wire at the device it hangs on.
            let stop = match lab.iface(*id).kind.kind() {
                kind if kind.stacks_on_lower() => lower_device(lab, *id),
                _ => *id,
            };
            map.first_stop.entry(*mac).or_insert(stop);
        }
        let node_addresses = |node: NodeId| {
            lab.node(node)
                .ifaces
                .iter()
                .flat_map(|i| i.addresses.iter().map(|a| a.addr()))
                .collect::<Vec<_>>()
        };
        for id in lab.iface_ids() {
            let mut addresses: HashSet<IpAddr> = node_addresses(id.node).into_iter().collect();
            for child in map.fanout.get(&id).into_iter().flatten() {
                addresses.extend(node_addresses(child.node));
            }
            map.answers.insert(id, addresses);
        }
        map.proxies = (0..lab.nodes.len())
            .map(NodeId)
            .filter(|n| {
                lab.node(*n).sysctls.iter().any(|s| s.key.ends_with(".proxy_arp") && s.value.trim() != "0")
            })
            .collect();
        map
    }

    /// The addresses a node's watcher socket must hear questions about: its own and its
    /// children's.
    pub fn heard_by(&self, lab: &Lab, node: NodeId) -> Vec<IpAddr> {
        let ifaces = (0..lab.node(node).ifaces.len()).map(|index| IfaceId { node, index });
        let mut addresses: Vec<IpAddr> =
            ifaces.flat_map(|id| self.answers.get(&id).into_iter().flatten().copied()).collect();
        addresses.sort();
        addresses.dedup();
        addresses
    }

    pub fn is_proxy(&self, node: NodeId) -> bool {
        self.proxies.contains(&node)
    }

    /// Whether `iface` would answer an ARP/ND question about `address`.
    fn answers_for(&self, iface: IfaceId, address: IpAddr) -> bool {
        self.proxies.contains(&iface.node) || self.answers.get(&iface).is_some_and(|a| a.contains(&address))
    }

    /// Where a frame seen at `at` must still arrive (+1), or the arrival it was awaited as
    /// (-1). `vlan` is the tag the kernel reported with it.
    pub fn expected(
        &self,
        frame: &[u8],
        at: IfaceId,
        leaving: bool,
        to_many: bool,
        vlan: Option<u16>,
        key: u64,
    ) -> Vec<Expected> {
        let mut changes = Vec::new();
        if leaving {
            if let Some(&peer) = self.peers.get(&at) {
                changes.push(Expected {
                    place: (peer, key),
                    change: 1,
                    backlog: true,
                    matters: self.would_matter(frame, peer),
                });
            }
            return changes;
        }
        changes.push(Expected { place: (at, key), change: -1, backlog: true, matters: None });
        let source = frame.get(6..12).and_then(|m| <[u8; 6]>::try_from(m).ok()).map(Mac);
        let from_a_child =
            source.is_some_and(|m| self.child_macs.get(&at).is_some_and(|macs| macs.contains(&m)));
        if to_many && !from_a_child {
            for &child in self.fanout.get(&at).into_iter().flatten() {
                changes.push(Expected {
                    place: (child, key),
                    change: 1,
                    backlog: false,
                    matters: self.would_matter(frame, child),
                });
            }
        }
        if let Some(port) = self.ports.get(&at) {
            for destination in self.switched_to(frame, at, port, vlan) {
                let matters = self.would_matter(frame, destination);
                changes.push(Expected { place: (destination, key), change: 1, backlog: true, matters });
            }
        }
        changes
    }

    /// Where a frame entering a switch at `ingress` goes next and would be acted on: the
    /// host or router ends of the switch's other ports that carry its VLAN (the first stop of
    /// its destination MAC, or, for a broadcast question, each that has the address asked
    /// about), and the far ends of the ports to other switches that it is flooded or
    /// forwarded through (which take it on from there).
    fn switched_to(&self, frame: &[u8], ingress: IfaceId, port: &Port, tag: Option<u16>) -> Vec<IfaceId> {
        let vlan = tag.or(port.pvid);
        let admitted = match (&port.vlans, vlan) {
            (Some(vlans), Some(vlan)) => vlans.contains(&vlan),
            (Some(_), None) => false,
            (None, _) => true,
        };
        if !admitted {
            // A frame in no VLAN of the port (untagged with no PVID, or tagged with a VLAN
            // the port does not carry): the bridge's ingress filter drops it.
            return Vec::new();
        }
        let Some(destination) = frame.get(..6).and_then(|m| <[u8; 6]>::try_from(m).ok()) else {
            return Vec::new();
        };
        let unicast = destination[0] & 1 == 0;
        let stop = self.first_stop.get(&Mac(destination));
        let question = match parse(frame) {
            Some(Parsed::Resolution { answer: false, target, .. }) if !unicast => Some(target),
            _ => None,
        };
        let egress: Vec<&Port> = self
            .ports_of
            .get(&ingress.node)
            .into_iter()
            .flatten()
            .filter(|q| **q != ingress || port.hairpin)
            .map(|q| &self.ports[q])
            .filter(|q| match (&q.vlans, vlan) {
                (Some(vlans), Some(vlan)) => vlans.contains(&vlan),
                _ => true,
            })
            .collect();
        let mut to = Vec::new();
        let here = egress.iter().any(|q| q.edge && Some(&q.far) == stop);
        let onward: Vec<&&Port> = egress.iter().filter(|q| !q.edge).collect();
        for q in &egress {
            let take = if q.edge {
                match (unicast, question) {
                    (true, _) => Some(&q.far) == stop,
                    (false, Some(target)) => self.answers_for(q.far, target),
                    (false, None) => false,
                }
            } else {
                // Flooded on every way on; a unicast frame for a MAC not here goes the one
                // way on, when there is only one.
                !unicast || (stop.is_some() && !here && onward.len() == 1)
            };
            if take {
                to.push(q.far);
            }
        }
        to
    }

    /// What losing `frame` on its way to `to` would mean for the probes: `None` when `to`
    /// would have ignored it (a unicast frame for another MAC, a question about an address
    /// it does not have, or that nobody on a segment has); the echoes are those of `ids`.
    pub fn would_matter(&self, frame: &[u8], to: IfaceId) -> Option<Lost> {
        let parsed = parse(frame)?;
        let destination: [u8; 6] = frame.get(..6)?.try_into().ok()?;
        let port = self.ports.get(&to);
        if self.down.contains(&to) || port.is_some_and(|p| self.down.contains(&p.far)) {
            return None;
        }
        let for_it = port.is_some()
            || self.macs.get(&to).is_some_and(|m| *m == Mac(destination))
            || self.child_macs.get(&to).is_some_and(|macs| macs.contains(&Mac(destination)));
        if destination[0] & 1 == 0 && !for_it {
            return None;
        }
        match parsed {
            Parsed::Echo { id, .. } => Some(Lost { at: to, echo: Some(id), about: None, asker: None }),
            Parsed::Resolution { answer, sender, target } => {
                let about = if answer { sender } else { target };
                let could_answer = answer
                    || match port {
                        Some(port) => self
                            .attached
                            .get(&port.segment)
                            .into_iter()
                            .flatten()
                            .any(|iface| self.answers_for(*iface, about)),
                        None => self.answers_for(to, about),
                    };
                let asker = (!answer).then_some(sender);
                could_answer.then_some(Lost { at: to, echo: None, about: Some(about), asker })
            }
        }
    }
}

/// The switches joined by cables, numbered: a frame flooded in one reaches them all.
fn segments(lab: &Lab) -> HashMap<NodeId, usize> {
    let switches: Vec<NodeId> =
        (0..lab.nodes.len()).map(NodeId).filter(|n| lab.node(*n).role == Role::Switch).collect();
    let mut segment: HashMap<NodeId, usize> = switches.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    // Joined switches take the smallest number among them, until nothing changes.
    let links: Vec<(NodeId, NodeId)> = lab
        .cables
        .iter()
        .filter(|c| lab.node(c.a.node).role == Role::Switch && lab.node(c.b.node).role == Role::Switch)
        .map(|c| (c.a.node, c.b.node))
        .collect();
    let mut changed = true;
    while changed {
        changed = false;
        for (a, b) in &links {
            let low = segment[a].min(segment[b]);
            for n in [a, b] {
                if segment[n] != low {
                    segment.insert(*n, low);
                    changed = true;
                }
            }
        }
    }
    segment
}

/// A frame awaited at one place: how many copies (arrivals seen first count negative), since
/// when, whether it travels through a backlog, and what its loss would mean.
struct Awaited {
    count: i64,
    since: Instant,
    backlog: bool,
    matters: Option<Lost>,
}

/// A change to what is awaited where.
pub struct Expected {
    place: (IfaceId, u64),
    change: i64,
    backlog: bool,
    matters: Option<Lost>,
}

/// Frames seen leaving that must still arrive somewhere.
#[derive(Default)]
pub struct OnTheWay {
    places: HashMap<(IfaceId, u64), Awaited>,
    /// Places with copies still to come.
    pub waiting: usize,
}

impl OnTheWay {
    pub fn change(&mut self, expected: Expected) {
        let awaited = self.places.entry(expected.place).or_insert(Awaited {
            count: 0,
            since: Instant::now(),
            backlog: expected.backlog,
            matters: None,
        });
        let before = awaited.count > 0;
        awaited.count += expected.change;
        if expected.change > 0 {
            awaited.since = Instant::now();
            awaited.backlog = expected.backlog;
            awaited.matters = expected.matters.or(awaited.matters);
        }
        match (before, awaited.count > 0) {
            (false, true) => self.waiting += 1,
            (true, false) => self.waiting -= 1,
            _ => {}
        }
        if awaited.count == 0 {
            self.places.remove(&expected.place);
        }
    }

    /// Gives up on frames that can no longer be on their way: every backlog was seen empty
    /// (at `clear`) after they left (or, for a hand-over to children, that and a grace), and
    /// a full reading of every socket, begun after that (`read_from`), did not find them.
    /// Those that mattered are filed as lost.
    pub fn expire(&mut self, clear: Instant, read_from: Instant, lost: &mut Vec<Lost>) {
        if clear + HANDOVER > read_from {
            return;
        }
        let now = Instant::now();
        let gone: Vec<(IfaceId, u64)> = self
            .places
            .iter()
            .filter(|(_, a)| {
                a.count > 0 && a.since < clear && (a.backlog || now.duration_since(a.since) >= FANOUT_GRACE)
            })
            .map(|(place, _)| *place)
            .collect();
        for place in gone {
            if let Some(awaited) = self.places.remove(&place) {
                self.waiting -= 1;
                lost.extend(awaited.matters);
            }
        }
    }
}
