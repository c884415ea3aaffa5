//! A full kernel on demand: boots user-mode Linux (Debian's `user-mode-linux`) on the host's
//! own filesystem, loads the network modules, runs one command as root inside, and returns
//! its exit status and output. Needs neither root nor KVM. Used by `lab run --sandbox` and
//! by the test suite when this kernel lacks a link kind. The command's stdout and stderr
//! reach this process through two extra UML consoles backed by pipes, as they are written.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod job;
mod resident;
mod serve;
mod terminal;

pub use job::Size;
pub use resident::{Resident, Status, keep, request_for};
pub use serve::serve;
pub use terminal::own_size;

/// Set inside the sandbox, so that a program can tell where it runs.
pub const INSIDE: &str = "LAB_SANDBOX";

/// The ptrace shim that lets UML run on hosts with large XSAVE state (AVX-512, AMX).
const XSTATE_SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xstate_shim.so"));

/// Modules loaded at boot: every link kind lab makes, and IPv6.
/// The modules the sandbox loads: IPv6 and every link kind's.
pub fn modules() -> Vec<&'static str> {
    std::iter::once("ipv6").chain(crate::kind::Kind::modules()).collect()
}

pub fn inside() -> bool {
    std::env::var_os(INSIDE).is_some()
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the full kernel is not installed: {0} not found (apt-get install user-mode-linux kmod)")]
    Missing(String),
    #[error("{doing}")]
    Io {
        doing: String,
        #[source]
        source: crate::kernel::OsError,
    },
    #[error("the sandbox did not finish within {0:?}; its console ended with:\n{1}")]
    TimedOut(Duration, String),
    #[error(
        "the sandbox kernel stopped without running the command to its end; its console ended with:\n{0}"
    )]
    Crashed(String),
    #[error("interrupted: the sandbox kernel was stopped")]
    Interrupted,
    #[error(
        "refusing {dir} for the sandbox's files: {problem}; remove it, or set XDG_RUNTIME_DIR to a directory of your own"
    )]
    Unsafe { dir: PathBuf, problem: String },
}

fn io_error(doing: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let doing = doing.into();
    move |source| Error::Io { doing, source: source.into() }
}

/// What the command inside printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub status: i32,
    /// Empty when the output was passed through.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The kernel's console: boot messages, module loading.
    pub console: String,
    pub elapsed: Duration,
}

#[derive(Clone, Debug)]
pub struct Sandbox {
    pub memory: String,
    pub timeout: Duration,
    /// Variables set for the command, besides `LAB_SANDBOX=1` and `PATH`.
    pub env: Vec<(String, String)>,
    /// Modules of `modules()` to leave out, as a kernel without them would be; automatic
    /// module loading is then off too.
    pub without: Vec<String>,
    /// The command's stdout and stderr go to this process's own as they are written,
    /// instead of into `Output`.
    pub pass_through: bool,
}

impl Default for Sandbox {
    fn default() -> Self {
        let mut env = Vec::new();
        for key in ["RUST_BACKTRACE", "RUST_LOG", "PROPTEST_CASES"] {
            if let Ok(value) = std::env::var(key) {
                env.push((key.to_string(), value));
            }
        }
        Sandbox {
            memory: "1G".into(),
            timeout: Duration::from_secs(600),
            env,
            without: Vec::new(),
            pass_through: false,
        }
    }
}

/// The UML kernel and its modules directory.
struct Kernel {
    binary: PathBuf,
    modules: PathBuf,
}

fn find_kernel() -> Result<Kernel, Error> {
    let binary = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("linux.uml")).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin/linux.uml")])
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Missing("linux.uml".into()))?;
    let modules_root = Path::new("/usr/lib/uml/modules");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(modules_root)
        .map_err(|_| Error::Missing(modules_root.display().to_string()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.is_dir())
        .collect();
    versions.sort();
    let modules =
        versions.pop().ok_or_else(|| Error::Missing(format!("{}/<version>", modules_root.display())))?;
    Ok(Kernel { binary, modules })
}

/// Whether the sandbox can run here at all.
pub fn available() -> Result<(), Error> {
    find_kernel().map(|_| ())
}

