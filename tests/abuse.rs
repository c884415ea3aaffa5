//! Bad input never crashes, hangs or exhausts the machine, and nothing lab prints can act
//! on the terminal or the shell it is pasted into. No root needed: nothing is made.

mod common;
use common::{assert_error, check};
use std::process::{Command, Stdio};
use std::time::Duration;

fn lab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lab")).args(args).output().expect("lab runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn write_temp(name: &str, text: &str) -> std::path::PathBuf {
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lab-abuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs lab and waits for it, killing it if it has not ended when `patience` runs out: a
/// command that blocks forever fails the test instead of hanging the suite.
fn lab_patiently(args: &[&str], patience: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lab runs");
    let waited = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.code(), err);
        }
        if waited.elapsed() > patience {
            let _ = child.kill();
            let _ = child.wait();
            return (None, String::new());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn devices_and_fifos_are_refused_not_read() {
    let (code, err) = lab_patiently(&["validate", "/dev/zero"], Duration::from_secs(60));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("/dev/zero: not a regular file"), "{err}");
    let fifo =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lab-fifo-{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let fifo_arg = fifo.to_str().unwrap();
    for verb in ["validate", "up", "graph", "run"] {
        let (code, err) = lab_patiently(&[verb, fifo_arg], Duration::from_secs(60));
        assert!(code.is_some(), "`lab {verb}` of a FIFO blocked");
        assert_eq!(code, Some(2), "{verb}: {err}");
        assert!(err.contains("not a regular file"), "{verb}: {err}");
    }
    std::fs::remove_file(&fifo).unwrap();
}

#[test]
fn a_file_over_the_size_cap_is_refused_with_the_cap() {
    let big = "# padding\n".repeat((lab::topology::MAX_FILE_SIZE as usize) / 10 + 1);
    let path = write_temp("big.toml", &format!("name = \"big\"\n{big}"));
    let (code, _, err) = lab(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("larger than 8 MiB"), "{err}");
}

#[test]
fn durations_are_bounded_not_overflowed() {
    let text = "name = \"t\"\n[verify]\ntimeout = \"18446744073709551615s\"\ndeadline = \"999999h\"\n[[host]]\nname = \"a\"\n[[expect]]\nfrom = \"a\"\nto = \"10.0.0.1\"\nreach = true\ntimeout = \"61s\"\n";
    assert_error(text, "3:11", "a timeout longer than 1m");
    assert_error(text, "4:12", "a deadline longer than 10m");
    assert_error(text, "11:11", "a timeout longer than 1m");
    let (code, _, err) = lab(&["verify", "--timeout", "18446744073709551615s", "somelab"]);
    assert_eq!(code, 2);
    assert!(err.contains("too long to wait for a probe"), "{err}");
}

#[test]
fn an_integer_too_large_for_any_key_says_so() {
    let text = "name = \"t\"\n[[host]]\nname = \"a\"\n  [[host.iface]]\n  name = \"e\"\n  link = \"b:e\"\n  mtu = 99999999999999999999\n  [[host.iface]]\n  name = \"f\"\n  link = \"b:f\"\n  trunk = [99999999999999999999]\n[[host]]\nname = \"b\"\n";
    assert_error(text, "7:9", "`mtu` is too large");
    assert_error(text, "11:12", "`trunk` is too large");
}

/// A chain of `depth` VLAN sub-interfaces, each on the one before, with a tagged probe over
/// the chain's base.
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
    text += "[[host]]\nname = \"g\"\n  [[host.iface]]\n  name = \"e0\"\n  link = \"h:e0\"\n";
    text + "[[expect]]\nfrom = \"g\"\nto = \"10.0.0.1\"\nreach = true\ntagged = { on = \"h:e0\", vlan = 2 }\n"
}

#[test]
fn a_deep_stack_of_sub_interfaces_validates_without_recursion() {
    // 40,000 levels overflowed the stack (SIGABRT) before the walks became loops.
    let checked = check(&vlan_chain(40_000));
    assert!(checked.lab.is_some(), "{:?}", checked.diagnostics.first());
}

#[test]
fn a_stacking_loop_is_one_error_per_member_however_long() {
    let mut text = String::from("name = \"loop\"\n[[host]]\nname = \"h\"\n");
    let n = 5_000;
    for i in 0..n {
        text += &format!(
            "  [[host.iface]]\n  name = \"v{i}\"\n  kind = \"vlan\"\n  parent = \"v{}\"\n  id = 5\n",
            (i + 1) % n
        );
    }
    let checked = check(&text);
    let loops = checked
        .diagnostics
        .iter()
        .filter(|d| d.message.ends_with("is stacked on itself through its parents"))
        .count();
    assert_eq!(loops, n);
}

#[test]
fn thousands_of_errors_are_all_in_json_and_the_first_ones_rendered() {
    let mut text = String::from("name = \"errs\"\n");
    for i in 0..5_000 {
        text += &format!(
            "[[host]]\nname = \"h{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"nowhere{i}\"\n"
        );
    }
    let path = write_temp("errors.toml", &text);
    let (code, out, err) = lab(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.contains("5000 errors"), "{out}");
    assert_eq!(err.matches("unknown switch").count(), lab::topology::diagnostic::RENDERED);
    assert!(
        err.contains("... and 4800 more not shown here (`lab validate --json FILE` lists every one)"),
        "{err}"
    );
    let (_, json, _) = lab(&["validate", "--json", path.to_str().unwrap()]);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed[0]["diagnostics"].as_array().unwrap().len(), 5_000);
}

