//! `lab validate FILE...`: a summary of each valid file, every diagnostic of the others.

use super::{Error, Verdict, render_diagnostics};
use crate::report::summary::Summary;
use crate::topology::{self, diagnostic};
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Options {
    /// Topology files (TOML).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print one JSON document with each file's summary and diagnostics.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct FileReport<'a> {
    file: &'a str,
    valid: bool,
    summary: Option<Summary>,
    diagnostics: Vec<diagnostic::JsonDiagnostic<'a>>,
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    let mut checked = Vec::new();
    for file in &options.files {
        checked.push(topology::load(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?);
    }
    let all_valid = checked.iter().all(|c| c.lab.is_some());
    if options.json {
        let reports: Vec<FileReport> = checked
            .iter()
            .map(|c| FileReport {
                file: &c.source.name,
                valid: c.lab.is_some(),
                summary: c.lab.as_ref().map(Summary::of),
                diagnostics: c.diagnostics.iter().map(|d| diagnostic::to_json(&c.source, d)).collect(),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for c in &checked {
            print_file(c);
        }
    }
    Ok(if all_valid { Verdict::Pass } else { Verdict::Invalid })
}

fn print_file(checked: &topology::Checked) {
    eprint!("{}", render_diagnostics(checked));
    let warnings = match checked.warnings() {
        0 => String::new(),
        1 => ", 1 warning".into(),
        n => format!(", {n} warnings"),
    };
    match &checked.lab {
        Some(lab) => {
            println!("{}: lab `{}` is valid{warnings}", checked.source.name, lab.name);
            print!("{}", Summary::of(lab).to_text());
        }
        None => {
            let errors = match checked.errors() {
                1 => "1 error".into(),
                n => format!("{n} errors"),
            };
            println!("{}: {errors}{warnings}", checked.source.name);
        }
    }
}
