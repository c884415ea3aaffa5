//! `lab up --dry-run`: the plan as the `ip` and `bridge` commands that build the same lab,
//! stage by stage (needs no root: nothing is made).

use std::process::Command;

fn dry_run(file: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lab")).args(["up", "--dry-run", file]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into()
}

#[test]
fn the_plan_of_the_vlan_tagging_lab_reads_as_ip_and_bridge_commands() {
    insta::assert_snapshot!(dry_run("topologies/e9-vlan-tagging.toml"));
}

#[test]
fn a_temporary_name_is_one_that_neither_node_uses() {
    let path = std::env::temp_dir().join(format!("lab-corners-{}.toml", std::process::id()));
    std::fs::write(&path, CORNERS).unwrap();
    let plan = dry_run(path.to_str().unwrap());
    std::fs::remove_file(&path).unwrap();
    assert!(plan.contains("link add link up name lab2x0n1 netns t-corners-c"), "{plan}");
    assert!(plan.contains("ip -n t-corners-c link set dev lab2x0n1 name up up"), "{plan}");
}

#[test]
fn children_of_another_node_are_made_from_the_parents_namespace_into_their_own() {
    let plan = dry_run("topologies/e3-macvlan-vepa.toml");
    assert!(
        plan.contains("ip -n e3-vepa-net1 link add link eth0 name macvlan1 netns e3-vepa-namespace1 up type macvlan mode vepa"),
        "{plan}"
    );
    let (initial, step) = plan.split_once("# step 1: add default routes\n").expect("the step is printed");
    assert!(step.contains("ip -n e3-vepa-namespace1 route add default via 172.16.10.1\n"), "{step}");
    let last = initial.lines().rev().take_while(|l| !l.starts_with('#')).collect::<Vec<_>>();
    assert!(
        last.iter().all(|l| l.ends_with(" up") && l.contains("-sw1 link set")),
        "switch ports come up last: {last:?}"
    );
}

/// The plan as data, in-process (no root, no binary): what `--dry-run --json` prints.
fn plan_json(text: &str) -> String {
    let checked = lab::topology::check(lab::topology::Source::new("t.toml", text));
    let model = checked.lab.expect("a valid topology");
    let plan = lab::plan::Plan::new(&lab::graph::LabGraph::new(&model));
    serde_json::to_string_pretty(&plan).unwrap()
}

#[test]
fn the_plan_as_data_names_every_request_in_full() {
    insta::assert_snapshot!(plan_json(CORNERS));
}

