//! `lab verify LAB|FILE`: checks every expectation of a lab that is up, as it stands in its
//! scenario, or after bringing it to a step (`--step NAME`).

use super::{Error, LabArg, Verdict, load_lab, runtime, steps};
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
    /// First bring the lab to this step of its scenario (`initial`: its initial state), then
    /// check that step's expectations.
    #[arg(long, value_name = "NAME")]
    step: Option<String>,
    #[command(flatten)]
    output: Output,
    /// No progress bar while the lab changes.
    #[arg(long, short)]
    quiet: bool,
}

/// One state's verification, named by its step when the lab has steps.
pub struct Checked {
    pub step: Option<String>,
    /// The lab as it stood when checked (a step's lab differs from the initial one).
    pub lab: Lab,
    pub verification: Verification,
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
    /// Keep the frames of every failed expectation in this directory, one pcapng file each
    /// (its probes sent again while every interface of the lab is captured).
    #[arg(long, value_name = "DIR")]
    pub pcap: Option<PathBuf>,
    /// Also write the results drawn on the topology, as one self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
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
    super::need_privileges("verify")?;
    super::sandbox::reach(&options.lab)?;
    let Some((base, mut state)) = lab_that_is_up(&options.lab)? else { return Ok(Verdict::Invalid) };
    let mut lab = steps::current(&base, &state)?;
    if let Some(name) = &options.step {
        let upto = steps::index_of(&base, name)?;
        let target = steps::at(&base, &state, upto, &[])?;
        let step = (upto > 0).then(|| name.clone());
        let position = crate::realize::Position { step, live: Vec::new() };
        state = steps::change(&runtime()?, &lab, &target, &state, position, options.quiet)?;
        lab = target;
    }
    let step = (!base.steps.is_empty()).then(|| state_label(&state));
    let checked = vec![check(&lab, &state, step, &options.output)?];
    print(&checked, &options.output)?;
    Ok(verdict(&checked))
}

/// How results name a state: its step, `initial`, and `+ lab do` after live actions.
pub fn state_label(state: &State) -> String {
    let step = state.step.clone().unwrap_or_else(|| crate::topology::validate::steps::INITIAL.into());
    if state.live.is_empty() { step } else { format!("{step} + lab do") }
}

/// Verifies one state of a lab; with `--pcap`, keeps the frames of each failure.
pub fn check(lab: &Lab, state: &State, step: Option<String>, output: &Output) -> Result<Checked, Error> {
    let mut verification = probe::verify(lab, state, output.timeout)?;
    crate::explain::failures(lab, state, &mut verification);
    if output.html.is_some() {
        crate::explain::paths(lab, &mut verification);
    }
    if let Some(dir) = &output.pcap {
        keep_frames(lab, state, step.as_deref(), &verification, dir, output.timeout)?;
    }
    Ok(Checked { step, lab: lab.clone(), verification })
}

/// Asks each failed expectation again, alone, while capturing every interface of the lab,
/// into `DIR/[STEP-]N.pcapng`.
fn keep_frames(
    lab: &Lab,
    state: &State,
    step: Option<&str>,
    verification: &Verification,
    dir: &Path,
    timeout: Option<Duration>,
) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    for outcome in verification.outcomes.iter().filter(|o| !o.passed) {
        let Some(expectation) = lab.expectations.iter().find(|e| e.number == outcome.number) else {
            continue;
        };
        let alone = Lab { expectations: vec![expectation.clone()], ..lab.clone() };
        let name = match step {
            Some(step) => format!("{}-{}.pcapng", file_safe(step), outcome.number),
            None => format!("{}.pcapng", outcome.number),
        };
        let path = dir.join(name);
        let (asked, kept, dropped) =
            super::capture::around(lab, state, &path, || probe::verify(&alone, state, timeout))?;
        asked?;
        let lost = if dropped > 0 { format!(" (the kernel dropped {dropped} more)") } else { String::new() };
        stderrln!(
            "frames of expectation {} ({}): {kept} in {}{lost}",
            outcome.number,
            outcome.check,
            path.display()
        );
    }
    Ok(())
}

/// A step's name as part of a file name: letters, digits, `-` and `_` kept, the rest `_`.
fn file_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// Pass when every expectation of every state passed; invalid when one could not be decided.
pub fn verdict(checked: &[Checked]) -> Verdict {
    if checked.iter().any(|c| c.verification.undecided() > 0) {
        Verdict::Invalid
    } else if checked.iter().all(|c| c.verification.passed()) {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}

pub fn print(checked: &[Checked], output: &Output) -> Result<(), Error> {
    if output.json {
        stdoutln!("{}", serde_json::to_string_pretty(&report::steps::json(checked_views(checked)))?);
    } else {
        let width = terminal_width();
        for c in checked {
            if let Some(step) = &c.step {
                stdoutln!("{}", report::table::step_heading(step));
            }
            stdout!("{}", report::table::render(&c.verification, width));
        }
    }
    if let Some(path) = &output.junit {
        std::fs::write(path, report::junit::render(&checked_views(checked))?)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    if let Some(path) = &output.html {
        let states: Vec<report::html::State> = checked
            .iter()
            .map(|c| report::html::State {
                step: c.step.as_deref(),
                lab: &c.lab,
                verification: &c.verification,
            })
            .collect();
        std::fs::write(path, report::html::page(&states))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

fn checked_views(checked: &[Checked]) -> Vec<(Option<&str>, &Verification)> {
    checked.iter().map(|c| (c.step.as_deref(), &c.verification)).collect()
}

fn terminal_width() -> Option<u16> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() { None } else { Some(120) }
}

/// The lab named (or described by the file) and its state; `None` after printing why not.
/// A file must be the one the lab was brought up from, as it was then.
pub fn lab_that_is_up(arg: &str) -> Result<Option<(Lab, State)>, Error> {
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
    match std::fs::read_to_string(&state.topology) {
        Ok(now) if now == state.source => {}
        Ok(_) => stderrln!(
            "note: {} has changed since lab `{name}` was brought up; this is the lab as it was brought up (bring it down and up again for the new file)",
            state.topology.display()
        ),
        Err(_) => stderrln!(
            "note: {} is gone; this is the lab as it was brought up from it",
            state.topology.display()
        ),
    }
    let recorded = crate::topology::Source::new(state.topology.display().to_string(), state.source.clone());
    match crate::topology::check(recorded).lab {
        Some(lab) => Ok(Some((lab, state))),
        None => Err(format!("the recorded topology of lab `{name}` no longer validates").into()),
    }
}
