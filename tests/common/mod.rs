//! Helpers shared by the integration tests.
#![allow(dead_code)]

use lab::topology::{self, Checked, Severity, Source};

/// Checks topology text as the file `test.toml`.
pub fn check(text: &str) -> Checked {
    topology::check(Source::new("test.toml", text))
}

/// Every diagnostic as `line:col severity: message`.
pub fn diagnostics(text: &str) -> Vec<String> {
    let checked = check(text);
    checked
        .diagnostics
        .iter()
        .map(|d| {
            let (line, col) = checked.source.line_col(d.span.start);
            let severity = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            format!("{line}:{col} {severity}: {}", d.message)
        })
        .collect()
}

/// Asserts that checking `text` reports an error with `message` at `line:col`.
#[track_caller]
pub fn assert_error(text: &str, at: &str, message: &str) {
    let found = diagnostics(text);
    let wanted = format!("{at} error: {message}");
    assert!(found.iter().any(|d| d == &wanted), "wanted `{wanted}`\nfound:\n{}", found.join("\n"));
    assert!(check(text).lab.is_none(), "a topology with errors must not produce a lab");
}

/// Asserts a warning, and that the topology is still valid.
#[track_caller]
pub fn assert_warning(text: &str, at: &str, message: &str) {
    let found = diagnostics(text);
    let wanted = format!("{at} warning: {message}");
    assert!(found.iter().any(|d| d == &wanted), "wanted `{wanted}`\nfound:\n{}", found.join("\n"));
    assert!(check(text).lab.is_some(), "warnings alone must leave the topology valid:\n{}", found.join("\n"));
}

/// Asserts that the text is valid and has no diagnostics at all.
#[track_caller]
pub fn assert_clean(text: &str) {
    let found = diagnostics(text);
    assert!(
        found.is_empty() && check(text).lab.is_some(),
        "expected a clean topology, found:\n{}",
        found.join("\n")
    );
}

/// Whether a topology's lab needs NAT, which the sandbox's kernel lacks (no nf_tables for
/// IPv4): such labs run natively.
pub fn needs_nat(file: &std::path::Path) -> bool {
    let lab = topology::load(file).unwrap().lab.unwrap();
    lab.kernel_needs().contains(&lab::model::KernelFeature::Nat)
}

/// The repository's topologies.
pub fn topology_files() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("topologies/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// Runs a witness program with `input` on its stdin; its output. `install` says where the
/// program comes from, for when it is missing.
pub fn piped_through(program: &str, args: &[&str], input: &str, install: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs ({install}): {e}"));
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

pub mod kernel;
