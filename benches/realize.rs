//! `lab up` and `lab down` of one switch with N hosts (each: a cable, an address, a default
//! route), in-process, natively; and for scale the kernel's floor, `ip -batch` making the
//! same namespaces and cables. Needs root. Prints figures; asserts nothing.
//! Run with `cargo bench --bench realize`.

use lab::graph::LabGraph;
use lab::plan::Plan;
use lab::realize::{self, Progress};
use lab::topology::{self, Source};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 3;

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the realize benchmark needs root");
        std::process::exit(1);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("{:<34} {:>10} {:>10} {:>16}", "one switch, N hosts", "up (s)", "down (s)", "ip -batch (s)");
    for hosts in [100, 1000] {
        let (text, lab) = topology_of(hosts);
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lab-bench-{hosts}.toml"));
        std::fs::write(&path, &text).unwrap();
        let batch: Vec<Duration> = (0..RUNS).map(|_| ip_batch(hosts)).collect();
        let (mut ups, mut downs) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let t = Instant::now();
            rt.block_on(realize::up(
                &lab,
                &Plan::new(&LabGraph::new(&lab)),
                &path,
                &text,
                &Progress::hidden(),
            ))
            .expect("up");
            ups.push(t.elapsed());
            let t = Instant::now();
            realize::down(&lab.name, &Progress::hidden()).expect("down");
            downs.push(t.elapsed());
            settle(hosts);
        }
        println!(
            "{:<34} {:>10.3} {:>10.3} {:>16.3}",
            format!("{hosts} hosts"),
            median(ups),
            median(downs),
            median(batch)
        );
    }
}

fn topology_of(hosts: usize) -> (String, lab::model::Lab) {
    let mut text = format!("name = \"bench{hosts}\"\n[[switch]]\nname = \"sw\"\n");
    for i in 0..hosts {
        text += &format!(
            "[[host]]\nname = \"h{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  addresses = [\"10.0.{}.{}/16\"]\n  gateway = \"10.0.255.254\"\n",
            i / 250,
            i % 250 + 1
        );
    }
    let lab = topology::check(Source::new("bench", text.clone())).lab.expect("valid");
    (text, lab)
}

/// The kernel's floor by `ip -batch` (one process, one request per step): a namespace per
/// host and a veth pair made directly in the switch's and the host's namespaces, switch end
/// up (`ip -batch` cannot address a bridge in another namespace, so no bridge, no addresses).
fn ip_batch(hosts: usize) -> Duration {
    let mut add = String::from("netns add ipb-sw\n");
    let mut del = String::from("netns del ipb-sw\n");
    for i in 0..hosts {
        add += &format!(
            "netns add ipb-h{i}\nlink add p{i} netns ipb-sw up type veth peer name eth0 netns ipb-h{i}\n"
        );
        del += &format!("netns del ipb-h{i}\n");
    }
    let t = Instant::now();
    run_batch(&add);
    let elapsed = t.elapsed();
    run_batch(&del);
    settle(hosts);
    elapsed
}

fn run_batch(commands: &str) {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("lab-bench-batch");
    std::fs::write(&path, commands).unwrap();
    let status = Command::new("ip").args(["-batch", path.to_str().unwrap()]).status().expect("ip runs");
    assert!(status.success());
}

/// Lets the kernel finish destroying the namespaces (it does so in the background, and a
/// run timed meanwhile would compete with it) before the next run.
fn settle(hosts: usize) {
    std::thread::sleep(Duration::from_millis(1000 + 15 * hosts as u64));
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64()
}
