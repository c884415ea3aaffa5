//! Why a check failed: a catalogue of broken topologies (`tests/broken/`), each saying in a
//! comment the line its failing expectation must be explained with (`# explain N: ...`).
//! Each is brought up for real and verified; the explanation must be exactly that line, in
//! the JSON walk (with the hop it stopped at) and in the table a user reads. Topologies
//! whose link kinds this kernel has run natively, the rest in the full kernel, one boot.

mod common;

use common::kernel::{ALL, lab};
use lab::model::KernelFeature::{self, Bridge, Macvlan, Veth, Vxlan};
use std::path::{Path, PathBuf};

/// The link kinds of the catalogue's first half, which this machine's kernel has.
const HOST_KINDS: [KernelFeature; 4] = [Veth, Bridge, Macvlan, Vxlan];

struct Broken {
    path: PathBuf,
    /// (expectation, the explanation it must get): `N`, or `STEP/N` in a step.
    explained: Vec<(String, String)>,
    /// (expectation, what the path watcher's sightings along the walk must say).
    seen: Vec<(String, String)>,
    needs: Vec<KernelFeature>,
}

fn catalogue() -> Vec<Broken> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("tests/broken exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let numbered = |prefix: &str| -> Vec<(String, String)> {
                text.lines()
                    .filter_map(|l| l.strip_prefix(prefix))
                    .map(|l| {
                        let (n, line) = l.split_once(": ").expect("# WORD [STEP/]N: LINE");
                        (n.to_string(), line.to_string())
                    })
                    .collect()
            };
            let (explained, seen) = (numbered("# explain "), numbered("# seen "));
            let needs = lab::topology::load(&path)
                .unwrap()
                .lab
                .expect("a broken topology still validates")
                .kernel_needs();
            Broken { path, explained, seen, needs }
        })
        .collect()
}

