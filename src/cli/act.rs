//! `lab do LAB ACTION...`: changes a lab that is up with the actions of the scenario
//! language (`link r1:eth0 down`, `route add h1 default via 10.0.0.1`, ...), checked like a
//! step's; `--dry-run` prints the `ip`/`tc` commands instead.

use super::{Error, Verdict, runtime, steps, verify};
use crate::plan::StepPlan;
use crate::realize::Position;

#[derive(clap::Args)]
pub struct Options {
    /// A lab name, or its topology file.
    lab: String,
    /// Actions, each one argument: 'link r1:eth0 down' 'impair h1:eth0 delay=50ms'.
    #[arg(required = true, value_name = "ACTION")]
    actions: Vec<String>,
    /// Print the equivalent `ip`, `bridge` and `tc` commands; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run: print the requests as JSON.
    #[arg(long, requires = "dry_run")]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    super::sandbox::reach(&options.lab)?;
    super::need_privileges("do")?;
    let Some((base, state)) = verify::lab_that_is_up(&options.lab)? else { return Ok(Verdict::Invalid) };
    let before = steps::current(&base, &state)?;
    let upto = match &state.step {
        Some(step) => steps::index_of(&base, step)?,
        None => 0,
    };
    let mut live = state.live.clone();
    live.extend(options.actions.iter().cloned());
    let after = steps::at(&base, &state, upto, &live)?;
    if options.dry_run {
        let plan = StepPlan::between("lab do", &before, &after);
        if options.json {
            stdoutln!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            stdout!("{}", plan.plan(&after.name));
        }
        return Ok(Verdict::Pass);
    }
    let position = Position { step: state.step.clone(), live };
    steps::change(&runtime()?, &before, &after, &state, position, options.quiet)?;
    Ok(Verdict::Pass)
}
