//! `lab verify` speed and trust, natively (needs root): a full reachability mesh among N
//! hosts on one switch (N × (N-1) probes); a lab with 200 expectations of which half are of
//! silence (they wait for the network to go quiet, all at once); and 1,000 hosts with 10,000
//! expectations, every one true, verified 10 times: each failure there is a false verdict;
//! and connect probes: a full mesh of TCP and UDP connections to lab's own services; and
//! the explanation of failures: 1,000 failed expectations among 400 hosts walked (each
//! node's kernel asked), against the verification that found them. Prints figures; asserts nothing. Run with
//! `cargo bench --bench verify`.

use lab::graph::LabGraph;
use lab::plan::Plan;
use lab::realize::{self, Progress};
use lab::topology::{self, Source};
use std::time::{Duration, Instant};

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the verify benchmark needs root");
        std::process::exit(1);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    explain(&rt, 400, 1000);
    println!("\n{:<58} {:>8} {:>6} {:>10}", "lab", "probes", "waves", "verify (s)");
    for hosts in [10, 50] {
        measure(&rt, &format!("full mesh, {hosts} hosts"), &mesh(hosts, hosts * (hosts - 1), 0));
    }
    measure(&rt, "200 expectations, 100 of them unreachable (timeout 1 s)", &mesh(20, 100, 100));
    measure(&rt, "TCP and UDP connects, full mesh of 20 hosts with services", &services_mesh(20));
    let runs = std::env::var("LAB_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(10);
    let unreachable =
        std::env::var("LAB_BENCH_UNREACHABLE").ok().and_then(|r| r.parse().ok()).unwrap_or(1000);
    trust(&rt, 1000, 10_000 - unreachable, unreachable, runs);
}

/// `runs` verifications of a lab of `hosts` whose expectations are all true: `reachable`
/// random pairs and `unreachable` addresses nobody has. Prints the false verdicts of each.
fn trust(rt: &tokio::runtime::Runtime, hosts: usize, reachable: usize, unreachable: usize, runs: usize) {
    let text = random_pairs(hosts, reachable, unreachable);
    let lab = topology::check(Source::new("bench", text.clone())).lab.expect("valid");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("lab-bench-trust.toml");
    std::fs::write(&path, &text).unwrap();
    let state = rt
        .block_on(realize::up(&lab, &Plan::new(&LabGraph::new(&lab)), &path, &text, &Progress::hidden()))
        .expect("up");
    let _down = Down(lab.name.clone());
    println!(
        "\n{hosts} hosts, {} expectations ({reachable} reachable pairs, {unreachable} unreachable addresses), all true:",
        lab.expectations.len()
    );
    println!("{:>4} {:>10} {:>6} {:>16} {:>10}", "run", "verify (s)", "waves", "false verdicts", "undecided");
    let mut total_false = 0;
    for run in 1..=runs {
        let t = Instant::now();
        let verification = lab::probe::verify(&lab, &state, None).expect("verify");
        let wrong = verification.outcomes.iter().filter(|o| !o.passed && o.decided).count();
        total_false += wrong;
        println!(
            "{run:>4} {:>10.2} {:>6} {wrong:>16} {:>10}",
            t.elapsed().as_secs_f64(),
            verification.waves,
            verification.undecided()
        );
        if let Some(o) = verification.outcomes.iter().find(|o| !o.passed) {
            println!("     e.g. #{} {}: {}", o.number, o.check, o.observed);
        }
    }
    println!("false verdicts in {runs} runs: {total_false}");
}

/// Verifies a lab whose `failures` expectations all fail (half its hosts on a switch no
/// cable joins to the other's), then explains them; prints both times.
fn explain(rt: &tokio::runtime::Runtime, hosts: usize, failures: usize) {
    let mut text = String::from("name = \"bench-explain\"\n[verify]\ntimeout = \"300ms\"\n");
    text += "[[switch]]\nname = \"sw1\"\n[[switch]]\nname = \"sw2\"\n";
    for i in 0..hosts {
        let switch = if i % 2 == 0 { "sw1" } else { "sw2" };
        text += &format!(
            "[[host]]\nname = \"h{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"{switch}\"\n  addresses = [\"10.0.{}.{}/16\"]\n",
            i / 250,
            i % 250 + 1
        );
    }
    for n in 0..failures {
        let a = 2 * (n % (hosts / 2));
        let b = (a + 1 + 2 * (n / (hosts / 2))) % hosts;
        text += &format!("[[expect]]\nfrom = \"h{a}\"\nto = \"h{b}\"\nreach = true\n");
    }
    let lab = topology::check(Source::new("bench", text.clone())).lab.expect("valid");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("lab-bench-explain.toml");
    std::fs::write(&path, &text).unwrap();
    let state = rt
        .block_on(realize::up(&lab, &Plan::new(&LabGraph::new(&lab)), &path, &text, &Progress::hidden()))
        .expect("up");
    let _down = Down(lab.name.clone());
    let t = Instant::now();
    let mut verification = lab::probe::verify(&lab, &state, None).expect("verify");
    let verified = t.elapsed();
    let t = Instant::now();
    lab::explain::failures(&lab, &state, &mut verification);
    let explained = t.elapsed();
    let walked =
        verification.outcomes.iter().filter(|o| o.walk.as_ref().is_some_and(|w| w.stop.is_some())).count();
    println!(
        "\n{} failures: verify {:.2} s; explained {walked} of them in {:.3} s ({:.2} ms each)",
        verification.failed(),
        verified.as_secs_f64(),
        explained.as_secs_f64(),
        explained.as_secs_f64() * 1000.0 / walked.max(1) as f64
    );
    drop(_down);
    std::thread::sleep(Duration::from_secs(2));
}

