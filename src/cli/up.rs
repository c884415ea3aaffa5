//! `lab up FILE`: validates, then realizes the lab; `--dry-run` prints the plan instead.

use super::{Error, Verdict, announce_up, load_lab, runtime};
use crate::graph::LabGraph;
use crate::kernel::signals;
use crate::plan::Plan;
use crate::realize::{self, Progress};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Options {
    /// Topology file (TOML).
    file: PathBuf,
    /// Print the plan as the equivalent `ip` and `bridge` commands; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON: the lab that came up (its nodes and namespaces); with --dry-run, the
    /// plan, every request as `up` would make it.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Bring the lab up inside the full kernel (user-mode Linux), which stays up in the
    /// background: for link kinds this kernel lacks; needs no root. `exec`, `verify`, `ls`
    /// and `down` reach the lab there; `lab sandbox shell` opens a shell inside.
    #[arg(long, conflicts_with = "dry_run")]
    sandbox: bool,
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    if options.sandbox && !crate::sandbox::inside() {
        return super::sandbox::up_inside(&options.file);
    }
    let Some((lab, source)) = load_lab(&options.file)? else { return Ok(Verdict::Invalid) };
    let plan = Plan::new(&LabGraph::new(&lab));
    if options.dry_run && options.json {
        stdout!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(Verdict::Pass);
    }
    if options.dry_run {
        stdout!("{plan}");
        return Ok(Verdict::Pass);
    }
    super::sandbox::not_in_sandbox(&lab.name)?;
    super::need_privileges("up")?;
    let progress = Progress::new(plan.steps(), options.quiet);
    let started = std::time::Instant::now();
    let rt = runtime()?;
    let state = rt.block_on(realize::up(&lab, &plan, &options.file, &source, &progress))?;
    // From here a signal ends the process at once, leaving the lab up; one that came before
    // this line undoes the lab.
    signals::stop_watching();
    if signals::arrived() {
        let _ = realize::down(&lab.name, &Progress::hidden());
        return Err("interrupted: the lab was brought up, then removed".into());
    }
    if options.json {
        let nodes: Vec<serde_json::Value> =
            state.nodes.iter().map(|n| serde_json::json!({ "node": n.name, "namespace": n.netns })).collect();
        let up = serde_json::json!({
            "lab": state.lab,
            "nodes": nodes,
            "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0,
        });
        stdoutln!("{}", serde_json::to_string_pretty(&up)?);
    }
    announce_up(&state, started);
    Ok(Verdict::Pass)
}
