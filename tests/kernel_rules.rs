//! What the kernel refuses at `up` is refused at validation, with its place; what it accepts
//! is accepted (and comes up, checked in the full kernel). Each case was tried with `ip` on
//! Linux 6.1 and 6.18 first.

mod common;
use common::kernel::{UpLab, link, witness};
use common::{assert_error, assert_warning, check};
use lab::model::KernelFeature::*;

/// A host `a` with one cable to `b`, and `more` lines added to a's first interface.
fn on_a(more: &str) -> String {
    format!(
        "name = \"t\"\n[[host]]\nname = \"a\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"b:eth0\"\n{more}[[host]]\nname = \"b\"\n"
    )
}

// ---- refused by the kernel, so refused here -------------------------------------------

#[test]
fn ipv6_needs_an_mtu_of_1280() {
    assert_error(
        &on_a("  mtu = 1279\n  addresses = [\"2001:db8::1/64\"]\n"),
        "8:16",
        "an IPv6 address on an interface with MTU 1279",
    );
    // A child inherits its parent's MTU.
    let text = on_a(
        "  mtu = 1200\n  [[host.iface]]\n  name = \"m\"\n  kind = \"macvlan\"\n  mode = \"bridge\"\n  parent = \"eth0\"\n  addresses = [\"2001:db8::2/64\"]\n",
    );
    assert_error(&text, "13:16", "an IPv6 address on an interface with MTU 1200");
}

#[test]
fn a_vlan_that_is_up_needs_its_parent_up() {
    let text = on_a("  up = false\n  [[host.iface]]\n  kind = \"vlan\"\n  parent = \"eth0\"\n  id = 7\n");
    assert_error(&text, "10:12", "`a:eth0` is down, so its VLAN cannot be up");
    assert!(check(&text.replace("id = 7\n", "id = 7\n  up = false\n")).lab.is_some(), "both down is fine");
}

#[test]
fn no_route_goes_through_a_switch_port() {
    let text = "name = \"t\"\n[[switch]]\nname = \"sw\"\n  [[switch.iface]]\n  name = \"up\"\n  link = \"r:eth0\"\n  addresses = [\"10.0.0.2/24\"]\n  gateway = \"10.0.0.1\"\n[[router]]\nname = \"r\"\n  [[router.iface]]\n  name = \"eth0\"\n  link = \"sw:up\"\n  addresses = [\"10.0.0.1/24\"]\n";
    assert_error(text, "8:13", "a route through a switch port");
    let routes = "name = \"t\"\n[[switch]]\nname = \"sw\"\nroutes = [{ to = \"default\", dev = \"up\" }]\n  [[switch.iface]]\n  name = \"up\"\n  link = \"r:eth0\"\n[[router]]\nname = \"r\"\n  [[router.iface]]\n  name = \"eth0\"\n  link = \"sw:up\"\n";
    assert_error(routes, "4:11", "a route in a switch");
}

#[test]
fn ipv6_turned_off_where_an_ipv6_route_leaves() {
    let text = "name = \"t\"\n[[host]]\nname = \"a\"\nsysctl = { \"net.ipv6.conf.eth0.disable_ipv6\" = 1 }\nroutes = [{ to = \"2001:db8:9::/64\", via = \"fe80::1\", dev = \"eth0\" }]\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"b:eth0\"\n[[host]]\nname = \"b\"\n";
    assert_error(
        text,
        "4:12",
        "IPv6 is turned off on `eth0`, which the IPv6 route to 2001:db8:9::/64 leaves by",
    );
}

#[test]
fn names_the_kernel_makes_in_every_namespace_are_taken() {
    for name in ["sit0", "tunl0", "gre0", "ip6tnl0", "bonding_masters"] {
        let text = on_a("").replace("name = \"eth0\"\n  link", &format!("name = \"{name}\"\n  link"));
        assert!(check(&text).lab.is_none(), "{name} is refused");
    }
}

