//! Waves: the kernel keeps one ARP table and one neighbour (ND) table for the whole
//! machine, shared by every namespace and capped by `gc_thresh3` (1024 by default), which
//! only the host's own namespace may change. A probe makes up to two entries (one at each
//! end); a full mesh of 50 hosts needs 2450. So probes run in waves that fit the room left,
//! and the lab's learned entries are flushed before each wave.
//!
//! What a probe teaches a neighbour table can let another through: an ARP request from d
//! makes c learn d's MAC, so c reaches d even where d never answers ARP. So expectations of
//! silence (`reach = false`) run in waves of their own, before the others, each wave from
//! empty tables: a verdict does not depend on which other expectations the file has, nor on
//! an earlier `verify`.

use crate::model::{Check, Expectation, Lab, NodeId};
use crate::realize::{Netlink, netns};
use std::collections::HashSet;
use std::fs::File;
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
    // The first column of /proc/net/stat/<table> is the table's entry count, in hex.
    let used = std::fs::read_to_string(format!("/proc/net/stat/{table}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .nth(1)
                .and_then(|l| l.split_whitespace().next())
                .and_then(|h| usize::from_str_radix(h, 16).ok())
        })
        .unwrap_or(0);
    limit.saturating_sub(used + MARGIN).max(MARGIN)
}

/// A neighbour entry a probe makes: who holds it, about whom, in which table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Peer {
    Node(NodeId),
    Address(IpAddr),
}

fn entries(lab: &Lab, expectation: &Expectation) -> Vec<(NodeId, Peer, bool)> {
    let (from, to) = match &expectation.check {
        Check::Reach { from, to, .. } | Check::Resolves { from, to, .. } => (*from, to),
        Check::State { .. } | Check::Route { .. } => return Vec::new(),
    };
    let v6 = to.addr.is_ipv6();
    match to.iface.map(|i| i.node) {
        // Both ends learn each other; probing a pair both ways costs no more.
        Some(node) if node != from => vec![(from, Peer::Node(node), v6), (node, Peer::Node(from), v6)],
        _ => vec![(from, Peer::Address(to.addr), v6)],
    }
    .into_iter()
    .filter(|_| !lab.node(from).ifaces.is_empty())
    .collect()
}

/// Expectation indexes (of `todo`) in waves: expectations of silence first, then the rest,
/// each in waves whose probes fit the room.
pub fn split(lab: &Lab, todo: &[usize], room: Room) -> Vec<Vec<usize>> {
    let (silent, rest): (Vec<usize>, Vec<usize>) =
        todo.iter().copied().partition(|i| expects_silence(&lab.expectations[*i]));
    let mut waves = fill(lab, &silent, room);
    waves.extend(fill(lab, &rest, room));
    if waves.is_empty() {
        waves.push(Vec::new());
    }
    waves
}

pub fn expects_silence(expectation: &Expectation) -> bool {
    matches!(expectation.check, Check::Reach { reach: false, .. })
}

/// `expectations` in waves whose neighbour entries fit the room.
fn fill(lab: &Lab, expectations: &[usize], room: Room) -> Vec<Vec<usize>> {
    let mut waves = Vec::new();
    let mut wave = Vec::new();
    let mut made: HashSet<(NodeId, Peer, bool)> = HashSet::new();
    // Entries in `made`, IPv4 and IPv6.
    let (mut v4, mut v6) = (0, 0);
    for &index in expectations {
        let needs = entries(lab, &lab.expectations[index]);
        let new = |made: &HashSet<_>, ipv6: bool| {
            needs.iter().filter(|n| n.2 == ipv6 && !made.contains(*n)).count()
        };
        if !wave.is_empty() && (v4 + new(&made, false) > room.v4 || v6 + new(&made, true) > room.v6) {
            waves.push(std::mem::take(&mut wave));
            made.clear();
            (v4, v6) = (0, 0);
        }
        for need in needs {
            if made.insert(need) {
                if need.2 { v6 += 1 } else { v4 += 1 }
            }
        }
        wave.push(index);
    }
    if !wave.is_empty() {
        waves.push(wave);
    }
    waves
}

/// Flushes what the lab's namespaces learned (`ip neigh flush all` in each), so that a
/// wave has room and starts from empty tables.
pub fn flush(namespaces: &[File]) {
    netns::run_in_each(namespaces, 4, |_| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let netlink = Netlink::open_here(rt.handle())?;
        rt.block_on(netlink.flush_neighbours()).map_err(|e| std::io::Error::other(e.to_string()))
    });
}
