//! The resident sandbox: a full kernel that stays up in the background for one user, so
//! that `lab up --sandbox`, `exec`, `verify`, `ls`, `down` and a shell reach the labs inside
//! it. Its directory (`<private dir>/sandbox`, the user's own, mode 0700) holds the keeper's
//! and the kernel's records, the console log, the labs inside (`labs.json`, written by the
//! server) and the job spool (see `job`). The keeper, a detached `lab sandbox keep`, owns
//! the kernel: the kernel dies with it (PDEATHSIG), and it stops the kernel when told, when
//! its directory goes away (the user's runtime directory is removed at logout), and removes
//! the directory when the kernel ends. The server inside powers the kernel off once its last
//! lab is down.

use super::job::{self, Job, Request, Size};
use super::{Error, Kernel, Sandbox, Signals, Started, XSTATE_SHIM, find_kernel, io_error, quote, tail};
use crate::state::State;
use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The kernel's consoles that are terminals (host pseudo-terminals): one per shell or
/// interactive command at a time.
pub const TERMINALS: std::ops::RangeInclusive<u32> = 3..=10;

/// How long a boot may take before it is called failed (a loaded machine boots in seconds).
const BOOT_LIMIT: Duration = Duration::from_secs(180);

/// A resident sandbox that is up.
pub struct Resident {
    home: PathBuf,
    keeper: Started,
}

/// What `lab sandbox status` shows.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub keeper: i32,
    pub kernel: Option<i32>,
    /// Seconds since the epoch.
    pub since: u64,
    pub labs: Vec<String>,
    /// Commands and shells running inside.
    pub jobs: usize,
    /// The kernel's resident memory, KiB.
    pub memory_kib: u64,
    pub console: PathBuf,
}

/// The resident sandbox's directory.
pub fn home() -> Result<PathBuf, Error> {
    Ok(super::private_dir()?.join("sandbox"))
}

impl Resident {
    /// The sandbox that is up, if one is (its keeper runs and its server is ready).
    pub fn running() -> Result<Option<Resident>, Error> {
        let home = home()?;
        let keeper = read_started(&home.join("keeper"));
        Ok(keeper
            .filter(|k| is_mine_and_running(k) && home.join("ready").exists())
            .map(|keeper| Resident { home, keeper }))
    }

    /// Removes what a sandbox whose keeper was killed left (its directory, a kernel process
    /// still running); nothing when one is up or being booted.
    pub fn forget_stale() -> Result<(), Error> {
        let _lock = HomeLock::take()?;
        let home = home()?;
        match read_started(&home.join("keeper")) {
            Some(keeper) if is_mine_and_running(&keeper) => Ok(()),
            _ if home.exists() => clear_stale(&home),
            _ => Ok(()),
        }
    }

    /// The sandbox that is up, or a new one: `booting` is called before a boot.
    pub fn ensure(sandbox: &Sandbox, booting: impl FnOnce()) -> Result<Resident, Error> {
        let _lock = HomeLock::take()?;
        if let Some(up) = Resident::running()?.filter(|r| !r.stopping()) {
            return Ok(up);
        }
        let home = home()?;
        wait_for_keeper_to_end(&home);
        clear_stale(&home)?;
        booting();
        boot(sandbox, &home)
    }

    /// Runs `request` in the sandbox, booting one if none is up (or if the one that was up
    /// stopped before taking it); returns the command's exit status.
    pub fn run_booting(sandbox: &Sandbox, request: &Request, booting: impl Fn()) -> Result<i32, Error> {
        let resident = Resident::ensure(sandbox, &booting)?;
        match resident.run(request)? {
            Ran::Exited(status) => Ok(status),
            Ran::NotTaken => match Resident::ensure(sandbox, &booting)?.run(request)? {
                Ran::Exited(status) => Ok(status),
                Ran::NotTaken => {
                    Err(Error::Crashed("the sandbox stopped twice before taking the command".into()))
                }
            },
        }
    }

    /// Runs `request` in this sandbox and returns the command's exit status.
    pub fn run_here(&self, request: &Request) -> Result<i32, Error> {
        match self.run(request)? {
            Ran::Exited(status) => Ok(status),
            Ran::NotTaken => Err(Error::Crashed(tail(&self.console()))),
        }
    }

