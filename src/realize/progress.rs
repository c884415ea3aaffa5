//! A progress bar on a terminal (stderr), nothing when output goes elsewhere.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// Shown only when stderr is a terminal and `quiet` is false.
    pub fn new(total: usize, quiet: bool) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::new(total as u64);
        let style = ProgressStyle::with_template("{spinner} {msg:<32} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        Progress(Some(bar))
    }

    pub fn hidden() -> Progress {
        Progress(None)
    }

    /// For work whose size is known only once it starts.
    pub fn set_total(&self, total: usize) {
        if let Some(bar) = &self.0 {
            bar.set_length(total as u64);
        }
    }

    pub fn stage(&self, title: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(title.to_string());
        }
    }

    pub fn advance(&self, steps: usize) {
        if let Some(bar) = &self.0 {
            bar.inc(steps as u64);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
