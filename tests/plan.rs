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
fn children_of_another_node_are_made_from_the_parents_namespace_into_their_own() {
    let plan = dry_run("topologies/e3-macvlan-vepa-after.toml");
    assert!(
        plan.contains("ip -n e3-vepa-after-net1 link add link eth0 name macvlan1 netns e3-vepa-after-namespace1 up type macvlan mode vepa"),
        "{plan}"
    );
    assert!(
        plan.contains("ip -n e3-vepa-after-namespace1 route add default via 172.16.10.1 dev macvlan1"),
        "{plan}"
    );
    let last = plan.lines().rev().take_while(|l| !l.starts_with('#')).collect::<Vec<_>>();
    assert!(
        last.iter().all(|l| l.ends_with(" up") && l.contains("-sw1 link set")),
        "switch ports come up last: {last:?}"
    );
}
