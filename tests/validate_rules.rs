//! One test per validation rule: a bad topology, the message a user sees, and where.

mod common;
use common::{assert_clean, assert_error, assert_warning, diagnostics};

const SWITCHED: &str = r#"name = "t"
[[switch]]
name = "sw1"
[[host]]
name = "h1"
[[host.iface]]
name = "eth0"
link = "sw1"
addresses = ["10.0.0.1/24"]
"#;

#[test]
fn a_minimal_topology_is_clean() {
    assert_clean(SWITCHED);
}

// ---- syntax and keys -------------------------------------------------------------------

#[test]
fn toml_syntax_errors_point_at_the_character() {
    assert_error(
        "name = \"t\"\n[[host]\nname = \"h\"\n",
        "2:8",
        "TOML syntax: unclosed array table, expected `]`",
    );
}

#[test]
fn unknown_keys_are_errors_with_a_suggestion() {
    let text = format!("{SWITCHED}adresses = [\"10.0.0.2/24\"]\n");
    assert_error(&text, "10:1", "unknown key `adresses` in a host interface");
}

#[test]
fn wrong_value_types_are_errors() {
    let text = SWITCHED.replace("link = \"sw1\"", "link = \"sw1\"\nmtu = \"big\"");
    assert_error(&text, "9:7", "`mtu` must be an integer");
}

#[test]
fn every_error_of_a_file_is_reported_in_one_run() {
    let text = r#"name = "t"
[[host]]
name = "h1"
[[host.iface]]
name = "eth0"
link = "nowhere"
mtu = 10
[[host]]
name = "h1"
[[expect]]
from = "ghost"
to = "10.0.0.9"
reach = true
"#;
    let found = diagnostics(text);
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(found[0].starts_with("6:8 error: unknown switch `nowhere`"));
    assert!(found[1].starts_with("7:7 error: MTU 10 is outside 68..65535"));
    assert!(found[2].starts_with("9:8 error: two nodes are named `h1`"));
    assert!(found[3].starts_with("11:8 error: unknown node `ghost`"));
}

// ---- references ------------------------------------------------------------------------

#[test]
fn unknown_switch() {
    assert_error(&SWITCHED.replace("link = \"sw1\"", "link = \"sw2\""), "8:8", "unknown switch `sw2`");
}

#[test]
fn link_to_a_host_name_is_not_a_switch() {
    let text = format!("{SWITCHED}[[host]]\nname = \"h2\"\n[[host.iface]]\nname = \"eth0\"\nlink = \"h1\"\n");
    assert_error(&text, "14:8", "`h1` is a host, not a switch");
}

#[test]
fn unknown_interface_in_node_iface() {
    let text = format!(
        "{SWITCHED}[[host]]\nname = \"h2\"\n[[host.iface]]\nname = \"mv\"\nkind = \"macvlan\"\nmode = \"bridge\"\nparent = \"h1:eth9\"\n"
    );
    assert_error(&text, "16:10", "node `h1` has no interface `eth9`");
}

#[test]
fn unknown_parent_in_the_same_node() {
    let text = format!(
        "{SWITCHED}[[host.iface]]\nname = \"mv\"\nkind = \"macvlan\"\nmode = \"bridge\"\nparent = \"eth1\"\n"
    );
    assert_error(&text, "14:10", "node `h1` has no interface `eth1`");
}

#[test]
fn unknown_node_in_a_reference() {
    let text = format!(
        "{SWITCHED}[[host.iface]]\nname = \"mv\"\nkind = \"macvlan\"\nmode = \"bridge\"\nparent = \"h9:eth0\"\n"
    );
    assert_error(&text, "14:10", "unknown node `h9`");
}

#[test]
fn point_to_point_ends_must_name_each_other() {
    let text = r#"name = "t"
[[host]]
name = "a"
[[host.iface]]
name = "eth0"
link = "b:eth0"
[[host]]
name = "b"
[[host.iface]]
name = "eth0"
link = "c:eth0"
[[host]]
name = "c"
"#;
    assert_error(text, "6:8", "the two ends of this cable name different peers");
}

#[test]
fn point_to_point_declared_on_both_ends_is_one_cable() {
    let text = r#"name = "t"
[[host]]
name = "a"
[[host.iface]]
name = "eth0"
link = "b:eth0"
addresses = ["10.0.0.1/30"]
[[host]]
name = "b"
[[host.iface]]
name = "eth0"
link = "a:eth0"
addresses = ["10.0.0.2/30"]
"#;
    assert_clean(text);
    assert_eq!(common::check(text).lab.unwrap().cables.len(), 1);
}

#[test]
fn a_cable_cannot_end_at_a_child() {
    let text = format!(
        "{SWITCHED}[[host.iface]]\nname = \"mv\"\nkind = \"macvlan\"\nmode = \"bridge\"\nparent = \"eth0\"\n[[host]]\nname = \"h2\"\n[[host.iface]]\nname = \"eth0\"\nlink = \"h1:mv\"\n"
    );
    assert_error(&text, "19:8", "`h1:mv` is not a cable end");
}

// ---- names -----------------------------------------------------------------------------

#[test]
fn duplicate_node_names() {
    let text = format!("{SWITCHED}[[router]]\nname = \"sw1\"\n");
    assert_error(&text, "11:8", "two nodes are named `sw1`");
}

