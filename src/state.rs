//! State of a lab that is up, under /run/lab/<lab>/: the topology as realized and what the
//! kernel made of it, so that `verify`, `exec`, `down` and `ls` work from other processes.
//! A lock file serializes `up` and `down` of one lab.

use crate::model::Mac;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub const STATE_DIR: &str = "/run/lab";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub lab: String,
    /// The topology file given to `up`, absolute.
    pub topology: PathBuf,
    /// Its text as realized (the file may change afterwards).
    pub source: String,
    /// The topology's `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Seconds since the epoch.
    pub created: u64,
    pub nodes: Vec<NodeState>,
    /// The scenario step the lab was brought to (`None`: its initial state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Actions `lab do` applied since, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub live: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeState {
    pub name: String,
    pub netns: String,
    pub ifaces: Vec<IfaceState>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IfaceState {
    pub name: String,
    pub index: u32,
    pub mac: Option<Mac>,
}

pub fn dir(lab: &str) -> PathBuf {
    Path::new(STATE_DIR).join(lab)
}

fn file(lab: &str) -> PathBuf {
    dir(lab).join("state.json")
}

impl State {
    pub fn load(lab: &str) -> io::Result<Option<State>> {
        match std::fs::read_to_string(file(lab)) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Written to a temporary file and renamed, so readers never see half of it.
    pub fn save(&self) -> io::Result<()> {
        std::fs::create_dir_all(dir(&self.lab))?;
        let tmp = dir(&self.lab).join("state.json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self).map_err(io::Error::other)?)?;
        std::fs::rename(tmp, file(&self.lab))
    }

    pub fn node(&self, name: &str) -> Option<&NodeState> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

pub fn remove(lab: &str) -> io::Result<()> {
    match std::fs::remove_dir_all(dir(lab)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Labs with a state file.
pub fn labs() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(STATE_DIR) else { return Vec::new() };
    let mut labs: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("state.json").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    labs.sort();
    labs
}

/// An exclusive lock on one lab, held while it is brought up or down: `/run/lab/<lab>.lock`,
/// which exists while the lab is up or being made, and is removed with the lab (`remove`),
/// so that lock files never pile up. Whoever removes it holds it; whoever locks a file that
/// was removed meanwhile locks again.
pub struct Lock {
    file: Flock<File>,
    path: PathBuf,
}

impl Lock {
    pub fn acquire(lab: &str) -> io::Result<Lock> {
        std::fs::create_dir_all(STATE_DIR)?;
        let path = Path::new(STATE_DIR).join(format!("{lab}.lock"));
        loop {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => lock,
                Err((_, nix::Error::EWOULDBLOCK)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!("another lab process is bringing `{lab}` up or down"),
                    ));
                }
                Err((_, e)) => return Err(e.into()),
            };
            if same_file(&file, &path)? {
                return Ok(Lock { file, path });
            }
        }
    }

    /// Unlocks and removes the lock file: the lab is gone.
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
        drop(self.file);
    }
}

/// Whether `path` still names the open `file` (it was not removed and made again).
fn same_file(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(named) => Ok(named.ino() == open.ino() && named.dev() == open.dev()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
