//! This process's terminal joined to one of the resident sandbox's terminals (a host
//! pseudo-terminal the kernel holds the other end of): keys go in, the screen comes out,
//! the window's size follows, until the command inside ends. The caller's terminal is put
//! in raw mode meanwhile (so Ctrl-C reaches the command inside) and restored after.

use super::job::Job;
use super::{Error, Signals, io_error};
use nix::sys::termios::{self, SetArg, Termios};
use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static RESIZED: AtomicBool = AtomicBool::new(false);

extern "C" fn note_resize(_: libc::c_int) {
    RESIZED.store(true, Ordering::SeqCst);
}

/// Relays between this process's stdin/stdout and `device` until the job has a status
/// (returned), or `alive` says the sandbox is gone (`None`).
pub fn attach(device: &Path, job: &Job, alive: impl Fn() -> bool) -> Result<Option<i32>, Error> {
    let mut terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(device)
        .map_err(io_error(format!("opening the sandbox's terminal {}", device.display())))?;
    make_raw(terminal.as_fd())
        .map_err(|e| io_error("setting up the sandbox's terminal")(std::io::Error::from(e)))?;
    let _restore = RawMode::enter();
    let signals = Signals::catch();
    watch_resizes();
    let mut forwarded = 0;
    let mut sizes = 0;
    let mut stdin_open = true;
    let stdin = std::io::stdin();
    loop {
        if let Some(status) = job.status() {
            drain(&mut terminal);
            return Ok(Some(status));
        }
        if !alive() {
            return Ok(None);
        }
        if RESIZED.swap(false, Ordering::SeqCst)
            && let Some(size) = own_size()
        {
            sizes += 1;
            job.send("size", sizes, &format!("{} {}", size.rows, size.cols));
        }
        while signals.count() > forwarded {
            forwarded += 1;
            job.send("signal", forwarded, &signals.last().to_string());
        }
        let ready = wait_readable(&[Some(terminal.as_fd()), stdin_open.then(|| stdin.as_fd())]);
        if ready[0] {
            copy_once(&mut terminal, &mut std::io::stdout());
        }
        if ready[1] && !copy_once(&mut stdin.lock(), &mut terminal) {
            stdin_open = false;
        }
    }
}

/// The size of this process's terminal, if it has one.
pub fn own_size() -> Option<super::job::Size> {
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills the winsize it is given.
    let got = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (got == 0 && size.ws_row > 0).then_some(super::job::Size { rows: size.ws_row, cols: size.ws_col })
}

fn watch_resizes() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(SigHandler::Handler(note_resize), SaFlags::SA_RESTART, SigSet::empty());
    // SAFETY: the handler only stores to an atomic.
    let _ = unsafe { sigaction(Signal::SIGWINCH, &action) };
}

/// Which of `fds` can be read within 50 ms.
fn wait_readable(fds: &[Option<BorrowedFd>; 2]) -> [bool; 2] {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let (slots, mut list): (Vec<usize>, Vec<PollFd>) = fds
        .iter()
        .enumerate()
        .filter_map(|(n, fd)| Some((n, PollFd::new((*fd)?, PollFlags::POLLIN))))
        .unzip();
    let mut ready = [false; 2];
    if poll(&mut list, PollTimeout::from(50u16)).is_ok() {
        for (n, p) in slots.into_iter().zip(&list) {
            ready[n] = p.revents().is_some_and(|r| !r.is_empty());
        }
    }
    ready
}

/// One read and its write; false at the end of the input.
fn copy_once(from: &mut impl Read, to: &mut impl Write) -> bool {
    let mut buffer = [0u8; 4096];
    match from.read(&mut buffer) {
        Ok(0) => false,
        Ok(n) => {
            let _ = to.write_all(&buffer[..n]).and_then(|()| to.flush());
            true
        }
        Err(e) => e.kind() == std::io::ErrorKind::Interrupted || e.kind() == std::io::ErrorKind::WouldBlock,
    }
}

/// What the command printed just before it ended.
fn drain(terminal: &mut std::fs::File) {
    std::thread::sleep(Duration::from_millis(50));
    while wait_readable(&[Some(terminal.as_fd()), None])[0] && copy_once(terminal, &mut std::io::stdout()) {}
}

/// Our end of the sandbox's terminal passes bytes as they are: the terminal inside does
/// the echoing and line editing.
fn make_raw(fd: BorrowedFd) -> nix::Result<()> {
    let mut mode = termios::tcgetattr(fd)?;
    termios::cfmakeraw(&mut mode);
    termios::tcsetattr(fd, SetArg::TCSANOW, &mode)
}

/// This process's terminal in raw mode, restored when dropped.
struct RawMode(Option<Termios>);

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return RawMode(None);
        }
        let saved = termios::tcgetattr(stdin.as_fd()).ok();
        if saved.is_some() {
            let _ = make_raw(stdin.as_fd());
        }
        RawMode(saved)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

use std::os::unix::fs::OpenOptionsExt;
