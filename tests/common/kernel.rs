//! Kernel tests: a test body runs as root on a kernel that has every link kind it needs,
//! natively when this kernel does (and we are root), otherwise inside lab's sandbox (user-mode
//! Linux), where the test binary re-runs just that test. A test that cannot run fails.

use lab::model::KernelFeature;
use std::process::Command;
use std::sync::OnceLock;

/// Every feature of every kind: most tests of the suite want them all.
pub const ALL: All = All;

pub struct All;

impl AsRef<[KernelFeature]> for All {
    fn as_ref(&self) -> &[KernelFeature] {
        static ALL: OnceLock<Vec<KernelFeature>> = OnceLock::new();
        ALL.get_or_init(KernelFeature::all)
    }
}

fn native_features() -> &'static Vec<(KernelFeature, bool)> {
    static FEATURES: OnceLock<Vec<(KernelFeature, bool)>> = OnceLock::new();
    FEATURES.get_or_init(|| lab::kernel::features::probe(ALL.as_ref()).unwrap_or_default())
}

fn runs_natively(needs: &[KernelFeature]) -> bool {
    if lab::sandbox::inside() {
        return true;
    }
    let root = nix::unistd::geteuid().is_root();
    root && needs.iter().all(|n| native_features().iter().any(|(f, have)| f == n && *have))
}

/// Runs `body` on a kernel with `needs`; `name` is the test's own name (for the re-run).
pub fn on_kernel(name: &str, needs: impl AsRef<[KernelFeature]>, body: impl FnOnce()) {
    let needs = needs.as_ref();
    if runs_natively(needs) {
        body();
        return;
    }
    if let Err(e) = lab::sandbox::available() {
        panic!("kernel test `{name}` cannot run: this kernel lacks {needs:?} (or we are not root), and {e}");
    }
    let exe = std::env::current_exe().expect("the test binary knows its path").display().to_string();
    let command: Vec<String> =
        [exe.as_str(), "--exact", name, "--nocapture", "--test-threads=1"].map(String::from).into();
    let cwd = std::env::current_dir().expect("a working directory");
    let out = lab::sandbox::Sandbox::default()
        .run(&command, &cwd)
        .unwrap_or_else(|e| panic!("sandbox for `{name}`: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- `{name}` in the sandbox ({:.1} s) ---\n{stdout}{stderr}", out.elapsed.as_secs_f64());
    assert!(
        out.status == 0 && stdout.contains("1 passed"),
        "`{name}` failed in the sandbox (exit {})",
        out.status
    );
}

/// `kernel_test!(name, needs, { body })`: a #[test] that runs its body on a fitting kernel.
#[macro_export]
macro_rules! kernel_test {
    ($name:ident, $needs:expr, $body:block) => {
        #[test]
        fn $name() {
            $crate::common::kernel::on_kernel(stringify!($name), $needs, || $body);
        }
    };
}

/// The `lab` binary, with its exit status and output.
pub fn lab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lab")).args(args).output().expect("lab runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `lab verify --json LAB`: the exit status and each outcome, in file order.
pub fn verify_json(lab_name: &str) -> (i32, Vec<serde_json::Value>) {
    let (code, out, err) = lab(&["verify", "--json", lab_name]);
    let parsed: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("JSON from verify ({e}): {out}{err}"));
    (code, parsed["outcomes"].as_array().unwrap().clone())
}

/// Outcome `number` (from 1): whether it passed, and what was observed.
pub fn observed(outcomes: &[serde_json::Value], number: usize) -> (bool, String) {
    let o = &outcomes[number - 1];
    (o["passed"] == true, o["observed"].as_str().unwrap().to_string())
}

/// A lab that is up for the length of a test; `down` when dropped, even on panic.
pub struct UpLab {
    pub name: String,
}

impl UpLab {
    /// Brings up the topology `text` (its `name = "..."` must be unique to the test).
    pub fn up(text: &str) -> UpLab {
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("a lab name")
            .to_string();
        let path = write_topology(&name, text);
        let (code, out, err) = lab(&["up", "-q", path.to_str().unwrap()]);
        let up = UpLab { name };
        assert_eq!(code, 0, "lab up failed:\n{out}{err}");
        up
    }

    pub fn netns(&self, node: &str) -> String {
        lab::model::netns_name(&self.name, node)
    }
}

impl Drop for UpLab {
    fn drop(&mut self) {
        let (code, _, err) = lab(&["down", &self.name]);
        if code != 0 && !std::thread::panicking() {
            panic!("lab down {} failed: {err}", self.name);
        }
    }
}

pub fn write_topology(name: &str, text: &str) -> std::path::PathBuf {
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lab-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The independent witness: `ip` or `bridge` with JSON output.
pub fn witness(tool: &str, args: &[&str]) -> serde_json::Value {
    let out =
        Command::new(tool).args(args).output().unwrap_or_else(|e| panic!("{tool} runs (iproute2): {e}"));
    assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{tool} {args:?} prints JSON: {e}"))
}

/// `ip -n NS -d -j link show DEV`
pub fn link(ns: &str, dev: &str) -> serde_json::Value {
    witness("ip", &["-n", ns, "-d", "-j", "link", "show", "dev", dev])[0].clone()
}

/// Network namespaces on the machine, as `ip netns` lists them.
pub fn namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

/// Names of the links in the root namespace.
pub fn root_links() -> Vec<String> {
    witness("ip", &["-j", "link", "show"])
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect()
}

/// Reads a file inside a namespace (a sysctl), through `ip netns exec`.
pub fn read_in(ns: &str, path: &str) -> String {
    let out = Command::new("ip").args(["netns", "exec", ns, "cat", path]).output().expect("ip runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
