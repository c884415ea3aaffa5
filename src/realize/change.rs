//! `change`: executes a step's plan on a lab that is up, its namespaces opened by name, then
//! records what the kernel has now. On a failure or a signal the lab is changed back, as far
//! as the kernel allows, and the state keeps saying where it was. Everything a step makes
//! lives in the lab's namespaces, so `down` removes it with them.

use super::up::Realizer;
use super::{Error, Progress};
use crate::kernel::signals;
use crate::model::Lab;
use crate::plan::StepPlan;
use crate::state::{Lock, State};

/// Where a lab is in its scenario: the step reached, and `lab do` actions since.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub step: Option<String>,
    pub live: Vec<String>,
}

/// Changes the lab from `before` into `after` (`plan` is the difference) and returns its
/// new state, at `position`.
pub async fn change(
    before: &Lab,
    after: &Lab,
    plan: &StepPlan,
    state: &State,
    position: Position,
    progress: &Progress,
) -> Result<State, Error> {
    signals::watch().map_err(|e| Error::io("catching signals", e))?;
    let lock =
        Lock::acquire(&after.name).map_err(|e| Error::io(format!("locking lab `{}`", after.name), e))?;
    let mut realizer = Realizer::new(after);
    realizer.open_namespaces()?;
    let outcome = realizer.run(&plan.plan(&after.name), progress).await;
    let outcome = match outcome {
        Ok(()) => realizer.state(&state.topology, &state.source).await,
        Err(e) => Err(e),
    };
    progress.finish();
    drop(lock);
    match outcome {
        Ok(mut new) => {
            new.created = state.created;
            new.step = position.step;
            new.live = position.live;
            new.save().map_err(|e| Error::io(format!("saving the state of lab `{}`", after.name), e))?;
            Ok(new)
        }
        Err(error) => {
            change_back(after, before).await;
            let back = "lab changed the lab back to how it was before";
            let hint = match &error.hint {
                Some(hint) => format!("{hint} ({back})"),
                None => format!("{back}; `lab verify LAB` checks it as it is"),
            };
            Err(error.hint(hint))
        }
    }
}

/// Best effort: the plan from `now` back to `then`, every request tried.
async fn change_back(now: &Lab, then: &Lab) {
    let back = StepPlan::between("back", now, then);
    let mut realizer = Realizer::new(then);
    if realizer.open_namespaces().is_err() {
        return;
    }
    realizer.run_all(&back.plan(&then.name)).await;
}
