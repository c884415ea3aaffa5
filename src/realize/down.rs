//! `down`: removes a lab's namespaces (and with them every link inside), found by name and
//! confirmed by the mark on their `lo` (or, for a name an `up` claimed but never bound, by
//! the placeholder's own text), so it works when the state is lost or `up` was killed
//! half-way, and never removes a namespace, file or mount the lab did not make.

use super::{Error, Progress};
use crate::kernel::{marked_for, netns, with_netlink};
use crate::state::Lock;
use std::collections::BTreeMap;

const WORKERS: usize = 4;

#[derive(Debug, Default)]
pub struct DownReport {
    /// Namespaces removed, and placeholders left by an `up` that was killed.
    pub removed: Vec<String>,
    /// Names that look like the lab's but are not marked as made by any lab: left alone.
    pub foreign: Vec<String>,
}

/// What a name under /run/netns is, as far as `down` is concerned.
enum Mark {
    /// A namespace marked by this lab or by another (the lab's name).
    Lab(String),
    /// A placeholder of a lab (its name): claimed by an `up` killed before it could bind it.
    Placeholder(String),
    /// Neither a namespace marked by lab nor a placeholder of lab's: someone else's.
    Unmarked,
    /// A name whose mark could not be read.
    Unreadable(String),
}

/// Removes everything of lab `lab`: its marked namespaces and its placeholders, found by
/// their names' prefix, whether or not its state survived.
pub fn down(lab: &str, progress: &Progress) -> Result<DownReport, Error> {
    let lock = Lock::acquire(lab).map_err(|e| Error::io(format!("locking lab `{lab}`"), e))?;
    let prefix = format!("{lab}-");
    let candidates: Vec<String> =
        netns::list_names().into_iter().filter(|n| n.starts_with(&prefix)).collect();
    progress.set_total(candidates.len());
    progress.stage("removing namespaces");
    let mut report = DownReport::default();
    let mut left: Vec<String> = Vec::new();
    for (name, mark) in candidates.iter().zip(marks(&candidates)) {
        let removal = match mark {
            Mark::Lab(owner) if owner == lab => Some(netns::remove_named(name)),
            Mark::Placeholder(owner) if owner == lab => Some(netns::remove_placeholder(name)),
            Mark::Lab(_) | Mark::Placeholder(_) => None,
            Mark::Unmarked => {
                report.foreign.push(name.clone());
                None
            }
            Mark::Unreadable(why) => {
                left.push(format!("{name} (its mark could not be read: {why})"));
                None
            }
        };
        match removal {
            Some(Ok(())) => report.removed.push(name.clone()),
            Some(Err(e)) => left.push(format!("{name} ({e})")),
            None => {}
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
    crate::state::remove(lab).map_err(|e| Error::io(format!("removing the state of lab `{lab}`"), e))?;
    lock.remove();
    Ok(report)
}

/// The mark of each name, read from inside each namespace on a few worker threads.
fn marks(names: &[String]) -> Vec<Mark> {
    let mut marks: Vec<Mark> = Vec::with_capacity(names.len());
    let mut opened: Vec<(usize, std::fs::File)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mark = match netns::inspect(name) {
            Ok(netns::Entry::Namespace) => match std::fs::File::open(netns::path_of(name)) {
                Ok(file) => {
                    opened.push((i, file));
                    Mark::Unmarked
                }
                Err(e) => Mark::Unreadable(e.to_string()),
            },
            Ok(netns::Entry::Placeholder { lab }) => Mark::Placeholder(lab),
            Ok(netns::Entry::Foreign) => Mark::Unmarked,
            Err(e) => Mark::Unreadable(e.to_string()),
        };
        marks.push(mark);
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
    with_netlink(|netlink| async move {
        let lo = netlink.link("lo").await?;
        Ok(lo.alias)
    })
}

/// Every namespace marked by lab, and every placeholder of lab's, grouped by lab name:
/// what `lab ls` shows, including labs whose state was lost or whose `up` was killed.
pub fn marked_namespaces() -> BTreeMap<String, Vec<String>> {
    let names = netns::list_names();
    let mut labs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, mark) in names.iter().zip(marks(&names)) {
        if let Mark::Lab(lab) | Mark::Placeholder(lab) = mark {
            labs.entry(lab).or_default().push(name.clone());
        }
    }
    labs
}
