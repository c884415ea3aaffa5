//! `lab --help` and docs/cli.md describe the same commands and options.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lab")).args(args).arg("--help").output().unwrap();
    String::from_utf8_lossy(&out.stdout).into()
}

/// Every `--long` and `-s` option of a usage line (`lab ...`) or an option entry (`- ...` in
/// the docs, `  -q, --quiet` in the help), but help and version.
fn options(text: &str) -> Vec<String> {
    let entries: Vec<&str> = text
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("lab ") || l.starts_with("- `") || l.starts_with('-'))
        .collect();
    let text = entries.join("\n");
    let is_long = |w: &str| {
        w.starts_with("--") && w.len() > 2 && w[2..].chars().all(|c| c.is_ascii_lowercase() || c == '-')
    };
    let is_short = |w: &str| w.len() == 2 && w.starts_with('-') && w.as_bytes()[1].is_ascii_alphabetic();
    let mut options: Vec<String> = text
        .split(|c: char| c.is_whitespace() || matches!(c, '`' | '[' | ']' | ',' | '(' | ')' | '='))
        .filter(|w| is_long(w) || is_short(w))
        .filter(|w| !matches!(*w, "--help" | "-h" | "--version" | "-V"))
        .map(String::from)
        .collect();
    options.sort();
    options.dedup();
    options
}

/// The commands a help text lists under "Commands:", but `help`.
fn commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

/// The options of `lab COMMAND` and of each of its subcommands.
fn options_of(command: &str) -> Vec<String> {
    let mut all = options(&help(&[command]));
    for sub in commands(&help(&[command])) {
        all.extend(options(&help(&[command, &sub])));
    }
    all.sort();
    all.dedup();
    all
}

#[test]
fn every_command_and_option_of_the_help_is_documented_and_no_other() {
    let docs = std::fs::read_to_string("docs/cli.md").unwrap();
    let commands = commands(&help(&[]));
    assert_eq!(
        commands,
        ["validate", "graph", "up", "down", "ls", "exec", "verify", "capture", "do", "run", "sandbox"]
    );
    for command in commands {
        let heading = format!("## lab {command}\n");
        let start = docs.find(&heading).unwrap_or_else(|| panic!("docs/cli.md has no section `{heading}`"));
        let section = &docs[start + heading.len()..];
        let section = &section[..section.find("\n## ").unwrap_or(section.len())];
        assert_eq!(options(section), options_of(&command), "options of `lab {command}`");
    }
}

#[test]
fn every_subcommand_of_lab_sandbox_is_documented() {
    let docs = std::fs::read_to_string("docs/cli.md").unwrap();
    let section = &docs[docs.find("## lab sandbox\n").expect("docs/cli.md has no `lab sandbox` section")..];
    let subcommands = commands(&help(&["sandbox"]));
    assert_eq!(subcommands, ["shell", "status", "stop"], "the subcommands `lab sandbox --help` lists");
    for sub in subcommands {
        assert!(
            section.contains(&format!("lab sandbox {sub}")),
            "docs/cli.md does not describe `lab sandbox {sub}`"
        );
    }
}
