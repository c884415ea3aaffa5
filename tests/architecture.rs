//! What docs/architecture.md says of the layout, checked on the sources: `realize` and
//! `probe` never import each other; only `kernel` (and the sandbox, for its own kernel)
//! enters namespaces; lab runs no `ip`, `bridge`, `tc`, `nft` or `ping`.

use std::path::Path;

fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
    }
    files
}

fn offenders(dir: &str, needle: &str) -> Vec<String> {
    sources(Path::new(dir)).into_iter().filter(|(_, text)| text.contains(needle)).map(|(p, _)| p).collect()
}

#[test]
fn realize_and_probe_never_import_each_other() {
    assert_eq!(offenders("src/probe", "crate::realize"), Vec::<String>::new());
    assert_eq!(offenders("src/realize", "crate::probe"), Vec::<String>::new());
}

#[test]
fn only_the_kernel_module_enters_namespaces() {
    for call in ["setns(", "unshare(", "mount("] {
        let found: Vec<String> = offenders("src", call)
            .into_iter()
            .filter(|p| !p.starts_with("src/kernel/") && !p.starts_with("src/sandbox/"))
            .collect();
        assert_eq!(found, Vec::<String>::new(), "{call}");
    }
}

#[test]
fn lab_runs_none_of_the_tools_the_tests_witness_with() {
    for tool in ["\"ip\"", "\"bridge\"", "\"tc\"", "\"nft\"", "\"ping\"", "\"sysctl\""] {
        let found: Vec<String> = sources(Path::new("src"))
            .into_iter()
            .filter(|(_, text)| text.contains(&format!("Command::new({tool}")))
            .map(|(p, _)| p)
            .collect();
        assert_eq!(found, Vec::<String>::new(), "{tool}");
    }
}

#[test]
fn every_kind_has_its_own_file() {
    for kind in lab::kind::Kind::ALL {
        let file = format!("src/kind/{}.rs", kind.name());
        let text = std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("{file}"));
        assert!(text.starts_with("//! "), "{file} starts with a header saying what it owns");
    }
}
