//! The layer above cables, realized and probed: a bridge inside a host with its ports, a
//! switch that routes through SVIs and a trunk's native VLAN, services and every outcome of
//! a connect probe, and nodes that share a namespace. `ip` and `bridge` are the witnesses.

mod common;
use common::kernel::{UpLab, lab, link, namespaces, observed, verify_json, witness};
use lab::model::KernelFeature::*;
use serde_json::Value;

const DOCKER_BRIDGE: &str = r#"name = "t-l3-bridge"
[[host]]
name = "dk"
  [[host.iface]]
  name = "docker0"
  kind = "bridge"
  addresses = ["172.17.0.1/16"]
[[host]]
name = "c1"
  [[host.iface]]
  name = "eth0"
  link = "dk:docker0"
  addresses = ["172.17.0.2/16"]
  gateway = "172.17.0.1"
[[host]]
name = "c2"
  [[host.iface]]
  name = "eth0"
  link = "dk:docker0"
  addresses = ["172.17.0.3/16"]
  gateway = "172.17.0.1"
[[expect]]
from = "c1"
to = "c2"
reach = true
[[expect]]
from = "c2"
to = "172.17.0.1"
reach = true
[[expect]]
from = "dk"
to = "c1"
reach = true
"#;

kernel_test!(a_bridge_inside_a_host_has_the_cables_to_it_as_ports, [Veth, Bridge], {
    let up = UpLab::up(DOCKER_BRIDGE);
    let dk = up.netns("dk");
    let bridge = link(&dk, "docker0");
    assert_eq!(bridge["linkinfo"]["info_kind"], "bridge");
    let ports = witness("ip", &["-n", &dk, "-j", "link", "show", "master", "docker0"]);
    let mut names: Vec<&str> =
        ports.as_array().unwrap().iter().map(|p| p["ifname"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["c1-eth0", "c2-eth0"]);
    let address = witness("ip", &["-n", &dk, "-j", "address", "show", "dev", "docker0"]);
    assert_eq!(address[0]["addr_info"][0]["local"], "172.17.0.1");
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 0, "{outcomes:#?}");
});

const SERVICES: &str = r#"name = "t-l3-svc"
[[router]]
name = "r"
  [[router.iface]]
  name = "a"
  link = "client:eth0"
  addresses = ["10.0.1.1/24"]
  [[router.iface]]
  name = "b"
  link = "web:eth0"
  addresses = ["10.0.2.1/24"]
  [[router.iface]]
  name = "c"
  link = "lonely:eth0"
  addresses = ["10.0.3.1/24"]
  [[router.listen]]
  proto = "udp"
  port = 53
[[host]]
name = "client"
  [[host.iface]]
  name = "eth0"
  link = "r:a"
  addresses = ["10.0.1.2/24"]
  gateway = "10.0.1.1"
[[host]]
name = "web"
  [[host.iface]]
  name = "eth0"
  link = "r:b"
  addresses = ["10.0.2.2/24"]
  gateway = "10.0.2.1"
  [[host.listen]]
  port = 80
  [[host.listen]]
  proto = "udp"
  port = 53
# No route back to the client: its SYN arrives, the answer is never sent.
[[host]]
name = "lonely"
  [[host.iface]]
  name = "eth0"
  link = "r:c"
  addresses = ["10.0.3.2/24"]
  [[host.listen]]
  port = 80
[[expect]]
from = "client"
connect = "web:80"
answered_by = "web"
peer_seen = "10.0.1.2"
[[expect]]
from = "client"
connect = "10.0.2.2:53"
proto = "udp"
answered_by = "web"
[[expect]]
from = "client"
connect = "10.0.2.2:81"
result = "refused"
[[expect]]
from = "client"
connect = "10.0.2.2:54"
proto = "udp"
result = "refused"
[[expect]]
from = "client"
connect = "10.9.9.9:80"
result = "unreachable"
[[expect]]
from = "client"
connect = "10.0.3.2:80"
result = "timeout"
timeout = "300ms"
[[expect]]
from = "client"
connect = "10.0.2.2:80"
reach = false
[[expect]]
from = "client"
connect = "10.0.2.2:81"
answered_by = "web"
[[expect]]
from = "client"
connect = "web:80"
peer_seen = "10.0.1.99"
[[expect]]
from = "client"
connect = "10.0.3.2:80"
result = "refused"
timeout = "300ms"
# To the router's far address: the answer must leave from it, not from the near one.
[[expect]]
from = "client"
connect = "10.0.2.1:53"
proto = "udp"
answered_by = "r"
peer_seen = "10.0.1.2"
"#;

