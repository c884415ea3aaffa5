//! Scenarios: every step of every staged topology rests on its actions (the same file with
//! one step's actions removed fails that step); live actions with `lab do`, and `lab verify
//! --step` forwards and back, witnessed by `ip`; the action language's errors, located in
//! the file; a kernel without netem refused before anything is made.

mod common;
use common::kernel::{ALL, lab, witness};
use lab::model::KernelFeature::{self, *};
use serde_json::Value;

/// The repository's topologies that have steps.
fn staged() -> Vec<std::path::PathBuf> {
    common::topology_files()
        .into_iter()
        .filter(|f| !lab::topology::load(f).unwrap().lab.unwrap().steps.is_empty())
        .collect()
}

fn needs(file: &std::path::Path) -> Vec<KernelFeature> {
    lab::topology::load(file).unwrap().lab.unwrap().kernel_needs()
}

/// The file cut after step `k` (from 0), with that step's actions removed.
fn without_step_actions(text: &str, k: usize) -> String {
    let mut table: toml::Table = text.parse().unwrap();
    let steps = table.get_mut("step").and_then(|s| s.as_array_mut()).unwrap();
    steps.truncate(k + 1);
    steps[k].as_table_mut().unwrap().insert("do".into(), toml::Value::Array(Vec::new()));
    toml::to_string(&table).unwrap()
}

/// Each step's outcomes in a `lab run --json` report of a staged lab.
fn step_outcomes(report: &Value) -> Vec<(String, Vec<bool>)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let passed = s["outcomes"].as_array().unwrap().iter().map(|o| o["passed"] == true).collect();
            (s["step"].as_str().unwrap().to_string(), passed)
        })
        .collect()
}

/// For every step of each file: without its actions, `lab run` fails, and in that step.
fn every_step_rests_on_its_actions(files: &[std::path::PathBuf]) {
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let model = lab::topology::load(file).unwrap().lab.unwrap();
        for (k, step) in model.steps.iter().enumerate() {
            let variant = common::kernel::write_topology("variant", &without_step_actions(&text, k));
            let (code, out, err) = lab(&["run", "-q", "--json", variant.to_str().unwrap()]);
            let report: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
            let steps = step_outcomes(&report);
            assert_eq!(
                code,
                1,
                "{}: without the actions of `{}`, lab run passes: {out}",
                file.display(),
                step.name
            );
            let (name, passed) = steps.last().unwrap();
            assert_eq!(name, &step.name);
            assert!(
                passed.contains(&false),
                "{}: step `{}` passes without its actions",
                file.display(),
                step.name
            );
            let earlier_pass = steps[..steps.len() - 1].iter().all(|(_, p)| p.iter().all(|x| *x));
            assert!(earlier_pass, "{}: the steps before `{}` pass", file.display(), step.name);
        }
    }
}

fn native_ones() -> Vec<std::path::PathBuf> {
    let native = [Veth, Bridge, Macvlan];
    staged().into_iter().filter(|f| needs(f).iter().all(|n| native.contains(n))).collect()
}

kernel_test!(without_its_actions_each_native_step_fails, [Veth, Bridge, Macvlan], {
    let files = native_ones();
    assert!(files.len() >= 4, "s-links, s-layer3, s-interfaces, s-macvlan-mode: {files:?}");
    every_step_rests_on_its_actions(&files);
});

kernel_test!(without_its_actions_each_step_of_the_chapter_and_the_full_kernel_fails, ALL, {
    let native = native_ones();
    let files: Vec<_> = staged().into_iter().filter(|f| !native.contains(f)).collect();
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into()).collect();
    for expected in
        ["e3-macvlan-vepa.toml", "e7-ipvlan-l3.toml", "e8-docker-ipvlan-l3.toml", "s-impairments.toml"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
    every_step_rests_on_its_actions(&files);
});

fn is_up(ns: &str, dev: &str) -> bool {
    let link = witness("ip", &["-n", ns, "-j", "link", "show", "dev", dev]);
    link[0]["flags"].as_array().unwrap().iter().any(|f| f == "UP")
}