impl Sandbox {
    /// Boots the kernel, runs `command` in `cwd` as root inside it, and powers off.
    pub fn run(&self, command: &[String], cwd: &Path) -> Result<Output, Error> {
        let kernel = find_kernel()?;
        reap_abandoned();
        let dir = Workdir::new()?;
        std::fs::write(dir.path("xstate_shim.so"), XSTATE_SHIM)
            .map_err(io_error("writing the sandbox shim"))?;
        let init = dir.path("init");
        std::fs::write(&init, self.init_script(&kernel, command, cwd, &dir.0))
            .map_err(io_error("writing the boot script"))?;
        std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755))
            .map_err(io_error("writing the boot script"))?;
        let started = Instant::now();
        let (stdout_read, stdout_write) = pipe()?;
        let (stderr_read, stderr_write) = pipe()?;
        let pass_through = self.pass_through;
        let stdout = relay(stdout_read, pass_through.then_some(Stream::Stdout));
        let stderr = relay(stderr_read, pass_through.then_some(Stream::Stderr));
        let booted = self.boot(&kernel, &dir, [stdout_write, stderr_write]);
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        booted?;
        let console = std::fs::read_to_string(dir.path("console")).unwrap_or_default();
        let status = std::fs::read_to_string(dir.path("status")).ok().and_then(|s| s.trim().parse().ok());
        let Some(status) = status else { return Err(Error::Crashed(tail(&console))) };
        Ok(Output { status, stdout, stderr, console, elapsed: started.elapsed() })
    }

    /// Runs the kernel to its end; `outputs` become its consoles 1 and 2 (fds 3 and 4).
    fn boot(&self, kernel: &Kernel, dir: &Workdir, outputs: [OwnedFd; 2]) -> Result<(), Error> {
        let console =
            std::fs::File::create(dir.path("console")).map_err(io_error("creating the console log"))?;
        let console_err = console.try_clone().map_err(io_error("creating the console log"))?;
        let mut command = Command::new(&kernel.binary);
        command
            .arg(format!("mem={}", self.memory))
            .args(["root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw"])
            .arg(format!("init={}", dir.path("init").display()))
            .args(["con=null", "con0=fd:0,fd:1", "con1=fd:3", "con2=fd:4"])
            .arg(format!("umid={}", dir.0.file_name().and_then(|n| n.to_str()).unwrap_or("lab")))
            .arg(format!("uml_dir={}", dir.0.display()))
            .env("LD_PRELOAD", dir.path("xstate_shim.so"))
            .stdin(Stdio::piped())
            .stdout(console)
            .stderr(console_err)
            .process_group(0);
        let fds = outputs.each_ref().map(|o| o.as_raw_fd());
        // SAFETY: prctl, fcntl and dup2 are async-signal-safe. The kernel dies with the
        // thread that started it (this one, which waits for it below), even when that is
        // killed by SIGKILL. The pipes are first copied above fd 10, so that placing them at
        // 3 and 4 cannot overwrite one with the other.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                for (fd, console) in [(fds[0], 3), (fds[1], 4)] {
                    let high = libc::fcntl(fd, libc::F_DUPFD, 10);
                    if high < 0 || libc::dup2(high, console) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let spawned = command.spawn();
        // The kernel holds the write ends now: the relays see the end when it stops.
        drop(outputs);
        let mut child = spawned.map_err(io_error(format!("starting {}", kernel.binary.display())))?;
        // Recorded so that a later run can stop this kernel should this process be killed.
        if let Some(started) = Started::of(child.id() as i32) {
            let _ = std::fs::write(dir.path("kernel"), started.to_string());
        }
        let _warden = spawn_warden(child.id() as i32);
        let signals = Signals::catch();
        let deadline = Instant::now() + self.timeout;
        loop {
            if child.try_wait().map_err(io_error("waiting for the sandbox"))?.is_some() {
                return Ok(());
            }
            let interrupted = signals.arrived();
            if interrupted || Instant::now() > deadline {
                // UML runs a host process per guest process, all in the kernel's group.
                let group = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::SIGKILL);
                let _ = child.wait();
                if interrupted {
                    return Err(Error::Interrupted);
                }
                let console = std::fs::read_to_string(dir.path("console")).unwrap_or_default();
                return Err(Error::TimedOut(self.timeout, tail(&console)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The init process of the sandbox: mounts, modules, the command, its status, power off.
    fn init_script(&self, kernel: &Kernel, command: &[String], cwd: &Path, dir: &Path) -> String {
        let d = quote(&dir.display().to_string());
        let mut s = self.prelude(kernel, dir);
        let _ = writeln!(s, "cd {} || exit 1", quote(&cwd.display().to_string()));
        // Consoles 1 and 2 carry the command's output, raw (no \r added, no echo). The
        // command writes into pipes, not to the consoles, so that it does not take itself
        // for a program on a terminal.
        s.push_str(
            "stty -F /run/lab-dev/tty1 raw -echo && stty -F /run/lab-dev/tty2 raw -echo || poweroff -f\n",
        );
        let args: Vec<String> = command.iter().map(|a| quote(a)).collect();
        let _ = writeln!(
            s,
            "{{ {{ {} < /dev/null; echo $? > {d}/status; }} | cat > /run/lab-dev/tty1; }} 2>&1 | cat > /run/lab-dev/tty2",
            args.join(" ")
        );
        s.push_str("poweroff -f\n");
        s
    }

    /// What every boot script starts with: /proc, /sys, a fresh /run (with `dir`, the
    /// sandbox's own directory on the host, seen through it again when it lies under /run,
    /// as `$XDG_RUNTIME_DIR` does), the kernel's modules, the environment, and the
    /// kernel's devices under /run/lab-dev.
    fn prelude(&self, kernel: &Kernel, dir: &Path) -> String {
        let d = quote(&dir.display().to_string());
        let mut s = String::from("#!/bin/sh\n");
        s.push_str("export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
        s.push_str("mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t tmpfs tmp /run\n");
        if dir.starts_with("/run") {
            let _ = writeln!(s, "mkdir -p {d} && mount -t hostfs none {d} -o {d} || poweroff -f");
        }
        s.push_str("mkdir -p /run/netns /run/lock; mount -t tmpfs tmp /dev/shm 2>/dev/null\n");
        s.push_str("mount -t tmpfs tmp /lib/modules; mkdir -p /lib/modules/$(uname -r)\n");
        let _ = writeln!(
            s,
            "mount --bind {} /lib/modules/$(uname -r)",
            quote(&kernel.modules.display().to_string())
        );
        let modules: Vec<&str> =
            modules().into_iter().filter(|m| !self.without.iter().any(|w| w == m)).collect();
        let _ = writeln!(s, "for m in {}; do modprobe $m; done", modules.join(" "));
        if !self.without.is_empty() {
            s.push_str("echo /nonexistent > /proc/sys/kernel/modprobe\n");
        }
        let _ = writeln!(s, "export {INSIDE}=1");
        for (key, value) in &self.env {
            let _ = writeln!(s, "export {key}={}", quote(value));
        }
        s.push_str("mkdir /run/lab-dev && mount -t devtmpfs dev /run/lab-dev || poweroff -f\n");
        s
    }
}

/// SIGINT, SIGTERM and SIGHUP caught while the kernel runs (the kernel is in its own
/// process group, so a terminal's Ctrl-C reaches only this process), counted, the last one
/// kept; the previous handlers come back when this is dropped.
struct Signals(Vec<(nix::sys::signal::Signal, nix::sys::signal::SigAction)>);

static SIGNALS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static LAST_SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn note_signal(signal: libc::c_int) {
    LAST_SIGNAL.store(signal, std::sync::atomic::Ordering::SeqCst);
    SIGNALS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

impl Signals {
    fn catch() -> Signals {
        use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
        SIGNALS.store(0, std::sync::atomic::Ordering::SeqCst);
        let action = SigAction::new(SigHandler::Handler(note_signal), SaFlags::empty(), SigSet::empty());
        let mut previous = Vec::new();
        for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            // SAFETY: the handler only stores to atomics, which is async-signal-safe.
            if let Ok(old) = unsafe { sigaction(signal, &action) } {
                previous.push((signal, old));
            }
        }
        Signals(previous)
    }

    fn arrived(&self) -> bool {
        self.count() > 0
    }

    /// How many have arrived since `catch`.
    fn count(&self) -> u32 {
        SIGNALS.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The one that arrived last.
    fn last(&self) -> i32 {
        LAST_SIGNAL.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for (signal, old) in &self.0 {
            // SAFETY: puts back the handler that was there before.
            let _ = unsafe { nix::sys::signal::sigaction(*signal, old) };
        }
    }
}

/// A pipe, both ends closed on exec.
fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| io_error("making the output pipes")(io::Error::from(e)))
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Copies one output of the command as it comes: to this process's own `to`, or, without
/// one, into memory (returned at the end).
fn relay(from: OwnedFd, to: Option<Stream>) -> std::thread::JoinHandle<Vec<u8>> {
    let mut from = std::fs::File::from(from);
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let _ = match to {
                Some(Stream::Stdout) => write_through(&mut io::stdout().lock(), &buffer[..n]),
                Some(Stream::Stderr) => write_through(&mut io::stderr().lock(), &buffer[..n]),
                None => {
                    kept.extend_from_slice(&buffer[..n]);
                    Ok(())
                }
            };
        }
        kept
    })
}

fn write_through(to: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    to.write_all(bytes)?;
    to.flush()
}

/// Single-quoted for sh.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

/// Kernels whose runner was killed (SIGKILL leaves no chance to clean up): each work
/// directory, in this user's own private directory, names its runner's pid and records its
/// kernel (pid and start time); when the runner is gone, the kernel's process group is
/// stopped, but only if that pid is still the very process recorded (same start time, same
/// owner, still `linux.uml`), and the directory is removed.
fn reap_abandoned() {
    let Ok(base) = private_dir() else { return };
    let Ok(entries) = std::fs::read_dir(&base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(runner) =
            name.strip_prefix("boot-").and_then(|rest| rest.split('-').next()?.parse::<i32>().ok())
        else {
            continue;
        };
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(runner), None).is_ok() {
            continue;
        }
        let recorded =
            std::fs::read_to_string(entry.path().join("kernel")).ok().and_then(|t| t.parse::<Started>().ok());
        if let Some(kernel) = recorded {
            kill_recorded(kernel);
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

/// This user's `linux.uml` processes in process group `group` (a kernel runs one per process
/// inside, and helpers, all in the group of its first).
fn kernel_processes(group: i32) -> Vec<i32> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let in_group = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(2))
                == Some(&group.to_string());
            let mine = std::fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == me);
            let kernel = std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|exe| exe.file_name().is_some_and(|n| n == "linux.uml"));
            in_group && mine && kernel
        })
        .collect()
}

