//! lab touches only what it made, and can prove it made: foreign files, mounts and processes
//! are left alone; a placeholder left by a killed `up` is found by the lab's name alone; a
//! signal is never swallowed; lock files do not pile up.

mod common;
use common::kernel::{lab, namespaces, write_topology};
use lab::model::KernelFeature::*;
use std::path::Path;
use std::process::Command;

fn gone(lab_name: &str) -> bool {
    let prefix = format!("{lab_name}-");
    !namespaces().iter().any(|n| n.starts_with(&prefix))
        && !lab::kernel::netns::list_names().iter().any(|n| n.starts_with(&prefix))
        && !Path::new("/run/lab").join(lab_name).exists()
        && !Path::new("/run/lab").join(format!("{lab_name}.lock")).exists()
}

fn two_hosts(name: &str) -> String {
    format!(
        "name = \"{name}\"\n[[switch]]\nname = \"sw\"\n[[host]]\nname = \"h1\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n[[host]]\nname = \"h2\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n"
    )
}

kernel_test!(down_never_removes_a_file_or_mount_it_did_not_make, &[Veth, Bridge], {
    let path = write_topology("t-alien", &two_hosts("t-alien"));
    std::fs::create_dir_all("/run/netns").unwrap();
    // A foreign empty file and a foreign bind mount, under the names of the lab's nodes.
    std::fs::write("/run/netns/t-alien-h1", "").unwrap();
    let source = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lab-alien-source");
    std::fs::write(&source, "someone else's").unwrap();
    std::fs::write("/run/netns/t-alien-h2", "").unwrap();
    let mounted = Command::new("mount")
        .args(["--bind", source.to_str().unwrap(), "/run/netns/t-alien-h2"])
        .status()
        .unwrap();
    assert!(mounted.success());
    let by_name = lab(&["down", "t-alien"]);
    let by_file = lab(&["down", path.to_str().unwrap()]);
    let h1_kept = Path::new("/run/netns/t-alien-h1").exists();
    let h2_kept = std::fs::read_to_string("/run/netns/t-alien-h2").unwrap_or_default() == "someone else's";
    let _ = Command::new("umount").arg("/run/netns/t-alien-h2").status();
    let _ = std::fs::remove_file("/run/netns/t-alien-h1");
    let _ = std::fs::remove_file("/run/netns/t-alien-h2");
    assert!(h1_kept, "a foreign file is left alone");
    assert!(h2_kept, "a foreign mount is left alone");
    for (code, _, err) in [by_name, by_file] {
        assert_eq!(code, 0, "{err}");
        assert!(
            err.contains("left alone: namespace t-alien-h1 is not marked as made by lab `t-alien`"),
            "{err}"
        );
        assert!(err.contains("left alone: namespace t-alien-h2"), "{err}");
    }
});

kernel_test!(a_placeholder_left_by_a_killed_up_is_listed_and_removed_by_name, &[Veth, Bridge], {
    // What an `up` killed after claiming a name and before binding the namespace leaves.
    lab::kernel::netns::prepare_dir().unwrap();
    lab::kernel::netns::claim("t-claimed", &lab::kernel::netns::path_of("t-claimed-h1")).unwrap();
    let (code, out, _) = lab(&["ls"]);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().take(3).collect::<Vec<_>>() == ["t-claimed", "1", "incomplete"]),
        "{out}"
    );
    let (code, _, err) = lab(&["down", "t-claimed"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("lab `t-claimed` is down: 1 namespace removed"), "{err}");
    assert!(gone("t-claimed"), "down NAME removes the placeholder");
    // The next `up` of the lab then works.
    let path = write_topology("t-claimed", &two_hosts("t-claimed"));
    lab::kernel::netns::claim("t-claimed", &lab::kernel::netns::path_of("t-claimed-h1")).unwrap();
    let (code, _, err) = lab(&["up", "-q", path.to_str().unwrap()]);
    assert_eq!(code, 2, "a name in use is refused: {err}");
    assert!(err.contains("`lab down t-claimed` removes it"), "{err}");
    assert_eq!(lab(&["down", "t-claimed"]).0, 0);
    assert_eq!(lab(&["up", "-q", path.to_str().unwrap()]).0, 0);
    assert_eq!(lab(&["down", "t-claimed"]).0, 0);
    assert!(gone("t-claimed"));
});

