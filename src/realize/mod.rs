//! Realization: executes a plan on the kernel through netlink, in-process (no `ip`), and
//! undoes it: on failure or a signal during `up`, and in `down`. Everything a lab makes
//! lives inside its own namespaces, each marked as the lab's; nothing else is touched.

mod down;
mod progress;
mod ready;
mod up;

pub use down::{DownReport, down, marked_namespaces};
pub use progress::Progress;
pub use up::up;

use crate::kernel::netlink;

use std::fmt;

/// What went wrong, while doing what, and how to fix it.
#[derive(Debug)]
pub struct Error {
    pub doing: String,
    pub cause: String,
    pub hint: Option<String>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.doing, self.cause)?;
        if let Some(hint) = &self.hint {
            write!(f, ": {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl Error {
    pub fn new(doing: impl Into<String>, cause: impl fmt::Display) -> Error {
        Error { doing: doing.into(), cause: lowercase_first(&cause.to_string()), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    /// A kernel refusal, described by errno, with the hint for that errno when there is one.
    pub fn kernel(
        doing: impl Into<String>,
        error: &netlink::Error,
        hint: impl Fn(i32) -> Option<String>,
    ) -> Error {
        match netlink::errno(error) {
            Some(errno) => {
                let cause = nix::errno::Errno::from_raw(errno).desc();
                let mut e = Error::new(doing, cause);
                e.hint = hint(errno).or_else(|| general_hint(errno));
                e
            }
            None => Error::new(doing, error),
        }
    }

    pub fn io(doing: impl Into<String>, error: &std::io::Error) -> Error {
        let cause = match error.raw_os_error() {
            Some(errno) => nix::errno::Errno::from_raw(errno).desc().to_string(),
            None => error.to_string(),
        };
        let mut e = Error::new(doing, cause);
        e.hint = error.raw_os_error().and_then(general_hint);
        e
    }
}

/// A hint for a refusal whatever was being done: without root, that root is needed (as
/// root, EPERM and EACCES mean something else, which the caller's hint says).
fn general_hint(errno: i32) -> Option<String> {
    let root = nix::unistd::geteuid().is_root();
    match errno {
        libc::EPERM | libc::EACCES if !root => Some("lab needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to make namespaces and links; run it with sudo, or use `lab run --sandbox`".into()),
        _ => None,
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if chars.clone().next().is_some_and(|c| c.is_lowercase()) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_string(),
    }
}
