//! `lab up` on a real kernel: what it makes, checked with an independent witness (`ip`,
//! `bridge`, /proc/sys), and that `down` — also after a failure, a kill or a signal —
//! leaves nothing. Tests run natively when this kernel can, else in the sandbox kernel.

mod common;
use common::kernel::{ALL, UpLab, lab, link, namespaces, read_in, root_links, witness, write_topology};
use lab::model::KernelFeature::*;
use serde_json::Value;

fn info_data(link: &Value) -> &Value {
    &link["linkinfo"]["info_data"]
}

fn gone(lab_name: &str) -> bool {
    let prefix = format!("{lab_name}-");
    !namespaces().iter().any(|n| n.starts_with(&prefix))
        && !std::path::Path::new("/run/lab").join(lab_name).exists()
}

kernel_test!(switch_ports_carry_their_vlans_and_hairpin, &[Veth, BridgeVlanFiltering], {
    let up = UpLab::up(
        r#"name = "t-ports"
[[switch]]
name = "sw"
[[host]]
name = "a"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  access = 10
[[host]]
name = "b"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  trunk = [10, 20]
  hairpin = true
"#,
    );
    let sw = up.netns("sw");
    assert_eq!(info_data(&link(&sw, "br0"))["vlan_filtering"], 1, "the bridge filters VLANs");
    let vlans = witness("bridge", &["-n", &sw, "-j", "vlan", "show"]);
    let of =
        |port: &str| vlans.as_array().unwrap().iter().find(|p| p["ifname"] == port).unwrap()["vlans"].clone();
    assert_eq!(
        of("a-eth0"),
        serde_json::json!([{"vlan": 10, "flags": ["PVID", "Egress Untagged"]}]),
        "access: PVID and untagged, VLAN 1 gone"
    );
    assert_eq!(
        of("b-eth0"),
        serde_json::json!([{"vlan": 10}, {"vlan": 20}]),
        "trunk: tagged members only, VLAN 1 gone"
    );
    let ports = witness("bridge", &["-n", &sw, "-d", "-j", "link", "show"]);
    let hairpin = |port: &str| {
        ports.as_array().unwrap().iter().find(|p| p["ifname"] == port).unwrap()["hairpin"].clone()
    };
    assert_eq!(hairpin("b-eth0"), true);
    assert_eq!(hairpin("a-eth0"), false);
    assert_eq!(link(&sw, "a-eth0")["master"], "br0");
    assert_eq!(
        link(&up.netns("a"), "eth0")["operstate"],
        "UP",
        "the host end has carrier once its port is up"
    );
});

kernel_test!(a_plain_switch_needs_no_vlan_filtering, &[Veth, Bridge], {
    let up = UpLab::up(
        "name = \"t-plain\"\n[[switch]]\nname = \"sw\"\n[[host]]\nname = \"a\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n",
    );
    assert_eq!(info_data(&link(&up.netns("sw"), "br0"))["vlan_filtering"], 0);
});

kernel_test!(vlan_sub_interfaces_802_1q_and_802_1ad, &[Veth, Bridge, Vlan], {
    let up = UpLab::up(
        r#"name = "t-vlan"
[[switch]]
name = "sw"
[[host]]
name = "a"
  [[host.iface]]
  name = "eth1"
  link = "sw"
  [[host.iface]]
  kind = "vlan"
  parent = "eth1"
  id = 19
  addresses = ["10.10.90.2/24"]
  [[host.iface]]
  name = "outer"
  kind = "vlan"
  parent = "eth1"
  id = 100
  protocol = "802.1ad"
[[host]]
name = "b"
  [[host.iface]]
  name = "foo"
  kind = "vlan"
  parent = "a:eth1"
  id = 40
"#,
    );
    let a = up.netns("a");
    let dot1q = link(&a, "eth1.19");
    assert_eq!(dot1q["linkinfo"]["info_kind"], "vlan");
    assert_eq!(info_data(&dot1q)["protocol"], "802.1Q");
    assert_eq!(info_data(&dot1q)["id"], 19);
    assert_eq!(dot1q["address"], link(&a, "eth1")["address"], "a VLAN sub-interface keeps its parent's MAC");
    let qinq = link(&a, "outer");
    assert_eq!(info_data(&qinq)["protocol"], "802.1ad");
    assert_eq!(info_data(&qinq)["id"], 100);
    let foo = link(&up.netns("b"), "foo");
    assert_eq!(info_data(&foo)["id"], 40, "a VLAN of another node's interface, moved into its node");
    assert!(foo["link_netnsid"].as_i64().is_some(), "its parent is in another namespace");
});