#[test]
fn duplicate_interface_names() {
    let text = format!("{SWITCHED}[[host.iface]]\nname = \"eth0\"\nkind = \"dummy\"\n");
    assert_error(&text, "11:8", "node `h1` has two interfaces named `eth0`");
}

#[test]
fn interface_names_over_15_bytes() {
    let text = SWITCHED.replace("name = \"eth0\"", "name = \"ethernet-port-000\"");
    assert_error(
        &text,
        "7:8",
        "the interface name `ethernet-port-000` is 17 bytes long, over the kernel's 15",
    );
}

#[test]
fn interface_names_with_slash_colon_space_or_percent() {
    for (name, shown) in [("a/b", "'/'"), ("a:b", "':'"), ("a b", "' '"), ("eth%d", "'%'")] {
        let text = SWITCHED.replace("name = \"eth0\"", &format!("name = \"{name}\""));
        assert_error(&text, "7:8", &format!("the interface name `{name}` contains {shown}"));
    }
}

#[test]
fn default_vlan_names_that_would_be_too_long() {
    let text = SWITCHED
        .replace("name = \"eth0\"", "name = \"ethernet12345\"")
        .replace("link = \"sw1\"", "link = \"sw1\"\ntrunk = [100]")
        + "[[host.iface]]\nkind = \"vlan\"\nparent = \"ethernet12345\"\nid = 100\n";
    assert_error(
        &text,
        "11:1",
        "the interface name `ethernet12345.100` is 17 bytes long, over the kernel's 15",
    );
}

#[test]
fn lab_names_must_be_safe_namespace_prefixes() {
    assert_error(
        &SWITCHED.replace("name = \"t\"", "name = \"my lab\""),
        "1:8",
        "the lab name `my lab` contains ' '",
    );
    assert_error(
        &SWITCHED.replace("name = \"t\"", "name = \"../etc\""),
        "1:8",
        "the lab name `../etc` would reach outside its directory (`..` or `/`)",
    );
    let long = "a".repeat(25);
    assert_error(
        &SWITCHED.replace("name = \"t\"", &format!("name = \"{long}\"")),
        "1:8",
        &format!("the lab name `{long}` is 25 bytes long, over 24"),
    );
}

#[test]
fn node_names_must_be_safe_in_namespace_names() {
    assert_error(
        &SWITCHED.replace("name = \"h1\"", "name = \"a/b\""),
        "5:8",
        "the node name `a/b` would reach outside its directory (`..` or `/`)",
    );
    assert_error(
        &SWITCHED.replace("name = \"h1\"", "name = \"-h\""),
        "5:8",
        "the node name `-h` must start with a letter or a digit",
    );
}

// ---- VLANs -----------------------------------------------------------------------------

#[test]
fn vlan_ids_outside_1_to_4094() {
    assert_error(
        &SWITCHED.replace("link = \"sw1\"", "link = \"sw1\"\naccess = 0"),
        "9:10",
        "access VLAN 0 is outside 1..4094",
    );
    assert_error(
        &SWITCHED.replace("link = \"sw1\"", "link = \"sw1\"\ntrunk = [10, 4095]"),
        "9:14",
        "trunk VLAN 4095 is outside 1..4094",
    );
    let sub = format!("{SWITCHED}[[host.iface]]\nkind = \"vlan\"\nparent = \"eth0\"\nid = 5000\n");
    assert_error(&sub, "13:6", "VLAN id 5000 is outside 1..4094");
}

#[test]
fn the_same_vlan_id_twice_on_one_parent() {
    let text = format!(
        "{SWITCHED}[[host.iface]]\nname = \"v1\"\nkind = \"vlan\"\nparent = \"eth0\"\nid = 10\n[[host.iface]]\nname = \"v2\"\nkind = \"vlan\"\nparent = \"eth0\"\nid = 10\n"
    );
    assert_error(&text, "15:1", "VLAN 10 is on `h1:eth0` twice");
}

#[test]
fn the_same_vlan_id_with_different_protocols_is_allowed() {
    let text = format!(
        "{SWITCHED}[[host.iface]]\nname = \"v1\"\nkind = \"vlan\"\nparent = \"eth0\"\nid = 10\n[[host.iface]]\nname = \"v2\"\nkind = \"vlan\"\nparent = \"eth0\"\nid = 10\nprotocol = \"802.1ad\"\n"
    );
    assert_clean(&text);
}

#[test]
fn access_together_with_trunk() {
    let text = SWITCHED.replace("link = \"sw1\"", "link = \"sw1\"\naccess = 10\ntrunk = [20]");
    assert_error(&text, "9:10", "a port is either `access` or `trunk`, not both");
}

#[test]
fn port_options_on_a_cable_without_a_switch() {
    let text = r#"name = "t"
[[host]]
name = "a"
[[host.iface]]
name = "eth0"
link = "b:eth0"
hairpin = true
[[host]]
name = "b"
"#;
    assert_error(text, "7:11", "port options need a switch at one end of the cable");
}