/// Runs each topology of the catalogue that `pick` takes; every mismatch is reported.
fn explains(pick: impl Fn(&Broken) -> bool) -> usize {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for broken in catalogue().iter().filter(|b| pick(b)) {
        checked += 1;
        let file = broken.path.to_str().unwrap();
        let (code, out, err) = lab(&["run", "-q", "--json", "--timeout", "1s", file]);
        let name = broken.path.file_name().unwrap().to_string_lossy();
        let Ok(report) = serde_json::from_str::<serde_json::Value>(&out) else {
            wrong.push(format!("{name}: no JSON (exit {code}): {out}{err}"));
            continue;
        };
        if code != 1 {
            wrong.push(format!("{name}: exit {code}, not 1 (a failure)"));
        }
        for (number, expected) in &broken.explained {
            let outcome = outcome_of(&report, number);
            let explanation = outcome["walk"]["explanation"].as_str().unwrap_or("(none)");
            if outcome["passed"] != false || outcome["decided"] != true {
                wrong.push(format!("{name} #{number}: did not fail: {outcome}"));
            } else if explanation != expected {
                wrong.push(format!("{name} #{number}:\n  expected: {expected}\n  got:      {explanation}"));
            } else if !expected.starts_with("nothing") && outcome["walk"]["stop"]["at"].as_str().is_none() {
                wrong.push(format!("{name} #{number}: the JSON walk names no stop: {}", outcome["walk"]));
            }
        }
        for (number, expected) in &broken.seen {
            let seen = outcome_of(&report, number)["walk"]["seen"].as_str().unwrap_or("(none)");
            if seen != expected {
                wrong.push(format!("{name} #{number} seen:\n  expected: {expected}\n  got:      {seen}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} of the catalogue explained wrongly:\n{}", wrong.len(), wrong.join("\n"));
    checked
}

/// Outcome `N` of a report, or `STEP/N` of a step's.
fn outcome_of<'r>(report: &'r serde_json::Value, which: &str) -> &'r serde_json::Value {
    let (step, number) = match which.rsplit_once('/') {
        Some((step, n)) => (Some(step), n),
        None => (None, which),
    };
    let index = number.parse::<usize>().expect("an expectation number") - 1;
    match step {
        None => &report["outcomes"][index],
        Some(step) => {
            let steps = report["steps"].as_array().map(Vec::as_slice).unwrap_or_default();
            let found = steps.iter().find(|s| s["step"] == step).unwrap_or(&serde_json::Value::Null);
            &found["outcomes"][index]
        }
    }
}

fn only_host_kinds(broken: &Broken) -> bool {
    broken.needs.iter().all(|n| HOST_KINDS.contains(n))
}

#[test]
fn the_catalogue_has_a_dozen_broken_topologies_each_with_its_explanation() {
    let catalogue = catalogue();
    assert!(catalogue.len() >= 12, "only {} broken topologies", catalogue.len());
    for broken in &catalogue {
        assert!(!broken.explained.is_empty(), "{} says no `# explain N:` line", broken.path.display());
    }
}

kernel_test!(broken_topologies_of_cables_bridges_and_macvlan_are_explained, HOST_KINDS, {
    assert!(explains(only_host_kinds) >= 20);
});

kernel_test!(broken_topologies_of_vlans_and_ipvlan_are_explained, ALL, {
    assert!(explains(|b| !only_host_kinds(b)) >= 10);
});

kernel_test!(a_failure_in_the_table_says_where_and_why_under_its_observation, HOST_KINDS, {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken/no-return-route.toml");
    let (code, out, err) = lab(&["run", "-q", "--timeout", "1s", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let block: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("FAIL #1")).take(5).collect();
    assert!(block[2].starts_with("  observed: "), "{out}");
    assert_eq!(
        block[3], "  explain:  the reply stopped at h2: no route to 10.0.1.2 (network unreachable)",
        "{out}"
    );
});

kernel_test!(an_expectation_that_passes_gets_no_walk, HOST_KINDS, {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken/reached-after-all.toml");
    let text = std::fs::read_to_string(&file).unwrap().replace("reach = false", "reach = true");
    let path = common::kernel::write_topology("x-reached", &text);
    let (code, out, err) = lab(&["run", "-q", "--json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(report["outcomes"][0].get("walk").is_none(), "{out}");
});

/// The docs page's walkthroughs and its table of reasons say what the catalogue checks: each
/// `explain:` line under a `lab run tests/broken/FILE` is that file's, and each row's line
/// starts the explanation of every file the row names.
#[test]
fn the_docs_page_shows_the_explanations_the_catalogue_checks() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/when-a-check-fails.md"))
            .unwrap();
    let catalogue = catalogue();
    let explanation_of = |file: &str| -> String {
        let broken = catalogue.iter().find(|b| b.path.ends_with(file)).unwrap_or_else(|| panic!("no {file}"));
        broken.explained[0].1.clone()
    };
    let mut walked = 0;
    let mut file = None;
    for line in page.lines() {
        if let Some(command) = line.strip_prefix("$ lab run ") {
            file =
                command.split_whitespace().last().map(|f| f.trim_start_matches("tests/broken/").to_string());
        }
        if let (Some(shown), Some(f)) = (line.strip_prefix("  explain:  "), &file) {
            assert_eq!(shown, explanation_of(f), "the page's walkthrough of {f}");
            walked += 1;
        }
        if let (Some(shown), Some(f)) = (line.strip_prefix("  seen:     "), &file) {
            let broken = catalogue.iter().find(|b| b.path.ends_with(f)).unwrap();
            assert_eq!(
                Some(shown),
                broken.seen.first().map(|(_, s)| s.as_str()),
                "the page's sightings of {f}"
            );
        }
    }
    assert_eq!(walked, 3, "three walkthroughs");
    let mut rows = 0;
    for row in page.lines().filter(|l| l.starts_with("| `") && l.contains(".toml`")) {
        let said = row.split('`').nth(1).unwrap().split("...").next().unwrap().trim_end();
        let files = row.rsplit('|').nth(1).unwrap();
        for f in files.split('`').filter(|f| f.ends_with(".toml")) {
            let explained = explanation_of(f);
            assert!(
                explained.starts_with(said),
                "the row `{said}` for {f}, which is explained as `{explained}`"
            );
        }
        rows += 1;
    }
    assert!(rows >= 12, "{rows} rows");
}

/// A broken topology of the catalogue with one change, run: the fixes the docs page gives.
fn fixed(file: &str, name: &str, from: &str, to: &str) -> (i32, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken").join(file);
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{file} has `{from}`");
    let text = text.replacen(from, to, 1).replacen("name = \"x-", &format!("name = \"{name}-"), 1);
    let written = common::kernel::write_topology(name, &text);
    let (code, out, err) = lab(&["run", "-q", written.to_str().unwrap()]);
    (code, format!("{out}{err}"))
}

kernel_test!(the_fixes_the_docs_page_gives_make_the_checks_pass, HOST_KINDS, {
    let (code, out) = fixed(
        "vepa-no-hairpin.toml",
        "fix-hairpin",
        "link = \"sw1\"\n",
        "link = \"sw1\"\n  hairpin = true\n",
    );
    assert_eq!(code, 0, "hairpin = true on net1:eth0 lets VEPA siblings meet:\n{out}");
    let (code, out) = fixed("rp-filter.toml", "fix-rp", "via = \"10.0.2.2\"", "via = \"10.0.5.1\"");
    assert_eq!(code, 0, "the route back through r0:\n{out}");
});

kernel_test!(the_trunk_fix_of_the_docs_page_makes_the_check_pass, ALL, {
    let (code, out) =
        fixed("vlan-not-on-trunk.toml", "fix-trunk", "trunk = [10, 20]", "trunk = [10, 20, 30]");
    assert_eq!(code, 0, "VLAN 30 on the trunk:\n{out}");
});

kernel_test!(the_kernel_answers_as_the_rp_filter_walkthrough_says, HOST_KINDS, {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken/rp-filter.toml");
    let up = common::kernel::UpLab::up(
        &std::fs::read_to_string(path).unwrap().replace("x-rp-filter", "x-rp-witness"),
    );
    let ns = up.netns("r1");
    let get = |args: &[&str]| {
        let out =
            std::process::Command::new("ip").args(["-n", &ns, "route", "get"]).args(args).output().unwrap();
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };
    assert!(get(&["10.0.2.2", "from", "10.0.1.2", "iif", "eth0"]).contains("Invalid argument"));
    assert!(get(&["10.0.1.2"]).contains("via 10.0.2.2 dev eth1"));
});