kernel_test!(connect_probes_tell_answered_refused_unreachable_and_silence_apart, [Veth], {
    let up = UpLab::up(SERVICES);
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 1, "four expectations are wrong on purpose: {outcomes:#?}");
    let (passed, text) = observed(&outcomes, 1);
    assert!(passed && text.starts_with("answered by web, which saw 10.0.1.2:"), "{text}");
    let (passed, text) = observed(&outcomes, 2);
    assert!(passed && text.starts_with("answered by web, which saw 10.0.1.2:"), "UDP: {text}");
    assert_eq!(observed(&outcomes, 3), (true, "refused (TCP reset)".into()));
    assert_eq!(observed(&outcomes, 4), (true, "refused (ICMP port unreachable)".into()));
    let (passed, text) = observed(&outcomes, 5);
    assert!(passed && text.starts_with("unreachable: "), "{text}");
    let (passed, text) = observed(&outcomes, 6);
    assert!(passed && text.starts_with("no answer in 0.3 s, the network quiet"), "{text}");
    // The wrong ones fail, saying what came instead.
    let (passed, text) = observed(&outcomes, 7);
    assert!(!passed && text.starts_with("answered by web"), "{text}");
    assert_eq!(observed(&outcomes, 8), (false, "refused (TCP reset)".into()));
    let (passed, text) = observed(&outcomes, 9);
    assert!(!passed && text.contains("which saw 10.0.1.2:"), "the wrong peer: {text}");
    let (passed, text) = observed(&outcomes, 10);
    assert!(!passed && text.starts_with("no answer"), "{text}");
    let (passed, text) = observed(&outcomes, 11);
    assert!(passed, "a multi-homed node answers a datagram from the address it was sent to: {text}");
    assert_eq!(outcomes.iter().filter(|o| o["decided"] == false).count(), 0, "{outcomes:#?}");
});

const SHARED: &str = r#"name = "t-l3-shared"
[[host]]
name = "web"
  [[host.iface]]
  name = "eth0"
  link = "client:eth0"
  addresses = ["10.0.0.1/24"]
  [[host.listen]]
  port = 80
[[host]]
name = "sidecar"
netns = "web"
  [[host.listen]]
  port = 9000
  [[host.listen]]
  port = 80
[[host]]
name = "client"
  [[host.iface]]
  name = "eth0"
  link = "web:eth0"
  addresses = ["10.0.0.2/24"]
[[expect]]
from = "sidecar"
connect = "127.0.0.1:80"
answered_by = "web"
[[expect]]
from = "web"
connect = "127.0.0.1:9000"
answered_by = "sidecar"
peer_seen = "127.0.0.1"
[[expect]]
from = "client"
connect = "sidecar:9000"
answered_by = "sidecar"
[[expect]]
listener = "sidecar:80"
bound = false
[[expect]]
listener = "web:80"
bound = true
"#;

kernel_test!(a_node_in_another_nodes_namespace_shares_its_address_and_ports, [Veth], {
    let before = namespaces();
    let up = UpLab::up(SHARED);
    let mut made: Vec<String> =
        namespaces().into_iter().filter(|n| !before.contains(n) && n.starts_with("t-l3-shared")).collect();
    made.sort();
    assert_eq!(made, ["t-l3-shared-client", "t-l3-shared-web"], "the sidecar has no namespace of its own");
    let (code, sidecar, err) = lab(&["exec", &up.name, "sidecar", "--", "ip", "-j", "link", "show", "eth0"]);
    assert_eq!(code, 0, "{err}");
    let sidecar: Value = serde_json::from_str(&sidecar).unwrap();
    assert_eq!(sidecar[0]["address"], link(&up.netns("web"), "eth0")["address"], "one MAC: the same eth0");
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 0, "{outcomes:#?}");
    let (_, refused) = observed(&outcomes, 4);
    assert!(refused.contains("Address already in use"), "the kernel's words: {refused}");
    let (_, seen) = observed(&outcomes, 3);
    assert!(seen.starts_with("answered by sidecar, which saw 10.0.0.2:"), "{seen}");
    drop(up);
    assert!(!namespaces().iter().any(|n| n.starts_with("t-l3-shared")), "down removes both");
});