#[test]
fn a_vlan_listed_twice_in_a_trunk() {
    let text = SWITCHED.replace("link = \"sw1\"", "link = \"sw1\"\ntrunk = [10, 10]");
    assert_error(&text, "9:14", "VLAN 10 is listed twice in this trunk");
}

// ---- children --------------------------------------------------------------------------

fn with_children(children: &str) -> String {
    format!("{SWITCHED}{children}")
}

#[test]
fn macvlan_and_ipvlan_on_one_parent() {
    let text = with_children(
        "[[host.iface]]\nname = \"mv\"\nkind = \"macvlan\"\nmode = \"bridge\"\nparent = \"eth0\"\n[[host.iface]]\nname = \"iv\"\nkind = \"ipvlan\"\nmode = \"l2\"\nparent = \"eth0\"\n",
    );
    assert_error(&text, "19:10", "macvlan and ipvlan children cannot share a parent");
}

#[test]
fn ipvlan_siblings_with_different_modes_or_flags() {
    let text = with_children(
        "[[host.iface]]\nname = \"iv1\"\nkind = \"ipvlan\"\nmode = \"l2\"\nparent = \"eth0\"\n[[host.iface]]\nname = \"iv2\"\nkind = \"ipvlan\"\nmode = \"l3\"\nparent = \"eth0\"\n",
    );
    assert_error(
        &text,
        "15:1",
        "ipvlan children of one parent must share mode and flag: `h1:iv2` is l3 bridge, `h1:iv1` is l2 bridge",
    );
    let flags = with_children(
        "[[host.iface]]\nname = \"iv1\"\nkind = \"ipvlan\"\nmode = \"l2\"\nparent = \"eth0\"\n[[host.iface]]\nname = \"iv2\"\nkind = \"ipvlan\"\nmode = \"l2\"\nflag = \"private\"\nparent = \"eth0\"\n",
    );
    assert_error(
        &flags,
        "15:1",
        "ipvlan children of one parent must share mode and flag: `h1:iv2` is l2 private, `h1:iv1` is l2 bridge",
    );
}

#[test]
fn passthru_with_a_sibling() {
    let text = with_children(
        "[[host.iface]]\nname = \"mv1\"\nkind = \"macvlan\"\nmode = \"passthru\"\nparent = \"eth0\"\n[[host.iface]]\nname = \"mv2\"\nkind = \"macvlan\"\nmode = \"bridge\"\nparent = \"eth0\"\n",
    );
    assert_error(&text, "14:10", "a passthru macvlan must be its parent's only macvlan");
}

#[test]
fn source_mode_without_source_macs_receives_nothing() {
    let text = with_children(
        "[[host.iface]]\nname = \"mv\"\nkind = \"macvlan\"\nmode = \"source\"\nparent = \"eth0\"\n",
    );
    assert_warning(&text, "13:8", "a macvlan in `source` mode without `source_macs` receives nothing");
}

#[test]
fn source_macs_outside_source_mode() {
    let text = with_children(
        "[[host.iface]]\nname = \"mv\"\nkind = \"macvlan\"\nmode = \"vepa\"\nsource_macs = [\"02:00:00:00:00:01\"]\nparent = \"eth0\"\n",
    );
    assert_error(&text, "14:15", "`source_macs` only applies in `source` mode, not `vepa`");
}

#[test]
fn ipvlan_private_with_vepa() {
    let text = with_children(
        "[[host.iface]]\nname = \"iv\"\nkind = \"ipvlan\"\nmode = \"l2\"\nflag = [\"private\", \"vepa\"]\nparent = \"eth0\"\n",
    );
    assert_error(&text, "14:20", "ipvlan flags `private` and `vepa` exclude each other");
}

#[test]
fn lo_as_a_parent() {
    let text = with_children(
        "[[host.iface]]\nname = \"mv\"\nkind = \"macvlan\"\nmode = \"bridge\"\nparent = \"lo\"\n",
    );
    assert_error(&text, "14:10", "the kernel refuses `lo` as a parent");
}

#[test]
fn macvlan_or_vlan_on_an_ipvlan_child() {
    let base = "[[host.iface]]\nname = \"iv\"\nkind = \"ipvlan\"\nmode = \"l2\"\nparent = \"eth0\"\n";
    let macvlan = with_children(&format!(
        "{base}[[host.iface]]\nname = \"mv\"\nkind = \"macvlan\"\nmode = \"bridge\"\nparent = \"iv\"\n"
    ));
    assert_error(&macvlan, "19:10", "the kernel refuses a macvlan on an ipvlan child");
    let vlan = with_children(&format!(
        "{base}[[host.iface]]\nname = \"v\"\nkind = \"vlan\"\nid = 5\nparent = \"iv\"\n"
    ));
    assert_error(&vlan, "19:10", "the kernel refuses a vlan on an ipvlan child");
}

#[test]
fn parents_that_form_a_cycle() {
    let text = with_children(
        "[[host.iface]]\nname = \"a\"\nkind = \"vlan\"\nid = 5\nparent = \"b\"\n[[host.iface]]\nname = \"b\"\nkind = \"vlan\"\nid = 6\nparent = \"a\"\n",
    );
    assert_error(&text, "10:1", "`h1:a` is stacked on itself through its parents");
}

