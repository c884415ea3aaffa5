//! `lab capture` and `lab verify --pcap`, read back by tshark (Debian's `tshark`) as the
//! independent witness: interface names, 802.1Q tags put back, directions, counts, filters,
//! a pipe into `tshark -r -`, and a clean stop on Ctrl-C.

mod common;

use common::kernel::{UpLab, lab};
use lab::model::KernelFeature::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn tshark(file: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args: Vec<String> = vec!["-r".into(), file.display().to_string(), "-T".into(), "fields".into()];
    for f in fields {
        args.extend(["-e".into(), f.to_string()]);
    }
    let out = Command::new("tshark")
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("tshark runs (Debian package `tshark`): {e}"));
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').map(String::from).collect()).collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Starts `lab capture ARGS`, and returns once it says it is capturing.
fn start_capture(args: &[&str], stdout: Stdio) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("capture")
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("lab capture starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.starts_with("capturing on "), "lab capture says it is capturing: {line}");
    (child, stderr)
}

fn rest(mut stderr: BufReader<std::process::ChildStderr>) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
    text
}

fn interrupt(child: &Child) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::SIGINT).unwrap();
}

fn e9() -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/e9-vlan-tagging.toml");
    std::fs::read_to_string(file).unwrap().replace("name = \"e9-vlan-tagging\"", "name = \"t-cap-e9\"")
}

kernel_test!(
    a_capture_of_e9_shows_tags_19_and_20_on_the_trunk,
    &[Veth, BridgeVlanFiltering, Vlan, Macvlan],
    {
        let up = UpLab::up(&e9());
        let file = scratch("e9.pcapng");
        let path = file.to_str().unwrap();
        let (child, stderr) =
            start_capture(&[&up.name, "docker1:eth1", "web1:eth0", "-w", path, "-f", "icmp"], Stdio::null());
        let (code, out, err) = lab(&["verify", &up.name]);
        assert_eq!(code, 0, "{out}{err}");
        interrupt(&child);
        let status = child.wait_with_output().unwrap().status;
        let said = rest(stderr);
        assert!(status.success(), "Ctrl-C stops a capture cleanly: {status:?} {said}");
        let rows = tshark(&file, &["frame.interface_name", "vlan.id", "icmp.type", "frame.p2p_dir"]);
        let trunk = |vlan: &str| rows.iter().filter(|r| r[0] == "docker1:eth1" && r[1] == vlan).count();
        assert!(
            trunk("19") >= 2 && trunk("20") >= 2,
            "echoes of web1 and web2 tagged 19 and 20 on the trunk:\n{rows:?}"
        );
        assert!(
            rows.iter().all(|r| r[2] == "0" || r[2] == "8"),
            "only ICMP echoes pass the filter: {rows:?}"
        );
        let web1: Vec<_> = rows.iter().filter(|r| r[0] == "web1:eth0").collect();
        assert!(
            !web1.is_empty() && web1.iter().all(|r| r[1].is_empty()),
            "web1's own frames are untagged: {web1:?}"
        );
        assert!(
            web1.iter().any(|r| r[3] == "1") && web1.iter().any(|r| r[3] == "0"),
            "both directions: {web1:?}"
        );
        let trunk_count = rows.iter().filter(|r| r[0] == "docker1:eth1").count();
        let tally =
            format!("{} frames: {trunk_count} on docker1:eth1, {} on web1:eth0", rows.len(), web1.len());
        assert!(said.contains(&tally), "the tally matches the file: wanted `{tally}` in {said}");
    }
);

kernel_test!(
    a_capture_pipes_into_tshark_and_stops_at_its_count,
    &[Veth, BridgeVlanFiltering, Vlan, Macvlan],
    {
        let up = UpLab::up(&e9().replace("t-cap-e9", "t-cap-pipe"));
        let (mut child, stderr) =
            start_capture(&[&up.name, "docker1:eth1", "-w", "-", "-c", "3", "-f", "vlan 20"], Stdio::piped());
        let reader = Command::new("tshark")
            .args(["-r", "-", "-T", "fields", "-e", "frame.interface_name", "-e", "vlan.id"])
            .stdin(child.stdout.take().unwrap())
            .stdout(Stdio::piped())
            .spawn()
            .expect("tshark runs (Debian package `tshark`)");
        let (code, out, err) = lab(&["verify", &up.name]);
        assert_eq!(code, 0, "{out}{err}");
        let status = child.wait().unwrap();
        assert!(status.success(), "{}", rest(stderr));
        let rows = String::from_utf8_lossy(&reader.wait_with_output().unwrap().stdout).to_string();
        assert_eq!(rows.lines().collect::<Vec<_>>(), ["docker1:eth1\t20"; 3], "three frames, all of VLAN 20");
    }
);

kernel_test!(verify_keeps_the_frames_of_a_failed_expectation, &[Veth, Bridge], {
    let up = UpLab::up(
        r#"name = "t-cap-fail"
[[switch]]
name = "sw1"
[[host]]
name = "a"
  [[host.iface]]
  name = "eth0"
  link = "sw1"
  addresses = ["10.0.0.1/24"]
[[host]]
name = "b"
  [[host.iface]]
  name = "eth0"
  link = "sw1"
  addresses = ["10.0.0.2/24"]
[[expect]]
from = "a"
to = "10.0.0.2"
reach = true
[[expect]]
from = "a"
to = "10.0.0.2"
reach = false
"#,
    );
    let dir = scratch("pcap-fail");
    let (code, _, err) = lab(&["verify", &up.name, "--pcap", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert_eq!(files, ["2.pcapng"], "only the failed expectation's frames are kept");
    let rows = tshark(&dir.join("2.pcapng"), &["frame.interface_name", "icmp.type"]);
    let seen = |at: &str, kind: &str| rows.iter().any(|r| r[0] == at && r[1] == kind);
    assert!(seen("a:eth0", "8") && seen("sw1:b-eth0", "8") && seen("b:eth0", "0"), "{rows:?}");
    let kept = format!("frames of expectation 2 (a → 10.0.0.2): {} in", rows.len());
    assert!(err.contains(&kept), "verify says how many frames it kept: {err}");
});

#[test]
fn capture_names_what_it_cannot_capture() {
    let (code, _, err) = lab(&["capture", "no-such-lab", "a:eth0"]);
    assert_eq!(code, 2);
    assert!(err.contains("lab `no-such-lab` is not up"), "{err}");
    let (code, _, err) = lab(&["capture", "x", "a:eth0", "-f", "icmp and vlen 3"]);
    assert_eq!(code, 2);
    assert!(err.contains("filter, column 10: `vlen` is no filter word"), "{err}");
}