#[test]
fn sysctls_must_exist_be_writable_and_fit() {
    let sysctl = |entries: &str| format!("name = \"t\"\n[[host]]\nname = \"a\"\nsysctl = {{ {entries} }}\n");
    assert_error(
        &sysctl("\"net.ipv4.conf.all.rp_filtr\" = 1"),
        "4:12",
        "`net.ipv4.conf.all.rp_filtr` is not a sysctl of a network namespace",
    );
    let typo = common::diagnostics(&sysctl("\"net.ipv4.conf.all.rp_filtr\" = 1"));
    assert!(!typo.is_empty());
    let checked = check(&sysctl("\"net.ipv4.conf.all.rp_filtr\" = 1"));
    assert_eq!(checked.diagnostics[0].help.as_deref(), Some("did you mean \"net.ipv4.conf.all.rp_filter\"?"));
    assert_error(
        &sysctl("\"net.core.rmem_max\" = 1"),
        "4:12",
        "`net.core.rmem_max` belongs to the whole machine",
    );
    assert_error(
        &sysctl("\"net.ipv4.ip_default_ttl\" = 0"),
        "4:40",
        "0 is outside 1..255 for `net.ipv4.ip_default_ttl`",
    );
    assert_error(
        &sysctl("\"net.ipv4.ip_local_port_range\" = \"60000 1024\""),
        "4:45",
        "the port range runs backwards",
    );
    assert_error(
        &sysctl("\"net.ipv4.conf.all.rp_filter\" = \"strict\""),
        "4:44",
        "`net.ipv4.conf.all.rp_filter` takes an integer, not `strict`",
    );
    assert_error(
        &sysctl("\"net.ipv6.conf.all.mtu\" = 1000"),
        "4:38",
        "1000 is outside 1280..2147483647 for `net.ipv6.conf.all.mtu`",
    );
}

#[test]
fn neighbour_settings_have_no_all() {
    let text =
        "name = \"t\"\n[[host]]\nname = \"a\"\nsysctl = { \"net.ipv4.neigh.all.retrans_time_ms\" = 100 }\n";
    assert_error(text, "4:12", "`net.ipv4.neigh.all.retrans_time_ms` is not a sysctl of a network namespace");
    assert!(check(&text.replace(".all.", ".default.")).lab.is_some());
}

#[test]
fn the_null_network_and_a_zero_prefix_are_no_addresses() {
    assert_error(
        &on_a("  addresses = [\"0.0.0.1/8\"]\n"),
        "7:16",
        "0.0.0.1/8 is in 0.0.0.0/8, \"this network\": the kernel drops such an address without a word",
    );
    assert_error(
        &on_a("  addresses = [\"10.5.0.1/0\"]\n"),
        "7:16",
        "10.5.0.1/0 has prefix length 0: it leaves no subnet, and no next hop is reachable through it",
    );
}

#[test]
fn an_ipv6_next_hop_may_not_be_the_nodes_own_address() {
    let text = "name = \"t\"\n[[host]]\nname = \"a\"\nroutes = [{ to = \"2001:db8:9::/64\", via = \"2001:db8::1\", dev = \"eth1\" }]\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"b:eth0\"\n  addresses = [\"2001:db8::1/64\"]\n  [[host.iface]]\n  name = \"eth1\"\n  link = \"b:eth1\"\n  addresses = [\"2001:db8::2/64\"]\n[[host]]\nname = \"b\"\n";
    assert_error(text, "4:43", "2001:db8::1 is an address of this node");
}

#[test]
fn two_ipvlan_children_of_one_parent_need_addresses_of_their_own() {
    let child = |name: &str| {
        format!(
            "  [[host.iface]]\n  name = \"{name}\"\n  kind = \"ipvlan\"\n  mode = \"l2\"\n  parent = \"eth0\"\n  addresses = [\"10.0.0.5/24\"]\n"
        )
    };
    let text = on_a(&format!("{}{}", child("i1"), child("i2")));
    assert_error(&text, "18:16", "10.0.0.5 is on two ipvlan children of one parent");
}

#[test]
fn a_macvlan_may_not_take_its_parents_mac() {
    let text = on_a(
        "  mac = \"02:00:00:00:00:01\"\n  [[host.iface]]\n  name = \"m\"\n  kind = \"macvlan\"\n  mode = \"bridge\"\n  parent = \"eth0\"\n  mac = \"02:00:00:00:00:01\"\n",
    );
    assert_error(&text, "13:9", "`a:m` has the MAC of `a:eth0`");
}

// ---- accepted by the kernel, so accepted here --------------------------------------------

