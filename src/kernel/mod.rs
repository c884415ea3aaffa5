//! The kernel, as lab uses it: namespaces (the only setns/unshare/mount), netlink sockets
//! per namespace, nf_tables NAT rules, what link kinds this kernel can make, and the
//! process's signal handlers.
//! Below both `realize` and `probe`, which use it and never each other.

pub mod features;
pub mod netem;
pub mod netlink;
pub mod netns;
pub mod nftables;
pub mod signals;

pub use netlink::{LinkState, Netlink};

use std::future::Future;
use std::io;

/// Lets this process hold a descriptor per namespace and socket of a large lab (1000 nodes
/// need 2000): the soft limit is raised to the hard one.
pub fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// The alias on `lo` that marks a namespace as made by lab for one lab.
pub fn marker(lab: &str) -> String {
    format!("lab={lab}")
}

/// The lab a `lo` alias marks its namespace for, if it is a mark.
pub fn marked_for(alias: &str) -> Option<&str> {
    alias.strip_prefix("lab=")
}

/// A failed system call or other I/O, as lab reports it: an errno as its description in
/// lower case ("no such file or directory"), anything else as it says; the error itself is
/// kept.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.0))]
pub struct OsError(pub io::Error);

impl From<io::Error> for OsError {
    fn from(error: io::Error) -> Self {
        OsError(error)
    }
}

fn describe(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(errno) => lowercase_first(nix::errno::Errno::from_raw(errno).desc()),
        None => error.to_string(),
    }
}

/// "No such file" as "no such file"; an acronym ("EPERM...") stays.
pub fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if chars.clone().next().is_some_and(|c| c.is_lowercase()) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_string(),
    }
}

/// Runs `work` with a netlink socket of the calling thread's namespace, on a runtime of its
/// own: for work on a thread that entered a namespace (see `netns::run_in`).
pub fn with_netlink<T, F>(work: impl FnOnce(Netlink) -> F) -> io::Result<T>
where
    F: Future<Output = io::Result<T>>,
{
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let netlink = Netlink::open_here(rt.handle())?;
    rt.block_on(work(netlink))
}
