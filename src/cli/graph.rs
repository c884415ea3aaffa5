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
    format: Drawing,
}

/// `--format`'s values, one per `graph::Format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Drawing {
    Dot,
    Mermaid,
    Json,
}

impl From<Drawing> for Format {
    fn from(drawing: Drawing) -> Format {
        match drawing {
            Drawing::Dot => Format::Dot,
            Drawing::Mermaid => Format::Mermaid,
            Drawing::Json => Format::Json,
        }
    }
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    let Some((lab, _)) = load_lab(&options.file)? else { return Ok(Verdict::Invalid) };
    stdout!("{}", render(&LabGraph::new(&lab), options.format.into()));
    Ok(Verdict::Pass)
}
