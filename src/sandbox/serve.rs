//! The server inside the resident sandbox (`lab sandbox serve DIR`, run by its init as
//! root of that kernel): takes each job of the spool once, runs it (with its output in
//! files, or on a free terminal), hands on its signals and window sizes, writes its status,
//! keeps `labs.json` (the labs up inside) current, and returns, so that the kernel powers
//! off, when told to stop or once no lab is up and nothing runs.

use super::job::{self, Job, Request};
use super::resident::TERMINALS;
use super::{Error, io_error};
use std::collections::HashSet;
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a sandbox that never got a job waits for its first one.
const FIRST_JOB_WAIT: Duration = Duration::from_secs(60);

/// One command running inside.
struct Running {
    job: Job,
    child: Child,
    /// The console it runs on, and that terminal, for terminal jobs.
    terminal: Option<(u32, std::fs::File)>,
    signals: u32,
    sizes: u32,
}

pub fn serve(home: &Path) -> Result<(), Error> {
    let jobs = home.join("jobs");
    let mut taken: HashSet<std::path::PathBuf> = HashSet::new();
    let mut running: Vec<Running> = Vec::new();
    let mut labs = Labs::default();
    labs.refresh(home);
    std::fs::write(home.join("ready"), "").map_err(io_error("saying the sandbox is ready"))?;
    let started = Instant::now();
    let mut served = false;
    let mut last_refresh = Instant::now();
    loop {
        if home.join("stop").exists() {
            break;
        }
        for job in job::listed(&jobs) {
            if !taken.insert(job.dir.clone()) {
                continue;
            }
            if let Some(started) = start(job, &running) {
                running.push(started);
            }
        }
        let mut index = 0;
        while index < running.len() {
            running[index].pass_messages();
            match running[index].exited() {
                Some(status) => {
                    let ended = running.remove(index);
                    labs.refresh(home);
                    let _ = ended.job.answer("status", &status.to_string());
                    served = true;
                }
                None => index += 1,
            }
        }
        if last_refresh.elapsed() > Duration::from_secs(1) {
            labs.refresh(home);
            last_refresh = Instant::now();
        }
        let idle = running.is_empty() && labs.count == 0;
        if idle && (served || started.elapsed() > FIRST_JOB_WAIT) && nothing_waiting(home, &jobs, &taken) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for mut left in running {
        let _ = nix::sys::signal::killpg(left.group(), nix::sys::signal::SIGKILL);
        let _ = left.child.wait();
    }
    Ok(())
}

/// Says the kernel is stopping, then looks once more for a job that came meanwhile: a
/// client that submits after this sees `stopping` and boots another sandbox.
fn nothing_waiting(home: &Path, jobs: &Path, taken: &HashSet<std::path::PathBuf>) -> bool {
    let _ = std::fs::write(home.join("stopping"), "");
    if job::listed(jobs).iter().any(|j| !taken.contains(&j.dir)) {
        let _ = std::fs::remove_file(home.join("stopping"));
        return false;
    }
    true
}

/// Starts a job, or answers it at once with why it cannot run.
fn start(job: Job, running: &[Running]) -> Option<Running> {
    let Some(request) = job.request() else {
        refuse(&job, "lab sandbox: the job's request could not be read\n");
        return None;
    };
    let started = match request.terminal {
        Some(size) => start_on_terminal(&job, &request, size, running),
        None => start_with_files(&job, &request),
    };
    match started {
        Ok(running) => {
            let _ = job.answer("claimed", "");
            Some(running)
        }
        Err(why) => {
            refuse(&job, &format!("lab sandbox: {why}\n"));
            None
        }
    }
}

fn refuse(job: &Job, why: &str) {
    let _ = std::fs::write(job.path("stderr"), why);
    let _ = job.answer("claimed", "");
    let _ = job.answer("status", "127");
}

fn command(request: &Request) -> Result<Command, String> {
    let program = request.args.first().ok_or("the job names no command")?;
    let mut command = Command::new(program);
    command.args(&request.args[1..]).current_dir(&request.cwd);
    command.envs(request.env.iter().map(|(k, v)| (k, v)));
    Ok(command)
}

fn start_with_files(job: &Job, request: &Request) -> Result<Running, String> {
    let create = |name: &str| std::fs::File::create(job.path(name)).map_err(|e| format!("{name}: {e}"));
    let (stdout, stderr) = (create("stdout")?, create("stderr")?);
    let child = command(request)?
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{}: {e}", request.args[0]))?;
    Ok(Running { job: job.clone(), child, terminal: None, signals: 0, sizes: 0 })
}

/// Runs the command as the leader of a new session whose terminal is a free console.
fn start_on_terminal(
    job: &Job,
    request: &Request,
    size: job::Size,
    running: &[Running],
) -> Result<Running, String> {
    let busy: Vec<u32> = running.iter().filter_map(|r| r.terminal.as_ref().map(|t| t.0)).collect();
    let console = TERMINALS
        .clone()
        .find(|n| !busy.contains(n))
        .ok_or(format!("all {} of the sandbox's terminals are in use", TERMINALS.count()))?;
    let device = format!("/run/lab-dev/tty{console}");
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&device)
        .map_err(|e| format!("{device}: {e}"))?;
    prepare(&tty, size);
    let io = |file: &std::fs::File| file.try_clone().map(Stdio::from).map_err(|e| e.to_string());
    let mut command = command(request)?;
    command.stdin(io(&tty)?).stdout(io(&tty)?).stderr(io(&tty)?);
    // SAFETY: setsid and ioctl are async-signal-safe: the command leads a new session
    // whose controlling terminal is the console (its stdin).
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 1) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| format!("{}: {e}", request.args[0]))?;
    job.answer("terminal", &console.to_string()).map_err(|e| e.to_string())?;
    Ok(Running { job: job.clone(), child, terminal: Some((console, tty)), signals: 0, sizes: 0 })
}