#[test]
fn a_switch_with_more_ports_than_a_bridge_holds_is_refused_at_validation() {
    let ports = |n: usize| {
        let mut text = String::from("name = \"big\"\n[[switch]]\nname = \"sw\"\n");
        for i in 0..n {
            text +=
                &format!("[[host]]\nname = \"h{i}\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n");
        }
        text
    };
    assert!(check(&ports(1023)).lab.is_some(), "1023 ports fit a bridge");
    assert_error(&ports(1024), "3:8", "switch `sw` has 1024 ports, more than a Linux bridge holds (1023)");
}

#[test]
fn names_the_kernel_or_a_shell_would_refuse_or_mangle_are_refused() {
    let with_iface = |name: &str| {
        format!(
            "name = \"t\"\n[[host]]\nname = \"a\"\n  [[host.iface]]\n  name = \"{name}\"\n  link = \"b:e\"\n[[host]]\nname = \"b\"\n"
        )
    };
    for (name, problem) in [
        ("all", "is reserved: the kernel keeps `all` and `default` for settings of every device"),
        ("default", "is reserved: the kernel keeps `all` and `default` for settings of every device"),
        ("a;reboot", "contains ';'"),
        ("$(id)", "contains '$'"),
        ("`id`", "contains '`'"),
        ("it's", "contains '\\''"),
        ("-x", "starts with `-`, which `ip` would take for an option"),
        ("eth%d", "contains '%'"),
        ("é0", "contains 'é'"),
    ] {
        assert_error(&with_iface(name), "5:10", &format!("the interface name `{name}` {problem}"));
    }
    // A far end named in `link` is a device too.
    let text = "name = \"t\"\n[[host]]\nname = \"a\"\n  [[host.iface]]\n  name = \"e\"\n  link = \"b:$(id)\"\n[[host]]\nname = \"b\"\n";
    assert_error(text, "6:10", "the interface name `$(id)` contains '$'");
    let text = "name = \"t\"\n[[host]]\nname = \"a\"\nsysctl = { \"net.ipv4.conf.all.rp_filter\" = \"1\\u0000\", \"net.ipv4.conf.$(id).x\" = \"1\" }\n";
    assert_error(text, "4:44", "a sysctl value is one non-empty line");
    assert_error(text, "4:55", "the sysctl key `net.ipv4.conf.$(id).x` could reach outside /proc/sys/net");
}

#[test]
fn the_printed_plan_is_a_script_that_runs_nothing_it_was_not_asked_to() {
    let marker =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lab-pwned-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    // A key whose value is text (integer keys refuse such a value at validation already).
    let value = format!("reno $(touch {0}) `touch {0}`; touch {0} 'x'", marker.display());
    let text = format!(
        "name = \"t-quote\"\n[[host]]\nname = \"a\"\nsysctl = {{ \"net.ipv4.tcp_congestion_control\" = {value:?} }}\n  [[host.iface]]\n  name = \"e\"\n  link = \"b:e\"\n[[host]]\nname = \"b\"\n"
    );
    let path = write_temp("quote.toml", &text);
    let (code, plan, err) = lab(&["up", "--dry-run", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // The plan runs with `ip` and `bridge` doing nothing (but `ip netns exec` running its
    // command) and `sysctl` printing its arguments, one per line.
    let stubs = "ip() { if [ \"$1\" = netns ] && [ \"$2\" = exec ]; then shift 3; \"$@\"; fi; }\nbridge() { :; }\nsysctl() { for a in \"$@\"; do printf '%s\\n' \"$a\"; done; }\n";
    let out = Command::new("sh").args(["-ec", &format!("{stubs}{plan}")]).output().unwrap();
    assert!(out.status.success(), "{plan}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!marker.exists(), "the printed plan ran a command hidden in a value:\n{plan}");
    let args = String::from_utf8_lossy(&out.stdout);
    assert!(args.lines().any(|l| l == format!("net.ipv4.tcp_congestion_control={value}")), "{args}");
}

#[test]
fn control_characters_from_a_file_never_reach_the_terminal() {
    let text = "name = \"t-ctl\"\ndescription = \"a\\u001b[2J\\u001b]0;pwned\\u0007b\\r\"\n[[host]]\nname = \"a\"\n[[expect]]\nfrom = \"a\"\nto = \"10.0.0.9\"\nreach = true\nwhy = \"x\\u001b[31m\"\nbogus\u{1b}[1m = 1\n";
    let path = write_temp("ctl.toml", text);
    let (_, out, err) = lab(&["validate", path.to_str().unwrap()]);
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\r'), "{out:?}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    let checked = check(&text.replace("bogus\u{1b}[1m = 1\n", ""));
    let lab = checked.lab.expect("valid without the bad key");
    assert_eq!(lab.description.as_deref(), Some("a?[2J?]0;pwned?b?"));
    assert_eq!(lab.expectations[0].why.as_deref(), Some("x?[31m"));
}