#[test]
fn ipvlan_child_with_its_own_mac() {
    let text = with_children(
        "[[host.iface]]\nname = \"iv\"\nkind = \"ipvlan\"\nmode = \"l2\"\nparent = \"eth0\"\nmac = \"02:00:00:00:00:09\"\n",
    );
    assert_error(&text, "15:7", "an ipvlan child cannot have its own MAC");
}

#[test]
fn keys_of_another_kind() {
    let text = with_children(
        "[[host.iface]]\nname = \"v\"\nkind = \"vlan\"\nid = 5\nmode = \"l2\"\nparent = \"eth0\"\n",
    );
    assert_error(&text, "14:8", "`mode` does not apply to a vlan interface");
}

#[test]
fn unknown_kinds_and_modes() {
    assert_error(
        &with_children("[[host.iface]]\nname = \"x\"\nkind = \"macvtap\"\n"),
        "12:8",
        "unknown interface kind `macvtap`",
    );
    assert_error(
        &with_children(
            "[[host.iface]]\nname = \"x\"\nkind = \"macvlan\"\nparent = \"eth0\"\nmode = \"hairpin\"\n",
        ),
        "14:8",
        "unknown mode `hairpin`",
    );
}

// ---- addresses and routes --------------------------------------------------------------

#[test]
fn bad_cidr() {
    assert_error(
        &SWITCHED.replace("10.0.0.1/24", "10.0.0.1/33"),
        "9:14",
        "`addresses` has a bad value `10.0.0.1/33`",
    );
    assert_error(
        &SWITCHED.replace("10.0.0.1/24", "10.0.0.1"),
        "9:14",
        "`addresses` has a bad value `10.0.0.1`",
    );
}

#[test]
fn one_address_on_two_interfaces_warns_and_twice_on_one_is_refused() {
    let text = format!(
        "{SWITCHED}[[host]]\nname = \"h2\"\n[[host.iface]]\nname = \"eth0\"\nlink = \"sw1\"\naddresses = [\"10.0.0.1/24\"]\n"
    );
    assert_warning(&text, "15:14", "address 10.0.0.1 is on two interfaces");
    let twice = SWITCHED.replace("\"10.0.0.1/24\"", "\"10.0.0.1/24\", \"10.0.0.1/24\"");
    assert_error(&twice, "9:29", "address 10.0.0.1 is twice on `h1:eth0`");
    let other_prefix = SWITCHED.replace("\"10.0.0.1/24\"", "\"10.0.0.1/24\", \"10.0.0.1/16\"");
    assert!(
        common::check(&other_prefix).lab.is_some(),
        "the kernel takes one IPv4 address with two prefixes"
    );
    let link_local = format!(
        "{SWITCHED}[[host]]\nname = \"h2\"\n[[host.iface]]\nname = \"eth0\"\nlink = \"sw1\"\naddresses = [\"fe80::1/64\"]\n"
    )
    .replace("addresses = [\"10.0.0.1/24\"]", "addresses = [\"fe80::1/64\"]");
    assert_clean(&link_local);
}

#[test]
fn gateway_outside_every_subnet_of_its_interface() {
    let text = SWITCHED.replace("link = \"sw1\"", "link = \"sw1\"\ngateway = \"10.1.0.1\"");
    assert_error(&text, "9:11", "gateway 10.1.0.1 is outside every subnet of `h1:eth0`");
}

#[test]
fn route_via_an_unreachable_next_hop() {
    let text = format!("{SWITCHED}[[host.routes]]\nto = \"10.9.0.0/16\"\nvia = \"192.168.1.1\"\n");
    assert_error(&text, "12:7", "no connected subnet of `h1` reaches 192.168.1.1");
}

#[test]
fn two_default_routes_in_one_node() {
    let text = SWITCHED.replace("link = \"sw1\"", "link = \"sw1\"\ngateway = \"10.0.0.254\"")
        + "[[host.routes]]\nto = \"default\"\nvia = \"10.0.0.253\"\n";
    assert_error(&text, "11:1", "a second default IPv4 route in this node");
}

#[test]
fn route_prefix_with_host_bits() {
    let text = format!("{SWITCHED}[[host.routes]]\nto = \"10.9.1.0/16\"\nvia = \"10.0.0.254\"\n");
    assert_error(&text, "11:6", "10.9.1.0/16 has host bits set");
}

#[test]
fn gateway_together_with_default_dev() {
    let text =
        SWITCHED.replace("link = \"sw1\"", "link = \"sw1\"\ngateway = \"10.0.0.254\"\ndefault_dev = true");
    assert_error(&text, "10:15", "`gateway` and `default_dev` both add a default route");
}

/// Legal (the format allows addresses on any interface) but useless: a warning, and the
/// port's `mtu` and `mac` are checked like any other.
#[test]
fn addresses_on_a_switch_port() {
    let text = r#"name = "t"
[[switch]]
name = "sw1"
[[switch.iface]]
name = "up"
link = "sw2"
addresses = ["10.0.0.1/24"]
[[switch]]
name = "sw2"
"#;
    assert_warning(text, "7:14", "an address on a switch port");
    let bad = text.replace("addresses = [\"10.0.0.1/24\"]", "mtu = 5\nmac = \"01:00:5e:00:00:01\"");
    assert_error(&bad, "7:7", "MTU 5 is outside 68..65535");
    assert_error(
        &bad,
        "8:7",
        "the MAC 01:00:5e:00:00:01 is a multicast address (lowest bit of the first byte set)",
    );
}