/// N hosts on one switch, `reachable` pairs drawn at random (a fixed seed), and
/// `unreachable` expectations toward addresses nobody has.
fn random_pairs(hosts: usize, reachable: usize, unreachable: usize) -> String {
    let mut text = String::from("name = \"bench-trust\"\n[[switch]]\nname = \"sw\"\n");
    for i in 0..hosts {
        text += &format!(
            "[[host]]\nname = \"h{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  addresses = [\"10.0.{}.{}/16\"]\n",
            i / 250,
            i % 250 + 1
        );
    }
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..reachable {
        let a = next(hosts);
        let b = (a + 1 + next(hosts - 1)) % hosts;
        text += &format!("[[expect]]\nfrom = \"h{a}\"\nto = \"h{b}\"\nreach = true\n");
    }
    for i in 0..unreachable {
        text += &format!(
            "[[expect]]\nfrom = \"h{}\"\nto = \"10.0.200.{}\"\nreach = false\n",
            next(hosts),
            i % 250 + 1
        );
    }
    text
}

fn measure(rt: &tokio::runtime::Runtime, title: &str, text: &str) {
    let lab = topology::check(Source::new("bench", text.to_string())).lab.expect("valid");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("lab-bench-verify.toml");
    std::fs::write(&path, text).unwrap();
    let state = rt
        .block_on(realize::up(&lab, &Plan::new(&LabGraph::new(&lab)), &path, text, &Progress::hidden()))
        .expect("up");
    let _down = Down(lab.name.clone());
    let (mut times, mut waves) = (Vec::new(), 0);
    for _ in 0..3 {
        let t = Instant::now();
        let verification = lab::probe::verify(&lab, &state, None).expect("verify");
        times.push(t.elapsed());
        waves = verification.waves;
        assert!(verification.passed(), "{:#?}", verification.outcomes.iter().find(|o| !o.passed));
    }
    times.sort();
    println!("{title:<58} {:>8} {waves:>6} {:>10.3}", lab.expectations.len(), times[1].as_secs_f64());
    drop(_down);
    std::thread::sleep(Duration::from_secs(2));
}

/// N hosts on one switch, each serving TCP port 80 and UDP port 53, and every host
/// connecting to every other on both (2 × N × (N-1) connects, each answered).
fn services_mesh(hosts: usize) -> String {
    let mut text = String::from("name = \"bench-connect\"\n[[switch]]\nname = \"sw\"\n");
    for i in 0..hosts {
        text += &format!(
            "[[host]]\nname = \"h{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  addresses = [\"10.0.0.{}/24\"]\n  [[host.listen]]\n  port = 80\n  [[host.listen]]\n  proto = \"udp\"\n  port = 53\n",
            i + 1
        );
    }
    for a in 0..hosts {
        for b in (0..hosts).filter(|b| *b != a) {
            text += &format!("[[expect]]\nfrom = \"h{a}\"\nconnect = \"h{b}:80\"\nanswered_by = \"h{b}\"\n");
            text += &format!(
                "[[expect]]\nfrom = \"h{a}\"\nconnect = \"h{b}:53\"\nproto = \"udp\"\nanswered_by = \"h{b}\"\n"
            );
        }
    }
    text
}

/// Brings the lab down when the measurement ends, also by a panic.
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = realize::down(&self.0, &Progress::hidden());
    }
}

/// N hosts on one switch; `reachable` expectations between them (all pairs in order), and
/// `unreachable` ones toward addresses nobody has.
fn mesh(hosts: usize, reachable: usize, unreachable: usize) -> String {
    let mut text = String::from("name = \"bench-verify\"\n[[switch]]\nname = \"sw\"\n");
    for i in 0..hosts {
        text += &format!(
            "[[host]]\nname = \"h{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  addresses = [\"10.0.0.{}/24\"]\n",
            i + 1
        );
    }
    let pairs = (0..hosts).flat_map(|a| (0..hosts).filter(move |b| *b != a).map(move |b| (a, b)));
    for (a, b) in pairs.take(reachable) {
        text += &format!("[[expect]]\nfrom = \"h{a}\"\nto = \"h{b}\"\nreach = true\n");
    }
    for i in 0..unreachable {
        text += &format!(
            "[[expect]]\nfrom = \"h{}\"\nto = \"10.0.0.{}\"\nreach = false\n",
            i % hosts,
            200 + i % 50
        );
    }
    text
}
