//! `up` and `down` killed at random points (SIGKILL, SIGINT, SIGTERM): after one `lab down
//! NAME` nothing of the lab is left, whatever the point. `LAB_RELIABILITY_TRIALS=100 cargo
//! test --release --test reliability` runs the long version; the suite runs a short one.

mod common;
use common::kernel::{lab, namespaces, write_topology};
use lab::model::KernelFeature::*;
use nix::sys::signal::Signal;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn trials() -> usize {
    std::env::var("LAB_RELIABILITY_TRIALS").ok().and_then(|t| t.parse().ok()).unwrap_or(12)
}

/// Everything of a lab that could be left on the machine.
fn leftovers(name: &str) -> Vec<String> {
    let prefix = format!("{name}-");
    let mut left: Vec<String> =
        lab::kernel::netns::list_names().into_iter().filter(|n| n.starts_with(&prefix)).collect();
    left.extend(namespaces().into_iter().filter(|n| n.starts_with(&prefix)));
    for path in [Path::new("/run/lab").join(name), Path::new("/run/lab").join(format!("{name}.lock"))] {
        if path.exists() {
            left.push(path.display().to_string());
        }
    }
    left
}

/// A small random number generator, seeded from the clock: the points differ run to run,
/// and the seed is printed so that a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn new() -> Dice {
        let seed =
            std::env::var("LAB_RELIABILITY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
            });
        println!("LAB_RELIABILITY_SEED={seed}");
        Dice(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn topology(name: &str, hosts: usize) -> std::path::PathBuf {
    let mut text = format!("name = \"{name}\"\n[[switch]]\nname = \"sw\"\n");
    for i in 0..hosts {
        text += &format!(
            "[[host]]\nname = \"h{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  addresses = [\"10.5.{}.{}/16\"]\n  gateway = \"10.5.255.254\"\n  [[host.iface]]\n  name = \"mv\"\n  kind = \"macvlan\"\n  mode = \"bridge\"\n  parent = \"eth0\"\n",
            i / 250,
            i % 250 + 1
        );
    }
    write_topology(name, &text)
}

/// Runs `lab ARGS` and sends it `signal` after `delay` (if it still runs); returns how long
/// the command ran.
fn run_and_signal(args: &[&str], signal: Signal, delay: Duration) -> Duration {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    loop {
        if child.try_wait().unwrap().is_some() {
            return started.elapsed();
        }
        if started.elapsed() >= delay {
            let _ = nix::sys::signal::kill(pid, signal);
            child.wait().unwrap();
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

kernel_test!(up_and_down_killed_anywhere_leave_nothing_after_one_down, &[Veth, Bridge, Macvlan], {
    let name = "t-chaos";
    let path = topology(name, 60);
    let file = path.to_str().unwrap();
    // How long a whole `up` and `down` take here, now: the range the kill points are drawn from.
    let up_time = run_and_signal(&["up", "-q", file], Signal::SIGKILL, Duration::from_secs(600));
    let down_time = run_and_signal(&["down", "-q", name], Signal::SIGKILL, Duration::from_secs(600));
    assert!(leftovers(name).is_empty(), "a plain up and down leave nothing");
    let mut dice = Dice::new();
    let signals = [Signal::SIGKILL, Signal::SIGINT, Signal::SIGTERM];
    for trial in 0..trials() {
        let signal = signals[dice.below(3) as usize];
        let killing_down = dice.below(2) == 1;
        if killing_down {
            let (code, _, err) = lab(&["up", "-q", file]);
            assert_eq!(code, 0, "trial {trial}: {err}");
            let at = Duration::from_micros(dice.below(down_time.as_micros() as u64 + 1));
            run_and_signal(&["down", "-q", name], signal, at);
        } else {
            let at = Duration::from_micros(dice.below(up_time.as_micros() as u64 + 1));
            run_and_signal(&["up", "-q", file], signal, at);
        }
        let (code, _, err) = lab(&["down", name]);
        let what = if killing_down { "down" } else { "up" };
        assert_eq!(code, 0, "trial {trial} ({what} got {signal:?}): {err}");
        let left = leftovers(name);
        assert!(
            left.is_empty(),
            "trial {trial} ({what} got {signal:?}): one `lab down {name}` left {left:?}"
        );
    }
});
