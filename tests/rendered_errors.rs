//! What users read: a few rendered reports, kept as snapshots (tests/snapshots/).

mod common;
use lab::topology::diagnostic::render;

fn rendered(text: &str) -> String {
    let checked = common::check(text);
    render(&checked.source, &checked.diagnostics, false)
}

#[test]
fn unknown_key_with_a_suggestion() {
    insta::assert_snapshot!(rendered(
        "name = \"t\"\n[[host]]\nname = \"h1\"\n  [[host.iface]]\n  name = \"eth0\"\n  kind = \"dummy\"\n  adresses = [\"10.0.0.1/24\"]\n"
    ));
}

#[test]
fn duplicate_node_points_at_both_definitions() {
    insta::assert_snapshot!(rendered("name = \"t\"\n[[host]]\nname = \"web\"\n[[router]]\nname = \"web\"\n"));
}

#[test]
fn ipvlan_siblings_that_disagree_on_mode() {
    insta::assert_snapshot!(rendered(
        r#"name = "t"
[[switch]]
name = "sw1"
[[host]]
name = "net1"
  [[host.iface]]
  name = "eth0"
  link = "sw1"
  [[host.iface]]
  name = "ipvlan1"
  kind = "ipvlan"
  parent = "eth0"
  mode = "l2"
  [[host.iface]]
  name = "ipvlan2"
  kind = "ipvlan"
  parent = "eth0"
  mode = "l3"
"#
    ));
}

#[test]
fn a_sysctl_that_would_change_the_host() {
    insta::assert_snapshot!(rendered(
        "name = \"t\"\n[[host]]\nname = \"h1\"\nsysctl = { \"kernel.core_pattern\" = \"|/tmp/x\" }\n"
    ));
}

#[test]
fn toml_syntax_error() {
    insta::assert_snapshot!(rendered("name = \"t\"\n[[host]]\nname = h1\n"));
}

#[test]
fn words_from_other_tools_wrong_types_and_unknown_nodes() {
    insta::assert_snapshot!(rendered(
        r#"name = "t"
[[host]]
name = "a"
  [[host.iface]]
  name = "eth0"
  link = "b:eth0"
  ip = "10.0.0.1/24"
  mtu = "1400"
[[host]]
name = "b"
  [[host.iface]]
  name = "eth0"
  link = "a:eth0"
  addresses = ["10.0.0.2/24"]
[[expect]]
from = "client"
to = "b"
reach = "yes"
"#
    ));
}