const NATIVE: &str = r#"name = "t-l3-native"
[[switch]]
name = "sw"
  [[switch.iface]]
  name = "vlan10"
  kind = "vlan"
  parent = "br0"
  id = 10
  addresses = ["10.10.0.1/24"]
  [[switch.iface]]
  name = "vlan20"
  kind = "vlan"
  parent = "br0"
  id = 20
  addresses = ["10.20.0.1/24"]
[[host]]
name = "h"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  trunk = [20]
  native = 10
  addresses = ["10.10.0.2/24"]
  [[host.iface]]
  kind = "vlan"
  parent = "eth0"
  id = 20
  addresses = ["10.20.0.2/24"]
[[host]]
name = "far"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  access = 20
  addresses = ["10.20.0.9/24"]
  gateway = "10.20.0.1"
[[expect]]
from = "sw"
to = "10.10.0.2"
reach = true
tagged = { on = "h:eth0", vlan = 20 }
[[expect]]
from = "sw"
to = "10.20.0.2"
reach = true
tagged = { on = "h:eth0", vlan = 20 }
[[expect]]
from = "far"
to = "10.10.0.2"
reach = true
"#;

kernel_test!(
    a_switch_routes_between_its_vlans_and_a_trunk_carries_a_native_vlan,
    [Veth, BridgeVlanFiltering, Vlan],
    {
        let up = UpLab::up(NATIVE);
        let sw = up.netns("sw");
        let vlans = witness("bridge", &["-n", &sw, "-j", "vlan", "show"]);
        let of = |dev: &str| -> Vec<(u64, bool, bool)> {
            let entry = vlans.as_array().unwrap().iter().find(|v| v["ifname"] == dev).unwrap();
            entry["vlans"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    let flags: Vec<&str> = v["flags"]
                        .as_array()
                        .map_or(vec![], |f| f.iter().map(|x| x.as_str().unwrap()).collect());
                    (v["vlan"].as_u64().unwrap(), flags.contains(&"PVID"), flags.contains(&"Egress Untagged"))
                })
                .collect()
        };
        assert!(of("h-eth0").contains(&(10, true, true)), "native 10 untagged: {vlans}");
        assert!(of("h-eth0").contains(&(20, false, false)), "20 tagged: {vlans}");
        let own = of("br0");
        assert!(
            own.iter().any(|v| v.0 == 10) && own.iter().any(|v| v.0 == 20),
            "the bridge's own VLANs: {vlans}"
        );
        assert_eq!(common::kernel::read_in(&sw, "/proc/sys/net/ipv4/ip_forward"), "1");
        let (code, outcomes) = verify_json(&up.name);
        assert_eq!(code, 1, "{outcomes:#?}");
        // The native VLAN's frames cross the trunk untagged: the first expectation fails on its tags.
        let (passed, text) = observed(&outcomes, 1);
        assert!(!passed && text.contains("untagged"), "{text}");
        assert!(observed(&outcomes, 2).0, "{outcomes:#?}");
        assert!(observed(&outcomes, 3).0, "routed by the switch from VLAN 20 to VLAN 10: {outcomes:#?}");
    }
);

const FOREIGN: &str = r#"name = "t-l3-foreign"
[[host]]
name = "a"
  [[host.iface]]
  name = "eth0"
  link = "b:eth0"
  addresses = ["10.0.0.1/24"]
[[host]]
name = "b"
  [[host.iface]]
  name = "eth0"
  link = "a:eth0"
  addresses = ["10.0.0.2/24"]
[[expect]]
from = "a"
connect = "10.0.0.2:7000"
answered_by = "b"
"#;

kernel_test!(a_server_that_is_not_a_lab_service_fails_answered_by, [Veth], {
    let up = UpLab::up(FOREIGN);
    // A server of the test's own in b's namespace, which answers with a line of its own.
    let ns = std::fs::File::open(format!("/run/netns/{}", up.netns("b"))).unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let listener = std::net::TcpListener::bind("10.0.0.2:7000").unwrap();
        ready_tx.send(()).unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        std::io::Write::write_all(&mut stream, b"SSH-2.0-OpenSSH_9.2\n").unwrap();
    });
    ready_rx.recv().unwrap();
    let (code, outcomes) = verify_json(&up.name);
    server.join().unwrap();
    assert_eq!(code, 1, "{outcomes:#?}");
    let (passed, text) = observed(&outcomes, 1);
    assert!(!passed && text == "answered, but not by a lab service: \"SSH-2.0-OpenSSH_9.2\"", "{text}");
});