/// Starts a watcher that, when this thread ends (even by SIGKILL), kills what is left of the
/// kernel whose group is `group`: the kernel itself dies with this thread, but its helper
/// processes would not. It ends by itself once the group is empty. A group's number cannot
/// be given to another process while the group has members, so the kill cannot reach
/// another group. Dropped once the kernel has ended, it is stopped and waited for.
struct Warden(Option<std::process::Child>);

impl Drop for Warden {
    fn drop(&mut self) {
        if let Some(mut warden) = self.0.take() {
            let _ = warden.kill();
            let _ = warden.wait();
        }
    }
}

fn spawn_warden(group: i32) -> Warden {
    let script = format!(
        "trap 'kill -9 -{group} 2>/dev/null; exit 0' TERM\n\
         while kill -0 -{group} 2>/dev/null; do sleep 1 & wait $!; done\n"
    );
    let mut warden = Command::new("/bin/sh");
    warden.args(["-c", &script]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    warden.process_group(0);
    // SAFETY: prctl is async-signal-safe; the death signal survives the exec of sh.
    unsafe {
        warden.pre_exec(|| match libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        });
    }
    Warden(warden.spawn().ok())
}

/// Kills what is left of a kernel recorded as `kernel` (its first process, whose number is
/// its group's): when that process still runs, or is gone without its number being reused.
fn kill_recorded(kernel: Started) {
    let reused = !kernel.is_still_running() && Path::new(&format!("/proc/{}", kernel.pid)).exists();
    if !reused {
        kill_kernel(kernel.pid);
    }
}