kernel_test!(lock_files_go_with_their_lab, &[Veth, Bridge], {
    let path = write_topology("t-locks", &two_hosts("t-locks"));
    for _ in 0..3 {
        assert_eq!(lab(&["up", "-q", path.to_str().unwrap()]).0, 0);
        assert!(Path::new("/run/lab/t-locks.lock").exists(), "the lock is there while the lab is up");
        assert_eq!(lab(&["down", "t-locks"]).0, 0);
        assert!(gone("t-locks"), "down removes the lab's lock file too");
    }
    let (code, _, _) = lab(&["down", "t-locks"]);
    assert_eq!(code, 0);
    assert!(gone("t-locks"), "a down of a lab that is not up leaves no lock file");
});

/// `lab up` of a small lab, stopped (SIGSTOP) once its state file exists, at the very end of
/// its work, and sent `signal` while stopped, so that the signal lands there whatever the
/// machine's load. It must never exit 0 with the signal swallowed: either it undid the lab
/// and exited 2, or the signal ended it at once (the lab was complete).
fn signal_at_the_end(name: &str, signal: nix::sys::signal::Signal) {
    use nix::sys::signal::{Signal, kill};
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let path = write_topology(name, &two_hosts(name));
    let state = Path::new("/run/lab").join(name).join("state.json");
    // Waited for with waitpid below, which also sees it stop.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["up", "-q", path.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut stderr = child.stderr.unwrap();
    let mut ended = None;
    while !state.exists() {
        if let Ok(status @ WaitStatus::Exited(..)) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            ended = Some(status);
            break;
        }
        std::thread::yield_now();
    }
    let (signalled, status) = match ended {
        // It wrote its state and ended between two looks.
        Some(status) => (false, status),
        None => {
            kill(pid, Signal::SIGSTOP).unwrap();
            match waitpid(pid, Some(WaitPidFlag::WUNTRACED)).unwrap() {
                WaitStatus::Stopped(..) => {
                    kill(pid, signal).unwrap();
                    kill(pid, Signal::SIGCONT).unwrap();
                    (true, waitpid(pid, None).unwrap())
                }
                ended => (false, ended),
            }
        }
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
    match status {
        // It had ended before it could be stopped: nothing was signalled.
        WaitStatus::Exited(_, 0) if !signalled => {}
        WaitStatus::Signaled(_, killed, _) => {
            assert_eq!(killed, signal);
            let made = namespaces().iter().filter(|n| n.starts_with(&format!("{name}-"))).count();
            assert_eq!(made, 3, "a signal after up returned leaves the lab complete");
        }
        WaitStatus::Exited(_, code) => {
            assert_eq!(code, 2, "a signal during up is never swallowed: {err}");
            assert!(err.contains("interrupted"), "{err}");
            assert!(gone(name), "an interrupted up leaves nothing");
        }
        other => panic!("unexpected {other:?}: {err}"),
    }
    let _ = lab(&["down", name]);
    assert!(gone(name));
}

kernel_test!(a_signal_at_the_end_of_up_is_never_swallowed, &[Veth, Bridge], {
    use nix::sys::signal::Signal::*;
    for round in 0..10 {
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            signal_at_the_end(&format!("t-late{round}"), signal);
        }
    }
});

#[test]
fn the_sandbox_signals_only_a_kernel_it_started() {
    use std::os::unix::process::CommandExt;
    // A process of someone else's, in a process group of its own.
    let mut victim = Command::new("sleep").arg("600").process_group(0).spawn().unwrap();
    let victim_pid = victim.id() as i32;
    let dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    let _ = dead.wait_with_output();
    // Records naming the victim: where another user could write one (the shared /tmp, as
    // before), and a forged one in this user's own directory with the victim's real pid
    // and start time.
    let planted = std::env::temp_dir().join(format!("lab-sandbox-{dead_pid}-planted"));
    std::fs::create_dir_all(&planted).unwrap();
    std::fs::write(planted.join("group"), victim_pid.to_string()).unwrap();
    let private = lab::sandbox::private_dir().unwrap();
    let forged = private.join(format!("boot-{dead_pid}-forged"));
    std::fs::create_dir_all(&forged).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{victim_pid}/stat")).unwrap();
    let ticks = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(19).unwrap().to_string();
    std::fs::write(forged.join("kernel"), format!("{victim_pid} {ticks}")).unwrap();
    let out = lab::sandbox::Sandbox::default().run(&["true".into()], &std::env::current_dir().unwrap());
    let alive = victim.try_wait().unwrap().is_none();
    let _ = victim.kill();
    let _ = victim.wait();
    let _ = std::fs::remove_dir_all(&planted);
    let _ = std::fs::remove_dir_all(&forged);
    assert!(out.is_ok(), "{:?}", out.err());
    assert!(alive, "the sandbox killed a process it did not start");
}
