//! Parse + validate + graph timings: every topology in topologies/, synthetic labs of one
//! switch with N hosts (each with a macvlan child and an expectation), and hostile files
//! (a 40,000-deep stack of sub-interfaces, 20,000 errors rendered) whose cost must stay
//! linear. Prints figures; asserts nothing. Run with `cargo bench --bench topology`.

use lab::graph::LabGraph;
use lab::topology::{self, Source};
use std::time::{Duration, Instant};

fn main() {
    println!("{:<48} {:>12} {:>12}", "topology", "check (µs)", "+graph (µs)");
    let mut files: Vec<_> = std::fs::read_dir("topologies").unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        report(&file.display().to_string(), &text);
    }
    for hosts in [100, 1000] {
        report(&format!("synthetic: 1 switch, {hosts} hosts + {hosts} macvlans"), &synthetic(hosts));
    }
    println!("\n{:<48} {:>12} {:>12}", "hostile file", "size (KiB)", "total (ms)");
    hostile("40,000 VLANs, each stacked on the one before", &vlan_chain(40_000));
    hostile("20,000 hosts with an unknown switch each", &unknown_switches(20_000));
}

/// Check and render every diagnostic, as `lab validate` does.
fn hostile(name: &str, text: &str) {
    let total = median(|| {
        let checked = topology::check(Source::new(name, text));
        let _ = topology::diagnostic::render(&checked.source, &checked.diagnostics, false);
    });
    println!("{name:<48} {:>12} {:>12.1}", text.len() / 1024, total.as_secs_f64() * 1e3);
}

fn vlan_chain(depth: usize) -> String {
    let mut text = String::from(
        "name = \"deep\"\n[[host]]\nname = \"h\"\n  [[host.iface]]\n  name = \"e0\"\n  link = \"g:e0\"\n",
    );
    for i in 1..depth {
        let parent = if i == 1 { "e0".to_string() } else { format!("v{}", i - 1) };
        text += &format!(
            "  [[host.iface]]\n  name = \"v{i}\"\n  kind = \"vlan\"\n  parent = \"{parent}\"\n  id = {}\n",
            1 + i % 4000
        );
    }
    text + "[[host]]\nname = \"g\"\n  [[host.iface]]\n  name = \"e0\"\n  link = \"h:e0\"\n"
}

fn unknown_switches(hosts: usize) -> String {
    let mut text = String::from("name = \"errors\"\n");
    for i in 0..hosts {
        text += &format!(
            "[[host]]\nname = \"h{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"nowhere{i}\"\n"
        );
    }
    text
}

fn report(name: &str, text: &str) {
    let check = median(|| {
        let checked = topology::check(Source::new(name, text));
        assert!(checked.lab.is_some(), "{name} must be valid");
    });
    let with_graph = median(|| {
        let checked = topology::check(Source::new(name, text));
        let lab = checked.lab.unwrap();
        let _ = LabGraph::new(&lab).creation_stages();
    });
    println!("{name:<48} {:>12.1} {:>12.1}", micros(check), micros(with_graph));
}

/// Median of repeated runs: at least 20 runs and 0.5 s, or 3 runs of slow work.
fn median(mut f: impl FnMut()) -> Duration {
    let mut samples = Vec::new();
    let start = Instant::now();
    let enough = |samples: &Vec<Duration>| {
        let slow = samples.first().is_some_and(|d| *d > Duration::from_millis(100));
        if slow {
            samples.len() >= 3
        } else {
            samples.len() >= 20 && start.elapsed() >= Duration::from_millis(500)
        }
    };
    while !enough(&samples) {
        let t = Instant::now();
        f();
        samples.push(t.elapsed());
    }
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn synthetic(hosts: usize) -> String {
    let mut text = String::from("name = \"synthetic\"\n[[switch]]\nname = \"sw1\"\n");
    for i in 0..hosts {
        let (a, b) = (i / 250, i % 250 + 1);
        text.push_str(&format!(
            "[[host]]\nname = \"h{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw1\"\n  addresses = [\"10.0.{a}.{b}/16\"]\n  gateway = \"10.0.255.254\"\n"
        ));
        text.push_str(&format!(
            "  [[host.iface]]\n  name = \"mv0\"\n  kind = \"macvlan\"\n  mode = \"bridge\"\n  parent = \"eth0\"\n  addresses = [\"10.1.{a}.{b}/16\"]\n"
        ));
    }
    for i in 1..hosts {
        text.push_str(&format!(
            "[[expect]]\nfrom = \"h0\"\nto = \"h{i}\"\nreach = true\nwhy = \"one switch\"\n"
        ));
    }
    text
}
