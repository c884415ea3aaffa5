//! `lab graph FILE`: draws a valid topology as DOT, Mermaid or JSON on stdout.

use super::{Error, Verdict, load_lab};
use crate::graph::{Format, LabGraph, render};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Options {
    /// Topology file (TOML).
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "dot")]
    format: Format,
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    let Some((lab, _)) = load_lab(&options.file)? else { return Ok(Verdict::Invalid) };
    print!("{}", render(&LabGraph::new(&lab), options.format));
    Ok(Verdict::Pass)
}
