//! `lab validate FILE...`: a summary of each valid file, every diagnostic of the others.

use super::{Error, Verdict, render_diagnostics};
use crate::report::summary::Summary;
use crate::topology::{self, diagnostic};
use serde::Serialize;
use std::path::{Path, PathBuf};

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
    file: String,
    valid: bool,
    /// Why the file could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    summary: Option<Summary>,
    diagnostics: Vec<diagnostic::JsonDiagnostic<'a>>,
}

/// Checks every file, including those after one that cannot be read.
pub fn run(options: Options) -> Result<Verdict, Error> {
    let loaded: Vec<(&PathBuf, Result<topology::Checked, topology::ReadError>)> =
        options.files.iter().map(|file| (file, topology::load(file))).collect();
    let all_valid = loaded.iter().all(|(_, c)| c.as_ref().is_ok_and(|c| c.lab.is_some()));
    if options.json {
        let reports: Vec<FileReport> = loaded.iter().map(|(file, c)| report(file, c)).collect();
        stdoutln!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for (_, c) in &loaded {
            match c {
                Ok(checked) => print_file(checked),
                Err(e) => stderrln!("error: {e}: {}", e.source),
            }
        }
    }
    Ok(if all_valid { Verdict::Pass } else { Verdict::Invalid })
}

fn report<'a>(file: &Path, loaded: &'a Result<topology::Checked, topology::ReadError>) -> FileReport<'a> {
    match loaded {
        Ok(c) => FileReport {
            file: c.source.name.clone(),
            valid: c.lab.is_some(),
            error: None,
            summary: c.lab.as_ref().map(Summary::of),
            diagnostics: c.diagnostics.iter().map(|d| diagnostic::to_json(&c.source, d)).collect(),
        },
        Err(e) => FileReport {
            file: file.display().to_string(),
            valid: false,
            error: Some(format!("{e}: {}", e.source)),
            summary: None,
            diagnostics: Vec::new(),
        },
    }
}

fn print_file(checked: &topology::Checked) {
    stderr!("{}", render_diagnostics(checked));
    let warnings = match checked.warnings() {
        0 => String::new(),
        1 => ", 1 warning".into(),
        n => format!(", {n} warnings"),
    };
    match &checked.lab {
        Some(lab) => {
            stdoutln!("{}: lab `{}` is valid{warnings}", checked.source.name, lab.name);
            stdout!("{}", Summary::of(lab).to_text());
        }
        None => {
            let errors = match checked.errors() {
                1 => "1 error".into(),
                n => format!("{n} errors"),
            };
            stdoutln!("{}: {errors}{warnings}", checked.source.name);
        }
    }
}
