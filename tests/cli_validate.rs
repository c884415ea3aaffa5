//! `lab validate` and `lab graph` as a user runs them: output and exit status.

use std::process::Command;

fn lab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lab")).args(args).output().expect("lab runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn write_temp(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("lab-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_valid_file_prints_its_summary_and_exits_0() {
    let (code, out, _) = lab(&["validate", "topologies/e9-vlan-tagging.toml"]);
    assert_eq!(code, 0);
    assert!(out.contains("lab `e9-vlan-tagging` is valid"), "{out}");
    assert!(out.contains("nodes         5: 3 hosts, 1 router, 1 switch"), "{out}");
    assert!(out.contains("VLANs         10, 19, 20"), "{out}");
    assert!(out.contains("2 × macvlan bridge, 4 × vlan 802.1Q"), "{out}");
}

#[test]
fn an_invalid_file_prints_every_error_with_its_place_and_exits_2() {
    let path = write_temp(
        "bad.toml",
        "name = \"t\"\n[[host]]\nname = \"h\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw9\"\n",
    );
    let (code, out, err) = lab(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.contains("bad.toml: 1 error"), "{out}");
    assert!(err.contains("unknown switch `sw9`"), "{err}");
    assert!(err.contains("bad.toml:6:10"), "the report names file:line:column: {err}");
    assert!(err.contains("help:"), "the report says how to fix it: {err}");
}

#[test]
fn warnings_are_shown_but_exit_0() {
    let path = write_temp(
        "warn.toml",
        "name = \"t\"\n[[host]]\nname = \"h\"\n  [[host.iface]]\n  name = \"d\"\n  kind = \"dummy\"\n  [[host.iface]]\n  name = \"mv\"\n  kind = \"macvlan\"\n  parent = \"d\"\n",
    );
    let (code, out, err) = lab(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("is valid, 1 warning"), "{out}");
    assert!(err.contains("it will be vepa"), "{err}");
}

#[test]
fn json_output_carries_summaries_and_located_diagnostics() {
    let bad = write_temp("bad2.toml", "name = \"t\"\n[[host]]\nname = \"h\"\nrouts = []\n");
    let (code, out, _) = lab(&["validate", "--json", "topologies/m-none.toml", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    let reports: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reports[0]["valid"], true);
    assert_eq!(reports[0]["summary"]["nodes"]["host"], 1);
    assert_eq!(reports[1]["valid"], false);
    let d = &reports[1]["diagnostics"][0];
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(4), Some(1)));
    assert_eq!(d["message"], "unknown key `routs` in a [[host]]");
    assert_eq!(d["help"], "did you mean `routes`?");
}

#[test]
fn a_missing_file_is_an_error_exit_2_and_the_other_files_are_still_checked() {
    let (code, out, err) = lab(&["validate", "no/such/file.toml", "topologies/e1-macvlan-children.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read no/such/file.toml"), "{err}");
    assert!(out.contains("topologies/e1-macvlan-children.toml: lab `e1-macvlan` is valid"), "{out}");
    let (code, json, _) = lab(&["validate", "--json", "no/such/file.toml"]);
    assert_eq!(code, 2);
    let reports: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(reports[0]["valid"], false);
    assert!(reports[0]["error"].as_str().unwrap().contains("cannot read no/such/file.toml"), "{json}");
}

#[test]
fn graph_prints_dot_by_default_and_other_formats_on_request() {
    let (code, dot, _) = lab(&["graph", "topologies/e4-macvlan-bridge.toml"]);
    assert_eq!(code, 0);
    assert!(dot.starts_with("digraph \"e4-macvlan-bridge\""), "{dot}");
    assert!(dot.contains("subgraph \"cluster_"), "one cluster per node");
    let (code, mermaid, _) = lab(&["graph", "--format", "mermaid", "topologies/e4-macvlan-bridge.toml"]);
    assert_eq!(code, 0);
    assert!(mermaid.starts_with("flowchart LR"));
    let (code, json, _) = lab(&["graph", "--format", "json", "topologies/e4-macvlan-bridge.toml"]);
    assert_eq!(code, 0);
    let graph: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(!graph["order"].as_array().unwrap().is_empty(), "{json}");
    let (code, svg, _) = lab(&["graph", "--format", "svg", "topologies/e4-macvlan-bridge.toml"]);
    assert_eq!(code, 0);
    assert!(svg.starts_with("<svg "), "{svg}");
    let (code, _, err) = lab(&["graph", "--format", "png", "topologies/e4-macvlan-bridge.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("possible values: dot, mermaid, json, svg"), "{err}");
}

#[test]
fn a_file_that_is_not_utf8_is_an_error_at_its_first_bad_byte() {
    let dir = std::env::temp_dir().join(format!("lab-latin1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("latin1.toml");
    std::fs::write(&path, b"name = \"t\"\ndescription = \"caf\xe9\"\n").unwrap();
    let (code, _, err) = lab(&["validate", path.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("the file is not UTF-8 text"), "{err}");
    assert!(err.contains("latin1.toml:2:19"), "{err}");
}

#[test]
fn a_lab_argument_that_is_neither_a_file_nor_a_lab_name_is_refused() {
    for arg in ["bad/name", "", "../x"] {
        let (code, _, err) = lab(&["down", arg]);
        assert_eq!(code, 2, "{arg}");
        assert!(err.contains("is neither a topology file nor a lab name"), "{err}");
    }
}