// ---- expectations ----------------------------------------------------------------------

fn with_expect(expect: &str) -> String {
    format!(
        "{SWITCHED}[[host]]\nname = \"h2\"\n[[host.iface]]\nname = \"eth0\"\nlink = \"sw1\"\naddresses = [\"10.0.0.2/24\"]\n[[expect]]\n{expect}"
    )
}

#[test]
fn expectation_references_must_exist() {
    assert_error(&with_expect("from = \"h3\"\nto = \"h2\"\nreach = true\n"), "17:8", "unknown node `h3`");
    assert_error(
        &with_expect("from = \"h1\"\nto = \"h2:eth1\"\nreach = true\n"),
        "18:6",
        "node `h2` has no interface `eth1`",
    );
    assert_error(
        &with_expect("iface = \"h2:eth7\"\npromiscuous = true\n"),
        "17:9",
        "node `h2` has no interface `eth7`",
    );
}

#[test]
fn tagged_on_an_interface_that_carries_no_vlan() {
    let text =
        with_expect("from = \"h1\"\nto = \"h2\"\nreach = true\ntagged = { on = \"h2:eth0\", vlan = 19 }\n");
    assert_error(&text, "20:17", "`h2:eth0` carries no VLAN");
}

#[test]
fn tagged_with_a_vlan_the_trunk_does_not_carry() {
    let text =
        with_expect("from = \"h1\"\nto = \"h2\"\nreach = true\ntagged = { on = \"h1:eth0\", vlan = 19 }\n")
            .replacen("link = \"sw1\"", "link = \"sw1\"\ntrunk = [20]", 1);
    assert_error(&text, "21:35", "`h1:eth0` does not carry VLAN 19");
}

#[test]
fn keys_of_different_expectation_kinds_mixed() {
    let text = with_expect("from = \"h1\"\nto = \"h2\"\nreach = true\nresolves_to = \"h2:eth0\"\n");
    assert_error(
        &text,
        "20:15",
        "this [[expect]] mixes a reachability check (`reach`, `proto`, `ttl`, `tagged`, `encap`, `redirect`) with a resolution check (`resolves_to`)",
    );
    let state = with_expect("iface = \"h2:eth0\"\npromiscuous = true\nfrom = \"h1\"\n");
    assert_error(&state, "19:8", "`from` does not belong in an interface-state check (`promiscuous`, `mac`)");
}

#[test]
fn expectations_must_say_what_to_check() {
    assert_error(
        &with_expect("from = \"h1\"\nto = \"h2\"\n"),
        "16:1",
        "this [[expect]] does not say what to check",
    );
}

#[test]
fn a_ttl_on_a_negative_expectation() {
    assert_error(
        &with_expect("from = \"h1\"\nto = \"h2\"\nreach = false\nttl = 64\n"),
        "20:7",
        "`ttl` cannot be observed here",
    );
}

#[test]
fn probes_cannot_start_in_a_switch() {
    assert_error(
        &with_expect("from = \"sw1\"\nto = \"h2\"\nreach = true\n"),
        "17:8",
        "`sw1` is a switch: it has no address to probe from",
    );
}

// ---- safety ----------------------------------------------------------------------------

#[test]
fn sysctls_outside_the_network_namespace_are_refused() {
    for key in ["kernel.panic", "vm.swappiness", "fs.file-max"] {
        let text =
            SWITCHED.replace("name = \"h1\"", &format!("name = \"h1\"\nsysctl = {{ \"{key}\" = \"1\" }}"));
        assert_error(&text, "6:12", &format!("`{key}` is not a network setting"));
    }
    let host_wide =
        SWITCHED.replace("name = \"h1\"", "name = \"h1\"\nsysctl = { \"net.core.rmem_max\" = \"1\" }");
    assert_error(&host_wide, "6:12", "`net.core.rmem_max` belongs to the whole machine");
}

#[test]
fn sysctl_keys_that_could_escape_proc_sys_net() {
    for key in ["net.ipv4.../../kernel.panic", "net.ipv4.conf/all"] {
        let text =
            SWITCHED.replace("name = \"h1\"", &format!("name = \"h1\"\nsysctl = {{ \"{key}\" = \"1\" }}"));
        assert_error(&text, "6:12", &format!("the sysctl key `{key}` could reach outside /proc/sys/net"));
    }
}

#[test]
fn per_device_sysctls_name_a_device_of_the_node() {
    let text = SWITCHED
        .replace("name = \"h1\"", "name = \"h1\"\nsysctl = { \"net.ipv4.conf.eth9.arp_ignore\" = \"1\" }");
    assert_error(&text, "6:12", "`h1` has no interface `eth9`");
    let dotted = SWITCHED.replace(
        "name = \"h1\"",
        "name = \"h1\"\nsysctl = { \"net.ipv4.conf.eth0.arp_ignore\" = 1, \"net.core.somaxconn\" = \"512\" }",
    );
    assert_clean(&dotted);
}

// ---- warnings --------------------------------------------------------------------------