/// Every case the kernel accepts that an earlier validator refused, in one lab.
const ACCEPTED: &str = r#"name = "t-accepted"
[[host]]
name = "a"
sysctl = { "net.core.txrehash" = 1, "net.unix.max_dgram_qlen" = 64 }
routes = [
  { to = "10.50.0.0/24", dev = "e1" },
  { to = "10.51.0.0/24", via = "10.50.0.1" },
  { to = "10.9.1.0/24", via = "10.1.0.1" },
  { to = "10.6.0.1/32", dev = "d0" },
  { to = "2001:db8:a::1/64", dev = "e1" },
]
  [[host.iface]]
  name = "eth0"
  link = "b:eth0"
  mtu = 9000
  addresses = ["10.1.0.1/24", "fe80::1/64"]
  [[host.iface]]
  name = "e1"
  link = "b:e1"
  addresses = ["10.2.0.1/24", "fe80::1/64"]
  mac = "02:00:00:00:aa:01"
  [[host.iface]]
  name = "m1"
  kind = "macvlan"
  mode = "bridge"
  parent = "eth0"
  mtu = 1500
  [[host.iface]]
  name = "m2"
  kind = "macvlan"
  mode = "bridge"
  parent = "m1"
  mtu = 9000
  [[host.iface]]
  name = "src"
  kind = "macvlan"
  mode = "source"
  parent = "eth0"
  [[host.iface]]
  name = "d0"
  kind = "dummy"
  mtu = 100000
  addresses = ["10.6.0.1/32"]
  [[host.iface]]
  name = "v0"
  kind = "vlan"
  parent = "e1"
  id = 0
  [[host.iface]]
  name = "small"
  kind = "vlan"
  parent = "e1"
  id = 60
  mtu = 60
[[host]]
name = "b"
  [[host.iface]]
  name = "eth0"
  link = "a:eth0"
  mtu = 9000
  addresses = ["10.1.0.2/24"]
  [[host.iface]]
  name = "e1"
  link = "a:e1"
  addresses = ["10.2.0.1/24"]
  mac = "02:00:00:00:aa:01"
  [[host.iface]]
  name = "d1"
  kind = "dummy"
  mtu = 1400
  [[host.iface]]
  name = "iv"
  kind = "ipvlan"
  mode = "l2"
  parent = "d1"
  mtu = 1500
"#;

#[test]
fn what_the_kernel_accepts_validates() {
    let checked = check(ACCEPTED);
    let errors: Vec<_> = checked.diagnostics.iter().filter(|d| d.is_error()).map(|d| &d.message).collect();
    assert!(checked.lab.is_some(), "{errors:?}");
    assert_warning(ACCEPTED, "37:10", "a macvlan in `source` mode without `source_macs` receives nothing");
    assert_warning(ACCEPTED, "10:10", "2001:db8:a::1/64 has host bits set");
    assert_warning(ACCEPTED, "65:16", "address 10.2.0.1 is on two interfaces");
    assert_warning(ACCEPTED, "66:9", "MAC 02:00:00:00:aa:01 is used twice in the lab");
}

kernel_test!(what_the_kernel_accepts_comes_up, &[Veth, Macvlan, Vlan, Dummy, Ipvlan], {
    let up = UpLab::up(ACCEPTED);
    assert_eq!(link(&up.netns("a"), "m2")["mtu"], 9000, "m2 hangs on eth0 (9000), not on m1 (1500)");
    assert_eq!(link(&up.netns("a"), "d0")["mtu"], 100000);
    assert_eq!(link(&up.netns("a"), "small")["mtu"], 60);
    assert_eq!(link(&up.netns("b"), "iv")["mtu"], 1500, "an ipvlan may be larger than its parent");
    let routes = witness("ip", &["-n", &up.netns("a"), "-j", "route", "show", "10.51.0.0/24"]);
    assert_eq!(routes[0]["gateway"], "10.50.0.1", "a gateway reached through a device route");
});

