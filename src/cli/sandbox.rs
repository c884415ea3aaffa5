//! `lab sandbox shell|status|stop`: the full kernel that stays up (booted by `lab up
//! --sandbox` or `lab sandbox shell`), and how the verbs that name a lab reach one that
//! lives in it (`reach`), and how `up --sandbox` brings one there (`up_inside`).

use super::{Error, Verdict, render_diagnostics};
use crate::sandbox::{self, Resident, Sandbox, Size};
use std::io::IsTerminal;
use std::path::Path;

#[derive(clap::Args)]
pub struct Options {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Open a root shell inside the full kernel (booting it if it is not up), with lab, ip,
    /// bridge, tcpdump and ping as this machine has them; `exit` leaves it.
    Shell,
    /// Say whether the full kernel is up, since when, with which labs, and its memory.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop the full kernel: every lab inside it goes with it.
    Stop,
    /// Inside the kernel: take the jobs of the sandbox's spool (run by its init).
    #[command(hide = true)]
    Serve { dir: std::path::PathBuf },
    /// Boot the kernel and stay with it (started by `up --sandbox` and `sandbox shell`).
    #[command(hide = true)]
    Keep {
        #[arg(long)]
        detached: bool,
        #[arg(long, default_value = "1G")]
        memory: String,
    },
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    match options.action {
        Action::Shell => shell(),
        Action::Status { json } => status(json),
        Action::Stop => stop(),
        Action::Serve { dir } => Ok(sandbox::serve(&dir).map(|()| Verdict::Pass)?),
        Action::Keep { detached, memory } => {
            Ok(sandbox::keep(&Sandbox { memory, ..Sandbox::default() }, detached).map(|()| Verdict::Pass)?)
        }
    }
}

fn announce_boot() {
    stderrln!("booting the full kernel (user-mode Linux) in the background...");
}

fn shell() -> Result<Verdict, Error> {
    if sandbox::inside() {
        return Err("this is already the sandbox's shell (or a command inside it)".into());
    }
    let size = sandbox_terminal().unwrap_or(Size { rows: 24, cols: 80 });
    let mut request = sandbox::request_for(vec!["/bin/bash".into(), "-i".into()], Some(size))?;
    request.env.push(("debian_chroot".into(), "lab sandbox".into()));
    let status = Resident::run_booting(&Sandbox::default(), &request, announce_boot)?;
    exit_with(status)
}

