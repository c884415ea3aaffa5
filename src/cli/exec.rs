//! `lab exec LAB NODE -- CMD...`: runs a command inside a node's namespace.

use super::{Error, Verdict, lab_name_of};
use crate::kernel::netns;
use std::os::unix::process::CommandExt;

#[derive(clap::Args)]
pub struct Options {
    /// A lab name, or its topology file.
    lab: String,
    /// The node whose namespace the command runs in.
    node: String,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// Does not return when the command starts: the process becomes the command.
pub fn run(options: Options) -> Result<Verdict, Error> {
    let (lab, nodes) = lab_name_of(&options.lab)?;
    if !nodes.is_empty() && !nodes.contains(&options.node) {
        return Err(format!(
            "lab `{lab}` has no node `{}`; its nodes are: {}",
            options.node,
            nodes.join(", ")
        )
        .into());
    }
    // The namespace `up` recorded for the node: its own, or the one it joins.
    let recorded = crate::state::State::load(&lab).ok().flatten();
    let name = recorded
        .as_ref()
        .and_then(|state| state.node(&options.node))
        .map(|node| node.netns.clone())
        .unwrap_or_else(|| crate::model::netns_name(&lab, &options.node));
    let namespace = netns::open(&name).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("lab `{lab}` has no node `{}` up (no namespace {name}); see `lab ls`", options.node)
        }
        _ => format!("opening namespace {name}: {e}"),
    })?;
    netns::enter_for_exec(&namespace).map_err(|e| format!("entering {name}: {e}"))?;
    let error = std::process::Command::new(&options.command[0]).args(&options.command[1..]).exec();
    Err(format!("running {}: {error}", options.command[0]).into())
}