/// Kills every process of the kernel whose group is `group`, and nothing else.
fn kill_kernel(group: i32) {
    for pid in kernel_processes(group) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    }
}

/// A process as it was started: its pid and its start time (clock ticks since boot, from
/// /proc/PID/stat), which together name one process even after the pid is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Started {
    pid: i32,
    ticks: u64,
}

impl Started {
    fn of(pid: i32) -> Option<Started> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may hold spaces: fields count from its end.
        let after = stat.rsplit_once(')')?.1;
        // A zombie has ended: only its parent's wait is missing.
        if matches!(after.split_whitespace().next(), Some("Z" | "X")) {
            return None;
        }
        let ticks = after.split_whitespace().nth(19)?.parse().ok()?;
        Some(Started { pid, ticks })
    }

    /// Whether this very process still runs, as this user's `linux.uml`.
    fn is_still_running(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let mine = std::fs::metadata(format!("/proc/{}", self.pid))
            .is_ok_and(|m| m.uid() == nix::unistd::geteuid().as_raw());
        let kernel = std::fs::read_link(format!("/proc/{}/exe", self.pid))
            .is_ok_and(|exe| exe.file_name().is_some_and(|n| n == "linux.uml"));
        mine && kernel && Started::of(self.pid) == Some(*self)
    }
}

