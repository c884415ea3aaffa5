//! The rules of the layer above cables, one test each: bridges inside hosts, switches that
//! route (SVIs) and native VLANs, services, connect and service checks, shared namespaces.
//! Each asserts the message a user sees and where.

mod common;
use common::{assert_clean, assert_error, assert_warning, check};
use lab::model::{Check, IfaceKind, L4, Want};

const DOCKER: &str = r#"name = "t"
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
  [[host.listen]]
  port = 80
"#;

// ---- bridges inside hosts --------------------------------------------------------------

#[test]
fn a_cable_to_a_bridge_in_a_host_is_a_port_of_it() {
    assert_clean(DOCKER);
    let lab = check(DOCKER).lab.unwrap();
    let dk = &lab.nodes[0];
    assert_eq!(dk.ifaces.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["docker0", "c1-eth0"]);
    let IfaceKind::Veth { port: Some(port), .. } = &dk.ifaces[1].kind else { panic!("a port") };
    assert_eq!(port.master.map(|m| lab.iface_label(m)), Some("dk:docker0".to_string()));
    assert!(matches!(dk.ifaces[0].kind, IfaceKind::Bridge { vlan_filtering: false }));
}

#[test]
fn port_options_on_a_cable_to_a_host_bridge_make_it_filter_vlans() {
    let text = DOCKER.replace("link = \"dk:docker0\"", "link = \"dk:docker0\"\n  access = 5");
    let lab = check(&text).lab.unwrap();
    assert!(matches!(lab.nodes[0].ifaces[0].kind, IfaceKind::Bridge { vlan_filtering: true }));
}

#[test]
fn a_bridge_takes_no_link() {
    let text = DOCKER.replace("kind = \"bridge\"", "kind = \"bridge\"\n  link = \"c1:eth0\"");
    assert_error(&text, "7:10", "`link` does not apply to a bridge interface");
}

// ---- switches that route, native VLANs ---------------------------------------------------

const SVI: &str = r#"name = "t"
[[switch]]
name = "sw"
  [[switch.iface]]
  name = "vlan10"
  kind = "vlan"
  parent = "br0"
  id = 10
  addresses = ["10.10.0.1/24"]
[[host]]
name = "h"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  access = 10
  addresses = ["10.10.0.2/24"]
[[expect]]
from = "sw"
to = "h"
reach = true
"#;

#[test]
fn a_switch_routes_through_vlan_interfaces_of_its_bridge() {
    assert_clean(SVI);
    let lab = check(SVI).lab.unwrap();
    let sw = &lab.nodes[0];
    assert!(
        sw.sysctls.iter().any(|s| s.key == "net.ipv4.ip_forward" && s.value == "1"),
        "a switch that routes forwards"
    );
    let bridge = sw.ifaces.iter().find(|i| i.name == "br0").unwrap();
    assert!(matches!(bridge.kind, IfaceKind::Bridge { vlan_filtering: true }));
}

#[test]
fn a_switch_port_still_cannot_be_a_parent() {
    let text = SVI.replace("parent = \"br0\"", "parent = \"h-eth0\"");
    assert_error(&text, "7:12", "a switch port cannot be a parent");
}

#[test]
fn a_switch_without_addresses_still_cannot_probe() {
    let text = SVI.replace("  addresses = [\"10.10.0.1/24\"]\n[[host]]", "[[host]]");
    assert_error(&text, "17:8", "`sw` is a switch: it has no address to probe from");
}

#[test]
fn a_switch_may_not_have_other_kinds_of_interface() {
    let text = SVI.replace("kind = \"vlan\"\n  parent = \"br0\"\n  id = 10", "kind = \"dummy\"");
    assert_error(&text, "4:3", "a switch cannot have a dummy interface");
}

#[test]
fn a_native_vlan_rides_untagged_on_a_trunk() {
    let text = SVI.replace("access = 10", "trunk = [20, 30]\n  native = 10");
    let lab = check(&text).lab.unwrap();
    let port = lab.nodes[0].ifaces.iter().find_map(|i| i.kind.port()).unwrap();
    assert_eq!((port.access, port.trunk.clone()), (Some(10), vec![20, 30]));
}

#[test]
fn a_native_vlan_needs_a_trunk() {
    let text = SVI.replace("access = 10", "native = 10");
    assert_error(&text, "15:12", "a native VLAN needs a `trunk` for the tagged ones");
    let both = SVI.replace("access = 10", "access = 10\n  native = 10");
    assert_error(
        &both,
        "16:12",
        "a native VLAN belongs to a trunk; an access port's VLAN is already untagged",
    );
}

