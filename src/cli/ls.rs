//! `lab ls`: the labs on this machine, with their node counts.

use super::{Error, Verdict};
use crate::realize::{self, State};
use comfy_table::{Table, presets::NOTHING};

#[derive(clap::Args)]
pub struct Options {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Row {
    lab: String,
    nodes: usize,
    topology: String,
    /// "up", or "incomplete" when namespaces exist without a state (an `up` was killed).
    status: &'static str,
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    let marked = realize::marked_namespaces();
    let mut rows = Vec::new();
    for lab in realize::state::labs() {
        if let Ok(Some(state)) = State::load(&lab) {
            rows.push(Row {
                lab,
                nodes: state.nodes.len(),
                topology: state.topology.display().to_string(),
                status: "up",
            });
        }
    }
    for (lab, namespaces) in marked {
        if !rows.iter().any(|r| r.lab == lab) {
            rows.push(Row { lab, nodes: namespaces.len(), topology: String::new(), status: "incomplete" });
        }
    }
    if options.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(Verdict::Pass);
    }
    if rows.is_empty() {
        eprintln!("no lab is up");
        return Ok(Verdict::Pass);
    }
    let mut table = Table::new();
    table.load_preset(NOTHING).set_header(["LAB", "NODES", "STATUS", "TOPOLOGY"]);
    for r in &rows {
        table.add_row([r.lab.clone(), r.nodes.to_string(), r.status.to_string(), r.topology.clone()]);
    }
    println!("{table}");
    Ok(Verdict::Pass)
}