// Every key a new namespace of this kernel lets a node write is one lab's validator takes,
// with the value the kernel holds there now (`ip netns exec … find` as the witness).
kernel_test!(every_writable_sysctl_of_a_namespace_validates, &[Veth], {
    let ns = format!("lab-keys-{}", std::process::id());
    assert!(std::process::Command::new("ip").args(["netns", "add", &ns]).status().unwrap().success());
    let listing = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "sh", "-c", "cd /proc/sys && find net -type f -perm -u+w | while read f; do printf '%s=%s\\n' \"$f\" \"$(head -c 100 \"$f\" 2>/dev/null | tr '\\t\\n' '  ')\"; done"])
        .output()
        .unwrap();
    let _ = std::process::Command::new("ip").args(["netns", "del", &ns]).status();
    let listing = String::from_utf8_lossy(&listing.stdout);
    let mut refused = Vec::new();
    for line in listing.lines() {
        let Some((path, value)) = line.split_once('=') else { continue };
        let value = value.trim();
        // Write-only keys (flush), unset secrets and bridge keys (br_netfilter's, which
        // switches set themselves) say nothing here.
        if value.is_empty() || path.ends_with("/flush") || path.starts_with("net/bridge/") {
            continue;
        }
        let key =
            path.replace("conf/lo/", "conf/all/").replace("neigh/lo/", "neigh/default/").replace('/', ".");
        let text = format!("name = \"t\"\n[[host]]\nname = \"a\"\nsysctl = {{ \"{key}\" = {value:?} }}\n");
        let checked = check(&text);
        if let Some(d) = checked.diagnostics.iter().find(|d| d.is_error()) {
            refused.push(format!("{key} = {value:?}: {}", d.message));
        }
    }
    assert!(listing.lines().count() > 100, "the listing has the namespace's keys: {listing}");
    assert!(refused.is_empty(), "refused keys the kernel takes:\n{}", refused.join("\n"));
});

// ---- vxlan: what validation says the kernel does ------------------------------------------

const VXLANS: &str = r#"name = "t-vxrules"
[[host]]
name = "a"
  [[host.iface]]
  name = "eth0"
  link = "b:eth0"
  addresses = ["192.0.2.1/24", "2001:db8::1/64"]
  [[host.iface]]
  name = "e1"
  link = "b:e1"
  mtu = 9000
  [[host.iface]]
  name = "big"
  kind = "vxlan"
  vni = 42
  underlay = "eth0"
  mtu = 1500
  remotes = ["192.0.2.2"]
  [[host.iface]]
  name = "jumbo"
  kind = "vxlan"
  vni = 43
  underlay = "e1"
  remotes = ["192.0.2.2"]
  [[host.iface]]
  name = "v6"
  kind = "vxlan"
  vni = 42
  underlay = "eth0"
  local = "2001:db8::1"
  remotes = ["2001:db8::2"]
  [[host.iface]]
  name = "other"
  kind = "vxlan"
  vni = 42
  port = 8472
  remotes = ["192.0.2.2"]
  [[host.iface]]
  name = "multi"
  kind = "vxlan"
  vni = 0
  underlay = "eth0"
  group = "239.1.1.1"
[[host]]
name = "b"
  [[host.iface]]
  name = "eth0"
  link = "a:eth0"
  [[host.iface]]
  name = "e1"
  link = "a:e1"
  mtu = 9000
"#;

#[test]
fn what_the_kernel_does_with_vxlans_validates() {
    assert_warning(VXLANS, "17:9", "the kernel lowers this vxlan's MTU 1500 to 1450");
    let errors: Vec<_> = check(VXLANS).diagnostics.into_iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "one VNI on another port or family is accepted: {errors:?}");
}

kernel_test!(what_the_kernel_does_with_vxlans_comes_up, &[Veth, Vxlan], {
    let up = UpLab::up(VXLANS);
    let a = up.netns("a");
    assert_eq!(link(&a, "big")["mtu"], 1450, "a written MTU above the underlay's less 50 is lowered");
    assert_eq!(link(&a, "jumbo")["mtu"], 8950, "without one, the underlay's less 50");
    assert_eq!(link(&a, "v6")["mtu"], 1430, "over IPv6, less 70");
    assert_eq!(link(&a, "other")["mtu"], 1500, "without an underlay, 1500");
    assert_eq!(link(&a, "multi")["linkinfo"]["info_data"]["group"], "239.1.1.1");
    let again = std::process::Command::new("ip")
        .args(["-n", &a, "link", "add", "again", "type", "vxlan", "id", "42", "dstport", "4789"])
        .output()
        .unwrap();
    assert!(!again.status.success(), "a second VNI 42 on 4789 over IPv4, with no underlay, is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"), "{again:?}");
});
