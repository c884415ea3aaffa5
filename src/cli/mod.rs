//! The command line: one file per verb, each thin (check options, call the library, print).
//! `main` prints an error once; the exit code carries the verdict: 0 pass, 1 fail, 2 error.

/// `print!` and `eprint!` that go on when the reader has gone away (`lab run FILE | head`):
/// no output is worth leaving a lab half-done.
macro_rules! stdout {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

macro_rules! stdoutln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

macro_rules! stderr {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), $($arg)*);
    }};
}

macro_rules! stderrln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod act;
mod capture;
mod down;
mod exec;
mod graph;
mod ls;
mod run;
mod sandbox;
mod steps;
mod up;
mod validate;
mod verify;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Network labs from TOML topologies: namespaces, veth cables, VLAN-aware switches,
/// 802.1Q, macvlan and ipvlan, checked by probes.
#[derive(Parser)]
#[command(name = "lab", version, about, long_about = None, after_help = "Exit status: 0 success (all expectations pass), 1 an expectation failed, 2 invalid input or error.\nDocs: docs/README.md")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check topology files and print a summary of each, or every error with its place.
    Validate(validate::Options),
    /// Draw a topology as DOT (default), Mermaid, JSON or SVG; --results colours its checks.
    Graph(graph::Options),
    /// Bring a lab up: namespaces, cables, switches, VLANs, children, addresses, routes.
    Up(up::Options),
    /// Remove everything of a lab (also after a lost state or a killed `up`).
    Down(down::Options),
    /// List the labs on this machine.
    Ls(ls::Options),
    /// Run a command inside a node's namespace.
    Exec(exec::Options),
    /// Check every expectation of a lab that is up (--step NAME: first bring it to a step).
    Verify(verify::Options),
    /// Capture the frames of a lab's interfaces, as pcapng (-w FILE, - for a pipe) or lines.
    Capture(capture::Options),
    /// Change a lab that is up, as a scenario step would: `lab do LAB 'link r1:eth0 down'`.
    Do(act::Options),
    /// Up, verify and down in one command (always tears down); --sandbox for the full kernel.
    Run(run::Options),
    /// The full kernel that stays up for `up --sandbox`: a shell inside, its status, stop it.
    Sandbox(sandbox::Options),
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    Invalid,
}

impl From<Verdict> for ExitCode {
    fn from(v: Verdict) -> ExitCode {
        ExitCode::from(match v {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Invalid => 2,
        })
    }
}