/// Docker's overlay model: two hosts on one cable (the underlay), each with a vxlan whose
/// remote is the other; the overlay's addresses are on the vxlans.
fn overlay(name: &str, vni_of_h2: u32, reach: bool) -> String {
    format!(
        r#"name = "{name}"
[[host]]
name = "h1"
  [[host.iface]]
  name = "eth0"
  link = "h2:eth0"
  addresses = ["192.0.2.1/24"]
  [[host.iface]]
  name = "vx0"
  kind = "vxlan"
  vni = 42
  underlay = "eth0"
  local = "192.0.2.1"
  remotes = ["192.0.2.2", "192.0.2.3"]
  addresses = ["10.42.0.1/24"]
[[host]]
name = "h2"
  [[host.iface]]
  name = "eth0"
  link = "h1:eth0"
  addresses = ["192.0.2.2/24"]
  [[host.iface]]
  name = "vx0"
  kind = "vxlan"
  vni = {vni_of_h2}
  underlay = "eth0"
  learning = false
  remotes = ["192.0.2.1"]
  addresses = ["10.42.0.2/24"]
[[expect]]
from = "h1"
to = "10.42.0.2"
reach = {reach}
"#
    )
}

kernel_test!(vxlans_join_two_hosts_over_their_underlay, &[Veth, Vxlan], {
    let up = UpLab::up(&overlay("t-vxlan", 42, true));
    let (h1, h2) = (up.netns("h1"), up.netns("h2"));
    let vx0 = link(&h1, "vx0");
    assert_eq!(vx0["linkinfo"]["info_kind"], "vxlan");
    assert_eq!(info_data(&vx0)["id"], 42);
    assert_eq!(info_data(&vx0)["port"], 4789, "the IANA port, not the kernel's 8472");
    assert_eq!(info_data(&vx0)["link"], "eth0");
    assert_eq!(info_data(&vx0)["local"], "192.0.2.1");
    assert_eq!(info_data(&vx0)["learning"], true);
    assert_eq!(info_data(&link(&h2, "vx0"))["learning"], false);
    assert_eq!(vx0["mtu"], 1450, "the underlay's MTU less the 50 bytes of VXLAN over IPv4");
    let fdb = witness("bridge", &["-n", &h1, "-j", "fdb", "show", "dev", "vx0"]);
    let flood: Vec<&Value> =
        fdb.as_array().unwrap().iter().filter(|e| e["mac"] == "00:00:00:00:00:00").collect();
    let entry = |dst: &str| serde_json::json!({"mac": "00:00:00:00:00:00", "dst": dst, "flags": ["self"], "state": "permanent"});
    assert_eq!(flood, [&entry("192.0.2.2"), &entry("192.0.2.3")], "one entry per remote, appended");
    let (code, out, err) = lab(&["verify", "--json", &up.name]);
    assert_eq!(code, 0, "h1 reaches h2's overlay address through the tunnel: {out}{err}");
    drop(up);
    let apart = UpLab::up(&overlay("t-vxlan-apart", 43, false));
    let (code, out, err) = lab(&["verify", "--json", &apart.name]);
    assert_eq!(code, 0, "with another VNI on h2 the overlay does not join them: {out}{err}");
});

