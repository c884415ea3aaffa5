//! `lab verify` and `lab run`: every topology passes on a full kernel, the book's
//! observations are all there, and the prober fails when an expectation is wrong, saying
//! what it saw. Kernel tests run natively when this kernel can, else in the sandbox.

mod common;
use common::kernel::{ALL, UpLab, lab, verify_json, witness, write_topology};
use lab::model::KernelFeature::*;
use lab::model::{Check, Lab, MacOf, Proto};
use serde_json::Value;

fn load(file: &str) -> Lab {
    lab::topology::load(std::path::Path::new("topologies").join(file).as_path()).unwrap().lab.unwrap()
}

/// `lab run` of each file passes every expectation, and tears the lab down.
fn every_one_passes(files: impl IntoIterator<Item = std::path::PathBuf>) {
    for file in files {
        let (code, out, err) = lab(&["run", "-q", "--json", file.to_str().unwrap()]);
        let report: Value =
            serde_json::from_str(&out).unwrap_or_else(|_| panic!("{}: {out}{err}", file.display()));
        // A lab with steps reports each step's outcomes apart.
        let verifications: Vec<&Value> = match report["steps"].as_array() {
            Some(steps) => steps.iter().collect(),
            None => vec![&report],
        };
        let failed: Vec<&Value> = verifications
            .iter()
            .flat_map(|v| v["outcomes"].as_array().unwrap())
            .filter(|o| o["passed"] != true)
            .collect();
        assert!(code == 0 && failed.is_empty(), "{}: {failed:#?}{err}", file.display());
        assert!(err.contains("is down:"), "{}: lab run always tears down: {err}", file.display());
    }
}

kernel_test!(every_topology_passes_lab_run, ALL, {
    every_one_passes(common::topology_files().into_iter().filter(|f| !common::needs_nat(f)));
});

kernel_test!(every_nat_topology_passes_lab_run, [Veth, Bridge, Nat], {
    let files: Vec<_> = common::topology_files().into_iter().filter(|f| common::needs_nat(f)).collect();
    assert!(!files.is_empty(), "the bridge model needs NAT");
    every_one_passes(files);
});

