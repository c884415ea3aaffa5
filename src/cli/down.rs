//! `lab down LAB|FILE`: removes everything of a lab, also when its state is lost.

use super::{Error, Verdict, announce_down, lab_name_of};
use crate::realize::{self, Progress};

#[derive(clap::Args)]
pub struct Options {
    /// A lab name, or its topology file.
    lab: String,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    let (name, _) = lab_name_of(&options.lab)?;
    let report = realize::down(&name, &Progress::new(0, options.quiet))?;
    for foreign in &report.foreign {
        stderrln!("left alone: namespace {foreign} is not marked as made by lab `{name}`");
    }
    announce_down(&name, &report);
    Ok(Verdict::Pass)
}