#[test]
fn a_native_vlan_is_not_also_tagged() {
    let text = SVI.replace("access = 10", "trunk = [10, 20]\n  native = 10");
    assert_error(&text, "16:12", "VLAN 10 is both native and tagged on this trunk");
}

// ---- services ------------------------------------------------------------------------------

#[test]
fn a_service_needs_a_port_in_range() {
    let none = DOCKER.replace("port = 80", "proto = \"tcp\"");
    assert_error(&none, "14:3", "a service needs a `port`");
    let zero = DOCKER.replace("port = 80", "port = 0");
    assert_error(&zero, "15:10", "port 0 is outside 1..65535");
}

#[test]
fn a_service_speaks_tcp_or_udp() {
    let text = DOCKER.replace("port = 80", "port = 80\n  proto = \"sctp\"");
    assert_error(&text, "16:11", "unknown transport `sctp`");
}

#[test]
fn a_service_listens_on_an_address_of_its_node() {
    let text = DOCKER.replace("port = 80", "port = 80\n  addr = \"10.9.9.9\"");
    assert_error(&text, "16:10", "10.9.9.9 is not an address of `c1`");
}

#[test]
fn two_services_on_one_port_of_one_namespace_warn() {
    let text = format!("{DOCKER}[[host]]\nname = \"side\"\nnetns = \"c1\"\n  [[host.listen]]\n  port = 80\n");
    assert_warning(&text, "19:3", "tcp port 80 is already served in this namespace, by `c1`");
}

// ---- shared namespaces -----------------------------------------------------------------------

#[test]
fn a_node_joins_another_nodes_namespace() {
    let text = format!("{DOCKER}[[host]]\nname = \"side\"\nnetns = \"c1\"\n");
    let lab = check(&text).lab.unwrap();
    let side = lab.node_id("side").unwrap();
    assert_eq!(lab.netns_name(side), "t-c1");
    assert_eq!(lab.home(side), lab.node_id("c1").unwrap());
}

#[test]
fn a_joining_node_has_no_interfaces_of_its_own() {
    let text = format!(
        "{DOCKER}[[host]]\nname = \"side\"\nnetns = \"c1\"\n  [[host.iface]]\n  name = \"d\"\n  kind = \"dummy\"\n"
    );
    assert_error(&text, "19:3", "a node in `c1`'s namespace has no interfaces of its own");
}

#[test]
fn a_node_joins_a_host_or_router_that_has_its_own_namespace() {
    let own = format!("{DOCKER}[[host]]\nname = \"side\"\nnetns = \"side\"\n");
    assert_error(&own, "18:9", "a node cannot join its own namespace");
    let chain =
        format!("{DOCKER}[[host]]\nname = \"a\"\nnetns = \"c1\"\n[[host]]\nname = \"b\"\nnetns = \"a\"\n");
    assert_error(&chain, "21:9", "`a` itself joins another node's namespace");
    let unknown = format!("{DOCKER}[[host]]\nname = \"side\"\nnetns = \"c9\"\n");
    assert_error(&unknown, "18:9", "unknown node `c9`");
}

// ---- connect and service checks ----------------------------------------------------------------

fn expect(keys: &str) -> String {
    format!("{DOCKER}[[expect]]\nfrom = \"dk\"\n{keys}\n")
}

#[test]
fn a_connect_check_names_address_and_port() {
    let lab =
        check(&expect("connect = \"c1:80\"\nanswered_by = \"c1\"\npeer_seen = \"172.17.0.1\"")).lab.unwrap();
    let Check::Connect { to, port, proto, want, answered_by, peer_seen, .. } = &lab.expectations[0].check
    else {
        panic!("a connect check")
    };
    assert_eq!(
        (to.addr.to_string(), *port, *proto, *want),
        ("172.17.0.2".into(), 80, L4::Tcp, Want::Answered)
    );
    assert_eq!(answered_by.map(|n| lab.node(n).name.clone()), Some("c1".into()));
    assert_eq!(peer_seen.map(|p| p.to_string()), Some("172.17.0.1".into()));
    let v6 =
        check(&expect("connect = \"[2001:db8::1]:53\"\nproto = \"udp\"\nresult = \"timeout\"")).lab.unwrap();
    assert!(matches!(
        v6.expectations[0].check,
        Check::Connect { port: 53, proto: L4::Udp, want: Want::Timeout, .. }
    ));
}

#[test]
fn a_connect_check_needs_a_port() {
    assert_error(&expect("connect = \"c1\""), "18:11", "`c1` is not ADDRESS:PORT");
    assert_error(&expect("connect = \"c1:http\""), "18:11", "`http` is not a port");
}

