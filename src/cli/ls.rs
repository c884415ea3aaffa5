//! `lab ls`: the labs on this machine, with their node counts and descriptions; `lab ls
//! LAB`: one lab's nodes, each with its namespace and interfaces.

use super::{Error, Verdict};
use crate::realize;
use crate::report::printable;
use crate::state::{self, State};
use comfy_table::{Table, presets::NOTHING};

#[derive(clap::Args)]
pub struct Options {
    /// A lab that is up (its name or topology file): list its nodes and interfaces.
    lab: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One node of a lab, as `lab ls LAB` lists it.
#[derive(serde::Serialize)]
struct NodeRow {
    node: String,
    role: &'static str,
    namespace: String,
    interfaces: Vec<IfaceRow>,
}

#[derive(serde::Serialize)]
struct IfaceRow {
    name: String,
    kind: String,
    addresses: Vec<String>,
}

#[derive(serde::Serialize)]
struct Row {
    lab: String,
    nodes: usize,
    topology: String,
    /// "up", or "incomplete" when namespaces exist without a state (an `up` was killed).
    status: &'static str,
    /// "host" (this machine's kernel), or "sandbox" (the full kernel of `up --sandbox`).
    place: &'static str,
    description: String,
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    if let Some(lab) = &options.lab {
        super::sandbox::reach(lab)?;
        return nodes(lab, options.json);
    }
    let marked = realize::marked_namespaces();
    let mut rows = Vec::new();
    let here = state::labs().into_iter().filter_map(|lab| State::load(&lab).ok().flatten());
    rows.extend(here.map(|state| Row::up(state, "host")));
    rows.extend(super::sandbox::labs().into_iter().map(|state| Row::up(state, "sandbox")));
    for (lab, namespaces) in marked {
        if !rows.iter().any(|r| r.lab == lab) {
            let nodes = namespaces.len();
            let description =
                "namespaces left by an `up` that was killed: remove them with `lab down`".into();
            let topology = String::new();
            rows.push(Row { lab, nodes, topology, status: "incomplete", place: "host", description });
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
    table.load_preset(NOTHING).set_header(["LAB", "NODES", "STATUS", "KERNEL", "TOPOLOGY", "DESCRIPTION"]);
    for r in &rows {
        let row = [&r.lab, &r.nodes.to_string(), r.status, r.place, &r.topology, &r.description];
        table.add_row(row.map(|cell| cell.to_string()));
    }
    stdoutln!("{table}");
    Ok(Verdict::Pass)
}

impl Row {
    fn up(state: State, place: &'static str) -> Row {
        Row {
            lab: state.lab,
            nodes: state.nodes.len(),
            topology: printable(&state.topology.display().to_string()).into_owned(),
            status: "up",
            place,
            description: printable(&state.description.unwrap_or_default()).into_owned(),
        }
    }
}

/// `lab ls LAB`: the nodes of a lab that is up, as it stands (at its step).
fn nodes(arg: &str, json: bool) -> Result<Verdict, Error> {
    let Some((base, state)) = super::verify::lab_that_is_up(arg)? else { return Ok(Verdict::Invalid) };
    let lab = super::steps::current(&base, &state)?;
    let rows: Vec<NodeRow> = lab
        .nodes
        .iter()
        .enumerate()
        .map(|(n, node)| NodeRow {
            node: node.name.clone(),
            role: node.role.as_str(),
            namespace: state
                .node(&node.name)
                .map_or_else(|| lab.netns_name(crate::model::NodeId(n)), |s| s.netns.clone()),
            interfaces: node
                .ifaces
                .iter()
                .filter(|i| i.declared)
                .map(|i| IfaceRow {
                    name: i.name.clone(),
                    kind: i.kind.describe(),
                    addresses: i.addresses.iter().map(ToString::to_string).collect(),
                })
                .collect(),
        })
        .collect();
    if json {
        stdoutln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(Verdict::Pass);
    }
    let mut table = Table::new();
    table.load_preset(NOTHING).set_header(["NODE", "ROLE", "NAMESPACE", "INTERFACES"]);
    for r in &rows {
        let ifaces: Vec<String> = r
            .interfaces
            .iter()
            .map(|i| match i.addresses.is_empty() {
                true => format!("{} ({})", i.name, i.kind),
                false => format!("{} ({}) {}", i.name, i.kind, i.addresses.join(" ")),
            })
            .collect();
        table.add_row([r.node.clone(), r.role.to_string(), r.namespace.clone(), ifaces.join("\n")]);
    }
    stdoutln!("{table}");
    Ok(Verdict::Pass)
}
