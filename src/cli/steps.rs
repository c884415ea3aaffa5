//! Where a lab that is up stands in its scenario, and moving it: to a step (`lab run`,
//! `lab verify --step`) or by actions typed in class (`lab do`). Shared by those verbs.

use super::{Error, render_diagnostics};
use crate::model::Lab;
use crate::plan::StepPlan;
use crate::realize::{self, Position, Progress};
use crate::state::State;
use crate::topology::validate::steps::INITIAL;

/// The step's index in the scenario, 0 for the initial state; an unknown name lists them.
pub fn index_of(base: &Lab, name: &str) -> Result<usize, Error> {
    if name == INITIAL {
        return Ok(0);
    }
    if let Some(at) = base.steps.iter().position(|s| s.name == name) {
        return Ok(at + 1);
    }
    let names: Vec<String> = std::iter::once(INITIAL.to_string())
        .chain(base.steps.iter().map(|s| format!("`{}`", s.name)))
        .collect();
    Err(match base.steps.is_empty() {
        true => format!("lab `{}` has no steps: its topology has no [[step]]", base.name).into(),
        false => {
            format!("lab `{}` has no step `{name}`; its steps are: {}", base.name, names.join(", ")).into()
        }
    })
}

/// The lab as it stands: its step, and the `lab do` actions since.
pub fn current(base: &Lab, state: &State) -> Result<Lab, Error> {
    let upto = match &state.step {
        Some(step) => index_of(base, step)?,
        None => 0,
    };
    at(base, state, upto, &state.live)
}

/// The lab after the first `upto` steps of its scenario, then `actions`.
pub fn at(base: &Lab, state: &State, upto: usize, actions: &[String]) -> Result<Lab, Error> {
    if actions.is_empty() {
        return Ok(match upto {
            0 => base.clone(),
            n => base.steps[n - 1].lab.clone(),
        });
    }
    let name = format!("{} (with `lab do`)", state.topology.display());
    let checked = crate::topology::live(&name, &state.source, upto, actions);
    match checked.lab {
        Some(lab) => Ok(lab),
        None => {
            stderr!("{}", render_diagnostics(&checked));
            Err("the actions cannot be applied to this lab; nothing was changed".into())
        }
    }
}

/// Changes the lab that is up from `before` into `after`, which is at `position`.
pub fn change(
    rt: &tokio::runtime::Runtime,
    before: &Lab,
    after: &Lab,
    state: &State,
    position: Position,
    quiet: bool,
) -> Result<State, Error> {
    let label = position.step.clone().unwrap_or_else(|| INITIAL.into());
    let plan = StepPlan::between(&label, before, after);
    let requests = plan.stages.iter().flat_map(|s| &s.steps).flat_map(|s| &s.requests).count();
    let progress = Progress::new(plan.stages.iter().map(|s| s.steps.len()).sum(), quiet);
    let started = std::time::Instant::now();
    let state = rt.block_on(realize::change(before, after, &plan, state, position, &progress))?;
    let plural = if requests == 1 { "" } else { "s" };
    stderrln!(
        "lab `{}` is at {}: {requests} request{plural} in {:.2} s",
        after.name,
        describe(&state),
        started.elapsed().as_secs_f64()
    );
    Ok(state)
}

/// "step `add routes`", "its initial state", with "and 2 actions" for `lab do`.
pub fn describe(state: &State) -> String {
    let step = match &state.step {
        Some(step) => format!("step `{}`", crate::report::printable(step)),
        None => "its initial state".into(),
    };
    match state.live.len() {
        0 => step,
        1 => format!("{step} and 1 action"),
        n => format!("{step} and {n} actions"),
    }
}