#[test]
fn a_connect_result_is_one_of_four() {
    assert_error(&expect("connect = \"c1:80\"\nresult = \"dropped\""), "19:10", "unknown result `dropped`");
}

#[test]
fn reach_and_result_must_agree() {
    assert_error(
        &expect("connect = \"c1:80\"\nreach = true\nresult = \"refused\""),
        "20:10",
        "`reach` and `result` disagree",
    );
}

#[test]
fn only_an_answer_says_who_answered() {
    assert_error(
        &expect("connect = \"c1:80\"\nresult = \"refused\"\nanswered_by = \"c1\""),
        "20:15",
        "only an answered connection says who answered",
    );
}

#[test]
fn a_connect_check_takes_no_to() {
    assert_error(
        &expect("connect = \"c1:80\"\nto = \"c1\""),
        "19:6",
        "`to` does not belong in a connect check",
    );
}

#[test]
fn a_service_check_names_a_declared_service() {
    let good = format!("{DOCKER}[[expect]]\nlistener = \"c1:80\"\nbound = true\n");
    let lab = check(&good).lab.unwrap();
    assert!(matches!(lab.expectations[0].check, Check::Listening { port: 80, bound: true, .. }));
    let missing = format!("{DOCKER}[[expect]]\nlistener = \"c1:81\"\n");
    assert_error(&missing, "17:12", "`c1` has no tcp service on port 81");
}

// ---- NAT ----------------------------------------------------------------------------------------

/// DOCKER with a `[host.nat]` table on `dk` (written right after dk's interfaces).
fn with_nat(body: &str) -> String {
    DOCKER.replace("[[host]]\nname = \"c1\"", &format!("  [host.nat]\n{body}\n[[host]]\nname = \"c1\""))
}

#[test]
fn a_nat_table_becomes_the_nodes_nat() {
    let text = with_nat(
        "  masquerade = [{ from = \"172.17.0.0/16\", out_not = \"docker0\" }]\n  publish = [{ port = 8080, to = \"c1:80\" }]\n  hairpin = true",
    );
    assert_clean(&text);
    let lab = check(&text).lab.unwrap();
    let nat = lab.nodes[0].nat.as_ref().unwrap();
    assert_eq!(nat.publish[0].to.to_string(), "172.17.0.2");
    assert_eq!(nat.hairpin.iter().map(|n| n.to_string()).collect::<Vec<_>>(), ["172.17.0.0/16"]);
    assert!(lab.nodes[0].sysctls.iter().any(|s| s.key == "net.ipv4.ip_forward"), "NAT forwards");
    assert!(lab.kernel_needs().contains(&lab::model::KernelFeature::Nat));
}

#[test]
fn a_masquerade_rule_needs_an_ipv4_prefix() {
    assert_error(
        &with_nat("  masquerade = [{ out = \"docker0\" }]"),
        "9:17",
        "a masquerade rule needs `from`",
    );
    assert_error(
        &with_nat("  masquerade = [{ from = \"2001:db8::/64\" }]"),
        "9:26",
        "lab's NAT is IPv4 only",
    );
    assert_error(
        &with_nat("  masquerade = [{ from = \"172.17.0.1/16\" }]"),
        "9:26",
        "172.17.0.1/16 has host bits set",
    );
}

#[test]
fn a_masquerade_rule_names_interfaces_of_its_node() {
    let both =
        with_nat("  masquerade = [{ from = \"172.17.0.0/16\", out = \"docker0\", out_not = \"docker0\" }]");
    assert_error(&both, "9:70", "`out` and `out_not` exclude each other");
    let unknown = with_nat("  masquerade = [{ from = \"172.17.0.0/16\", out = \"eth9\" }]");
    assert_error(&unknown, "9:49", "node `dk` has no interface `eth9`");
}

#[test]
fn a_published_port_needs_a_port_and_a_destination_with_an_address() {
    assert_error(
        &with_nat("  publish = [{ port = 8080 }]"),
        "9:14",
        "a published port needs `port` and `to`",
    );
    assert_error(
        &with_nat("  publish = [{ port = 8080, to = \"c1\" }]"),
        "9:34",
        "`c1` is not NODE:PORT or IP:PORT",
    );
    let no_address = DOCKER.replace("  addresses = [\"172.17.0.2/16\"]\n", "");
    let text = no_address.replace(
        "[[host]]\nname = \"c1\"",
        "  [host.nat]\n  publish = [{ port = 8080, to = \"c1:80\" }]\n[[host]]\nname = \"c1\"",
    );
    assert_error(&text, "9:34", "`c1` has no IPv4 address to publish to");
}

