//! `lab run FILE`: up, verify, then each step of the scenario (change, verify), down, in one
//! command; always tears down, exits with the verifications' verdict. `--sandbox` runs it
//! all inside the full kernel.

use super::verify::{self, Checked, Output};
use super::{Error, Verdict, announce_down, announce_up, load_lab, render_diagnostics, runtime, steps};
use crate::graph::LabGraph;
use crate::kernel::signals;
use crate::plan::Plan;
use crate::realize::{self, Progress};
use crate::sandbox::{self, Sandbox};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Options {
    /// Topology file (TOML).
    file: PathBuf,
    /// Run inside the full kernel (user-mode Linux): for labs that need link kinds this
    /// kernel lacks (802.1Q, ipvlan, dummy, bridge VLAN filtering); needs no root.
    #[arg(long)]
    sandbox: bool,
    #[command(flatten)]
    output: Output,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    if options.sandbox && !sandbox::inside() {
        // An invalid file is reported without booting; the run inside reports the rest.
        let checked = crate::topology::load(&options.file)?;
        if checked.lab.is_none() {
            stderr!("{}", render_diagnostics(&checked));
            return Ok(Verdict::Invalid);
        }
        return in_sandbox();
    }
    let Some((lab, source)) = load_lab(&options.file)? else { return Ok(Verdict::Invalid) };
    super::need_privileges("run")?;
    let plan = Plan::new(&LabGraph::new(&lab));
    let progress = Progress::new(plan.steps(), options.quiet);
    let rt = runtime()?;
    let started = std::time::Instant::now();
    let state = rt.block_on(realize::up(&lab, &plan, &options.file, &source, &progress))?;
    announce_up(&state, started);
    // A signal while probing is remembered; the probes end within their deadline, and the
    // lab is torn down once, here.
    rt.spawn(async move {
        signals::arrival().await;
        stderrln!("interrupted: the lab is torn down as soon as the probes end");
    });
    let mut checked = Vec::new();
    let walked = walk(&rt, &lab, state, options.quiet, &options.output, &mut checked);
    // What was checked before a failure is reported all the same.
    let printed = if checked.is_empty() { Ok(()) } else { verify::print(&checked, &options.output) };
    let verdict = walked.and(printed).map(|()| verify::verdict(&checked));
    let down = realize::down(&lab.name, &Progress::hidden());
    match &down {
        Ok(report) => announce_down(&lab.name, report),
        Err(e) => stderrln!("error: {e}"),
    }
    let verdict = verdict?;
    down?;
    if signals::arrived() {
        let states = 1 + lab.steps.len();
        return Err(format!(
            "interrupted: {} of the lab's {states} state{} checked before the signal (the results above are theirs); the lab is down",
            checked.len(),
            if states == 1 { " was" } else { "s were" }
        )
        .into());
    }
    Ok(verdict)
}

/// Verifies the initial state, then brings the lab to each step in turn and verifies it,
/// into `checked`.
fn walk(
    rt: &tokio::runtime::Runtime,
    lab: &crate::model::Lab,
    mut state: crate::state::State,
    quiet: bool,
    output: &Output,
    checked: &mut Vec<Checked>,
) -> Result<(), Error> {
    let named = |name: &str| (!lab.steps.is_empty()).then(|| name.to_string());
    let initial = crate::topology::validate::steps::INITIAL;
    checked.push(verify::check(lab, &state, named(initial), output)?);
    let mut before = lab;
    for step in &lab.steps {
        if signals::arrived() {
            break;
        }
        let position = realize::Position { step: Some(step.name.clone()), live: Vec::new() };
        state = steps::change(rt, before, &step.lab, &state, position, quiet)?;
        checked.push(verify::check(&step.lab, &state, named(&step.name), output)?);
        before = &step.lab;
    }
    Ok(())
}

/// Runs this very command again inside the sandbox kernel, passing its output through.
fn in_sandbox() -> Result<Verdict, Error> {
    let exe = std::env::current_exe().map_err(Error::io("finding lab's own binary"))?.display().to_string();
    let args: Vec<String> =
        std::iter::once(exe).chain(std::env::args().skip(1).filter(|a| a != "--sandbox")).collect();
    let cwd = std::env::current_dir().map_err(Error::io("reading the working directory"))?;
    sandbox::available()?;
    stderrln!("booting the full kernel (user-mode Linux)...");
    let out = Sandbox { pass_through: true, ..Sandbox::default() }.run(&args, &cwd)?;
    stderrln!("(in the sandbox kernel, {:.1} s in all)", out.elapsed.as_secs_f64());
    Ok(match out.status {
        0 => Verdict::Pass,
        1 => Verdict::Fail,
        _ => Verdict::Invalid,
    })
}
