//! `down`: removes a lab's namespaces (and with them every link inside), found by name and
//! confirmed by the mark on their `lo`, so it works when the state is lost or `up` was
//! killed half-way, and never removes a namespace the lab did not make.

use super::netlink::Netlink;
use super::state::{Lock, State};
use super::{Error, Progress, marked_for, netns};
use std::collections::BTreeMap;

const WORKERS: usize = 4;

#[derive(Debug, Default)]
pub struct DownReport {
    /// Namespaces removed.
    pub removed: Vec<String>,
    /// Names that look like the lab's but are not marked as made by any lab: left alone.
    pub foreign: Vec<String>,
}

/// What a name under /run/netns is, as far as `down` is concerned.
enum Mark {
    /// A namespace marked by this lab or by another (the lab's name).
    Lab(String),
    /// A namespace without lab's mark: someone else's.
    Unmarked,
    /// Not a namespace: a name claimed by an `up` killed before it could bind it.
    Placeholder,
    /// A namespace whose mark could not be read.
    Unreadable(String),
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
    let mut report = DownReport::default();
    let mut left: Vec<String> = Vec::new();
    for (name, mark) in candidates.iter().zip(marks(&candidates)) {
        let ours = match mark {
            Mark::Lab(owner) => owner == lab,
            Mark::Placeholder => known.contains(name),
            Mark::Unmarked => {
                report.foreign.push(name.clone());
                false
            }
            Mark::Unreadable(why) => {
                left.push(format!("{name} (its mark could not be read: {why})"));
                false
            }
        };
        if ours {
            match netns::remove_named(name) {
                Ok(()) => report.removed.push(name.clone()),
                Err(e) => left.push(format!("{name} ({e})")),
            }
        }
        progress.advance(1);
    }
    progress.finish();
    if !left.is_empty() {
        return Err(Error::new(
            format!("bringing lab `{lab}` down"),
            format!("{} could not be removed: {}", left.len(), left.join(", ")),
        )
        .hint(format!("run `lab down {lab}` again as root; the rest was removed")));
    }
    super::state::remove(lab).map_err(|e| Error::io(format!("removing the state of lab `{lab}`"), &e))?;
    Ok(report)
}

/// The mark of each name, read from inside each namespace on a few worker threads.
fn marks(names: &[String]) -> Vec<Mark> {
    let mut marks: Vec<Mark> = Vec::with_capacity(names.len());
    let mut opened: Vec<(usize, std::fs::File)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let path = netns::path_of(name);
        if !netns::is_mounted_namespace(&path) {
            marks.push(Mark::Placeholder);
            continue;
        }
        match std::fs::File::open(&path) {
            Ok(file) => {
                opened.push((i, file));
                marks.push(Mark::Unmarked);
            }
            Err(e) => marks.push(Mark::Unreadable(e.to_string())),
        }
    }
    let (indexes, files): (Vec<usize>, Vec<std::fs::File>) = opened.into_iter().unzip();
    let aliases = netns::run_in_each(&files, WORKERS, |_| read_loopback_alias());
    for (i, alias) in indexes.into_iter().zip(aliases) {
        marks[i] = match alias {
            Ok(Some(alias)) => match marked_for(&alias) {
                Some(lab) => Mark::Lab(lab.to_string()),
                None => Mark::Unmarked,
            },
            Ok(None) => Mark::Unmarked,
            Err(e) => Mark::Unreadable(e.to_string()),
        };
    }
    marks
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
    for (name, mark) in names.iter().zip(marks(&names)) {
        if let Mark::Lab(lab) = mark {
            labs.entry(lab).or_default().push(name.clone());
        }
    }
    labs
}
