//! `down`: removes a lab's namespaces (and with them every link inside), found by name and
//! confirmed by the mark on their `lo`, so it works when the state is lost or `up` was
//! killed half-way, and never removes a namespace the lab did not make.

use super::netlink::Netlink;
use super::state::{Lock, State};
use super::{Error, Progress, marker, netns};
use std::collections::BTreeMap;

const WORKERS: usize = 4;

#[derive(Debug, Default)]
pub struct DownReport {
    /// Namespaces removed.
    pub removed: Vec<String>,
    /// Names that look like the lab's but are not marked as made by it: left alone.
    pub foreign: Vec<String>,
}

/// Removes everything of lab `lab`. `nodes` are node names known from a topology file, so
/// that a name left half-made by a killed `up` can be recognised too.
pub fn down(lab: &str, nodes: &[String], progress: &Progress) -> Result<DownReport, Error> {
    let _lock = Lock::acquire(lab).map_err(|e| Error::io(format!("locking lab `{lab}`"), &e))?;
    let state = State::load(lab).ok().flatten();
    let mut known: Vec<String> = nodes.iter().map(|n| crate::model::netns_name(lab, n)).collect();
    known.extend(state.iter().flat_map(|s| s.nodes.iter().map(|n| n.netns.clone())));
    let prefix = format!("{lab}-");
    let candidates: Vec<String> =
        netns::list_names().into_iter().filter(|n| n.starts_with(&prefix)).collect();
    progress.set_total(candidates.len());
    progress.stage("removing namespaces");
    let owners = owners(&candidates);
    let mut report = DownReport::default();
    for (name, owner) in candidates.iter().zip(owners) {
        let ours = match owner {
            Some(owner) => owner == marker(lab),
            // Not a namespace: a name claimed by an `up` killed before it could bind it.
            None => known.contains(name) && !netns::is_mounted_namespace(&netns::path_of(name)),
        };
        if !ours {
            report.foreign.push(name.clone());
            continue;
        }
        netns::remove_named(name).map_err(|e| Error::io(format!("removing namespace {name}"), &e))?;
        report.removed.push(name.clone());
        progress.advance(1);
    }
    progress.finish();
    super::state::remove(lab).map_err(|e| Error::io(format!("removing the state of lab `{lab}`"), &e))?;
    Ok(report)
}

/// The mark on `lo` of each named namespace (`None` when it cannot be read).
fn owners(names: &[String]) -> Vec<Option<String>> {
    let opened: Vec<Option<std::fs::File>> = names.iter().map(|n| netns::open(n).ok()).collect();
    let files: Vec<std::fs::File> = opened.iter().flatten().filter_map(|f| f.try_clone().ok()).collect();
    let mut read = netns::run_in_each(&files, WORKERS, |_| read_loopback_alias()).into_iter();
    opened
        .iter()
        .map(|f| f.as_ref().and_then(|_| read.next()).and_then(|r| r.ok()).map(|a| a.unwrap_or_default()))
        .collect()
}

/// Reads `lo`'s alias from the calling thread's namespace.
fn read_loopback_alias() -> std::io::Result<Option<String>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    let netlink = Netlink::open_here(rt.handle())?;
    let lo = rt.block_on(netlink.link("lo")).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(lo.alias)
}

/// Every namespace marked by lab, grouped by lab name: what `lab ls` shows, including labs
/// whose state was lost.
pub fn marked_namespaces() -> BTreeMap<String, Vec<String>> {
    let names = netns::list_names();
    let mut labs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, owner) in names.iter().zip(owners(&names)) {
        if let Some(lab) = owner.as_deref().and_then(|o| o.strip_prefix("lab=")) {
            labs.entry(lab.to_string()).or_default().push(name.clone());
        }
    }
    labs
}