#[test]
fn macvlan_mode_omitted_warns_vepa() {
    let text = with_children("[[host.iface]]\nname = \"mv\"\nkind = \"macvlan\"\nparent = \"eth0\"\n");
    assert_warning(&text, "10:1", "macvlan `mode` not given: it will be vepa, as with `ip link`");
}

#[test]
fn ipvlan_mode_omitted_warns_l3() {
    let text = with_children("[[host.iface]]\nname = \"iv\"\nkind = \"ipvlan\"\nparent = \"eth0\"\n");
    assert_warning(&text, "10:1", "ipvlan `mode` not given: it will be l3, as with `ip link`");
}

#[test]
fn gateway_on_an_ipvlan_l3_child_warns() {
    let text = with_children(
        "[[host.iface]]\nname = \"iv\"\nkind = \"ipvlan\"\nmode = \"l3\"\nparent = \"eth0\"\naddresses = [\"10.5.0.1/24\"]\ngateway = \"10.5.0.254\"\n",
    );
    assert_warning(&text, "16:11", "a `gateway` on an ipvlan l3 child");
}

#[test]
fn a_child_larger_than_its_parent() {
    let text = with_children(
        "[[host.iface]]\nname = \"mv\"\nkind = \"macvlan\"\nmode = \"bridge\"\nparent = \"eth0\"\nmtu = 9000\n",
    );
    assert_error(&text, "15:7", "MTU 9000 exceeds the 1500 of its parent `h1:eth0`");
    let raised = with_children("[[host.iface]]\nname = \"mv\"\nkind = \"macvlan\"\nmode = \"bridge\"\nparent = \"eth0\"\nmtu = 9000\n")
        .replacen("link = \"sw1\"", "link = \"sw1\"\nmtu = 9000", 1);
    assert_clean(&raised);
}

// ---- what the kernel would refuse at `up` ------------------------------------------------

#[test]
fn a_key_of_the_wrong_type_is_not_also_missing() {
    let text = SWITCHED.to_string() + "[[host.iface]]\nkind = \"vlan\"\nparent = \"eth0\"\nid = \"10\"\n";
    assert_error(&text, "13:6", "`id` must be an integer");
    let found = diagnostics(&text);
    assert_eq!(found.len(), 1, "one problem, said once: {found:?}");
}

#[test]
fn ipv6_addresses_the_kernel_refuses_on_a_device() {
    for (address, problem) in [
        ("::1/128", "is the loopback address"),
        ("ff02::1/16", "is a multicast address"),
        ("::/64", "is the unspecified address"),
    ] {
        let text = SWITCHED.replace("\"10.0.0.1/24\"", &format!("\"10.0.0.1/24\", \"{address}\""));
        let ip = address.split('/').next().unwrap();
        assert_error(&text, "9:29", &format!("{ip} {problem}"));
    }
}

#[test]
fn a_gateway_that_is_the_interfaces_own_or_broadcast_address() {
    // The kernel takes an IPv4 next hop that is the node's own address; not an IPv6 one.
    let own = SWITCHED.to_string() + "gateway = \"10.0.0.1\"\n";
    assert!(common::check(&own).lab.is_some(), "{:?}", common::diagnostics(&own));
    let own6 = SWITCHED.replace("10.0.0.1/24", "2001:db8::1/64") + "gateway = \"2001:db8::1\"\n";
    assert_error(&own6, "10:11", "2001:db8::1 is an address of this node");
    let broadcast = SWITCHED.to_string() + "gateway = \"10.0.0.255\"\n";
    assert_error(&broadcast, "10:11", "10.0.0.255 is the broadcast address of 10.0.0.0/24");
}

#[test]
fn routes_through_an_interface_that_is_down() {
    let down = SWITCHED.to_string() + "up = false\n";
    assert_error(&(down.clone() + "gateway = \"10.0.0.254\"\n"), "11:11", "`h1:eth0` is down (`up = false`)");
    let route = format!("{down}[[host.routes]]\nto = \"10.9.0.0/16\"\ndev = \"eth0\"\n");
    assert_error(&route, "13:7", "`h1:eth0` is down (`up = false`)");
}

#[test]
fn a_link_local_next_hop_without_dev() {
    let text = SWITCHED.replace("\"10.0.0.1/24\"", "\"10.0.0.1/24\", \"2001:db8::1/64\"")
        + "[[host.routes]]\nto = \"2001:db9::/32\"\nvia = \"fe80::1\"\n";
    assert_error(&text, "12:7", "the link-local next hop fe80::1 needs a `dev`");
}

#[test]
fn a_prefix_routed_twice_or_already_connected() {
    let twice = format!(
        "{SWITCHED}[[host.routes]]\nto = \"10.9.0.0/16\"\nvia = \"10.0.0.253\"\n[[host.routes]]\nto = \"10.9.0.0/16\"\nvia = \"10.0.0.252\"\n"
    );
    assert_error(&twice, "13:1", "a second route to 10.9.0.0/16 in this node");
    let connected = format!("{SWITCHED}[[host.routes]]\nto = \"10.0.0.0/24\"\nvia = \"10.0.0.254\"\n");
    assert_error(&connected, "10:1", "10.0.0.0/24 is connected on `eth0` already");
}

