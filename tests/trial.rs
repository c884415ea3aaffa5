//! What a new user tripped on, each fixed and checked as they would notice it: exit codes
//! and messages of `exec`, `down` and the verbs without root, `--json` on every verb, `ls
//! LAB`, a note when the file of a lab that is up has changed, one value for a list key,
//! articles and repeated names in diagnostics, a VLAN sub-interface whose switch port does
//! not carry its VLAN, and `tagged` with the VLANs of a routed probe.

mod common;

use common::kernel::{UpLab, lab, write_topology};
use common::{assert_warning, diagnostics};
use lab::model::KernelFeature::{BridgeVlanFiltering, Veth, Vlan};
use std::process::Command;

const PAIR: &str = r#"name = "t-trial"
[[host]]
name = "h1"
  [[host.iface]]
  name = "eth0"
  link = "h2:eth0"
  addresses = ["10.0.0.1/24"]
[[host]]
name = "h2"
  [[host.iface]]
  name = "eth0"
  link = "h1:eth0"
  addresses = ["10.0.0.2/24"]
[[expect]]
from = "h1"
to = "h2"
reach = true
"#;

/// Every diagnostic as `lab validate` prints it: message, labels and help.
fn rendered(text: &str) -> String {
    let checked = common::check(text);
    lab::topology::diagnostic::render(&checked.source, &checked.diagnostics, false)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("JSON ({e}): {text}"))
}