/// An error that ends a command: a stage's, with its causes, or the command's own (`Usage`,
/// which says how to fix it). `main` prints it once: `error: what: why: hint`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Realize(#[from] crate::realize::Error),
    #[error(transparent)]
    Probe(#[from] crate::probe::Error),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::Error),
    #[error(transparent)]
    Read(#[from] crate::topology::ReadError),
    #[error("writing JSON")]
    Json(#[from] serde_json::Error),
    #[error("writing the JUnit report")]
    Junit(#[from] quick_junit::SerializeError),
    #[error("{doing}")]
    Io {
        doing: String,
        #[source]
        source: crate::kernel::OsError,
    },
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let doing = doing.into();
        move |error| Error::Io { doing, source: error.into() }
    }

    /// How to fix it, when the stage knows.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Realize(error) => error.hint.as_deref(),
            _ => None,
        }
    }

    /// The error, its causes and its hint, on one line.
    pub fn report(&self) -> String {
        let mut line = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            line.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        if let Some(hint) = self.hint() {
            line.push_str(&format!(": {hint}"));
        }
        line
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::Usage(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::Usage(message.to_string())
    }
}

pub fn run(args: Args) -> Result<Verdict, Error> {
    match args.command {
        Command::Validate(options) => validate::run(options),
        Command::Graph(options) => graph::run(options),
        Command::Up(options) => up::run(options),
        Command::Down(options) => down::run(options),
        Command::Ls(options) => ls::run(options),
        Command::Exec(options) => exec::run(options),
        Command::Verify(options) => verify::run(options),
        Command::Do(options) => act::run(options),
        Command::Capture(options) => capture::run(options),
        Command::Run(options) => run::run(options),
        Command::Sandbox(options) => sandbox::run(options),
    }
}

/// "lab `x` is up: 4 nodes in 0.10 s"
pub fn announce_up(state: &crate::state::State, started: std::time::Instant) {
    let nodes = state.nodes.len();
    let plural = if nodes == 1 { "" } else { "s" };
    stderrln!("lab `{}` is up: {nodes} node{plural} in {:.2} s", state.lab, started.elapsed().as_secs_f64());
}

/// "lab `x` is down: 4 namespaces removed", or that it was not up.
pub fn announce_down(lab: &str, report: &crate::realize::DownReport) {
    match report.removed.len() {
        0 => stderrln!("lab `{lab}` is not up: nothing to remove"),
        1 => stderrln!("lab `{lab}` is down: 1 namespace removed"),
        n => stderrln!("lab `{lab}` is down: {n} namespaces removed"),
    }
}

/// Refuses, with one message for every verb, when this process may not make, enter or
/// remove namespaces: it needs root, or CAP_NET_ADMIN and CAP_SYS_ADMIN.
pub fn need_privileges(verb: &str) -> Result<(), Error> {
    if nix::unistd::geteuid().is_root() || has_net_and_sys_admin() {
        return Ok(());
    }
    Err(format!(
        "`lab {verb}` needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN): it makes, enters and removes \
         network namespaces; run it as root, or use the full kernel, which needs neither: `lab up --sandbox FILE` or `lab run --sandbox FILE`"
    )
    .into())
}

/// Whether the effective capabilities (`CapEff` in /proc/self/status) hold CAP_NET_ADMIN
/// (12) and CAP_SYS_ADMIN (21).
fn has_net_and_sys_admin() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    let wanted = (1u64 << 12) | (1u64 << 21);
    effective & wanted == wanted
}

/// The runtime for verbs that talk netlink.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::io("starting the runtime"))
}

/// What a `LAB|FILE` argument names: an existing file, or else a lab name.
pub enum LabArg<'a> {
    File(&'a std::path::Path),
    Name(&'a str),
}

impl<'a> LabArg<'a> {
    /// A name ending in `.toml` that is not a file is taken for a mistyped path.
    pub fn parse(arg: &'a str) -> Result<LabArg<'a>, Error> {
        let path = std::path::Path::new(arg);
        if path.is_file() {
            Ok(LabArg::File(path))
        } else if arg.ends_with(".toml") {
            Err(format!("no topology file {arg}; give a lab name or an existing file").into())
        } else if let Some(problem) = crate::topology::lab_name_problem(arg) {
            Err(format!(
                "`{arg}` is neither a topology file nor a lab name: the name {problem}; see `lab ls`"
            )
            .into())
        } else {
            Ok(LabArg::Name(arg))
        }
    }
}

/// `LAB|FILE`: a topology file gives its lab name and node names; a name gives no nodes.
pub fn lab_name_of(arg: &str) -> Result<(String, Vec<String>), Error> {
    let path = match LabArg::parse(arg)? {
        LabArg::Name(name) => return Ok((name.to_string(), Vec::new())),
        LabArg::File(path) => path,
    };
    let checked = crate::topology::load(path)?;
    match checked.lab {
        Some(lab) => Ok((lab.name.clone(), lab.nodes.iter().map(|n| n.name.clone()).collect())),
        None => {
            stderr!("{}", render_diagnostics(&checked));
            Err(format!("{arg} is not a valid topology").into())
        }
    }
}

/// A valid topology and the text it was read from (read once: what is realized is what was
/// checked), or `None` after printing why not.
pub fn load_lab(path: &std::path::Path) -> Result<Option<(crate::model::Lab, String)>, Error> {
    let checked = crate::topology::load(path)?;
    stderr!("{}", render_diagnostics(&checked));
    Ok(checked.lab.map(|lab| (lab, checked.source.text)))
}

pub fn render_diagnostics(checked: &crate::topology::Checked) -> String {
    use std::io::IsTerminal;
    crate::topology::diagnostic::render(
        &checked.source,
        &checked.diagnostics,
        std::io::stderr().is_terminal(),
    )
}
