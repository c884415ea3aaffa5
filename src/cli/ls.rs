//! `lab ls`: the labs on this machine, with their node counts and descriptions.

use super::{Error, Verdict};
use crate::realize;
use crate::report::printable;
use crate::state::{self, State};
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
    description: String,
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    let marked = realize::marked_namespaces();
    let mut rows = Vec::new();
    for lab in state::labs() {
        if let Ok(Some(state)) = State::load(&lab) {
            rows.push(Row {
                lab,
                nodes: state.nodes.len(),
                topology: printable(&state.topology.display().to_string()).into_owned(),
                status: "up",
                description: printable(&state.description.unwrap_or_default()).into_owned(),
            });
        }
    }
    for (lab, namespaces) in marked {
        if !rows.iter().any(|r| r.lab == lab) {
            let nodes = namespaces.len();
            let description =
                "namespaces left by an `up` that was killed: remove them with `lab down`".into();
            rows.push(Row { lab, nodes, topology: String::new(), status: "incomplete", description });
        }
    }
    if options.json {
        stdoutln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(Verdict::Pass);
    }
    if rows.is_empty() {
        stderrln!("no lab is up");
        return Ok(Verdict::Pass);
    }
    let mut table = Table::new();
    table.load_preset(NOTHING).set_header(["LAB", "NODES", "STATUS", "TOPOLOGY", "DESCRIPTION"]);
    for r in &rows {
        let row = [&r.lab, &r.nodes.to_string(), r.status, &r.topology, &r.description];
        table.add_row(row.map(|cell| cell.to_string()));
    }
    stdoutln!("{table}");
    Ok(Verdict::Pass)
}