#[test]
fn the_experiments_carry_their_observations() {
    let count =
        |lab: &Lab, f: &dyn Fn(&Check) -> bool| lab.expectations.iter().filter(|e| f(&e.check)).count();
    let reach = |lab: &Lab, ok: bool| {
        count(lab, &|c| matches!(c, Check::Reach { reach, proto: Proto::Icmp, .. } if *reach == ok))
    };
    let arp = |lab: &Lab, ok: bool| {
        count(lab, &|c| matches!(c, Check::Reach { reach, proto: Proto::Arp, .. } if *reach == ok))
    };
    let e1 = load("e1-macvlan-children.toml");
    assert_eq!(
        count(&e1, &|c| matches!(c, Check::Reach { ttl: Some(63), .. })),
        2,
        "test_server reaches .5 and .6, routed (ttl 63)"
    );
    let owners: Vec<_> = e1
        .expectations
        .iter()
        .filter_map(|e| match &e.check {
            Check::Resolves { mac: MacOf::Iface(id), .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(owners.len(), 3, "the gateway's ARP table: .2, .5, .6");
    assert!(
        owners[0] != owners[1] && owners[1] != owners[2] && owners[0] != owners[2],
        "three different MACs"
    );
    assert_eq!(
        count(&e1, &|c| matches!(c, Check::State { promiscuous: Some(true), .. })),
        1,
        "promiscuity 1"
    );
    assert_eq!(
        count(&load("e2-macvlan-no-parent-address.toml"), &|c| matches!(c, Check::Route { .. })),
        1,
        "connected route"
    );
    let before = load("e3-macvlan-vepa.toml");
    let after = before.steps[0].lab.clone();
    assert_eq!((reach(&before, true), reach(&before, false)), (1, 2), "before: only .2 answers test_server");
    assert_eq!(arp(&before, true), 1, "before: the request arrives, only the reply has no route");
    assert_eq!(
        (reach(&after, true), reach(&after, false)),
        (3, 3),
        "after: all three answer; sibling and parent do not"
    );
    assert_eq!(
        count(&load("e4-macvlan-bridge.toml"), &|c| matches!(
            c,
            Check::Reach { ttl: Some(64), reach: true, .. }
        )),
        1
    );
    let e5 = load("e5-docker-macvlan.toml");
    assert!(
        reach(&e5, false) >= 1 && arp(&e5, false) == 1,
        "docker1 cannot reach web1: its ARP goes unanswered"
    );
    let e6 = load("e6-ipvlan-l2.toml");
    let eth0 = e6.iface_id(e6.node_id("net1").unwrap(), "eth0").unwrap();
    let shared = count(&e6, &|c| matches!(c, Check::Resolves { mac: MacOf::Iface(id), .. } if *id == eth0));
    assert_eq!(shared, 3, "one MAC (eth0's) for .2, .5, .6");
    assert_eq!(
        count(&e6, &|c| matches!(c, Check::State { mac: Some(MacOf::Iface(_)), .. })),
        1,
        "a child shows its parent's MAC"
    );
    assert!(
        reach(&load("e7-ipvlan-l3.toml"), false) >= 2
            && reach(&load("e7-ipvlan-l3.toml").steps[0].lab, false) == 0
    );
    assert_eq!(
        count(&load("e8-docker-ipvlan-l3.toml").steps[0].lab, &|c| matches!(
            c,
            Check::Reach { redirect: Some(_), .. }
        )),
        1
    );
    let e9 = load("e9-vlan-tagging.toml");
    let tags: Vec<Vec<u16>> = e9
        .expectations
        .iter()
        .filter_map(|e| match &e.check {
            Check::Reach { tagged: Some(t), .. } => Some(t.vlans.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(tags, [[19], [20]], "frames on the trunk carry tags 19 and 20");
    assert!(reach(&load("d1-ipvlan-l2.toml"), false) >= 1, "containers cannot ping the parent");
    assert!(reach(&load("d2-ipvlan-dummy-parent.toml"), false) >= 1, "a dummy parent isolates");
    assert!(
        reach(&load("d3-ipvlan-8021q-trunk.toml"), false) >= 1,
        "no reach between VLANs without a router"
    );
    assert!(reach(&load("d4-ipvlan-multi-subnet-l2.toml"), false) >= 1, "no reach between subnets in L2");
    assert!(reach(&load("d5-ipvlan-l3-multi-subnet.toml"), true) >= 2, "reach across subnets in L3");
    let v6 =
        |lab: &Lab| count(lab, &|c| matches!(c, Check::Reach { to, reach: true, .. } if to.addr.is_ipv6()));
    assert!(
        v6(&load("d6-ipvlan-dual-stack-l2.toml")) >= 2 && v6(&load("d7-ipvlan-dual-stack-l3.toml")) >= 1,
        "IPv6 reach"
    );
    assert_eq!(
        count(&load("d8-ipvlan-named-vlan-parent.toml"), &|c| matches!(
            c,
            Check::Reach { tagged: Some(_), .. }
        )),
        1
    );
    assert_eq!(
        (reach(&load("d9-ipvlan-flags.toml"), true), reach(&load("d9-ipvlan-flags.toml"), false)),
        (2, 2)
    );
    let arp = count(&load("m-macvlan.toml"), &|c| {
        matches!(c, Check::Resolves { .. } | Check::Reach { proto: Proto::Arp, .. })
    });
    assert_eq!(arp, 1, "the LAN sees the container's own MAC");
}

/// Wrong expectations on a macvlan lab (runs on any kernel with macvlan): each must fail and
/// say what was seen.
const WRONG: &str = r#"name = "t-wrong"
[[switch]]
name = "sw"
[[host]]
name = "out"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  addresses = ["10.7.0.254/24"]
[[host]]
name = "p"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  addresses = ["10.7.0.1/24"]
[[host]]
name = "c1"
  [[host.iface]]
  name = "eth0"
  kind = "macvlan"
  parent = "p:eth0"
  mode = "vepa"
  addresses = ["10.7.0.11/24"]
[[host]]
name = "c2"
  [[host.iface]]
  name = "eth0"
  kind = "macvlan"
  parent = "p:eth0"
  mode = "vepa"
  addresses = ["10.7.0.12/24"]

[verify]
timeout = "300ms"
deadline = "600ms"

[[expect]]
from = "c1"
to = "c2"
reach = true
why = "wrong on purpose: VEPA siblings behind a port without hairpin cannot talk"
[[expect]]
from = "c1"
to = "out"
reach = false
why = "wrong on purpose: out answers"
[[expect]]
from = "out"
to = "c1"
resolves_to = "p:eth0"
why = "wrong on purpose: a macvlan child answers with its own MAC"
[[expect]]
from = "c1"
to = "out"
reach = true
ttl = 63
why = "wrong on purpose: no router in between"
[[expect]]
iface = "p:eth0"
promiscuous = false
why = "wrong on purpose: the parent of a macvlan is promiscuous"
[[expect]]
iface = "c1:eth0"
route = "10.8.0.0/24"
why = "wrong on purpose: no such route"
[[expect]]
from = "c1"
to = "out"
reach = true
redirect = "10.7.0.99"
why = "wrong on purpose: no router sends redirects here"
[[expect]]
from = "c1"
to = "out"
reach = true
why = "right: the one expectation that holds"
"#;

kernel_test!(wrong_expectations_fail_and_say_what_was_seen, &[Veth, Bridge, Macvlan], {
    let up = UpLab::up(WRONG);
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 1, "a failed expectation makes verify exit 1");
    let observed = |n: usize| outcomes[n - 1]["observed"].as_str().unwrap().to_string();
    let passed = |n: usize| outcomes[n - 1]["passed"] == true;
    assert!(!passed(1) && observed(1).starts_with("no reply in"), "{}", observed(1));
    // Asked again with the path watched: the failure says where the request stopped.
    assert_eq!(
        observed(1),
        "no reply in 0.6 s: the request never left c1 (no ARP/ND answer for 10.7.0.12 on eth0)"
    );
    assert!(!passed(2) && observed(2).starts_with("reply in"), "{}", observed(2));
    assert!(!passed(3) && observed(3).contains("which is c1:eth0"), "{}", observed(3));
    assert!(!passed(4) && observed(4).ends_with("TTL 64"), "{}", observed(4));
    assert!(!passed(5) && observed(5) == "promiscuity 1", "{}", observed(5));
    assert!(!passed(6) && observed(6) == "no route to 10.8.0.0/24", "{}", observed(6));
    assert!(!passed(7) && observed(7).contains("no redirect"), "{}", observed(7));
    assert!(passed(8), "{}", observed(8));
    let (_, table, _) = lab(&["verify", &up.name]);
    assert!(table.contains("FAIL #1 (line 37): c1 → c2 (10.7.0.12)"), "{table}");
    assert!(
        table.contains("why:      wrong on purpose: VEPA siblings"),
        "the failure shows its why: {table}"
    );
    assert!(table.contains("7 of 8 expectations FAILED"), "{table}");
});

kernel_test!(verify_writes_junit_and_knows_a_lab_that_is_down, &[Veth, Bridge, Macvlan], {
    let up = UpLab::up(&WRONG.replace("t-wrong", "t-junit"));
    let junit = std::env::temp_dir().join(format!("lab-junit-{}.xml", std::process::id()));
    let (code, _, _) = lab(&["verify", "--junit", junit.to_str().unwrap(), &up.name]);
    assert_eq!(code, 1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    std::fs::remove_file(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 8, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 7, "{xml}");
    assert!(xml.contains("wrong on purpose: no such route"), "the why is in the report: {xml}");
    drop(up);
    let (code, _, err) = lab(&["verify", "t-junit"]);
    assert_eq!(code, 2, "a lab that is not up is an error");
    assert!(err.contains("lab `t-junit` is not up"), "{err}");
});

kernel_test!(verify_by_file_and_by_name_agree, &[Veth, Bridge, Macvlan], {
    let text = WRONG.replace("t-wrong", "t-byfile");
    let up = UpLab::up(&text);
    let path = write_topology("t-byfile", &text);
    let by_name = verify_json(&up.name);
    let by_file = verify_json(path.to_str().unwrap());
    assert_eq!(by_name.0, by_file.0);
    let passed = |o: &Vec<Value>| o.iter().map(|x| x["passed"] == true).collect::<Vec<_>>();
    assert_eq!(passed(&by_name.1), passed(&by_file.1));
});

kernel_test!(a_wrong_tag_is_seen_as_the_tag_it_is, &[Veth, BridgeVlanFiltering, Vlan], {
    let text = std::fs::read_to_string("topologies/e9-vlan-tagging.toml")
        .unwrap()
        .replace("name = \"e9-vlan-tagging\"", "name = \"t-tag\"")
        .replace(
            "tagged = { on = \"docker1:eth1\", vlan = 19 }",
            "tagged = { on = \"docker1:eth1\", vlan = 20 }",
        );
    let up = UpLab::up(&text);
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 1);
    assert_eq!(outcomes[0]["passed"], false);
    assert!(
        outcomes[0]["observed"].as_str().unwrap().contains("tags seen on docker1:eth1: 19"),
        "{}",
        outcomes[0]
    );
    assert_eq!(outcomes[1]["passed"], true);
});

kernel_test!(frames_outside_the_tunnel_are_seen_as_such, &[Veth, Bridge, Vxlan], {
    let text = std::fs::read_to_string("topologies/overlay-vxlan.toml")
        .unwrap()
        .replace("name = \"overlay-vxlan\"", "name = \"t-encap\"")
        .replace(
            "to = \"192.0.2.3\"\nreach = true\n",
            "to = \"192.0.2.3\"\nreach = true\nencap = { on = \"h1:eth0\", vni = 42 }\n",
        );
    let up = UpLab::up(&text);
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 1, "{outcomes:#?}");
    let observed = |n: usize| outcomes[n]["observed"].as_str().unwrap().to_string();
    assert_eq!(outcomes[0]["passed"], true, "the overlay's echo travels in VXLAN 42: {}", observed(0));
    assert!(observed(0).contains("seen on h1:eth0: VXLAN 42 (port 4789)"), "{}", observed(0));
    assert_eq!(outcomes[3]["passed"], false, "an echo on the underlay itself is in no tunnel");
    assert!(observed(3).contains("seen on h1:eth0: not in VXLAN"), "{}", observed(3));
});

#[test]
fn lab_run_sandbox_brings_a_vlan_lab_up_in_the_full_kernel() {
    let (code, out, err) = lab(&["run", "--sandbox", "-q", "topologies/e9-vlan-tagging.toml"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 of 3 expectations passed"), "{out}");
    assert!(err.contains("lab `e9-vlan-tagging` is down"), "{err}");
    // Both outputs pass through as they are written: merged, they read in order.
    let merged = std::process::Command::new("sh")
        .args([
            "-c",
            &format!("{} run --sandbox topologies/e9-vlan-tagging.toml 2>&1", env!("CARGO_BIN_EXE_lab")),
        ])
        .output()
        .unwrap();
    let merged = String::from_utf8_lossy(&merged.stdout);
    let at = |text: &str| merged.find(text).unwrap_or_else(|| panic!("no `{text}` in:\n{merged}"));
    assert!(at("is up") < at("3 of 3 expectations passed"), "{merged}");
    assert!(at("3 of 3 expectations passed") < at("is down"), "{merged}");
    assert!(!merged.contains('\r'), "no carriage returns from the consoles: {merged:?}");
}

#[test]
fn lab_run_of_an_invalid_file_exits_2_before_making_anything() {
    let path = write_topology(
        "t-invalid",
        "name = \"t-invalid\"\n[[host]]\nname = \"a\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"nowhere\"\n",
    );
    let (code, _, err) = lab(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown switch `nowhere`"), "{err}");
}

// The kernel's ARP table holds 1024 entries for the whole machine; a full mesh of 50 hosts
// needs 2450. The prober runs in waves and every probe still gets its answer.
kernel_test!(a_full_mesh_larger_than_the_machines_arp_table_passes, &[Veth, Bridge], {
    let hosts = 50;
    let mut text = String::from("name = \"t-mesh\"\n[[switch]]\nname = \"sw\"\n");
    for i in 0..hosts {
        text += &format!(
            "[[host]]\nname = \"h{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  addresses = [\"10.9.0.{}/24\"]\n",
            i + 1
        );
    }
    for a in 0..hosts {
        for b in (0..hosts).filter(|b| *b != a) {
            text += &format!("[[expect]]\nfrom = \"h{a}\"\nto = \"h{b}\"\nreach = true\n");
        }
    }
    let up = UpLab::up(&text);
    let (code, out, err) = lab(&["verify", "--json", &up.name]);
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
    let failed = report["outcomes"].as_array().unwrap().iter().filter(|o| o["passed"] != true).count();
    assert_eq!((code, failed), (0, 0), "{} of 2450 probes failed", failed);
    let table = std::fs::read_to_string("/proc/sys/net/ipv4/neigh/default/gc_thresh3").unwrap();
    if table.trim().parse::<u64>().unwrap() < 2450 {
        assert!(report["waves"].as_u64().unwrap() > 1, "2450 entries cannot fit one wave");
    }
});

kernel_test!(a_negative_check_whose_probe_cannot_run_fails, &[Veth, Bridge], {
    let up = UpLab::up(
        "name = \"t-noprobe\"\n[[switch]]\nname = \"sw\"\n[[host]]\nname = \"a\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  addresses = [\"10.6.0.1/24\"]\n[[expect]]\nfrom = \"a\"\nto = \"192.0.2.9\"\nreach = false\nproto = \"arp\"\nwhy = \"a has no route to 192.0.2.9, so the question cannot even be asked\"\n",
    );
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 1, "a probe that could not run proves nothing, so the expectation fails");
    assert_eq!(outcomes[0]["observed"], "could not ask: no route to 192.0.2.9");
});

kernel_test!(verify_refuses_a_file_edited_since_up, &[Veth, Bridge, Macvlan], {
    let text = WRONG.replace("t-wrong", "t-edited");
    let up = UpLab::up(&text);
    let path = write_topology("t-edited", &text.replace("reach = false", "reach = true"));
    let (code, _, err) = lab(&["verify", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("has changed since lab `t-edited` was brought up"), "{err}");
    assert_eq!(lab(&["verify", "--json", &up.name]).0, 1, "by name it checks the lab as it is");
});

// docs/format.md: an address on a switch interface is legal but reaches nothing, since the
// port belongs to the bridge. Its MTU is applied like any other.
kernel_test!(an_address_on_a_switch_port_is_not_reached, &[Veth, Bridge], {
    let up = UpLab::up(
        r#"name = "t-swaddr"
[[switch]]
name = "sw1"
  [[switch.iface]]
  name = "up1"
  link = "sw2"
  mtu = 1400
  addresses = ["10.77.0.1/24"]
[[switch]]
name = "sw2"
[[host]]
name = "h"
  [[host.iface]]
  name = "eth0"
  link = "sw2"
  addresses = ["10.77.0.2/24"]
[[expect]]
from = "h"
to = "10.77.0.1"
reach = false
"#,
    );
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 0, "{outcomes:?}");
    let link = witness("ip", &["-n", "t-swaddr-sw1", "-j", "link", "show", "up1"]);
    assert_eq!(link[0]["mtu"], 1400);
});

// `lab run FILE | head -1`: the reader goes away after one line; the run still ends and
// tears the lab down, and nothing panics.
kernel_test!(lab_run_tears_down_when_its_reader_goes_away, &[Veth, Bridge, Macvlan], {
    let script = format!("{} run topologies/m-macvlan.toml 2>&1 | head -1", env!("CARGO_BIN_EXE_lab"));
    let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
    let first = String::from_utf8_lossy(&out.stdout);
    assert!(first.starts_with("lab `m-macvlan` is up"), "{first}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while common::kernel::namespaces().iter().any(|n| n.starts_with("m-macvlan-")) {
        assert!(std::time::Instant::now() < deadline, "lab run left its namespaces");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(lab::state::labs().iter().all(|l| l != "m-macvlan"), "no state is left");
});

// docs/format.md: a switch-to-switch cable's options configure the far switch too only when
// that switch has VLANs of its own; an unmanaged (VLAN-less) switch keeps plain ports. So an
// access link from a VLAN switch to an unmanaged one carries that VLAN, and only that one.
kernel_test!(an_access_link_to_an_unmanaged_switch_carries_one_vlan, &[Veth, BridgeVlanFiltering], {
    let up = UpLab::up(
        r#"name = "t-unmanaged"
[[switch]]
name = "core"
  [[switch.iface]]
  name = "to-edge"
  link = "edge"
  access = 10
[[switch]]
name = "edge"
[[host]]
name = "h10"
  [[host.iface]]
  name = "eth0"
  link = "core"
  access = 10
  addresses = ["10.10.0.1/24"]
[[host]]
name = "h20"
  [[host.iface]]
  name = "eth0"
  link = "core"
  access = 20
  addresses = ["10.10.0.2/24"]
[[host]]
name = "e"
  [[host.iface]]
  name = "eth0"
  link = "edge"
  addresses = ["10.10.0.3/24"]
[[expect]]
from = "e"
to = "h10"
reach = true
[[expect]]
from = "e"
to = "h20"
reach = false
"#,
    );
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 0, "{outcomes:?}");
    let edge = witness("ip", &["-n", "t-unmanaged-edge", "-d", "-j", "link", "show", "br0"]);
    assert_eq!(edge[0]["linkinfo"]["info_data"]["vlan_filtering"], 0, "the edge switch stays plain");
});

// A verdict does not depend on the other expectations of the file, nor on an earlier verify:
// d never answers ARP, so c cannot reach d, even though d's own probe to c (whose ARP
// request teaches c d's MAC) is in the same file and ran before.
kernel_test!(expectations_of_silence_are_not_spoiled_by_other_probes, &[Veth, Bridge], {
    let up = UpLab::up(
        r#"name = "t-silence"
[[switch]]
name = "sw"
[[host]]
name = "c"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  addresses = ["10.17.0.1/24"]
[[host]]
name = "d"
sysctl = { "net.ipv4.conf.all.arp_ignore" = 8 }
  [[host.iface]]
  name = "eth0"
  link = "sw"
  addresses = ["10.17.0.2/24"]
[[expect]]
from = "d"
to = "c"
reach = true
[[expect]]
from = "c"
to = "d"
reach = false
why = "d never answers ARP: c cannot resolve it"
"#,
    );
    for run in 1..=3 {
        let (code, outcomes) = verify_json(&up.name);
        assert_eq!(code, 0, "run {run}: {outcomes:?}");
    }
});

// An echo to the subnet-router anycast address is answered by the router from its unicast
// address, as `ping` shows; the reply counts, and the table says who answered.
kernel_test!(a_reply_from_another_address_counts_and_is_named, &[Veth, Bridge], {
    let up = UpLab::up(
        r#"name = "t-anycast"
[[switch]]
name = "sw"
[[router]]
name = "r"
  [[router.iface]]
  name = "eth0"
  link = "sw"
  addresses = ["2001:db8:9::1/64"]
[[host]]
name = "a"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  addresses = ["2001:db8:9::2/64"]
[[expect]]
from = "a"
to = "2001:db8:9::"
reach = true
"#,
    );
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 0, "{outcomes:?}");
    let observed = outcomes[0]["observed"].as_str().unwrap();
    assert!(observed.starts_with("reply from 2001:db8:9::1 in"), "{observed}");
});

// QinQ: a frame on the outer interface carries both tags (802.1ad outside, 802.1Q inside),
// and either can be watched there.
kernel_test!(both_tags_of_qinq_are_seen_on_the_outer_interface, &[Veth, Vlan], {
    let mut text = String::from("name = \"t-qinq\"\n");
    for (node, peer, last) in [("h1", "h2", 1), ("h2", "h1", 2)] {
        text += &format!(
            r#"[[host]]
name = "{node}"
  [[host.iface]]
  name = "eth0"
  link = "{peer}:eth0"
  [[host.iface]]
  name = "s100"
  kind = "vlan"
  parent = "eth0"
  id = 100
  protocol = "802.1ad"
  [[host.iface]]
  name = "c10"
  kind = "vlan"
  parent = "s100"
  id = 10
  addresses = ["192.168.10.{last}/24"]
"#
        );
    }
    for vlan in [100, 10] {
        text += &format!(
            "[[expect]]\nfrom = \"h1\"\nto = \"h2:c10\"\nreach = true\ntagged = {{ on = \"h1:eth0\", vlan = {vlan} }}\n"
        );
    }
    let up = UpLab::up(&text);
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 0, "{outcomes:?}");
    let observed = outcomes[1]["observed"].as_str().unwrap();
    assert!(observed.contains("100+10"), "the stack of tags is shown: {observed}");
});
