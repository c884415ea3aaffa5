//! Why a check failed: a catalogue of broken topologies (`tests/broken/`), each saying in a
//! comment the line its failing expectation must be explained with (`# explain N: ...`).
//! Each is brought up for real and verified; the explanation must be exactly that line, in
//! the JSON walk (with the hop it stopped at) and in the table a user reads. Topologies
//! whose link kinds this kernel has run natively, the rest in the full kernel, one boot.

mod common;

use common::kernel::{ALL, lab};
use lab::model::KernelFeature::{self, Bridge, Macvlan, Veth};
use std::path::{Path, PathBuf};

/// The link kinds of the catalogue's first half, which this machine's kernel has.
const HOST_KINDS: [KernelFeature; 3] = [Veth, Bridge, Macvlan];

struct Broken {
    path: PathBuf,
    /// (expectation number, the explanation it must get).
    explained: Vec<(usize, String)>,
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
            let explained = text
                .lines()
                .filter_map(|l| l.strip_prefix("# explain "))
                .map(|l| {
                    let (n, line) = l.split_once(": ").expect("# explain N: LINE");
                    (n.parse().expect("an expectation number"), line.to_string())
                })
                .collect();
            let needs = lab::topology::load(&path)
                .unwrap()
                .lab
                .expect("a broken topology still validates")
                .kernel_needs();
            Broken { path, explained, needs }
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
            let outcome = &report["outcomes"][number - 1];
            let explanation = outcome["walk"]["explanation"].as_str().unwrap_or("(none)");
            if outcome["passed"] != false || outcome["decided"] != true {
                wrong.push(format!("{name} #{number}: did not fail: {outcome}"));
            } else if explanation != expected {
                wrong.push(format!("{name} #{number}:\n  expected: {expected}\n  got:      {explanation}"));
            } else if !expected.starts_with("nothing") && outcome["walk"]["stop"]["at"].as_str().is_none() {
                wrong.push(format!("{name} #{number}: the JSON walk names no stop: {}", outcome["walk"]));
            }
        }
    }
    assert!(wrong.is_empty(), "{} of the catalogue explained wrongly:\n{}", wrong.len(), wrong.join("\n"));
    checked
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
    assert!(explains(only_host_kinds) >= 12);
});

kernel_test!(broken_topologies_of_vlans_and_ipvlan_are_explained, ALL, {
    assert!(explains(|b| !only_host_kinds(b)) >= 7);
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