kernel_test!(exec_exits_as_a_shell_does_for_a_command_it_cannot_run, &[Veth], {
    let up = UpLab::up(&PAIR.replace("t-trial", "t-exec-codes"));
    let (code, _, err) = lab(&["exec", &up.name, "h1", "--", "nosuchcmd"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("nosuchcmd: command not found"), "{err}");
    let file = write_topology("not-executable", "echo hi\n");
    let (code, _, err) = lab(&["exec", &up.name, "h1", "--", file.to_str().unwrap()]);
    assert_eq!(code, 126, "{err}");
    let (code, out, _) = lab(&["exec", &up.name, "h1", "--", "sh", "-c", "exit 7"]);
    assert_eq!(code, 7, "{out}");
});

kernel_test!(every_verb_that_changes_a_lab_speaks_json, &[Veth], {
    let path = write_topology("t-json-verbs", &PAIR.replace("t-trial", "t-json-verbs"));
    let (code, out, err) = lab(&["up", "-q", "--json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let up = json(&out);
    assert_eq!(up["lab"], "t-json-verbs");
    let nodes: Vec<&str> =
        up["nodes"].as_array().unwrap().iter().map(|n| n["namespace"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["t-json-verbs-h1", "t-json-verbs-h2"]);
    let (code, out, _) =
        lab(&["exec", "--json", "t-json-verbs", "h2", "--", "ip", "-br", "addr", "show", "eth0"]);
    let exec = json(&out);
    assert_eq!((code, exec["exit"].as_i64()), (0, Some(0)));
    assert!(exec["stdout"].as_str().unwrap().contains("10.0.0.2/24"), "{out}");
    let (code, out, _) = lab(&["exec", "--json", "t-json-verbs", "h2", "--", "nosuchcmd"]);
    assert_eq!((code, json(&out)["exit"].as_i64()), (127, Some(127)));
    let (code, out, _) = lab(&["ls", "--json", "t-json-verbs"]);
    assert_eq!(code, 0);
    let listed = json(&out);
    assert_eq!(listed[0]["node"], "h1");
    assert_eq!(listed[0]["interfaces"][0]["name"], "eth0");
    assert_eq!(listed[0]["interfaces"][0]["addresses"][0], "10.0.0.1/24");
    let (code, out, _) = lab(&["down", "--json", "t-json-verbs"]);
    assert_eq!(code, 0);
    let down = json(&out);
    assert_eq!(down["removed"].as_array().unwrap().len(), 2, "{out}");
    assert!(!common::kernel::namespaces().iter().any(|n| n.starts_with("t-json-verbs-")));
});

kernel_test!(ls_of_a_lab_lists_its_nodes_and_interfaces, &[Veth], {
    let up = UpLab::up(&PAIR.replace("t-trial", "t-ls-nodes"));
    let (code, out, err) = lab(&["ls", &up.name]);
    assert_eq!(code, 0, "{err}");
    let h1 = out.lines().find(|l| l.trim_start().starts_with("h1 ")).unwrap_or_else(|| panic!("{out}"));
    assert!(
        h1.contains("host") && h1.contains("t-ls-nodes-h1") && h1.contains("eth0 (veth) 10.0.0.1/24"),
        "{h1}"
    );
    let (_, _, err) = lab(&["exec", &up.name, "h9", "--", "true"]);
    assert!(err.contains(&format!("see `lab ls {}`", up.name)), "{err}");
});

kernel_test!(down_of_a_lab_that_is_not_up_names_the_labs_that_are, &[Veth], {
    let up = UpLab::up(&PAIR.replace("t-trial", "t-down-typo"));
    let (code, _, err) = lab(&["down", "t-down-tpyo"]);
    assert_eq!(code, 0);
    assert!(err.contains("did you mean `t-down-typo`?"), "{err}");
    assert!(err.contains("labs up: ") && err.contains(&up.name), "{err}");
});

kernel_test!(verify_by_name_says_when_the_file_changed_since_up, &[Veth], {
    let text = PAIR.replace("t-trial", "t-changed");
    let _up = UpLab::up(&text);
    let path = write_topology("t-changed", &text.replace("10.0.0.2/24", "10.0.0.3/24"));
    let (code, _, err) = lab(&["verify", "t-changed"]);
    assert_eq!(code, 0, "the lab as it was brought up passes: {err}");
    assert!(
        err.contains(&format!("note: {} has changed since lab `t-changed` was brought up", path.display())),
        "{err}"
    );
    let (code, _, err) = lab(&["verify", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("has changed since lab `t-changed` was brought up"), "{err}");
});

const STICK: &str = r#"name = "t-stick"
[[switch]]
name = "sw1"
[[router]]
name = "r1"
  [[router.iface]]
  name = "eth0"
  link = "sw1"
  trunk = [10, 20]
  [[router.iface]]
  kind = "vlan"
  parent = "eth0"
  id = 10
  addresses = ["10.0.10.1/24"]
  [[router.iface]]
  kind = "vlan"
  parent = "eth0"
  id = 20
  addresses = ["10.0.20.1/24"]
[[host]]
name = "h1"
  [[host.iface]]
  name = "eth0"
  link = "sw1"
  access = 10
  addresses = ["10.0.10.2/24"]
  gateway = "10.0.10.1"
[[host]]
name = "h2"
  [[host.iface]]
  name = "eth0"
  link = "sw1"
  access = 20
  addresses = ["10.0.20.2/24"]
  gateway = "10.0.20.1"
[[expect]]
from = "h1"
to = "h2"
reach = true
tagged = { on = "r1:eth0", vlan = [10, 20] }
[[expect]]
from = "h1"
to = "h2"
reach = true
tagged = { on = "r1:eth0", vlan = 10 }
"#;

kernel_test!(a_routed_probe_on_one_trunk_is_tagged_in_both_its_vlans, &[Veth, BridgeVlanFiltering, Vlan], {
    let up = UpLab::up(STICK);
    let (code, out, err) = lab(&["verify", "--json", &up.name]);
    assert_eq!(code, 1, "the second expectation fails: {out}{err}");
    let outcomes = json(&out)["outcomes"].clone();
    assert_eq!(outcomes[0]["passed"], true, "{}", outcomes[0]);
    assert_eq!(outcomes[0]["expected"], "reply, tags 10 and 20 on r1:eth0");
    assert_eq!(outcomes[1]["passed"], false);
    let observed = outcomes[1]["observed"].as_str().unwrap();
    assert!(observed.contains("a frame tagged 20, in none of the expected VLANs"), "{observed}");
});

/// Every verb that needs the kernel's privileges says so in the same words without them.
#[test]
fn without_root_every_verb_says_what_it_needs_in_one_message() {
    if !nix::unistd::geteuid().is_root() {
        panic!("this test drops root to see lab without it: run the suite as root");
    }
    // The binary and the file where an unprivileged user can reach them, wherever the
    // checkout is (a home directory may be closed to others).
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("lab-no-root-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = dir.join("lab");
    std::fs::copy(env!("CARGO_BIN_EXE_lab"), &binary).unwrap();
    let file = dir.join("t-no-root.toml");
    std::fs::write(&file, PAIR.replace("t-trial", "t-no-root")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let file = file.to_str().unwrap();
    let verbs: [&[&str]; 7] = [
        &["up", file],
        &["down", "t-no-root"],
        &["verify", "t-no-root"],
        &["exec", "t-no-root", "h1", "--", "true"],
        &["capture", "t-no-root", "h1"],
        &["do", "t-no-root", "link h1:eth0 down"],
        &["run", file],
    ];
    for args in verbs {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--"])
            .arg(&binary)
            .args(args)
            .output()
            .expect("setpriv runs (util-linux)");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "lab {args:?}: {err}");
        let verb = args[0];
        assert!(
            err.contains(&format!("`lab {verb}` needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN)")),
            "lab {args:?}: {err}"
        );
        assert!(!err.contains("os error"), "lab {args:?}: a bare errno: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_list_key_takes_one_value_for_a_list_of_one() {
    let listed = r#"name = "t-one"
[[switch]]
name = "sw"
[[host]]
name = "h1"
routes = [{ to = "default", via = "10.0.0.9" }]
  [[host.iface]]
  name = "eth0"
  link = "sw"
  trunk = [10]
  [[host.iface]]
  kind = "vlan"
  parent = "eth0"
  id = 10
  addresses = ["10.0.0.1/24"]
"#;
    let single = listed
        .replace(
            "routes = [{ to = \"default\", via = \"10.0.0.9\" }]",
            "routes = { to = \"default\", via = \"10.0.0.9\" }",
        )
        .replace("trunk = [10]", "trunk = 10")
        .replace("addresses = [\"10.0.0.1/24\"]", "addresses = \"10.0.0.1/24\"");
    assert_ne!(listed, single);
    let plan = |text: &str| {
        let path = write_topology("t-one", text);
        let (code, out, err) = lab(&["up", "--dry-run", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        out
    };
    assert_eq!(plan(listed), plan(&single));
    assert!(plan(&single).contains("10.0.0.1/24") && plan(&single).contains("vid 10"));
}

#[test]
fn diagnostics_say_an_ipvlan_and_name_each_node_once() {
    let text = r#"name = "t-words"
[[host]]
name = "a"
  [[host.iface]]
  name = "eth0"
  kind = "dummy"
  [[host.iface]]
  name = "m1"
  kind = "macvlan"
  parent = "eth0"
  [[host.iface]]
  name = "i1"
  kind = "ipvlan"
  parent = "eth0"
[[host]]
name = "a"
[[expect]]
from = "zzzz"
to = "a"
reach = true
"#;
    let all = rendered(text);
    assert!(all.contains("is an ipvlan"), "{all}");
    assert!(!all.contains("a ipvlan"), "{all}");
    assert!(all.contains("the nodes are: a\n") && !all.contains("the nodes are: a, a"), "{all}");
}

#[test]
fn a_sub_interface_whose_vlan_is_not_on_its_switch_port_is_warned_at_its_id() {
    let text = r#"name = "t-subif-port"
[[switch]]
name = "sw1"
[[router]]
name = "r1"
  [[router.iface]]
  name = "eth0"
  link = "sw1"
  trunk = [10, 20]
  [[router.iface]]
  kind = "vlan"
  parent = "eth0"
  id = 30
  addresses = ["10.0.30.1/24"]
"#;
    assert_warning(text, "13:8", "VLAN 30 is not on the switch port of `eth0`");
    let all = rendered(text).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(all.contains("add 30 to the trunk of `eth0` (`trunk = [10, 20, 30]`)"), "{all}");
    assert!(diagnostics(&text.replace("trunk = [10, 20]", "trunk = [10, 20, 30]")).is_empty());
}

kernel_test!(an_interrupted_run_says_what_was_checked_and_leaves_nothing, &[Veth], {
    use std::io::{BufRead, BufReader};
    let text = PAIR.replace("t-trial", "t-run-int").replace(
        "[[expect]]\nfrom = \"h1\"\nto = \"h2\"\nreach = true\n",
        "[verify]\ndeadline = \"3s\"\n[[expect]]\nfrom = \"h1\"\nto = \"10.0.0.99\"\nreach = true\n",
    );
    let path = write_topology("t-run-int", &text);
    let mut child = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["run", "-q", path.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("is up") {}
    assert!(line.contains("lab `t-run-int` is up"), "{line}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::SIGINT).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{rest}");
    assert!(rest.contains("interrupted: 1 of the lab's 1 state was checked before the signal"), "{rest}");
    assert!(!common::kernel::namespaces().iter().any(|n| n.starts_with("t-run-int-")));
});
