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
    /// Print JSON: the namespaces removed, and those left alone.
    #[arg(long)]
    json: bool,
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    super::sandbox::reach(&options.lab)?;
    let (name, _) = lab_name_of(&options.lab)?;
    super::need_privileges("down")?;
    let report = realize::down(&name, &Progress::new(0, options.quiet))?;
    for foreign in &report.foreign {
        stderrln!("left alone: namespace {foreign} is not marked as made by lab `{name}`");
    }
    if options.json {
        let down =
            serde_json::json!({ "lab": name, "removed": report.removed, "left_alone": report.foreign });
        stdoutln!("{}", serde_json::to_string_pretty(&down)?);
    }
    if report.removed.is_empty() {
        stderrln!("lab `{name}` is not up: nothing to remove; {}", labs_up_instead(&name));
    } else {
        announce_down(&name, &report);
    }
    Ok(Verdict::Pass)
}

/// "did you mean `nc-type`? (labs up: nc-type, x)", or that no lab is up.
fn labs_up_instead(name: &str) -> String {
    let mut up = crate::state::labs();
    up.extend(super::sandbox::labs().into_iter().map(|s| s.lab));
    up.extend(realize::marked_namespaces().into_keys());
    up.sort();
    up.dedup();
    if up.is_empty() {
        return "no lab is up".into();
    }
    let guess = crate::topology::reader::closest(name, up.iter().map(String::as_str))
        .map(|best| format!("did you mean `{best}`? "))
        .unwrap_or_default();
    format!("{guess}(labs up: {})", up.join(", "))
}
