//! Realization: executes a plan on the kernel through netlink, in-process (no `ip`), and
//! undoes it: on failure or a signal during `up`, and in `down`. Everything a lab makes
//! lives inside its own namespaces, each marked as the lab's; nothing else is touched.

mod change;
mod down;
mod progress;
mod ready;
mod up;

pub use change::{Position, change};
pub use down::{DownReport, down, marked_namespaces};
pub use progress::Progress;
pub use up::up;

use crate::kernel::{OsError, lowercase_first, netlink};

use std::fmt;

/// What went wrong, while doing what, and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{doing}")]
pub struct Error {
    pub doing: String,
    #[source]
    pub cause: Cause,
    pub hint: Option<String>,
}

/// Why: the kernel's refusal, a lost or garbled netlink answer, a failed system call, or
/// lab's own refusal.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error("{}", lowercase_first(.0.desc()))]
    Refused(nix::errno::Errno),
    #[error(transparent)]
    Netlink(netlink::Error),
    #[error(transparent)]
    Os(OsError),
    #[error("{0}")]
    Lab(String),
}

impl Error {
    /// Lab's own refusal: `cause` in words.
    pub fn new(doing: impl Into<String>, cause: impl fmt::Display) -> Error {
        Error { doing: doing.into(), cause: Cause::Lab(cause.to_string()), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    /// A netlink request that failed; a kernel refusal carries its errno, and the hint for
    /// that errno when there is one.
    pub fn kernel(
        doing: impl Into<String>,
        error: netlink::Error,
        hint: impl Fn(i32) -> Option<String>,
    ) -> Error {
        match netlink::errno(&error) {
            Some(errno) => Error {
                doing: doing.into(),
                cause: Cause::Refused(nix::errno::Errno::from_raw(errno)),
                hint: hint(errno).or_else(|| general_hint(errno)),
            },
            None => Error { doing: doing.into(), cause: Cause::Netlink(error), hint: None },
        }
    }

    pub fn io(doing: impl Into<String>, error: std::io::Error) -> Error {
        let hint = error.raw_os_error().and_then(general_hint);
        Error { doing: doing.into(), cause: Cause::Os(OsError(error)), hint }
    }
}

/// A hint for a refusal whatever was being done: without root, that root is needed (as
/// root, EPERM and EACCES mean something else, which the caller's hint says).
fn general_hint(errno: i32) -> Option<String> {
    let root = nix::unistd::geteuid().is_root();
    match errno {
        libc::EPERM | libc::EACCES if !root => Some("lab needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to make namespaces and links; run it as root, or use `lab run --sandbox`".into()),
        _ => None,
    }
}
