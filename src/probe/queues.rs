//! The lab's queueing disciplines that can hold frames (netem delaying them, tbf shaping
//! them): a frame held there is on its way, and the network is not quiet while any is. Found
//! once per verification, then read as often as `settle` asks. Reads counters only.

use super::namespaces::Namespaces;

pub struct Queues<'n> {
    namespaces: Option<&'n Namespaces>,
    /// The namespaces (node indexes) with a queue able to hold frames.
    holding: Vec<usize>,
}

impl<'n> Queues<'n> {
    /// Looks in every namespace for a queueing discipline other than `noqueue` (the default
    /// of every virtual device lab makes).
    pub fn find(namespaces: &'n Namespaces) -> Queues<'n> {
        let found = namespaces.each(|netlink| netlink.queues());
        let holding = found
            .iter()
            .enumerate()
            .filter(|(_, q)| q.as_ref().map_or(true, |q| q.iter().any(|q| q.kind != "noqueue")))
            .map(|(n, _)| n)
            .collect();
        Queues { namespaces: Some(namespaces), holding }
    }

    /// No queues at all.
    #[cfg(test)]
    pub fn none() -> Queues<'static> {
        Queues { namespaces: None, holding: Vec::new() }
    }

    /// Whether every queue is empty now (one that cannot be read counts as full).
    pub fn empty(&self) -> bool {
        let Some(namespaces) = self.namespaces else { return true };
        self.holding.iter().all(|&n| {
            let queues = namespaces.on(n, |netlink| netlink.queues());
            queues.is_ok_and(|q| q.iter().all(|q| q.packets == 0))
        })
    }
}