fn v6_addresses(ns: &str, dev: &str) -> Vec<String> {
    let shown = witness("ip", &["-6", "-n", ns, "-j", "address", "show", "dev", dev]);
    shown[0]["addr_info"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| i["scope"] == "global")
                .map(|i| i["local"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn routes(ns: &str) -> Vec<String> {
    let shown = witness("ip", &["-n", ns, "-j", "route", "show"]);
    shown.as_array().unwrap().iter().map(|r| r["dst"].as_str().unwrap().to_string()).collect()
}

kernel_test!(live_actions_and_steps_change_the_lab_as_ip_shows, [Veth, Bridge], {
    let file = "topologies/s-links.toml";
    let (code, _, err) = lab(&["up", "-q", file]);
    assert_eq!(code, 0, "{err}");
    // --dry-run prints the `ip` command and changes nothing.
    let (code, out, err) = lab(&["do", "s-links", "link h2:eth0 down", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ip -n s-links-h2 link set dev eth0 down"), "{out}");
    assert!(is_up("s-links-h2", "eth0"));
    // A bad action changes nothing, and says where it is wrong.
    let (code, _, err) = lab(&["do", "s-links", "link h2:eht0 down"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("eth0") && err.contains("nothing was changed"), "{err}");
    // For real: h2's eth0 goes down, and the initial expectations fail.
    let (code, _, err) = lab(&["do", "-q", "s-links", "link h2:eth0 down"]);
    assert_eq!(code, 0, "{err}");
    assert!(!is_up("s-links-h2", "eth0"));
    assert!(
        v6_addresses("s-links-h2", "eth0").is_empty(),
        "the kernel drops IPv6 addresses of a link that goes down"
    );
    assert!(!routes("s-links-h2").contains(&"10.1.0.0/24".to_string()), "and the routes through it");
    let (code, out, _) = lab(&["verify", "s-links"]);
    assert_eq!(code, 1, "h1 no longer reaches h2: {out}");
    assert!(out.contains("initial + lab do"), "{out}");
    // Back up: lab puts back what the kernel dropped.
    let (code, _, err) = lab(&["do", "-q", "s-links", "link h2:eth0 up"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v6_addresses("s-links-h2", "eth0"), ["2001:db8::2"]);
    assert!(routes("s-links-h2").contains(&"10.1.0.0/24".to_string()));
    // To a step, and back to the initial state.
    let (code, out, err) = lab(&["verify", "-q", "--step", "h2's cable unplugged", "s-links"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !is_up("s-links-h2", "eth0") && !is_up("s-links-sw1", "h2-eth0"),
        "both ends of the cable are down"
    );
    let (code, out, err) = lab(&["verify", "-q", "--step", "initial", "s-links"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(is_up("s-links-h2", "eth0") && is_up("s-links-sw1", "h2-eth0"));
    let (code, _, err) = lab(&["verify", "--step", "no such step", "s-links"]);
    assert_eq!(code, 2);
    assert!(err.contains("its steps are: initial, `h2's link down`"), "{err}");
    let (code, _, err) = lab(&["down", "s-links"]);
    assert_eq!(code, 0, "{err}");
    assert!(common::kernel::namespaces().iter().all(|n| !n.starts_with("s-links-")));
});

kernel_test!(a_step_that_adds_interfaces_leaves_nothing_after_down, [Veth, Bridge, Macvlan], {
    let (code, _, err) = lab(&["up", "-q", "topologies/s-interfaces.toml"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = lab(&["verify", "-q", "--step", "a macvlan child on h1", "s-interfaces"]);
    assert_eq!(code, 0, "{out}{err}");
    let child = witness("ip", &["-n", "s-interfaces-h1", "-d", "-j", "link", "show", "dev", "mv0"]);
    assert_eq!(child[0]["linkinfo"]["info_kind"], "macvlan");
    let port = witness("ip", &["-n", "s-interfaces-sw1", "-j", "link", "show", "dev", "h3-eth0"]);
    assert_eq!(port[0]["master"], "br0", "h3's new cable is a port of sw1");
    lab(&["down", "s-interfaces"]);
    assert!(common::kernel::namespaces().iter().all(|n| !n.starts_with("s-interfaces-")));
});

#[test]
fn a_kernel_without_netem_is_told_before_anything_is_made() {
    if !nix::unistd::geteuid().is_root() || lab::sandbox::inside() {
        return common::kernel::on_kernel(
            "a_kernel_without_netem_is_told_before_anything_is_made",
            [Veth],
            || {},
        );
    }
    let has_netem = lab::kernel::features::missing(&[Netem]).unwrap().is_empty();
    let (code, _, err) = lab(&["up", "-q", "topologies/s-impairments.toml"]);
    if has_netem {
        assert_eq!(code, 0, "{err}");
        lab(&["down", "s-impairments"]);
    } else {
        assert_eq!(code, 2);
        assert!(err.contains("no netem") && err.contains("h1:eth0") && err.contains("--sandbox"), "{err}");
        assert!(
            common::kernel::namespaces().iter().all(|n| !n.starts_with("s-impairments-")),
            "nothing was made"
        );
    }
}

/// The first error of a topology text, with its line and column.
fn first_error(text: &str) -> (String, usize, usize, String) {
    let checked = lab::topology::check(lab::topology::Source::new("t.toml", text));
    let d =
        checked.diagnostics.iter().find(|d| d.is_error()).unwrap_or_else(|| panic!("no error in:\n{text}"));
    let (line, column) = checked.source.line_col(d.span.start);
    (d.message.clone(), line, column, d.help.clone().unwrap_or_default())
}

const BASE: &str = r#"name = "t-steps"
[[switch]]
name = "sw1"
[[host]]
name = "h1"
  [[host.iface]]
  name = "eth0"
  link = "sw1"
  addresses = ["10.0.0.1/24"]
[[host]]
name = "c1"
  [[host.iface]]
  name = "mv0"
  kind = "macvlan"
  parent = "h1:eth0"
  mode = "bridge"
  addresses = ["10.0.0.5/24"]
"#;

fn with_step(actions: &str) -> String {
    format!("{BASE}[[step]]\nname = \"s\"\ndo = [{actions}]\n")
}

#[test]
fn action_errors_point_into_the_action_with_a_fix() {
    // (actions, message, the word it points at, a part of the help)
    let cases: &[(&str, &str, &str, &str)] = &[
        (r#""lnk h1:eth0 down""#, "unknown action `lnk`", "lnk", "did you mean `link`?"),
        (r#""link h2:eth0 down""#, "no node is named `h2`", "h2:eth0", "did you mean `h1`?"),
        (r#""link h1:eth1 down""#, "no interface of `h1` is named `eth1`", "h1:eth1", "did you mean `eth0`?"),
        (r#""link h1:eth0 sideways""#, "`sideways` is not a link state", "sideways", "link NODE:IFACE up"),
        (r#""plug h1:eth0""#, "the cable of h1:eth0 is plugged in", "h1:eth0", "unplug it first"),
        (r#""unplug c1:mv0""#, "c1:mv0 is not the end of a cable", "c1:mv0", "veth"),
        (
            r#""mode c1:mv0 passthru""#,
            "passthru cannot be set or left on a live child",
            "passthru",
            "remove the child",
        ),
        (
            r#""impair h1:eth0 limit=0""#,
            "a queue of 0 packets drops everything: give at least 1",
            "limit=0",
            "",
        ),
        (
            r#""impair h1:eth0 reorder=5%""#,
            "reordering sends some frames ahead of delayed ones: give a `delay` too",
            "reorder",
            "",
        ),
        (
            r#""address del h1:eth0 10.9.9.9/24""#,
            "h1:eth0 has no address 10.9.9.9/24",
            "10.9.9.9",
            "10.0.0.1/24",
        ),
        (r#""route del h1 10.7.0.0/16""#, "h1 has no such route to 10.7.0.0/16", "\"route", ""),
        (r#""remove sw1:h1-eth0""#, "sw1:h1-eth0 is not declared in the file", "sw1:", "h1:eth0"),
        (r#""add h1 { name = 5 }""#, "`name` must be a string", "5", ""),
        (r#""add h1 { name = \"eth0\", link = \"sw1\" }""#, "", "", ""),
    ];
    for (actions, message, word, help) in cases {
        let text = with_step(actions);
        if message.is_empty() {
            // A second eth0 in h1: the whole step is checked like a lab.
            let (got, line, ..) = first_error(&text);
            assert_eq!((got.as_str(), line), ("node `h1` has two interfaces named `eth0`", 20));
            continue;
        }
        let (got, line, col, got_help) = first_error(&text);
        assert_eq!((got.as_str(), line), (*message, 20), "{actions}");
        // `do = [` takes six columns: the actions start at column 7.
        assert_eq!(col, 7 + actions.find(word).unwrap(), "{actions}: {got}");
        assert!(got_help.contains(help), "{actions}: {got_help}");
    }
}

#[test]
fn step_names_are_unique_and_not_initial() {
    let text =
        format!("{BASE}[[step]]\nname = \"initial\"\n[[step]]\nname = \"a\"\n[[step]]\nname = \"a\"\n");
    let checked = lab::topology::check(lab::topology::Source::new("t.toml", text.as_str()));
    let messages: Vec<&str> = checked.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(messages.contains(&"this step name cannot be used"), "{messages:?}");
    assert!(messages.contains(&"two steps are named `a`"), "{messages:?}");
}

#[test]
fn quality_bounds_are_checked() {
    let quality = |keys: &str| format!("{BASE}[[expect]]\nfrom = \"h1\"\nto = \"c1\"\n{keys}\n");
    let (message, ..) = first_error(&quality(r#"rtt = { above = "60ms", below = "40ms" }"#));
    assert!(message.contains("nothing can be in between"), "{message}");
    let (message, ..) = first_error(&quality(r#"loss = { below = "140%" }"#));
    assert!(message.contains("not a percentage from 0 to 100"), "{message}");
    let (message, ..) = first_error(&quality(r#"rtt = { stat = "p99", below = "1ms" }"#));
    assert!(message.contains("not a statistic"), "{message}");
    let (message, ..) = first_error(&quality("probes = 0\nrtt = { below = \"1ms\" }"));
    assert!(message.contains("0 probes cannot be sent"), "{message}");
    let (message, ..) = first_error(&quality(r#"throughput = { above = "fast" }"#));
    assert!(message.contains("not a rate"), "{message}");
    // Too few probes for the bounds: a warning that says how many would do.
    let text = quality("probes = 50\nloss = { above = \"5%\", below = \"15%\" }");
    let checked = lab::topology::check(lab::topology::Source::new("t.toml", text.as_str()));
    let lab = checked.lab.expect("a warning only");
    assert!(checked.diagnostics.iter().any(|d| d.message == "50 probes are too few for these bounds"));
    assert!(matches!(lab.expectations[0].check, lab::model::Check::Quality { probes: 50, .. }));
    // Without `probes`, enough for the bounds: 9 p (1 - p) / h^2 = 324 for 10% +- 5%.
    let text = quality(r#"loss = { above = "5%", below = "15%" }"#);
    let lab = lab::topology::check(lab::topology::Source::new("t.toml", text.as_str())).lab.unwrap();
    assert!(matches!(lab.expectations[0].check, lab::model::Check::Quality { probes: 324..=325, .. }));
}

/// A cable written on both ends, removed by one; a plain switch that gets its first VLAN port.
const CABLE_AND_VLAN: &str = r#"name = "t-both"
[[switch]]
name = "sw1"
[[host]]
name = "h1"
  [[host.iface]]
  name = "eth0"
  link = "h2:eth0"
  addresses = ["10.0.0.1/24"]
  [[host.iface]]
  name = "eth1"
  link = "sw1"
  addresses = ["10.0.1.1/24"]
[[host]]
name = "h2"
  [[host.iface]]
  name = "eth0"
  link = "h1:eth0"
  addresses = ["10.0.0.2/24"]
[[host]]
name = "h3"
[[expect]]
from = "h1"
to = "h2"
reach = true
why = "a cable between h1 and h2, written on both ends, on one subnet, for this test"
[[step]]
name = "cut"
do = ["remove h2:eth0"]
[[step.expect]]
from = "h1"
to = "10.0.0.2"
reach = false
why = "the cable is gone, both of its ends with it, so nothing answers for h2's address"
[[step]]
name = "vlan"
do = ['add h3 { name = "eth0", link = "sw1", access = 10, addresses = ["10.0.1.3/24"] }']
[[step.expect]]
from = "h1"
to = "10.0.1.3"
reach = false
why = "h3's port is in VLAN 10, h1's untagged one is in VLAN 1: the switch keeps them apart"
"#;

#[test]
fn a_removed_cable_goes_whole_and_a_first_vlan_port_turns_filtering_on() {
    let checked = lab::topology::check(lab::topology::Source::new("t.toml", CABLE_AND_VLAN));
    let model = checked.lab.expect("valid");
    let plan = lab::plan::Plan::new(&lab::graph::LabGraph::new(&model)).to_string();
    let (_, steps) = plan.split_once("# step 1: cut\n").unwrap();
    let (cut, vlan) = steps.split_once("# step 2: vlan\n").unwrap();
    assert_eq!(
        cut, "# stage 1: removing interfaces\nip -n t-both-h1 link del dev eth0\n",
        "one cable, one deletion"
    );
    assert!(model.steps[0].lab.node(model.steps[0].lab.node_id("h2").unwrap()).ifaces.is_empty());
    let filtering = vlan.find("ip -n t-both-sw1 link set dev br0 type bridge vlan_filtering 1").expect(vlan);
    let port = vlan.find("bridge -n t-both-sw1 vlan add dev h3-eth0 vid 10 pvid untagged").expect(vlan);
    assert!(filtering < port, "filtering before the port's VLANs: {vlan}");
}