impl std::fmt::Display for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.pid, self.ticks)
    }
}

impl std::str::FromStr for Started {
    type Err = ();
    fn from_str(text: &str) -> Result<Started, ()> {
        let (pid, ticks) = text.trim().split_once(' ').ok_or(())?;
        Ok(Started { pid: pid.parse().map_err(|_| ())?, ticks: ticks.parse().map_err(|_| ())? })
    }
}

/// This user's own directory for sandbox work: `$XDG_RUNTIME_DIR/lab` when that is set,
/// else `/tmp/lab-<uid>`; made mode 0700 if missing, and refused unless it is a real
/// directory (not a link) owned by this user that nobody else may write to.
pub fn private_dir() -> Result<PathBuf, Error> {
    use std::os::unix::fs::MetadataExt;
    let uid = nix::unistd::geteuid().as_raw();
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|dir| {
        dir.is_absolute() && std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && m.uid() == uid)
    });
    let base = match runtime {
        Some(runtime) => runtime.join("lab"),
        None => std::env::temp_dir().join(format!("lab-{uid}")),
    };
    owned_private(&base, uid)?;
    Ok(base)
}

/// Makes `dir` (mode 0700) unless it exists, then checks that it is a directory, not a
/// symbolic link, owned by `uid`, with no access for group or others.
fn owned_private(dir: &Path, uid: u32) -> Result<(), Error> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let doing = format!("using {} for the sandbox's files", dir.display());
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::Io { doing, source: e.into() }),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io_error(doing.clone()))?;
    let problem = if !meta.file_type().is_dir() {
        Some("it is not a directory (a link, or a file)".to_string())
    } else if meta.uid() != uid {
        Some(format!("it belongs to user {}, not to this user ({uid})", meta.uid()))
    } else if meta.mode() & 0o077 != 0 {
        Some(format!("others may use it (mode {:o})", meta.mode() & 0o777))
    } else {
        None
    };
    match problem {
        Some(problem) => Err(Error::Unsafe { dir: dir.to_path_buf(), problem }),
        None => Ok(()),
    }
}

/// A private directory for one boot, removed afterwards.
struct Workdir(PathBuf);

impl Workdir {
    fn new() -> Result<Workdir, Error> {
        let base = private_dir()?;
        for attempt in 0..100u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let dir = base.join(format!("boot-{}-{nanos:x}-{attempt}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(Workdir(dir)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_error("creating the sandbox directory")(e)),
            }
        }
        Err(Error::Io {
            doing: "creating the sandbox directory".into(),
            source: io::Error::other("no free name").into(),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lab-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&dir);
        dir
    }

    #[test]
    fn the_private_directory_is_made_mine_and_others_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let uid = nix::unistd::geteuid().as_raw();
        let fresh = scratch("fresh");
        owned_private(&fresh, uid).expect("a missing directory is made");
        assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o700);
        let open = scratch("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(owned_private(&open, uid), Err(Error::Unsafe { .. })), "mode 0777 is refused");
        assert!(
            matches!(owned_private(&fresh, uid + 1), Err(Error::Unsafe { .. })),
            "another owner is refused"
        );
        let link = scratch("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        assert!(matches!(owned_private(&link, uid), Err(Error::Unsafe { .. })), "a link is refused");
        for path in [&fresh, &open] {
            std::fs::remove_dir(path).unwrap();
        }
        std::fs::remove_file(&link).unwrap();
    }

    #[test]
    fn a_process_is_known_by_pid_and_start_time() {
        let me = Started::of(std::process::id() as i32).expect("this process has a stat");
        assert_eq!(me.to_string().parse::<Started>(), Ok(me));
        assert!(!me.is_still_running(), "this process is not linux.uml");
        let other = Started { ticks: me.ticks + 1, ..me };
        assert_ne!(Started::of(me.pid), Some(other), "another start time is another process");
    }
}