/// A console as a fresh terminal: nothing typed ahead, the usual line editing, this size.
fn prepare(tty: &std::fs::File, size: job::Size) {
    use nix::sys::termios::{self, InputFlags, LocalFlags, OutputFlags, SetArg};
    let _ = termios::tcflush(tty, termios::FlushArg::TCIOFLUSH);
    if let Ok(mut mode) = termios::tcgetattr(tty) {
        mode.input_flags |= InputFlags::ICRNL | InputFlags::IXON;
        mode.output_flags |= OutputFlags::OPOST | OutputFlags::ONLCR;
        mode.local_flags |= LocalFlags::ICANON
            | LocalFlags::ECHO
            | LocalFlags::ECHOE
            | LocalFlags::ECHOK
            | LocalFlags::ISIG
            | LocalFlags::IEXTEN;
        let _ = termios::tcsetattr(tty, SetArg::TCSANOW, &mode);
    }
    resize(tty, size);
}

fn resize(tty: &std::fs::File, size: job::Size) {
    let window = libc::winsize { ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads the winsize it is given; the kernel signals the foreground.
    unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &window) };
}

impl Running {
    fn group(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// Signals and sizes the client sent since the last look, each applied once.
    fn pass_messages(&mut self) {
        while let Some(text) = self.job.message("signal", self.signals + 1) {
            self.signals += 1;
            let signal =
                text.trim().parse::<i32>().ok().and_then(|n| nix::sys::signal::Signal::try_from(n).ok());
            if let Some(signal) = signal {
                self.signal(signal);
            }
        }
        while let Some(text) = self.job.message("size", self.sizes + 1) {
            self.sizes += 1;
            let mut numbers = text.split_whitespace().filter_map(|n| n.parse::<u16>().ok());
            if let (Some(rows), Some(cols), Some((_, tty))) = (numbers.next(), numbers.next(), &self.terminal)
            {
                resize(tty, job::Size { rows, cols });
            }
        }
    }

    /// To the command's process group; on a terminal, to its foreground group too.
    fn signal(&self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::killpg(self.group(), signal);
        if let Some((_, tty)) = &self.terminal
            && let Ok(foreground) = nix::unistd::tcgetpgrp(tty)
        {
            let _ = nix::sys::signal::killpg(foreground, signal);
        }
    }

    fn exited(&mut self) -> Option<i32> {
        let status = self.child.try_wait().ok()??;
        Some(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }
}

/// The labs up inside, as last written to `labs.json`.
#[derive(Default)]
struct Labs {
    written: String,
    count: usize,
}

impl Labs {
    fn refresh(&mut self, home: &Path) {
        let states: Vec<crate::state::State> = crate::state::labs()
            .iter()
            .filter_map(|lab| crate::state::State::load(lab).ok().flatten())
            .collect();
        self.count = states.len();
        let text = serde_json::to_string(&states).unwrap_or_default();
        if text != self.written {
            let hidden = home.join(".labs.json");
            if std::fs::write(&hidden, &text).is_ok()
                && std::fs::rename(&hidden, home.join("labs.json")).is_ok()
            {
                self.written = text;
            }
        }
    }
}

use std::os::unix::fs::OpenOptionsExt;