fn status(json: bool) -> Result<Verdict, Error> {
    let Some(resident) = Resident::running()? else {
        Resident::forget_stale()?;
        match json {
            true => stdoutln!("{}", serde_json::json!({ "up": false })),
            false => stdoutln!("the sandbox is not up"),
        }
        return Ok(Verdict::Pass);
    };
    let status = resident.status();
    if json {
        let mut value = serde_json::to_value(&status)?;
        value["up"] = true.into();
        stdoutln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(Verdict::Pass);
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    stdoutln!(
        "the sandbox is up: for {} s, kernel pid {}, {} MiB in memory",
        now.saturating_sub(status.since),
        status.kernel.map_or("?".into(), |p| p.to_string()),
        status.memory_kib / 1024
    );
    match status.labs.is_empty() {
        true => stdoutln!("labs inside: none"),
        false => stdoutln!("labs inside: {}", status.labs.join(", ")),
    }
    stdoutln!("commands and shells running inside: {}", status.jobs);
    stdoutln!("console log: {}", status.console.display());
    Ok(Verdict::Pass)
}

fn stop() -> Result<Verdict, Error> {
    let Some(resident) = Resident::running()? else {
        Resident::forget_stale()?;
        stderrln!("the sandbox is not up: nothing to stop");
        return Ok(Verdict::Pass);
    };
    let labs: Vec<String> = resident.labs().into_iter().map(|s| s.lab).collect();
    resident.stop()?;
    match labs.len() {
        0 => stderrln!("the sandbox is stopped"),
        1 => stderrln!("the sandbox is stopped: lab `{}` went with it", labs[0]),
        _ => stderrln!("the sandbox is stopped: labs {} went with it", labs.join(", ")),
    }
    Ok(Verdict::Pass)
}

/// `lab up --sandbox FILE`: checks the file here, then brings the lab up inside the
/// resident kernel (booting it if needed); exits with `up`'s status.
pub fn up_inside(file: &Path) -> Result<Verdict, Error> {
    let checked = crate::topology::load(file)?;
    let Some(lab) = &checked.lab else {
        stderr!("{}", render_diagnostics(&checked));
        return Ok(Verdict::Invalid);
    };
    if crate::state::State::load(&lab.name).ok().flatten().is_some() {
        return Err(format!(
            "lab `{}` is already up on this machine, outside the sandbox; bring it down first: lab down {}",
            lab.name, lab.name
        )
        .into());
    }
    let request = sandbox::request_for(own_command_line(&["--sandbox"])?, sandbox_terminal())?;
    let status = Resident::run_booting(&Sandbox::default(), &request, announce_boot)?;
    if status == 0 {
        stderrln!(
            "(lab `{}` is in the sandbox: `lab exec`, `verify`, `ls`, `down` reach it; `lab sandbox shell` opens a shell inside)",
            lab.name
        );
    }
    exit_with(status)
}

/// Refuses a lab on this machine's kernel when one of that name is in the sandbox.
pub fn not_in_sandbox(lab: &str) -> Result<(), Error> {
    if in_sandbox(lab).is_some() {
        return Err(format!(
            "lab `{lab}` is up in the sandbox; bring it down first (lab down {lab}), or use it there"
        )
        .into());
    }
    Ok(())
}

/// When `arg` (a lab name or topology file) names a lab that is up in the resident
/// sandbox and not on this machine's kernel, runs this very command line inside it and
/// exits with its status; otherwise returns, and the verb runs here.
pub fn reach(arg: &str) -> Result<(), Error> {
    let Some(name) = lab_name_quietly(arg) else { return Ok(()) };
    let Some(resident) = in_sandbox(&name) else { return Ok(()) };
    let request = sandbox::request_for(own_command_line(&[])?, sandbox_terminal())?;
    let status = resident.run_here(&request)?;
    if std::env::args().nth(1).as_deref() == Some("down") && status == 0 && resident.labs().is_empty() {
        stderrln!("(no lab is left in the sandbox: its kernel stops)");
    }
    exit_with(status)
}

/// The resident sandbox, when lab `name` is up in it and not here.
fn in_sandbox(name: &str) -> Option<Resident> {
    if sandbox::inside() || crate::state::State::load(name).ok().flatten().is_some() {
        return None;
    }
    Resident::running().ok().flatten().filter(|r| r.labs().iter().any(|s| s.lab == name))
}

/// The labs up in the resident sandbox (none when it is not up).
pub fn labs() -> Vec<crate::state::State> {
    if sandbox::inside() {
        return Vec::new();
    }
    Resident::running().ok().flatten().map(|r| r.labs()).unwrap_or_default()
}

/// The lab a `LAB|FILE` argument names, printing nothing (a file that does not validate
/// names none: the verb, run here, says why).
fn lab_name_quietly(arg: &str) -> Option<String> {
    match super::LabArg::parse(arg).ok()? {
        super::LabArg::Name(name) => Some(name.to_string()),
        super::LabArg::File(path) => crate::topology::load(path).ok()?.lab.map(|lab| lab.name.clone()),
    }
}

/// This process's command line, with lab's own binary first and `leave_out` left out.
fn own_command_line(leave_out: &[&str]) -> Result<Vec<String>, Error> {
    let exe = std::env::current_exe().map_err(Error::io("finding lab's own binary"))?;
    let rest = std::env::args().skip(1).filter(|a| !leave_out.contains(&a.as_str()));
    Ok(std::iter::once(exe.display().to_string()).chain(rest).collect())
}

/// A terminal inside for a command typed at one (stdin, stdout and stderr all terminals),
/// of this terminal's size; else none, and the output comes back as two streams.
fn sandbox_terminal() -> Option<Size> {
    let typed =
        std::io::stdin().is_terminal() && std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    typed.then(|| sandbox::own_size().unwrap_or(Size { rows: 24, cols: 80 }))
}

fn exit_with(status: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(status)
}
