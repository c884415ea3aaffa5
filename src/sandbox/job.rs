//! One command sent into the resident sandbox, and its answer, as files in a directory of
//! the sandbox's spool (the kernel's root is the host's, so both sides see them). The
//! client writes `request.json` into a hidden directory and renames it into `jobs/`; the
//! server inside makes `stdout` and `stderr` (or picks a terminal and names it in
//! `terminal`), writes `claimed`, runs the command, and writes its exit status to `status`
//! last. Signals the client receives go in as `signal-1`, `signal-2`..., a terminal's new
//! size as `size-1`...; the server takes each once.

use super::{Error, Started, io_error};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What to run, where, and how.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    /// The program and its arguments.
    pub args: Vec<String>,
    pub cwd: PathBuf,
    /// Set for the command, on top of the sandbox's own environment.
    pub env: Vec<(String, String)>,
    /// Run on one of the sandbox's terminals, of this size (an interactive shell, or a
    /// command typed at a terminal); else with no input and the output in files.
    pub terminal: Option<Size>,
    /// The host process that asked (pid and start time), so that the keeper can end the
    /// command should that process be killed.
    pub client: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    pub rows: u16,
    pub cols: u16,
}

/// A job directory, from either side.
#[derive(Clone, Debug)]
pub struct Job {
    pub dir: PathBuf,
}

impl Job {
    /// Places `request` into `jobs`, whole: it appears there only once written.
    pub fn submit(jobs: &Path, request: &Request) -> Result<Job, Error> {
        let name = unique_name();
        let hidden = jobs.join(format!(".{name}"));
        std::fs::create_dir(&hidden).map_err(io_error("making a job for the sandbox"))?;
        let text = serde_json::to_string(request).map_err(|e| io_error("writing the job")(e.into()))?;
        std::fs::write(hidden.join("request.json"), text).map_err(io_error("writing the job"))?;
        let dir = jobs.join(&name);
        std::fs::rename(&hidden, &dir).map_err(io_error("handing the job to the sandbox"))?;
        Ok(Job { dir })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn request(&self) -> Option<Request> {
        serde_json::from_str(&std::fs::read_to_string(self.path("request.json")).ok()?).ok()
    }

    pub fn claimed(&self) -> bool {
        self.path("claimed").exists()
    }

    /// The exit status, once the command has ended.
    pub fn status(&self) -> Option<i32> {
        std::fs::read_to_string(self.path("status")).ok()?.trim().parse().ok()
    }

    /// The sandbox terminal the command runs on (its console number).
    pub fn terminal(&self) -> Option<u32> {
        std::fs::read_to_string(self.path("terminal")).ok()?.trim().parse().ok()
    }

    /// Numbered messages to the server (`signal-N`, `size-N`), each written whole.
    pub fn send(&self, kind: &str, number: u32, text: &str) {
        let hidden = self.path(&format!(".{kind}-{number}"));
        if std::fs::write(&hidden, text).is_ok() {
            let _ = std::fs::rename(&hidden, self.path(&format!("{kind}-{number}")));
        }
    }

    /// Message `number` of `kind`, if it came.
    pub fn message(&self, kind: &str, number: u32) -> Option<String> {
        std::fs::read_to_string(self.path(&format!("{kind}-{number}"))).ok()
    }

    /// Written by the server: whole, once.
    pub fn answer(&self, name: &str, text: &str) -> std::io::Result<()> {
        let hidden = self.path(&format!(".{name}"));
        std::fs::write(&hidden, text)?;
        std::fs::rename(hidden, self.path(name))
    }

    /// Whether the process that asked for it is gone (seen from the host).
    pub fn abandoned(&self) -> bool {
        let client = self.request().and_then(|r| r.client.parse::<Started>().ok());
        client.is_some_and(|c| Started::of(c.pid) != Some(c))
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The jobs in `jobs`, in the order they were submitted (hidden ones are not finished).
pub fn listed(jobs: &Path) -> Vec<Job> {
    let Ok(entries) = std::fs::read_dir(jobs) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names.into_iter().map(|name| Job { dir: jobs.join(name) }).collect()
}

/// Sorts by time of submission: nanoseconds since the epoch, then this process's id.
fn unique_name() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{nanos:024}-{}", std::process::id())
}

/// This process, as `Request::client` names it.
pub fn this_client() -> String {
    Started::of(std::process::id() as i32).map(|s| s.to_string()).unwrap_or_default()
}
