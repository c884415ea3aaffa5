//! The lab's namespaces as the prober reaches them, opened once per verification: each
//! one's file (for threads to enter), and a netlink socket in each, all driven by one small
//! runtime, for what every wave asks of every namespace (flush neighbours, read queues).

use super::Error;
use crate::kernel::{Netlink, netns};
use crate::model::Lab;
use crate::state::State;
use std::fs::File;

pub struct Namespaces {
    pub files: Vec<File>,
    rt: tokio::runtime::Runtime,
    netlink: Vec<Netlink>,
}

impl Namespaces {
    /// The namespaces of `lab`, which `state` says is up, in node order.
    pub fn open(lab: &Lab, state: &State) -> Result<Namespaces, Error> {
        let files = lab
            .nodes
            .iter()
            .map(|node| {
                let name = state
                    .node(&node.name)
                    .map(|n| n.netns.clone())
                    .unwrap_or_else(|| crate::model::netns_name(&lab.name, &node.name));
                netns::open(&name).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Error::NotUp { lab: lab.name.clone(), ns: name.clone() },
                    _ => Error::Namespace { ns: name.clone(), source: e.into() },
                })
            })
            .collect::<Result<Vec<File>, Error>>()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime(e.into()))?;
        let handle = rt.handle().clone();
        let netlink = netns::run_in_each(&files, 4, |_| Netlink::open_here(&handle))
            .into_iter()
            .collect::<std::io::Result<Vec<Netlink>>>()
            .map_err(|e| Error::Netlink(e.into()))?;
        Ok(Namespaces { files, rt, netlink })
    }

    /// Runs `work` on each namespace's socket at once, results in node order.
    pub fn each<'a, T, F>(&'a self, work: impl Fn(&'a Netlink) -> F) -> Vec<T>
    where
        F: std::future::Future<Output = T>,
    {
        self.rt.block_on(futures::future::join_all(self.netlink.iter().map(work)))
    }

    /// Runs one request on one namespace's socket.
    pub fn on<'a, T, F>(&'a self, node: usize, work: impl FnOnce(&'a Netlink) -> F) -> T
    where
        F: std::future::Future<Output = T>,
    {
        self.rt.block_on(work(&self.netlink[node]))
    }

    /// Flushes what the lab's namespaces learned (`ip neigh flush all` in each), so that a
    /// wave has room and starts from empty tables.
    pub fn flush_neighbours(&self) {
        self.each(|netlink| netlink.flush_neighbours());
    }
}
