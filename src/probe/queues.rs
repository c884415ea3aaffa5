//! The lab's queueing disciplines that can hold frames (netem delaying them, tbf shaping
//! them): a frame held there is on its way, and the network is not quiet while any is. Found
//! once per verification, then read as often as `settle` asks. Reads counters only.

use crate::realize::{Netlink, netns};
use std::fs::File;
use std::io;

pub struct Queues {
    /// Drives the sockets' connections.
    rt: tokio::runtime::Runtime,
    /// One socket in each namespace that has a queue able to hold frames.
    sockets: Vec<Netlink>,
}

impl Queues {
    /// Looks in every namespace for a queueing discipline other than `noqueue` (the default
    /// of every virtual device lab makes).
    pub fn find(namespaces: &[File]) -> io::Result<Queues> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let handle = rt.handle().clone();
        let found = netns::run_in_each(namespaces, 4, |_| {
            let netlink = Netlink::open_here(&handle)?;
            let queues = handle.block_on(netlink.queues()).map_err(|e| io::Error::other(e.to_string()))?;
            Ok(queues.iter().any(|q| q.kind != "noqueue").then_some(netlink))
        });
        let mut sockets = Vec::new();
        for result in found {
            sockets.extend(result?);
        }
        Ok(Queues { rt, sockets })
    }

    /// Whether every queue is empty now (one that cannot be read counts as full).
    pub fn empty(&self) -> bool {
        self.sockets.iter().all(|netlink| {
            let queues = self.rt.block_on(netlink.queues());
            queues.is_ok_and(|q| q.iter().all(|q| q.packets == 0))
        })
    }
}