    fn run(&self, request: &Request) -> Result<Ran, Error> {
        let job = Job::submit(&self.home.join("jobs"), request)?;
        let ran = match request.terminal {
            Some(_) => self.follow_terminal(&job),
            None => self.follow_files(&job),
        };
        job.remove();
        ran
    }

    /// Relays the job's output files as they grow, and the signals this process gets.
    fn follow_files(&self, job: &Job) -> Result<Ran, Error> {
        let signals = Signals::catch();
        let mut forwarded = 0;
        let mut stdout = Tail::new(job.path("stdout"));
        let mut stderr = Tail::new(job.path("stderr"));
        loop {
            let status = job.status();
            stdout.copy_to(&mut std::io::stdout());
            stderr.copy_to(&mut std::io::stderr());
            if let Some(status) = status {
                return Ok(Ran::Exited(status));
            }
            forward_signals(job, &signals, &mut forwarded);
            if let Some(gone) = self.gone(job) {
                return gone;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Joins this process's terminal to the sandbox terminal the job runs on.
    fn follow_terminal(&self, job: &Job) -> Result<Ran, Error> {
        loop {
            if let Some(console) = job.terminal() {
                let pts = self.terminal_device(console)?;
                let status = super::terminal::attach(&pts, job, || self.keeper_alive())?;
                return match status {
                    Some(status) => Ok(Ran::Exited(status)),
                    None => Err(Error::Crashed(tail(&self.console()))),
                };
            }
            if let Some(status) = job.status() {
                Tail::new(job.path("stderr")).copy_to(&mut std::io::stderr());
                return Ok(Ran::Exited(status));
            }
            if let Some(gone) = self.gone(job) {
                return gone;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// When the keeper is gone: the command was not taken, or the kernel stopped under it.
    fn gone(&self, job: &Job) -> Option<Result<Ran, Error>> {
        if self.keeper_alive() {
            return None;
        }
        if let Some(status) = job.status() {
            return Some(Ok(Ran::Exited(status)));
        }
        Some(match job.claimed() {
            false => Ok(Ran::NotTaken),
            true => Err(Error::Crashed(tail(&self.console()))),
        })
    }

    /// The host pseudo-terminal of console `number`, as the kernel announced it at boot,
    /// checked to be this user's.
    fn terminal_device(&self, number: u32) -> Result<PathBuf, Error> {
        let console = self.console();
        let announced = format!("Virtual console {number} assigned device '");
        let device = console
            .lines()
            .find_map(|line| line.split_once(&announced).map(|(_, rest)| rest.trim_end_matches('\'')))
            .map(PathBuf::from)
            .ok_or_else(|| {
                Error::Crashed(format!("the kernel did not say which terminal console {number} is"))
            })?;
        let mine = std::fs::metadata(&device).is_ok_and(|m| m.uid() == nix::unistd::geteuid().as_raw());
        if !device.starts_with("/dev/pts") || !mine {
            return Err(Error::Unsafe { dir: device, problem: "it is not this user's terminal".into() });
        }
        Ok(device)
    }

    fn keeper_alive(&self) -> bool {
        is_mine_and_running(&self.keeper)
    }

    fn stopping(&self) -> bool {
        self.home.join("stopping").exists() || self.home.join("stop").exists()
    }

    fn console(&self) -> String {
        std::fs::read_to_string(self.home.join("console")).unwrap_or_default()
    }

    /// The labs up inside, as the server last wrote them.
    pub fn labs(&self) -> Vec<State> {
        std::fs::read_to_string(self.home.join("labs.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    pub fn status(&self) -> Status {
        let kernel = read_started(&self.home.join("kernel")).filter(is_mine_and_running);
        let since = std::fs::read_to_string(self.home.join("started"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        let jobs = job::listed(&self.home.join("jobs")).iter().filter(|j| j.status().is_none()).count();
        Status {
            keeper: self.keeper.pid,
            kernel: kernel.map(|k| k.pid),
            since,
            labs: self.labs().into_iter().map(|s| s.lab).collect(),
            jobs,
            memory_kib: kernel.map_or(0, |k| resident_memory(k.pid)),
            console: self.home.join("console"),
        }
    }

    /// Powers the kernel off (every lab inside goes with it) and waits until its keeper has
    /// cleaned up; a kernel that does not answer is killed.
    pub fn stop(self) -> Result<(), Error> {
        std::fs::write(self.home.join("stop"), "").map_err(io_error("asking the sandbox to stop"))?;
        let pid = nix::unistd::Pid::from_raw(self.keeper.pid);
        for (wait, signal) in [
            (Duration::from_secs(30), Some(nix::sys::signal::SIGTERM)),
            (Duration::from_secs(10), Some(nix::sys::signal::SIGKILL)),
            (Duration::from_secs(10), None),
        ] {
            let deadline = Instant::now() + wait;
            while Instant::now() < deadline {
                if !self.keeper_alive() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            match signal {
                Some(signal) if self.keeper_alive() => {
                    let _ = nix::sys::signal::kill(pid, signal);
                }
                _ => {}
            }
        }
        Err(Error::Crashed(format!("the sandbox's keeper (pid {}) did not end", self.keeper.pid)))
    }
}

/// How a job ended, seen from the client.
enum Ran {
    Exited(i32),
    /// The sandbox stopped before taking it.
    NotTaken,
}

/// Hands the signals this process received on to the command inside, each once.
fn forward_signals(job: &Job, signals: &Signals, forwarded: &mut u32) {
    while signals.count() > *forwarded {
        *forwarded += 1;
        job.send("signal", *forwarded, &signals.last().to_string());
    }
}

/// A file another side writes to, read as it grows.
pub(super) struct Tail {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl Tail {
    pub(super) fn new(path: PathBuf) -> Tail {
        Tail { path, file: None }
    }

    /// Copies what was added since the last call.
    pub(super) fn copy_to(&mut self, to: &mut impl std::io::Write) {
        use std::io::Read;
        if self.file.is_none() {
            self.file = std::fs::File::open(&self.path).ok();
        }
        let Some(file) = &mut self.file else { return };
        let mut buffer = [0u8; 16384];
        while let Ok(n @ 1..) = file.read(&mut buffer) {
            let _ = to.write_all(&buffer[..n]);
        }
        let _ = to.flush();
    }
}

/// Boots a new sandbox in `home` (which must be free) and waits until its server is ready.
fn boot(sandbox: &Sandbox, home: &Path) -> Result<Resident, Error> {
    super::owned_private(home, nix::unistd::geteuid().as_raw())?;
    std::fs::create_dir_all(home.join("jobs")).map_err(io_error("making the sandbox's spool"))?;
    let exe = std::env::current_exe().map_err(io_error("finding lab's own binary"))?;
    let mut keeper = Command::new(&exe);
    keeper
        .args(["sandbox", "keep", "--memory", &sandbox.memory])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe: the keeper leaves this terminal's session, so
    // that neither Ctrl-C nor closing the terminal reaches the kernel.
    unsafe {
        keeper.pre_exec(|| nix::unistd::setsid().map(drop).map_err(std::io::Error::from));
    }
    // The first keeper starts the real one and ends at once, so that nothing waits for it.
    let started = keeper.status().map_err(io_error(format!("starting {}", exe.display())))?;
    if !started.success() {
        return Err(Error::Crashed(tail(&std::fs::read_to_string(home.join("console")).unwrap_or_default())));
    }
    wait_until_ready(home)
}

fn wait_until_ready(home: &Path) -> Result<Resident, Error> {
    let begun = Instant::now();
    loop {
        let keeper = read_started(&home.join("keeper"));
        if let Some(up) = Resident::running()? {
            return Ok(up);
        }
        let console = || tail(&std::fs::read_to_string(home.join("console")).unwrap_or_default());
        match keeper {
            Some(k) if !is_mine_and_running(&k) => return Err(Error::Crashed(console())),
            Some(k) if begun.elapsed() > BOOT_LIMIT => {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(k.pid), nix::sys::signal::SIGTERM);
                return Err(Error::TimedOut(BOOT_LIMIT, console()));
            }
            None if begun.elapsed() > Duration::from_secs(10) => {
                return Err(Error::Crashed("the sandbox's keeper did not start".into()));
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The keeper's own work (`lab sandbox keep`): started once in the foreground, it starts
/// itself again detached and returns; the detached one boots the kernel and stays with it.
pub fn keep(sandbox: &Sandbox, detached: bool) -> Result<(), Error> {
    let home = home()?;
    if !detached {
        let exe = std::env::current_exe().map_err(io_error("finding lab's own binary"))?;
        Command::new(exe)
            .args(["sandbox", "keep", "--detached", "--memory", &sandbox.memory])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_error("starting the sandbox's keeper"))?;
        return Ok(());
    }
    let me = Started::of(std::process::id() as i32).ok_or_else(|| Error::Crashed("no /proc".into()))?;
    std::fs::write(home.join("keeper"), me.to_string()).map_err(io_error("recording the keeper"))?;
    let kept = keep_kernel(sandbox, &home);
    if same_directory(&home, identity(&home)) {
        let _ = std::fs::remove_dir_all(&home);
    }
    kept
}

/// Boots the kernel and watches it, its directory and the clients of its jobs, until it
/// ends or must be stopped.
fn keep_kernel(sandbox: &Sandbox, home: &Path) -> Result<(), Error> {
    let kernel = find_kernel()?;
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    std::fs::write(home.join("started"), since.to_string()).map_err(io_error("recording the start"))?;
    std::fs::write(home.join("xstate_shim.so"), XSTATE_SHIM).map_err(io_error("writing the sandbox shim"))?;
    let exe = std::env::current_exe().map_err(io_error("finding lab's own binary"))?;
    let init = home.join("init");
    std::fs::write(&init, init_script(sandbox, &kernel, &exe, home))
        .map_err(io_error("writing the boot script"))?;
    std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755))
        .map_err(io_error("writing the boot script"))?;
    let mut child = start_kernel(sandbox, &kernel, home)?;
    let group = child.id() as i32;
    if let Some(started) = Started::of(group) {
        let _ = std::fs::write(home.join("kernel"), started.to_string());
    }
    let _warden = super::spawn_warden(group);
    let signals = Signals::catch();
    let identity = identity(home);
    let mut hung_up = std::collections::HashSet::new();
    loop {
        if child.try_wait().map_err(io_error("waiting for the sandbox"))?.is_some() {
            break;
        }
        if signals.arrived() || !same_directory(home, identity) {
            super::kill_kernel(group);
            let _ = child.wait();
            break;
        }
        end_abandoned_jobs(&home.join("jobs"), &mut hung_up);
        std::thread::sleep(Duration::from_millis(200));
    }
    // UML runs a host process per process inside, and helpers, all in the kernel's group.
    super::kill_kernel(group);
    Ok(())
}

/// A job whose client was killed gets a hang-up (as a terminal closing would give it), and
/// its directory is removed once it has ended.
fn end_abandoned_jobs(jobs: &Path, hung_up: &mut std::collections::HashSet<PathBuf>) {
    for job in job::listed(jobs).into_iter().filter(Job::abandoned) {
        if job.status().is_some() {
            job.remove();
            hung_up.remove(&job.dir);
        } else if hung_up.insert(job.dir.clone()) {
            let next = (1..).find(|n| job.message("signal", *n).is_none()).unwrap_or(1);
            job.send("signal", next, &libc::SIGHUP.to_string());
        }
    }
}

fn start_kernel(sandbox: &Sandbox, kernel: &Kernel, home: &Path) -> Result<std::process::Child, Error> {
    let console =
        std::fs::File::create(home.join("console")).map_err(io_error("creating the console log"))?;
    let console_err = console.try_clone().map_err(io_error("creating the console log"))?;
    let mut command = Command::new(&kernel.binary);
    command
        .arg(format!("mem={}", sandbox.memory))
        .args(["root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw"])
        .arg(format!("init={}", home.join("init").display()))
        .args(["con=null", "con0=fd:0,fd:1"])
        .args(TERMINALS.map(|n| format!("con{n}=pts")))
        .arg(format!("umid=lab-{}", nix::unistd::geteuid()))
        .arg(format!("uml_dir={}", home.display()))
        .env("LD_PRELOAD", home.join("xstate_shim.so"))
        .stdin(Stdio::null())
        .stdout(console)
        .stderr(console_err)
        .process_group(0);
    // SAFETY: prctl is async-signal-safe. The kernel dies with the keeper, even when that is
    // killed by SIGKILL.
    unsafe {
        command.pre_exec(|| match libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
    command.spawn().map_err(io_error(format!("starting {}", kernel.binary.display())))
}

/// The resident kernel's init: the common prelude, then the server, then power off.
fn init_script(sandbox: &Sandbox, kernel: &Kernel, exe: &Path, home: &Path) -> String {
    let mut s = sandbox.prelude(kernel, home);
    s.push_str("hostname lab-sandbox; cd /\n");
    let _ = writeln!(
        s,
        "{} sandbox serve {} < /dev/null",
        quote(&exe.display().to_string()),
        quote(&home.display().to_string())
    );
    s.push_str("poweroff -f\n");
    s
}

/// Waits (a while) for a keeper that is stopping to finish its cleanup.
fn wait_for_keeper_to_end(home: &Path) {
    let Some(keeper) = read_started(&home.join("keeper")) else { return };
    let deadline = Instant::now() + Duration::from_secs(30);
    while is_mine_and_running(&keeper) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes what a sandbox whose keeper is gone left behind, stopping its kernel if that
/// still runs (and is still the very process recorded).
fn clear_stale(home: &Path) -> Result<(), Error> {
    if let Some(keeper) = read_started(&home.join("keeper")).filter(is_mine_and_running) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(keeper.pid), nix::sys::signal::SIGKILL);
    }
    if let Some(kernel) = read_started(&home.join("kernel")) {
        super::kill_recorded(kernel);
    }
    match std::fs::remove_dir_all(home) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error("clearing the old sandbox")(e)),
        _ => Ok(()),
    }
}

fn read_started(path: &Path) -> Option<Started> {
    std::fs::read_to_string(path).ok()?.parse().ok()
}

/// Whether this very process (same pid and start time) still runs as this user.
fn is_mine_and_running(process: &Started) -> bool {
    let mine = std::fs::metadata(format!("/proc/{}", process.pid))
        .is_ok_and(|m| m.uid() == nix::unistd::geteuid().as_raw());
    mine && Started::of(process.pid) == Some(*process)
}

/// The directory's device and inode.
fn identity(dir: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

fn same_directory(dir: &Path, was: Option<(u64, u64)>) -> bool {
    was.is_some() && identity(dir) == was
}

/// VmRSS of a process, KiB.
fn resident_memory(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Serializes booting and clearing between this user's processes.
struct HomeLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

impl HomeLock {
    fn take() -> Result<HomeLock, Error> {
        let path = super::private_dir()?.join("sandbox.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error("locking the sandbox"))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map(HomeLock)
            .map_err(|(_, e)| io_error("locking the sandbox")(e.into()))
    }
}

/// A request for this very process's command line, run again inside.
pub fn request_for(args: Vec<String>, terminal: Option<Size>) -> Result<Request, Error> {
    let cwd = std::env::current_dir().map_err(io_error("reading the working directory"))?;
    Ok(Request { args, cwd, env: passed_environment(), terminal, client: job::this_client() })
}

/// The variables a command inside gets from the caller: the terminal's, the locale's, and
/// lab's own; and a PATH on which `lab` is this very binary.
fn passed_environment() -> Vec<(String, String)> {
    let standard = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let path = match std::env::current_exe().ok().as_deref().and_then(Path::parent) {
        Some(dir) => format!("{}:{standard}", dir.display()),
        None => standard.to_string(),
    };
    std::env::vars()
        .filter(|(key, _)| {
            ["TERM", "COLORTERM", "NO_COLOR", "COLUMNS", "LINES", "LANG", "RUST_BACKTRACE", "RUST_LOG"]
                .contains(&key.as_str())
                || key.starts_with("LC_")
                || (key.starts_with("LAB_") && key != super::INSIDE)
        })
        .chain([("PATH".to_string(), path)])
        .collect()
}