#[test]
fn the_json_plan_is_the_printed_plan() {
    let path = std::env::temp_dir().join(format!("lab-json-{}.toml", std::process::id()));
    std::fs::write(&path, CORNERS).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["up", "--dry-run", "--json", path.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let in_process: Value = serde_json::from_str(&plan_json(CORNERS)).unwrap();
    assert_eq!(printed, in_process);
    let ops: Vec<&str> = printed["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["steps"].as_array().unwrap())
        .flat_map(|s| s["requests"].as_array().unwrap())
        .map(|r| r["op"].as_str().unwrap())
        .collect();
    for op in
        ["add_namespace", "add_link", "set_up", "rename", "set_port_vlans", "write_sysctls", "add_address"]
    {
        assert!(ops.contains(&op), "{op} in {ops:?}");
    }
}

#[test]
fn a_bridge_without_vlan_filtering_is_made_without_the_option() {
    let plan = dry_run("topologies/d1-ipvlan-l2.toml");
    assert!(plan.contains("ip -n d1-ipvlan-l2-lan link add name br0 up type bridge\n"), "{plan}");
    assert!(!plan.contains("vlan_filtering"), "a kernel without VLAN filtering refuses even 0: {plan}");
}

mod common;
use common::kernel::{ALL, lab, read_in, witness};
use lab::model::KernelFeature::{Bridge, Nat, Veth, Vxlan};
use serde_json::Value;

/// What a lab is, without what the kernel picks at random (MACs, indexes): per node, each
/// link's name, kind, mode or id (a vxlan's underlay, addresses and port too), master and
/// state; a vxlan's remotes; the addresses; the routes; the VLANs of bridge ports; the NAT
/// rules (`nft list ruleset`, counters aside). A node in another's namespace has none.
fn shape(model: &lab::model::Lab) -> Vec<String> {
    let mut lines = Vec::new();
    for node in model.nodes.iter().filter(|n| n.joins.is_none()) {
        let ns = lab::model::netns_name(&model.name, &node.name);
        for link in witness("ip", &["-n", &ns, "-d", "-j", "link", "show"]).as_array().unwrap() {
            let data = &link["linkinfo"]["info_data"];
            let kind_data = [
                &data["mode"],
                &data["id"],
                &data["protocol"],
                &data["private"],
                &data["vepa"],
                &data["vlan_filtering"],
                &data["macaddr_data"],
                &data["link"],
                &data["local"],
                &data["group"],
                &data["port"],
                &data["learning"],
            ];
            let up = link["flags"].as_array().is_some_and(|f| f.iter().any(|f| f == "UP"));
            lines.push(format!(
                "{ns} link {} {} {kind_data:?} master={} up={up} mtu={}",
                link["ifname"], link["linkinfo"]["info_kind"], link["master"], link["mtu"]
            ));
            if link["linkinfo"]["info_kind"] == "vxlan" {
                let dev = link["ifname"].as_str().unwrap();
                for entry in
                    witness("bridge", &["-n", &ns, "-j", "fdb", "show", "dev", dev]).as_array().unwrap()
                {
                    if entry["mac"] == "00:00:00:00:00:00" {
                        lines.push(format!("{ns} fdb {dev} {entry}"));
                    }
                }
            }
        }
        for qdisc in witness("tc", &["-n", &ns, "-j", "qdisc", "show"]).as_array().unwrap() {
            if qdisc["kind"] == "netem" {
                lines.push(format!("{ns} netem {} {}", qdisc["dev"], qdisc["options"]));
            }
        }
        for address in witness("ip", &["-n", &ns, "-j", "address", "show"]).as_array().unwrap() {
            for info in address["addr_info"].as_array().unwrap().iter().filter(|i| i["scope"] != "link") {
                lines.push(format!(
                    "{ns} address {} {}/{}",
                    address["ifname"], info["local"], info["prefixlen"]
                ));
            }
        }
        for family in ["-4", "-6"] {
            // The kernel adds fe80::/64 itself once a link has carrier, whenever that is.
            let routes = witness("ip", &[family, "-n", &ns, "-j", "route", "show"]);
            for route in routes.as_array().unwrap().iter().filter(|r| r["dst"] != "fe80::/64") {
                lines.push(format!(
                    "{ns} route {} {} {} {}",
                    route["dst"], route["gateway"], route["dev"], route["scope"]
                ));
            }
        }
        for sysctl in &node.sysctls {
            let value = read_in(&ns, &sysctl.proc_path().to_string_lossy());
            lines.push(format!("{ns} sysctl {} {value}", sysctl.key));
        }
        if node.ifaces.iter().any(|i| i.kind.port().is_some()) {
            // Per port, in name order: up makes a node's ports at once, in any order.
            let vlans: Value = witness("bridge", &["-n", &ns, "-j", "vlan", "show"]);
            let mut ports: Vec<String> = vlans.as_array().unwrap().iter().map(Value::to_string).collect();
            ports.sort();
            lines.push(format!("{ns} vlans {ports:?}"));
        }
        if node.nat.is_some() {
            let rules =
                Command::new("ip").args(["netns", "exec", &ns, "nft", "list", "ruleset"]).output().unwrap();
            let text = String::from_utf8_lossy(&rules.stdout);
            let counters = without_counter_values(&text);
            lines.push(format!("{ns} nft {counters}"));
        }
    }
    lines.sort();
    lines
}

/// Corners of the printed commands: source MACs (one `macaddr set`), a device name with a
/// dot in a sysctl, interfaces named like `ip` keywords, QinQ, ipvlan flags, MTUs, dummies,
/// and a moved child whose temporary name would be taken (node c is 2, its child 0).
const CORNERS: &str = r#"name = "t-corners"
[[switch]]
name = "sw"
[[host]]
name = "a"
sysctl = { "net.ipv4.conf.up.20.rp_filter" = 2 }
  [[host.iface]]
  name = "up"
  link = "sw"
  trunk = [1, 20]
  mtu = 1400
  [[host.iface]]
  kind = "vlan"
  parent = "up"
  id = 20
  protocol = "802.1ad"
  addresses = ["10.20.0.1/24"]
  [[host.iface]]
  name = "dev"
  kind = "macvlan"
  parent = "up"
  mode = "source"
  source_macs = ["02:00:00:00:00:01", "02:00:00:00:00:02"]
  [[host.iface]]
  name = "d0"
  kind = "dummy"
  mtu = 9000
  [[host.iface]]
  name = "iv"
  kind = "ipvlan"
  parent = "d0"
  mode = "l2"
  flag = "private"
  addresses = ["10.30.0.1/24"]
  [[host.iface]]
  name = "lab2x0"
  kind = "dummy"
[[host]]
name = "c"
  [[host.iface]]
  name = "up"
  kind = "macvlan"
  parent = "a:up"
  mode = "bridge"
  addresses = ["10.20.0.9/24"]
"#;

/// `nft list ruleset` without the counters' values, which traffic changes.
fn without_counter_values(text: &str) -> String {
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut parts = words.split("counter packets ");
    let first = parts.next().unwrap_or_default().to_string();
    let rest = parts.map(|part| format!("counter {}", part.splitn(4, ' ').nth(3).unwrap_or_default()));
    std::iter::once(first).chain(rest).collect()
}

/// Every topology of `topologies/`, and the corners above.
fn every_topology() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir("topologies")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files.push(common::kernel::write_topology("t-corners", CORNERS).display().to_string());
    files
}

/// Runs each file's printed plan with `sh -e` and then `lab up` of the file, and compares
/// what the two built, object by object. For a scenario, also the whole printed plan (every
/// step) against `lab up` and `lab verify --step` of its last step.
fn printed_plans_build_what_up_builds(files: &[String]) {
    for file in files {
        let file = file.as_str();
        let model = lab::topology::load(std::path::Path::new(file)).unwrap().lab.unwrap();
        let script = dry_run(file);
        let initial = script.split("\n# step 1:").next().unwrap();
        let printed = shape_of_script(file, &model, initial);
        let (code, _, err) = lab(&["up", "-q", file]);
        assert_eq!(code, 0, "{err}");
        let realized = shape(&model);
        let last = model.steps.last().map(|step| {
            let (code, _, err) = lab(&["verify", "-q", "--step", &step.name, &model.name]);
            assert!(code == 0, "{file}: lab verify --step {} failed: {err}", step.name);
            (shape(&step.lab), step)
        });
        lab(&["down", &model.name]);
        assert_eq!(printed, realized, "{file}: the printed plan and lab up built different labs");
        if let Some((changed, step)) = last {
            let printed = shape_of_script(file, &step.lab, &script);
            assert_eq!(
                printed, changed,
                "{file}: the printed steps and lab verify --step made different labs"
            );
        }
    }
}

/// Runs a printed plan with `sh -e`, reads what it built, and removes it.
fn shape_of_script(file: &str, model: &lab::model::Lab, script: &str) -> Vec<String> {
    let ran = Command::new("sh").args(["-e", "-c", script]).output().unwrap();
    assert!(
        ran.status.success(),
        "{file}: the printed plan failed: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let printed = shape(model);
    for node in &model.nodes {
        Command::new("ip")
            .args(["netns", "del", &lab::model::netns_name(&model.name, &node.name)])
            .status()
            .unwrap();
    }
    printed
}

/// Whether a topology is one of the book's and the docs' experiments (e*, d*); the rest are
/// the models, the mode matrices and the corners. Two halves of about one size, each in a
/// full kernel of its own, so that they run at once.
fn is_experiment(file: &str) -> bool {
    let name = std::path::Path::new(file).file_name().unwrap().to_string_lossy().to_string();
    name.starts_with('e') || name.starts_with('d')
}

kernel_test!(the_printed_plan_builds_the_same_lab_as_up_for_the_experiments, ALL, {
    let files: Vec<String> = every_topology()
        .into_iter()
        .filter(|f| is_experiment(f) && !common::needs_nat(std::path::Path::new(f)))
        .collect();
    assert!(files.len() >= 19, "{files:?}");
    printed_plans_build_what_up_builds(&files);
});

kernel_test!(the_printed_plan_builds_the_same_vxlan_overlay_as_up, &[Veth, Bridge, Vxlan], {
    printed_plans_build_what_up_builds(&["topologies/overlay-vxlan.toml".to_string()]);
});

kernel_test!(the_printed_plan_builds_the_same_lab_as_up_for_the_models_and_matrices, ALL, {
    let files: Vec<String> = every_topology()
        .into_iter()
        .filter(|f| !is_experiment(f) && !common::needs_nat(std::path::Path::new(f)))
        .collect();
    assert!(files.iter().any(|f| f.contains("matrix-ipvlan")), "{files:?}");
    printed_plans_build_what_up_builds(&files);
});

kernel_test!(the_printed_plan_builds_the_same_nat_labs_as_up, &[Veth, Bridge, Nat], {
    let files: Vec<String> =
        every_topology().into_iter().filter(|f| common::needs_nat(std::path::Path::new(f))).collect();
    assert!(files.iter().any(|f| f.contains("m-bridge")), "{files:?}");
    printed_plans_build_what_up_builds(&files);
});
