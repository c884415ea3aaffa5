//! A verdict is evidence, not a timeout: a reply that comes late fails a `reach = false` and
//! passes a `reach = true`, however late (within reason); a silence that passes says where
//! the request stopped. Lateness is made for certain with netem on the target (the machine's
//! load does the same, at random).

mod common;
use common::kernel::{UpLab, verify_json};
use lab::model::KernelFeature::*;
use serde_json::Value;
use std::process::Command;

/// Two hosts on a switch; `slow` answers every echo `delay` late.
fn pair(name: &str, expectations: &str) -> String {
    format!(
        r#"name = "{name}"
[verify]
timeout = "300ms"
deadline = "600ms"
[[switch]]
name = "sw"
[[host]]
name = "fast"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  addresses = ["10.40.0.1/24"]
[[host]]
name = "slow"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  addresses = ["10.40.0.2/24"]
{expectations}"#
    )
}

/// Delays every frame `slow` sends by `delay`, as `tc` does it (lab does not make netem).
fn delay_replies(up: &UpLab, delay: &str) {
    let status = Command::new("ip")
        .args([
            "netns",
            "exec",
            &up.netns("slow"),
            "tc",
            "qdisc",
            "add",
            "dev",
            "eth0",
            "root",
            "netem",
            "delay",
            delay,
        ])
        .status()
        .unwrap();
    assert!(status.success(), "tc adds netem");
}

kernel_test!(a_reply_later_than_the_timeout_fails_reach_false, &[Veth, Bridge, Netem], {
    let up = UpLab::up(&pair(
        "t-late-no",
        "[[expect]]\nfrom = \"fast\"\nto = \"slow\"\nreach = false\nwhy = \"wrong on purpose: slow answers, late\"\n",
    ));
    delay_replies(&up, "700ms");
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 1, "{outcomes:?}");
    let observed = outcomes[0]["observed"].as_str().unwrap();
    assert!(observed.starts_with("reply in"), "the late reply was seen: {observed}");
    let ms: f64 = observed.trim_start_matches("reply in ").split(' ').next().unwrap().parse().unwrap();
    assert!(ms >= 700.0, "it came after the 300 ms timeout, as netem made it: {observed}");
});

kernel_test!(a_reply_later_than_the_deadline_passes_reach_true, &[Veth, Bridge, Netem], {
    let up = UpLab::up(&pair("t-late-yes", "[[expect]]\nfrom = \"fast\"\nto = \"slow\"\nreach = true\n"));
    delay_replies(&up, "1500ms");
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 0, "{outcomes:?}");
    let observed = outcomes[0]["observed"].as_str().unwrap();
    assert!(observed.starts_with("reply in"), "{observed}");
});

kernel_test!(a_silence_says_where_the_request_stopped, &[Veth, Bridge], {
    let up = UpLab::up(
        r#"name = "t-stopped"
[[switch]]
name = "sw"
[[host]]
name = "fast"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  addresses = ["10.41.0.1/24"]
[[host]]
name = "mute"
sysctl = { "net.ipv4.icmp_echo_ignore_all" = 1 }
  [[host.iface]]
  name = "eth0"
  link = "sw"
  addresses = ["10.41.0.2/24"]
[[host]]
name = "deaf"
sysctl = { "net.ipv4.conf.all.arp_ignore" = 8 }
  [[host.iface]]
  name = "eth0"
  link = "sw"
  addresses = ["10.41.0.3/24"]
[[expect]]
from = "fast"
to = "mute"
reach = false
[[expect]]
from = "fast"
to = "deaf"
reach = false
[[expect]]
from = "fast"
to = "10.41.0.99"
reach = false
"#,
    );
    let (code, outcomes) = verify_json(&up.name);
    assert_eq!(code, 0, "{outcomes:?}");
    let observed = |n: usize| outcomes[n]["observed"].as_str().unwrap().to_string();
    assert_eq!(
        observed(0),
        "no reply, the network quiet: the request reached mute:eth0; mute sent no reply",
        "mute ignores echoes"
    );
    assert_eq!(
        observed(1),
        "no reply, the network quiet: the request never left fast (no ARP/ND answer for 10.41.0.3 on eth0)",
        "deaf never answers ARP"
    );
    assert_eq!(
        observed(2),
        "no reply, the network quiet: the request never left fast (no ARP/ND answer for 10.41.0.99 on eth0)"
    );
});

// One node probing 1,400 addresses (more than the machine's neighbour table holds at once,
// and more answers than a socket's default buffer): every one is answered. Before, the
// excess over 256 × (deadline / timeout) got "no reply" for want of room.
kernel_test!(a_node_with_thousands_of_probes_gets_every_answer, &[Veth, Bridge], {
    let targets = 1400;
    let addresses: Vec<String> =
        (0..targets).map(|i| format!("\"10.44.{}.{}/16\"", i / 250 + 1, i % 250 + 1)).collect();
    let mut text = format!(
        "name = \"t-many\"\n[[switch]]\nname = \"sw\"\n[[host]]\nname = \"a\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  addresses = [\"10.44.0.1/16\"]\n[[host]]\nname = \"b\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  addresses = [{}]\n",
        addresses.join(", ")
    );
    for i in 0..targets {
        text += &format!(
            "[[expect]]\nfrom = \"a\"\nto = \"10.44.{}.{}\"\nreach = true\n",
            i / 250 + 1,
            i % 250 + 1
        );
    }
    let up = UpLab::up(&text);
    let (code, outcomes) = verify_json(&up.name);
    let failed: Vec<&Value> = outcomes.iter().filter(|o| o["passed"] != true).collect();
    assert!(
        code == 0 && failed.is_empty(),
        "{} of {targets} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
});
