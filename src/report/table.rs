//! A verification for people: one table row per expectation, then each failure in full
//! with what was expected, what was seen, and why it should have been otherwise.

use crate::probe::Verification;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use std::fmt::Write;

pub fn render(verification: &Verification, width: Option<u16>) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(width) = width {
        table.set_width(width);
    }
    table.set_header(["#", "check", "expected", "observed", ""]);
    for o in &verification.outcomes {
        let mark = match (o.passed, o.decided) {
            (true, _) => "pass",
            (false, true) => "FAIL",
            (false, false) => "UNDECIDED",
        };
        table.add_row([
            o.number.to_string(),
            o.check.clone(),
            o.expected.clone(),
            o.observed.clone(),
            mark.to_string(),
        ]);
    }
    let mut out = format!("{table}\n");
    for o in verification.outcomes.iter().filter(|o| !o.passed) {
        let mark = if o.decided { "FAIL" } else { "UNDECIDED" };
        let _ = writeln!(out, "\n{mark} #{} (line {}): {}", o.number, o.line, o.check);
        let _ = writeln!(out, "  expected: {}", o.expected);
        let _ = writeln!(out, "  observed: {}", o.observed);
        if let Some(why) = &o.why {
            let _ = writeln!(out, "  why:      {why}");
        }
        if let Some(walk) = o.walk.as_ref().filter(|_| o.decided) {
            let _ = writeln!(out, "  explain:  {}", walk.summary());
            if let Some(seen) = walk.sightings() {
                let _ = writeln!(out, "  seen:     {seen}");
            }
        }
    }
    let failed = verification.failed();
    let total = verification.outcomes.len();
    let undecided = match verification.undecided() {
        0 => String::new(),
        n => format!(", {n} of them could not be decided"),
    };
    let _ = writeln!(
        out,
        "\nlab `{}`: {} of {total} expectations {}{undecided} ({:.2} s)",
        verification.lab,
        if failed == 0 { total } else { failed },
        if failed == 0 { "passed" } else { "FAILED" },
        verification.elapsed.as_secs_f64()
    );
    out
}

/// The line above a step's table: "── step `add routes` ──".
pub fn step_heading(step: &str) -> String {
    format!("\n── step `{}` ──", crate::report::printable(step))
}
