//! NAT labs, realized and probed: Docker's bridge model case by case (masquerade, a
//! published port, unpublished ports, hairpin, the host's own and 127.0.0.1 access), each
//! also without the rule or setting it rests on; the rules read back with `nft list
//! ruleset`, their counters counting; nothing outside the lab's table touched; and a kernel
//! without nf_tables for IPv4 refused before anything is made. NAT runs natively: the
//! sandbox's kernel has no nf_tables `ip` family.

mod common;
use common::kernel::{UpLab, lab, namespaces, observed, verify_json};
use lab::model::KernelFeature::*;
use std::process::Command;

/// Each outcome: passed, and what was observed.
fn outcomes(name: &str) -> Vec<(bool, String)> {
    let (_, outcomes) = verify_json(name);
    (1..=outcomes.len()).map(|n| observed(&outcomes, n)).collect()
}

/// `nft list ruleset` inside a namespace (or, with `None`, the machine's own).
fn ruleset(ns: Option<&str>) -> String {
    let out = match ns {
        Some(ns) => Command::new("ip").args(["netns", "exec", ns, "nft", "list", "ruleset"]).output(),
        None => Command::new("nft").args(["list", "ruleset"]).output(),
    }
    .expect("nft runs (apt-get install nftables)");
    assert!(out.status.success(), "nft: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The bridge model: a Docker host with docker0, two containers, a LAN machine; `nat` is
/// the host's `[host.nat]` body, `sysctl` its sysctls, `expects` the checks.
fn docker_lab(name: &str, nat: &str, sysctl: &str, expects: &str) -> String {
    format!(
        r#"name = "{name}"
[[host]]
name = "dk"
sysctl = {{ {sysctl} }}
  [[host.iface]]
  name = "ens33"
  link = "lan:eth0"
  addresses = ["192.168.111.128/24"]
  [[host.iface]]
  name = "docker0"
  kind = "bridge"
  addresses = ["172.17.0.1/16"]
  [host.nat]
{nat}
[[host]]
name = "web"
  [[host.iface]]
  name = "eth0"
  link = "dk:docker0"
  addresses = ["172.17.0.2/16"]
  gateway = "172.17.0.1"
  [[host.listen]]
  port = 80
  [[host.listen]]
  proto = "udp"
  port = 53
[[host]]
name = "bbox"
  [[host.iface]]
  name = "eth0"
  link = "dk:docker0"
  addresses = ["172.17.0.3/16"]
  gateway = "172.17.0.1"
[[host]]
name = "lan"
  [[host.iface]]
  name = "eth0"
  link = "dk:ens33"
  addresses = ["192.168.111.129/24"]
  [[host.listen]]
  port = 9000
{expects}"#
    )
}

const MASQUERADE: &str = r#"masquerade = [{ from = "172.17.0.0/16", out_not = "docker0" }]"#;
const PUBLISH: &str =
    r#"publish = [{ port = 8080, to = "web:80" }, { proto = "udp", port = 5353, to = "web:53" }]"#;

fn connect(from: &str, to: &str, extra: &str) -> String {
    format!("[[expect]]\nfrom = \"{from}\"\nconnect = \"{to}\"\n{extra}\n")
}

kernel_test!(the_bridge_model_masquerades_publishes_and_hairpins, [Veth, Bridge, Nat], {
    let before = ruleset(None);
    let nat = format!("  {MASQUERADE}\n  {PUBLISH}\n  hairpin = true\n  localhost = true");
    let expects = [
        connect("web", "lan:9000", "answered_by = \"lan\"\npeer_seen = \"192.168.111.128\""),
        connect("lan", "192.168.111.128:8080", "answered_by = \"web\"\npeer_seen = \"192.168.111.129\""),
        connect(
            "lan",
            "192.168.111.128:5353",
            "proto = \"udp\"\nanswered_by = \"web\"\npeer_seen = \"192.168.111.129\"",
        ),
        connect("lan", "192.168.111.128:80", "result = \"refused\""),
        connect("lan", "172.17.0.2:80", "result = \"unreachable\""),
        connect("bbox", "192.168.111.128:8080", "answered_by = \"web\"\npeer_seen = \"172.17.0.1\""),
        connect("dk", "192.168.111.128:8080", "answered_by = \"web\"\npeer_seen = \"192.168.111.128\""),
        connect("dk", "127.0.0.1:8080", "answered_by = \"web\"\npeer_seen = \"172.17.0.1\""),
    ]
    .concat();
    let up = UpLab::up(&docker_lab("t-nat-docker", &nat, "", &expects));
    let dk = up.netns("dk");
    let rules = ruleset(Some(&dk));
    for line in [
        "table ip lab {",
        "type nat hook prerouting priority dstnat; policy accept;",
        "type nat hook output priority -100; policy accept;",
        "type nat hook postrouting priority srcnat; policy accept;",
        "fib daddr type local tcp dport 8080 counter packets 0 bytes 0 dnat to 172.17.0.2:80",
        "fib daddr type local udp dport 5353 counter packets 0 bytes 0 dnat to 172.17.0.2:53",
        "ip saddr 172.17.0.0/16 oifname != \"docker0\" counter packets 0 bytes 0 masquerade",
        "ct status dnat ip saddr 172.17.0.0/16 ip daddr 172.17.0.0/16 counter packets 0 bytes 0 masquerade",
        "ct status dnat ip saddr 127.0.0.0/8 counter packets 0 bytes 0 masquerade",
    ] {
        assert!(rules.contains(line), "nft lists `{line}`:\n{rules}");
    }
    assert_eq!(common::kernel::read_in(&dk, "/proc/sys/net/ipv4/ip_forward"), "1", "NAT forwards");
    assert_eq!(common::kernel::read_in(&dk, "/proc/sys/net/ipv4/conf/all/route_localnet"), "1", "localhost");
    let seen = outcomes(&up.name);
    assert!(seen.iter().all(|(passed, _)| *passed), "{seen:#?}");
    assert_eq!(seen[3].1, "refused (TCP reset)", "an unpublished port");
    assert!(seen[4].1.starts_with("unreachable: "), "{}", seen[4].1);
    let counted = ruleset(Some(&dk));
    assert!(
        !counted.contains("tcp dport 8080 counter packets 0 "),
        "the DNAT rule counted its packets:\n{counted}"
    );
    assert_eq!(ruleset(None), before, "the machine's own ruleset is untouched");
    drop(up);
    assert!(
        !namespaces().iter().any(|n| n.starts_with("t-nat-docker")),
        "down removes the lab and its rules"
    );
});

kernel_test!(without_masquerade_the_outside_cannot_answer_a_container, [Veth, Bridge, Nat], {
    let expects = connect("web", "lan:9000", "result = \"timeout\"\ntimeout = \"300ms\"");
    let up = UpLab::up(&docker_lab("t-nat-nomasq", &format!("  {PUBLISH}"), "", &expects));
    let seen = outcomes(&up.name);
    assert!(seen[0].0 && seen[0].1.starts_with("no answer in 0.3 s, the network quiet"), "{seen:#?}");
});

kernel_test!(hairpin_without_masquerade_rests_on_br_netfilter, [Veth, Bridge, Nat], {
    // Without the hairpin masquerade web answers bbox directly, over the bridge: the reply is
    // un-DNATed only when bridged frames pass netfilter (br_netfilter's conntrack).
    let expects =
        connect("bbox", "192.168.111.128:8080", "answered_by = \"web\"\npeer_seen = \"172.17.0.3\"");
    let on = "\"net.bridge.bridge-nf-call-iptables\" = 1";
    let up = UpLab::up(&docker_lab("t-nat-brnf1", &format!("  {MASQUERADE}\n  {PUBLISH}"), on, &expects));
    let seen = outcomes(&up.name);
    assert!(seen[0].0, "with br_netfilter on, bbox is answered and web sees bbox itself: {seen:#?}");
    drop(up);
    let expects = connect("bbox", "192.168.111.128:8080", "result = \"timeout\"\ntimeout = \"300ms\"");
    let off = "\"net.bridge.bridge-nf-call-iptables\" = 0";
    let up = UpLab::up(&docker_lab("t-nat-brnf0", &format!("  {MASQUERADE}\n  {PUBLISH}"), off, &expects));
    let seen = outcomes(&up.name);
    assert!(seen[0].0, "with it off, web's reply comes from 172.17.0.2, which bbox never asked: {seen:#?}");
});

kernel_test!(the_host_reaches_127_0_0_1_only_with_localhost, [Veth, Bridge, Nat], {
    let expects = connect("dk", "127.0.0.1:8080", "result = \"refused\"");
    let up = UpLab::up(&docker_lab("t-nat-nolocal", &format!("  {MASQUERADE}\n  {PUBLISH}"), "", &expects));
    let seen = outcomes(&up.name);
    assert!(seen[0].0, "loopback is not DNATed: nothing listens on the host's 8080: {seen:#?}");
    assert_eq!(common::kernel::read_in(&up.netns("dk"), "/proc/sys/net/ipv4/conf/all/route_localnet"), "0");
});

kernel_test!(a_port_published_on_one_address_is_not_published_on_the_others, [Veth, Bridge, Nat], {
    let nat = format!(
        "  {MASQUERADE}\n  publish = [{{ port = 8080, to = \"web:80\", host_ip = \"192.168.111.128\" }}]"
    );
    let expects = [
        connect("lan", "192.168.111.128:8080", "answered_by = \"web\""),
        connect("bbox", "172.17.0.1:8080", "result = \"refused\""),
    ]
    .concat();
    let up = UpLab::up(&docker_lab("t-nat-hostip", &nat, "", &expects));
    assert!(
        ruleset(Some(&up.netns("dk")))
            .contains("fib daddr type local ip daddr 192.168.111.128 tcp dport 8080")
    );
    let seen = outcomes(&up.name);
    assert!(seen.iter().all(|(passed, _)| *passed), "{seen:#?}");
});

kernel_test!(a_wrong_nat_expectation_fails_saying_what_nat_did, [Veth, Bridge, Nat], {
    let expects = connect("web", "lan:9000", "peer_seen = \"172.17.0.2\"");
    let up = UpLab::up(&docker_lab("t-nat-wrong", &format!("  {MASQUERADE}"), "", &expects));
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 1);
    let observed = outcomes[0]["observed"].as_str().unwrap();
    assert!(observed.starts_with("answered by lan, which saw 192.168.111.128:"), "{observed}");
});

kernel_test!(a_kernel_without_nf_tables_for_ipv4_refuses_a_nat_lab_before_making_it, [Veth, Vlan], {
    // Where this kernel has no 802.1Q (as here and in CI) the body runs in the sandbox,
    // whose kernel has no nf_tables for IPv4; on a kernel with both it checks that NAT works.
    let text = docker_lab("t-nat-nokernel", &format!("  {MASQUERADE}"), "", "");
    let path = common::kernel::write_topology("t-nat-nokernel", &text);
    let (code, _, err) = lab(&["up", path.to_str().unwrap()]);
    if lab::kernel::nftables::supported().unwrap() {
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = lab(&["down", "t-nat-nokernel"]);
        assert_eq!(code, 0, "{err}");
        return;
    }
    assert_ne!(code, 0);
    assert!(err.contains("this kernel has no nf_tables NAT for IPv4 (needed by dk)"), "{err}");
    assert!(err.contains("the sandbox's has neither"), "{err}");
    assert!(!namespaces().iter().any(|n| n.starts_with("t-nat-nokernel")), "nothing was made");
});