#[test]
fn a_passthru_child_with_its_own_mac() {
    let text = SWITCHED.to_string()
        + "[[host.iface]]\nname = \"pt\"\nkind = \"macvlan\"\nparent = \"eth0\"\nmode = \"passthru\"\nmac = \"02:00:00:00:00:aa\"\n";
    assert_error(&text, "15:7", "a passthru macvlan child cannot have its own MAC");
}

#[test]
fn an_expectation_to_a_broadcast_or_multicast_address() {
    for (to, problem) in [
        ("10.0.0.255", "the broadcast address of 10.0.0.0/24"),
        ("255.255.255.255", "the limited broadcast address"),
        ("ff02::1", "the multicast address ff02::1"),
    ] {
        let text = with_expect(&format!("from = \"h1\"\nto = \"{to}\"\nreach = false\n"));
        assert_error(&text, "18:6", &format!("`to` is {problem}"));
    }
}

#[test]
fn ipv6_turned_off_where_an_ipv6_address_is_given() {
    let text = SWITCHED
        .replace("name = \"h1\"", "name = \"h1\"\nsysctl = { \"net.ipv6.conf.eth0.disable_ipv6\" = 1 }")
        .replace("\"10.0.0.1/24\"", "\"10.0.0.1/24\", \"2001:db8::1/64\"");
    assert_error(&text, "6:12", "IPv6 is turned off where `eth0` has an IPv6 address");
}

/// A stacking loop is reported, and the checks that walk stacks (here the tags an interface
/// carries, for `tagged`) do not follow it forever.
#[test]
fn vlans_stacked_in_a_loop_with_a_tag_expectation() {
    let text = r#"name = "t"
[[host]]
name = "h"
  [[host.iface]]
  name = "a"
  kind = "vlan"
  parent = "b"
  id = 5
  [[host.iface]]
  name = "b"
  kind = "vlan"
  parent = "a"
  id = 6
[[host]]
name = "g"
  [[host.iface]]
  name = "eth0"
  kind = "dummy"
  addresses = ["10.0.0.1/24"]
[[expect]]
from = "g"
to = "10.0.0.1"
reach = true
tagged = { on = "h:a", vlan = 5 }
"#;
    assert_error(text, "4:3", "`h:a` is stacked on itself through its parents");
}

// ---- vxlan -----------------------------------------------------------------------------

/// Two hosts on one cable, h1 with a vxlan to h2 over it (lines 8 to 14).
const OVERLAY: &str = r#"name = "t"
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
  remotes = ["192.0.2.2"]
  addresses = ["10.42.0.1/24"]
[[host]]
name = "h2"
  [[host.iface]]
  name = "eth0"
  link = "h1:eth0"
  addresses = ["192.0.2.2/24"]
"#;

fn overlay(from: &str, to: &str) -> String {
    assert!(OVERLAY.contains(from), "{from}");
    OVERLAY.replace(from, to)
}

#[test]
fn a_vxlan_to_its_remote_is_clean() {
    assert_clean(OVERLAY);
    assert_clean(&overlay(
        "  underlay = \"eth0\"\n",
        "  local = \"192.0.2.1\"\n  port = 8472\n  learning = false\n",
    ));
}

#[test]
fn a_vxlan_needs_a_vni_of_24_bits() {
    assert_error(&overlay("  vni = 42\n", ""), "8:3", "a vxlan interface needs a `vni`");
    assert_error(&overlay("vni = 42", "vni = 16777216"), "11:9", "VNI 16777216 is outside 0..16777215");
    assert_clean(&overlay("vni = 42", "vni = 16777215"));
}

#[test]
fn a_vxlan_underlay_is_an_interface_of_its_node() {
    assert_error(
        &overlay("underlay = \"eth0\"", "underlay = \"h2:eth0\""),
        "12:14",
        "a vxlan's underlay must be an interface of its own node",
    );
    assert_error(
        &overlay("underlay = \"eth0\"", "underlay = \"vx0\""),
        "12:14",
        "a vxlan cannot be its own underlay",
    );
}

#[test]
fn a_vxlan_local_is_an_address_of_its_node() {
    let text = overlay("  underlay = \"eth0\"\n", "  underlay = \"eth0\"\n  local = \"192.0.2.2\"\n");
    assert_error(&text, "13:11", "`local` 192.0.2.2 is not an address of `h1`");
}

#[test]
fn a_vxlan_floods_to_remotes_or_a_group() {
    assert_error(
        &overlay("  remotes = [\"192.0.2.2\"]\n", ""),
        "8:3",
        "a vxlan interface needs `remotes` or a `group`",
    );
    assert_error(
        &overlay("  remotes = [\"192.0.2.2\"]\n", "  remotes = [\"192.0.2.2\"]\n  group = \"239.1.1.1\"\n"),
        "14:11",
        "`remotes` and `group` exclude each other",
    );
    assert_clean(&overlay("remotes = [\"192.0.2.2\"]", "group = \"239.1.1.1\""));
    assert_error(
        &overlay("remotes = [\"192.0.2.2\"]", "group = \"10.1.1.1\""),
        "13:11",
        "group 10.1.1.1 is not a multicast address",
    );
    let unrooted =
        overlay("  underlay = \"eth0\"\n  remotes = [\"192.0.2.2\"]\n", "  group = \"239.1.1.1\"\n");
    assert_error(&unrooted, "12:11", "a vxlan `group` needs an `underlay`");
}

