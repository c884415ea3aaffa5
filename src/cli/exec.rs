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
    /// Print JSON once the command ends: its exit status and what it printed.
    #[arg(long)]
    json: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// Does not return when the command starts: the process becomes the command.
pub fn run(options: Options) -> Result<Verdict, Error> {
    super::sandbox::reach(&options.lab)?;
    let (lab, nodes) = lab_name_of(&options.lab)?;
    super::need_privileges("exec")?;
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
            format!("lab `{lab}` has no node `{}` up (no namespace {name}); see `lab ls {lab}`", options.node)
        }
        _ => format!("opening namespace {name}: {e}"),
    })?;
    netns::enter_for_exec(&namespace).map_err(|e| format!("entering {name}: {e}"))?;
    let mut command = std::process::Command::new(&options.command[0]);
    command.args(&options.command[1..]);
    if options.json {
        reported(&lab, &options, command);
    }
    let error = command.exec();
    let (code, what) = not_run(&error);
    stderrln!("lab exec: {}: {what}", options.command[0]);
    std::process::exit(code)
}

/// The exit status and words a shell gives a command it cannot run: 127 when there is no
/// such command, 126 when it cannot be executed.
fn not_run(error: &std::io::Error) -> (i32, String) {
    match error.kind() {
        std::io::ErrorKind::NotFound => (127, "command not found".into()),
        std::io::ErrorKind::PermissionDenied => (126, "permission denied (not executable)".into()),
        _ => (126, crate::kernel::lowercase_first(&error.to_string())),
    }
}

/// Runs the command to its end and prints `{lab, node, command, exit, stdout, stderr}`;
/// exits as the command did.
fn reported(lab: &str, options: &Options, mut command: std::process::Command) -> ! {
    let (exit, stdout, stderr) = match command.output() {
        Ok(out) => (
            out.status
                .code()
                .unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&out.status).unwrap_or(0)),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        Err(error) => {
            let (code, what) = not_run(&error);
            (code, String::new(), format!("lab exec: {}: {what}\n", options.command[0]))
        }
    };
    let report = serde_json::json!({
        "lab": lab,
        "node": options.node,
        "command": options.command,
        "exit": exit,
        "stdout": stdout,
        "stderr": stderr,
    });
    stdoutln!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    std::process::exit(exit)
}
