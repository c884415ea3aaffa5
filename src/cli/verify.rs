//! `lab verify LAB|FILE`: checks every expectation of a lab that is up.

use super::{Error, LabArg, Verdict, load_lab};
use crate::model::Lab;
use crate::probe::{self, Verification};
use crate::report;
use crate::state::State;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args, Clone)]
pub struct Options {
    /// A lab name, or its topology file.
    lab: String,
    #[command(flatten)]
    output: Output,
}

/// How long probes wait, and where results go; shared with `lab run`.
#[derive(clap::Args, Clone)]
pub struct Output {
    /// How long a probe waits for an answer (overrides the file's [verify] timeout).
    #[arg(long, value_parser = positive_duration)]
    pub timeout: Option<Duration>,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the results as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => {
            Err("a timeout of zero would let no probe wait; write e.g. 1s or 300ms".into())
        }
        Ok(d) if d > crate::topology::MAX_TIMEOUT => Err(format!(
            "a timeout longer than {} is too long to wait for a probe; write e.g. 1s or 300ms",
            humantime::format_duration(crate::topology::MAX_TIMEOUT)
        )),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e}; write e.g. 1s or 300ms")),
    }
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    let Some((lab, state)) = lab_that_is_up(&options.lab)? else { return Ok(Verdict::Invalid) };
    check(&lab, &state, &options.output)
}

/// Verifies and reports; the verdict is pass when every expectation passed.
pub fn check(lab: &Lab, state: &State, output: &Output) -> Result<Verdict, Error> {
    let verification = probe::verify(lab, state, output.timeout)?;
    print(&verification, output)?;
    Ok(if verification.undecided() > 0 {
        Verdict::Invalid
    } else if verification.passed() {
        Verdict::Pass
    } else {
        Verdict::Fail
    })
}

fn print(verification: &Verification, output: &Output) -> Result<(), Error> {
    if output.json {
        stdoutln!("{}", serde_json::to_string_pretty(verification)?);
    } else {
        let width = terminal_width();
        stdout!("{}", report::table::render(verification, width));
    }
    if let Some(path) = &output.junit {
        std::fs::write(path, report::junit::render(verification)?)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

fn terminal_width() -> Option<u16> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() { None } else { Some(120) }
}

/// The lab named (or described by the file) and its state; `None` after printing why not.
/// A file must be the one the lab was brought up from, as it was then.
fn lab_that_is_up(arg: &str) -> Result<Option<(Lab, State)>, Error> {
    match LabArg::parse(arg)? {
        LabArg::File(path) => up_from_file(arg, path),
        LabArg::Name(name) => up_by_name(name),
    }
}

fn up_from_file(arg: &str, path: &Path) -> Result<Option<(Lab, State)>, Error> {
    let Some((lab, text)) = load_lab(path)? else { return Ok(None) };
    let Some(state) =
        State::load(&lab.name).map_err(Error::io(format!("reading the state of lab `{}`", lab.name)))?
    else {
        stderrln!("error: lab `{}` is not up; start it with `lab up {arg}`", lab.name);
        return Ok(None);
    };
    if state.source != text {
        return Err(format!(
            "{arg} has changed since lab `{}` was brought up; check the lab as it is with `lab verify {}`, or bring it down and up again",
            lab.name, lab.name
        )
        .into());
    }
    Ok(Some((lab, state)))
}

/// A lab by name, checked against the topology recorded when it came up.
fn up_by_name(name: &str) -> Result<Option<(Lab, State)>, Error> {
    let Some(state) = State::load(name).map_err(Error::io(format!("reading the state of lab `{name}`")))?
    else {
        stderrln!("error: lab `{name}` is not up (no state in /run/lab/{name}); start it with `lab up FILE`");
        return Ok(None);
    };
    let recorded = crate::topology::Source::new(state.topology.display().to_string(), state.source.clone());
    match crate::topology::check(recorded).lab {
        Some(lab) => Ok(Some((lab, state))),
        None => Err(format!("the recorded topology of lab `{name}` no longer validates").into()),
    }
}