#[test]
fn a_vxlan_remote_is_unicast_and_of_the_tunnels_family() {
    assert_error(
        &overlay("\"192.0.2.2\"]", "\"239.1.1.1\"]"),
        "13:14",
        "remote 239.1.1.1 is not a unicast address",
    );
    assert_error(
        &overlay("\"192.0.2.2\"]", "\"2001:db8::2\"]"),
        "13:14",
        "remote 2001:db8::2 is IPv6, but the tunnel is IPv4",
    );
    let v6 = overlay("\"192.0.2.1/24\"]", "\"192.0.2.1/24\", \"2001:db8::1/64\"]")
        .replace("  underlay = \"eth0\"\n", "  underlay = \"eth0\"\n  local = \"2001:db8::1\"\n")
        .replace("[\"192.0.2.2\"]", "[\"2001:db8::2\", \"192.0.2.2\"]");
    assert_error(&v6, "14:29", "remote 192.0.2.2 is IPv4, but the tunnel is IPv6");
    assert_warning(
        &overlay("[\"192.0.2.2\"]", "[\"192.0.2.2\", \"192.0.2.2\"]"),
        "13:27",
        "remote 192.0.2.2 is listed twice",
    );
}

#[test]
fn a_vxlan_port_is_a_udp_port() {
    let text = overlay("  underlay = \"eth0\"\n", "  underlay = \"eth0\"\n  port = 0\n");
    assert_error(&text, "13:10", "UDP port 0 is outside 1..65535");
}

#[test]
fn one_vni_per_port_and_family_in_a_node() {
    let second = "  [[host.iface]]\n  name = \"vx1\"\n  kind = \"vxlan\"\n  vni = 42\n  remotes = [\"192.0.2.3\"]\n[[host]]\nname = \"h2\"\n";
    let text = overlay("[[host]]\nname = \"h2\"\n", second);
    assert_error(&text, "18:9", "VNI 42 on port 4789 is on `h1:vx0` already");
    assert_clean(
        &text.replace("  remotes = [\"192.0.2.3\"]\n", "  port = 4790\n  remotes = [\"192.0.2.3\"]\n"),
    );
}

#[test]
fn a_vxlan_mtu_above_its_underlays_is_lowered() {
    let text = overlay("  underlay = \"eth0\"\n", "  underlay = \"eth0\"\n  mtu = 1500\n");
    assert_warning(&text, "13:9", "the kernel lowers this vxlan's MTU 1500 to 1450");
    assert_clean(&text.replace("mtu = 1500", "mtu = 1450"));
    let v6 = text
        .replace("\"192.0.2.1/24\"]", "\"192.0.2.1/24\", \"2001:db8::1/64\"]")
        .replace("  mtu = 1500\n", "  mtu = 1450\n  local = \"2001:db8::1\"\n")
        .replace("[\"192.0.2.2\"]", "[\"2001:db8::2\"]");
    assert_warning(&v6, "13:9", "the kernel lowers this vxlan's MTU 1450 to 1430");
}

#[test]
fn a_vxlan_without_an_mtu_takes_its_underlays_less_the_header() {
    let text =
        overlay("  addresses = [\"192.0.2.1/24\"]\n", "  addresses = [\"192.0.2.1/24\"]\n  mtu = 1320\n")
            .replace("[\"10.42.0.1/24\"]", "[\"10.42.0.1/24\", \"2001:db8:42::1/64\"]");
    assert_error(&text, "15:32", "an IPv6 address on an interface with MTU 1270");
}

#[test]
fn vxlans_on_each_others_underlay() {
    let text = overlay("underlay = \"eth0\"", "underlay = \"vx1\"").replace(
        "[[host]]\nname = \"h2\"\n",
        "  [[host.iface]]\n  name = \"vx1\"\n  kind = \"vxlan\"\n  vni = 43\n  underlay = \"vx0\"\n  remotes = [\"192.0.2.2\"]\n[[host]]\nname = \"h2\"\n",
    );
    assert_error(&text, "8:3", "`h1:vx0` is stacked on itself through its parents");
}

#[test]
fn an_encap_expectation_names_an_underlay_carrying_its_vni() {
    let expect = |encap: &str| {
        format!("{OVERLAY}[[expect]]\nfrom = \"h1\"\nto = \"192.0.2.2\"\nreach = true\nencap = {encap}\n")
    };
    assert_clean(&expect("{ on = \"h1:eth0\", vni = 42 }"));
    assert_error(&expect("{ on = \"h1:eth0\" }"), "25:9", "`encap` needs a `vni`");
    assert_error(&expect("{ on = \"h2:eth0\", vni = 42 }"), "25:16", "`h2:eth0` carries no VXLAN");
    assert_error(&expect("{ on = \"h1:eth0\", vni = 43 }"), "25:33", "`h1:eth0` does not carry VNI 43");
    let arp =
        expect("{ on = \"h1:eth0\", vni = 42 }").replace("reach = true\n", "reach = true\nproto = \"arp\"\n");
    assert_error(&arp, "26:9", "`encap` needs an ICMP probe");
}