#[test]
fn a_port_is_published_once_on_an_address_of_the_node() {
    let twice = with_nat("  publish = [{ port = 8080, to = \"c1:80\" }, { port = 8080, to = \"c1:81\" }]");
    assert_error(&twice, "9:45", "tcp port 8080 is published twice");
    let foreign = with_nat("  publish = [{ port = 8080, to = \"c1:80\", host_ip = \"172.17.0.2\" }]");
    assert_error(&foreign, "9:53", "172.17.0.2 is not an IPv4 address of `dk`");
}

#[test]
fn nat_belongs_to_a_host_or_router_with_its_own_namespace() {
    let switch = "name = \"t\"\n[[switch]]\nname = \"sw\"\n  [switch.nat]\n  hairpin = true\n";
    assert_error(switch, "4:3", "a switch does no NAT: it forwards frames, not packets");
    let joined =
        format!("{DOCKER}[[host]]\nname = \"side\"\nnetns = \"c1\"\n  [host.nat]\n  hairpin = true\n");
    assert_error(&joined, "19:3", "NAT belongs to the namespace: write it on `c1`");
}

#[test]
fn localhost_without_a_published_port_warns() {
    assert_warning(&with_nat("  localhost = true"), "9:15", "`localhost` without a published port");
}

// ---- found by review ----------------------------------------------------------------------------

#[test]
fn a_cable_cannot_end_in_a_node_that_joins_another() {
    let text = format!(
        "{DOCKER}[[host]]\nname = \"side\"\nnetns = \"c1\"\n[[host]]\nname = \"k\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"side:eth0\"\n"
    );
    assert_error(&text, "21:3", "this cable ends in `side`, which has no interfaces of its own");
}

#[test]
fn an_svi_routes_ipv4_in_its_own_switch_on_a_vlan() {
    let v6 = SVI.replace("addresses = [\"10.10.0.1/24\"]", "addresses = [\"fd00::1/64\"]");
    assert_error(&v6, "9:16", "an IPv6 address on a switch interface");
    let zero = SVI.replace("id = 10", "id = 0");
    assert_error(&zero, "4:3", "a bridge's VLAN interface needs a VLAN from 1 to 4094");
    let elsewhere = format!("{SVI}  [[host.iface]]\n  kind = \"vlan\"\n  parent = \"sw:br0\"\n  id = 10\n");
    assert_error(&elsewhere, "23:12", "only a VLAN interface of the switch itself can stack on its bridge");
}

#[test]
fn services_on_two_single_addresses_share_a_port() {
    let text = DOCKER.replace("  [[host.listen]]\n  port = 80\n", "  [[host.listen]]\n  port = 80\n  addr = \"172.17.0.2\"\n  [[host.listen]]\n  port = 80\n  addr = \"127.0.0.1\"\n");
    assert_clean(&text);
}

#[test]
fn an_ipv6_connect_address_needs_brackets() {
    assert_error(
        &expect("connect = \"2001:db8::1:80\""),
        "18:11",
        "`2001:db8::1:80`: an IPv6 address and its port need brackets",
    );
    assert_error(&expect("connect = \"[::1]\""), "18:11", "`[::1]` is not ADDRESS:PORT");
}

#[test]
fn hairpin_without_a_published_port_warns() {
    assert_warning(&with_nat("  hairpin = true"), "9:13", "`hairpin` without a published port");
}

#[test]
fn a_trunks_native_vlan_is_drawn_as_native() {
    let text = SVI.replace("access = 10", "trunk = [20, 30]\n  native = 10");
    let lab = check(&text).lab.unwrap();
    let dot = lab::graph::render(&lab::graph::LabGraph::new(&lab), lab::graph::Format::Dot);
    assert!(dot.contains("trunk 20,30 native 10"), "{dot}");
}

#[test]
fn a_key_of_the_wrong_type_is_reported_once_not_also_as_missing() {
    let publish = with_nat("  publish = [{ port = \"80\", to = \"c1:80\" }]");
    let found = common::diagnostics(&publish);
    assert_eq!(found.len(), 1, "{found:?}");
    let listen = DOCKER.replace("port = 80", "port = \"80\"");
    assert_eq!(common::diagnostics(&listen).len(), 1, "{:?}", common::diagnostics(&listen));
    let masquerade = with_nat("  masquerade = [{ from = 5 }]");
    assert_eq!(common::diagnostics(&masquerade).len(), 1, "{:?}", common::diagnostics(&masquerade));
}