kernel_test!(macvlan_children_in_every_mode, &[Veth, Bridge, Macvlan], {
    let modes = ["private", "vepa", "bridge", "passthru", "source"];
    let mut text = String::from("name = \"t-macvlan\"\n[[switch]]\nname = \"sw\"\n[[host]]\nname = \"p\"\n");
    for (i, _) in modes.iter().enumerate() {
        text += &format!("  [[host.iface]]\n  name = \"eth{i}\"\n  link = \"sw\"\n");
    }
    for (i, mode) in modes.iter().enumerate() {
        let macs = if *mode == "source" {
            "\n  source_macs = [\"02:00:00:00:00:01\", \"02:00:00:00:00:02\"]"
        } else {
            ""
        };
        text += &format!(
            "[[host]]\nname = \"c{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  kind = \"macvlan\"\n  parent = \"p:eth{i}\"\n  mode = \"{mode}\"{macs}\n"
        );
    }
    let up = UpLab::up(&text);
    for (i, mode) in modes.iter().enumerate() {
        let child = link(&up.netns(&format!("c{i}")), "eth0");
        let parent = link(&up.netns("p"), &format!("eth{i}"));
        assert_eq!(child["linkinfo"]["info_kind"], "macvlan");
        assert_eq!(info_data(&child)["mode"], *mode);
        assert!(
            parent["promiscuity"].as_u64().unwrap() >= 1,
            "a {mode} child puts its veth parent in promiscuous mode"
        );
        if *mode == "passthru" {
            assert_eq!(child["address"], parent["address"], "passthru takes the parent's MAC");
        } else {
            assert_ne!(child["address"], parent["address"], "a {mode} child has a MAC of its own");
        }
    }
    let source = link(&up.netns("c4"), "eth0");
    let mut macs: Vec<&str> =
        info_data(&source)["macaddr_data"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    macs.sort();
    assert_eq!(macs, ["02:00:00:00:00:01", "02:00:00:00:00:02"]);
});

kernel_test!(ipvlan_children_in_every_mode_share_the_parent_mac, &[Dummy, Ipvlan], {
    let cases = [("l2", "bridge"), ("l3", "private"), ("l3s", "vepa")];
    let mut text = String::from("name = \"t-ipvlan\"\n[[host]]\nname = \"p\"\n");
    for (i, _) in cases.iter().enumerate() {
        text += &format!("  [[host.iface]]\n  name = \"d{i}\"\n  kind = \"dummy\"\n");
    }
    for (i, (mode, flag)) in cases.iter().enumerate() {
        text += &format!(
            "[[host]]\nname = \"c{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  kind = \"ipvlan\"\n  parent = \"p:d{i}\"\n  mode = \"{mode}\"\n  flag = \"{flag}\"\n"
        );
    }
    let up = UpLab::up(&text);
    for (i, (mode, flag)) in cases.iter().enumerate() {
        let child = link(&up.netns(&format!("c{i}")), "eth0");
        let parent = link(&up.netns("p"), &format!("d{i}"));
        assert_eq!(child["linkinfo"]["info_kind"], "ipvlan");
        assert_eq!(info_data(&child)["mode"], *mode);
        match *flag {
            "bridge" => {
                assert!(info_data(&child).get("private").is_none() && info_data(&child).get("vepa").is_none())
            }
            flag => assert_eq!(info_data(&child)[flag], true, "flag {flag}"),
        }
        assert_eq!(child["address"], parent["address"], "an ipvlan child carries its parent's MAC");
        assert_eq!(parent["promiscuity"], 0, "ipvlan leaves its parent out of promiscuous mode");
        if mode.starts_with("l3") {
            assert!(child["flags"].as_array().unwrap().iter().any(|f| f == "NOARP"), "L3 children do no ARP");
        }
    }
    assert_eq!(link(&up.netns("p"), "d0")["linkinfo"]["info_kind"], "dummy");
});

kernel_test!(addresses_routes_sysctls_mac_mtu_and_state, &[Veth, Bridge], {
    let up = UpLab::up(
        r#"name = "t-l3"
[[switch]]
name = "sw"
[[router]]
name = "r"
  [[router.iface]]
  name = "eth0"
  link = "sw"
  addresses = ["10.0.0.254/24", "2001:db8::fe/64"]
[[host]]
name = "a"
sysctl = { "net.ipv4.conf.all.arp_ignore" = "1", "net.ipv4.conf.eth0.arp_announce" = 2, "net.ipv4.conf.default.rp_filter" = 2 }
  [[host.routes]]
  to = "10.9.0.0/16"
  via = "10.0.0.254"
  [[host.routes]]
  to = "default"
  via = "2001:db8::fe"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  mac = "02:00:00:00:00:0a"
  mtu = 1400
  addresses = ["10.0.0.1/24", "2001:db8::1/64"]
  gateway = "10.0.0.254"
[[host]]
name = "b"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  up = false
  [[host.iface]]
  name = "eth1"
  link = "c:eth1"
  addresses = ["192.0.2.1/30"]
  default_dev = true
[[host]]
name = "c"
"#,
    );
    let a = up.netns("a");
    let eth0 = link(&a, "eth0");
    assert_eq!(eth0["address"], "02:00:00:00:00:0a");
    assert_eq!(eth0["mtu"], 1400);
    let addresses = witness("ip", &["-n", &a, "-j", "address", "show", "dev", "eth0"]);
    let info = addresses[0]["addr_info"].as_array().unwrap();
    let has = |local: &str, prefix: u64| info.iter().any(|i| i["local"] == local && i["prefixlen"] == prefix);
    assert!(has("10.0.0.1", 24) && has("2001:db8::1", 64), "{info:?}");
    let v6 = info.iter().find(|i| i["local"] == "2001:db8::1").unwrap();
    assert_eq!(v6["nodad"], true, "IPv6 addresses skip duplicate address detection");
    assert!(v6.get("tentative").is_none(), "so nothing waits: {v6}");
    let routes = witness("ip", &["-n", &a, "-j", "route", "show"]);
    let route = |dst: &str| {
        routes.as_array().unwrap().iter().find(|r| r["dst"] == dst).cloned().unwrap_or(Value::Null)
    };
    assert_eq!(route("default")["gateway"], "10.0.0.254");
    assert_eq!(route("10.9.0.0/16")["gateway"], "10.0.0.254");
    let routes6 = witness("ip", &["-6", "-n", &a, "-j", "route", "show", "default"]);
    assert_eq!(routes6[0]["gateway"], "2001:db8::fe");
    assert_eq!(read_in(&a, "/proc/sys/net/ipv4/conf/all/arp_ignore"), "1");
    assert_eq!(read_in(&a, "/proc/sys/net/ipv4/conf/eth0/arp_announce"), "2");
    assert_eq!(
        read_in(&a, "/proc/sys/net/ipv4/conf/eth0/rp_filter"),
        "2",
        "a `default` key reaches the node's interfaces"
    );
    assert_eq!(read_in(&a, "/proc/sys/net/ipv4/ip_forward"), "0", "a host does not forward");
    assert_eq!(read_in(&up.netns("r"), "/proc/sys/net/ipv4/ip_forward"), "1", "a router does");
    assert_eq!(read_in(&up.netns("r"), "/proc/sys/net/ipv6/conf/all/forwarding"), "1");
    let b = up.netns("b");
    assert!(
        !link(&b, "eth0")["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "up = false leaves it down"
    );
    let dev_default = witness("ip", &["-n", &b, "-j", "route", "show", "default"]);
    assert_eq!(dev_default[0]["dev"], "eth1");
    assert_eq!(dev_default[0]["scope"], "link", "default_dev is a device route, scope link");
    assert!(dev_default[0].get("gateway").is_none());
    assert_eq!(
        link(&up.netns("c"), "eth1")["linkinfo"]["info_kind"],
        "veth",
        "a one-sided cable makes its far end"
    );
    let lo = link(&a, "lo");
    assert_eq!(lo["ifalias"], "lab=t-l3", "every namespace is marked as the lab's");
    assert!(lo["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "lo is up");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string("/run/lab/t-l3/state.json").unwrap()).unwrap();
    let node = state["nodes"].as_array().unwrap().iter().find(|n| n["name"] == "a").unwrap();
    let recorded = node["ifaces"].as_array().unwrap().iter().find(|i| i["name"] == "eth0").unwrap();
    assert_eq!(recorded["index"], eth0["ifindex"], "the state records the kernel's interface index");
    assert_eq!(recorded["mac"], eth0["address"]);
});

kernel_test!(a_child_may_share_a_name_with_its_parents_neighbours, &[Veth, Bridge, Macvlan], {
    let up = UpLab::up(
        "name = \"t-samename\"\n[[switch]]\nname = \"sw\"\n[[host]]\nname = \"docker1\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n[[host]]\nname = \"web1\"\n  [[host.iface]]\n  name = \"eth0\"\n  kind = \"macvlan\"\n  mode = \"bridge\"\n  parent = \"docker1:eth0\"\n",
    );
    let web1 = link(&up.netns("web1"), "eth0");
    assert_eq!(web1["linkinfo"]["info_kind"], "macvlan");
    assert_eq!(link(&up.netns("docker1"), "eth0")["linkinfo"]["info_kind"], "veth");
    assert!(web1["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
});

kernel_test!(nothing_appears_in_the_root_namespace_and_down_leaves_nothing, &[Veth, Bridge, Macvlan], {
    let before = root_links();
    {
        let up = UpLab::up(
            "name = \"t-root\"\n[[switch]]\nname = \"sw\"\n[[host]]\nname = \"a\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  [[host.iface]]\n  name = \"mv\"\n  kind = \"macvlan\"\n  mode = \"bridge\"\n  parent = \"eth0\"\n",
        );
        assert_eq!(root_links(), before, "the lab made nothing in the root namespace");
        assert!(namespaces().contains(&up.netns("a")));
        let (code, out, _) = lab(&["ls"]);
        assert_eq!(code, 0);
        assert!(
            out.lines().any(|l| l.split_whitespace().take(3).collect::<Vec<_>>() == ["t-root", "2", "up"]),
            "{out}"
        );
    }
    assert!(gone("t-root"), "down removed every namespace and the state");
    assert_eq!(root_links(), before);
});

kernel_test!(exec_runs_a_command_inside_a_node, &[Veth, Bridge], {
    let up = UpLab::up(
        "name = \"t-exec\"\n[[switch]]\nname = \"sw\"\n[[host]]\nname = \"a\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  addresses = [\"10.1.0.1/24\"]\n",
    );
    let (code, out, err) =
        lab(&["exec", &up.name, "a", "--", "ip", "-br", "-4", "address", "show", "dev", "eth0"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("10.1.0.1/24"), "{out}");
    let (_, sys, _) = lab(&["exec", &up.name, "a", "--", "ls", "/sys/class/net"]);
    assert_eq!(
        sys.split_whitespace().collect::<Vec<_>>(),
        ["eth0", "lo"],
        "/sys shows the node's own devices"
    );
    let (code, _, _) = lab(&["exec", &up.name, "a", "--", "sh", "-c", "exit 7"]);
    assert_eq!(code, 7, "the command's exit status comes back");
    let (code, _, err) = lab(&["exec", &up.name, "nobody", "--", "true"]);
    assert_eq!(code, 2);
    assert!(err.contains("has no node `nobody` up"), "{err}");
});

kernel_test!(a_second_up_of_a_lab_that_is_up_is_refused, &[Veth, Bridge], {
    let text = "name = \"t-twice\"\n[[switch]]\nname = \"sw\"\n[[host]]\nname = \"a\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n";
    let _up = UpLab::up(text);
    let path = write_topology("t-twice", text);
    let (code, _, err) = lab(&["up", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("it is already up: bring it down first: lab down t-twice"), "{err}");
});

/// A failure half-way, for real: keys of Linux 6.18 that the sandbox's 6.1 kernel lacks.
/// The validator takes them (a user's kernel may have them); the kernel refuses them at `up`.
#[test]
fn a_failure_half_way_leaves_nothing_behind() {
    // A key about one device is written once the devices exist: after the namespaces and
    // cables are made. A namespace-wide key is written before a namespace is even named.
    let late = "name = \"t-fail\"\n[[switch]]\nname = \"sw\"\n[[host]]\nname = \"a\"\nsysctl = { \"net.ipv6.conf.eth0.force_forwarding\" = \"1\" }\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  addresses = [\"10.2.0.1/24\"]\n";
    let early =
        late.replace("t-fail", "t-fail2").replace("conf.eth0.force_forwarding", "conf.all.force_forwarding");
    let (late, early) = (write_topology("t-fail", late), write_topology("t-fail2", &early));
    let script = format!(
        "for f in {} {}; do {} up -q $f; echo \"exit=$?\"; ip netns list | wc -l; ip -o link | wc -l; done",
        late.display(),
        early.display(),
        env!("CARGO_BIN_EXE_lab")
    );
    let out = lab::sandbox::Sandbox::default()
        .run(&["sh".into(), "-c".into(), script], &std::env::current_dir().unwrap())
        .expect("the sandbox runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}{stderr}");
    for run in lines.chunks(3) {
        assert_eq!(run[0], "exit=2", "{stdout}{stderr}");
        assert_eq!(run[1], "0", "the namespaces made before the failure were removed: {stdout}");
        assert_eq!(run[2], "1", "only lo is left in the sandbox's own namespace: {stdout}");
    }
    assert!(
        stderr.contains("writing sysctl net.ipv6.conf.eth0.force_forwarding=1 in a: no such file or directory: this kernel has no such key"),
        "{stderr}"
    );
    assert!(stderr.contains("writing sysctl net.ipv6.conf.all.force_forwarding=1 in a"), "{stderr}");
}

/// A lab big enough that `up` is still running when it is stopped.
fn big_lab(name: &str, hosts: usize) -> std::path::PathBuf {
    let mut text = format!("name = \"{name}\"\n[[switch]]\nname = \"sw\"\n");
    for i in 0..hosts {
        text += &format!(
            "[[host]]\nname = \"h{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  addresses = [\"10.3.{}.{}/16\"]\n",
            i / 250,
            i % 250 + 1
        );
    }
    write_topology(name, &text)
}

/// Starts `lab up` and waits until some of its namespaces exist.
fn start_up(path: &std::path::Path, lab_name: &str) -> std::process::Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["up", "-q", path.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let prefix = format!("{lab_name}-");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !lab::kernel::netns::list_names().iter().any(|n| n.starts_with(&prefix)) {
        assert!(std::time::Instant::now() < deadline, "lab up made no namespace");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child
}

kernel_test!(down_cleans_up_after_up_was_killed_half_way, &[Veth, Bridge], {
    let path = big_lab("t-killed", 400);
    let mut child = start_up(&path, "t-killed");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!gone("t-killed"), "the killed up left namespaces (else this test shows nothing)");
    let (code, _, err) = lab(&["down", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(gone("t-killed"), "down found every namespace by name and mark: {err}");
});

kernel_test!(an_interrupted_up_rolls_back, &[Veth, Bridge], {
    let path = big_lab("t-sigint", 400);
    let child = start_up(&path, "t-sigint");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("interrupted: everything made so far was removed"), "{err}");
    assert!(gone("t-sigint"));
});

kernel_test!(down_leaves_alone_a_namespace_it_did_not_make, &[Veth], {
    std::process::Command::new("ip").args(["netns", "add", "t-foreign-x"]).status().unwrap();
    let (code, _, err) = lab(&["down", "t-foreign"]);
    let still_there = namespaces().contains(&"t-foreign-x".to_string());
    std::process::Command::new("ip").args(["netns", "del", "t-foreign-x"]).status().unwrap();
    assert_eq!(code, 0);
    assert!(still_there, "a namespace not marked as the lab's is never removed");
    assert!(
        err.contains("left alone: namespace t-foreign-x is not marked as made by lab `t-foreign`"),
        "{err}"
    );
});

/// Each file comes up with one namespace per node that has its own, and goes down leaving
/// nothing.
fn each_comes_up_and_goes_down(files: impl IntoIterator<Item = std::path::PathBuf>) {
    for file in files {
        let lab_model = lab::topology::load(&file).unwrap().lab.unwrap();
        let (code, out, err) = lab(&["up", "-q", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {out}{err}", file.display());
        let prefix = format!("{}-", lab_model.name);
        let made = namespaces().iter().filter(|n| n.starts_with(&prefix)).count();
        let own = lab_model.nodes.iter().filter(|n| n.joins.is_none()).count();
        assert_eq!(made, own, "{}: one namespace per node that has its own", file.display());
        let (code, _, err) = lab(&["down", &lab_model.name]);
        assert_eq!(code, 0, "{err}");
        assert!(gone(&lab_model.name), "{}: down left something", file.display());
    }
}

kernel_test!(every_topology_comes_up_and_goes_down_cleanly, ALL, {
    each_comes_up_and_goes_down(common::topology_files().into_iter().filter(|f| !common::needs_nat(f)));
});

kernel_test!(every_nat_topology_comes_up_and_goes_down_cleanly, &[Veth, Bridge, Nat], {
    each_comes_up_and_goes_down(common::topology_files().into_iter().filter(|f| common::needs_nat(f)));
});

/// A kernel without modules: `up` refuses before making anything, names what needs each
/// missing feature, and says what to do.
#[test]
fn a_kernel_without_ipvlan_and_8021q_is_refused_before_anything_is_made() {
    let sandbox =
        lab::sandbox::Sandbox { without: vec!["ipvlan".into(), "8021q".into()], ..Default::default() };
    let script = format!(
        "{} up topologies/d3-ipvlan-8021q-trunk.toml; echo \"exit=$?\"; ip netns list | wc -l",
        env!("CARGO_BIN_EXE_lab")
    );
    let out = sandbox
        .run(&["sh".into(), "-c".into(), script], &std::env::current_dir().unwrap())
        .expect("the sandbox runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("exit=2"), "{stdout}{stderr}");
    let needs = "this kernel has no 802.1Q VLAN (8021q) (needed by docker:eth0.20, docker:eth0.30); \
                 no ipvlan (needed by ivlan_test1:eth0, ivlan_test2:eth0, ivlan_test3:eth0 and 1 more)";
    assert!(stderr.contains(needs), "{stderr}");
    assert!(stderr.contains("modprobe 8021q ipvlan") && stderr.contains("lab run --sandbox"), "{stderr}");
    assert_eq!(stdout.lines().last(), Some("0"), "no namespace was made");
}

// 1,000 cables into one switch: every request made in the switch's namespace gets its
// answer (before, the socket's receive buffer overflowed, answers were dropped and `up`
// waited forever for them).
kernel_test!(a_thousand_hosts_on_one_switch_come_up, &[Veth, Bridge], {
    let path = big_lab("t-thousand", 1000);
    let (code, _, err) = lab(&["up", "-q", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let ports = witness("ip", &["-n", "t-thousand-sw", "-j", "link", "show", "master", "br0"]);
    assert_eq!(ports.as_array().unwrap().len(), 1000, "every cable is a port of the switch");
    let (code, _, err) = lab(&["down", "t-thousand"]);
    assert_eq!(code, 0, "{err}");
    assert!(gone("t-thousand"));
});
