//! `lab graph FILE`: draws a valid topology as DOT, Mermaid, JSON or SVG on stdout; with
//! `--results`, checks the lab of FILE (which must be up) and draws it in SVG with every
//! expectation's path coloured by its verdict.

use super::verify::{Output, check, lab_that_is_up, state_label, verdict};
use super::{Error, Verdict, load_lab, steps};
use crate::graph::{Format, LabGraph, render, svg};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Options {
    /// Topology file (TOML); with --results, the lab brought up from it (or its name).
    file: PathBuf,
    /// Output format [default: dot, or svg with --results].
    #[arg(long, value_enum)]
    format: Option<Drawing>,
    /// Check the lab, which must be up, and draw the results: each expectation's path in
    /// its verdict's colour (implies --format svg).
    #[arg(long)]
    results: bool,
}

/// `--format`'s values, one per `graph::Format`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Drawing {
    Dot,
    Mermaid,
    Json,
    Svg,
}

impl From<Drawing> for Format {
    fn from(drawing: Drawing) -> Format {
        match drawing {
            Drawing::Dot => Format::Dot,
            Drawing::Mermaid => Format::Mermaid,
            Drawing::Json => Format::Json,
            Drawing::Svg => Format::Svg,
        }
    }
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    if options.results {
        return results(&options);
    }
    let Some((lab, _)) = load_lab(&options.file)? else { return Ok(Verdict::Invalid) };
    stdout!("{}", render(&LabGraph::new(&lab), options.format.unwrap_or(Drawing::Dot).into()));
    Ok(Verdict::Pass)
}

/// Verifies the lab as it stands and draws the results; exits as `lab verify` would.
fn results(options: &Options) -> Result<Verdict, Error> {
    if options.format.is_some_and(|f| f != Drawing::Svg) {
        return Err("--results draws SVG; leave out --format, or write --format svg".into());
    }
    super::need_privileges("graph --results")?;
    let arg = options.file.display().to_string();
    let Some((base, state)) = lab_that_is_up(&arg)? else { return Ok(Verdict::Invalid) };
    let lab = steps::current(&base, &state)?;
    let step = (!base.steps.is_empty()).then(|| state_label(&state));
    let output = Output { timeout: None, json: false, junit: None, pcap: None, html: None };
    let mut checked = check(&lab, &state, step, &output)?;
    crate::explain::paths(&checked.lab, &mut checked.verification);
    stdout!("{}", svg(&LabGraph::new(&checked.lab), Some(&checked.verification)));
    Ok(verdict(&[checked]))
}
