//! The full kernel that stays up: `lab up --sandbox`, the verbs that reach a lab inside it,
//! `lab sandbox shell|status|stop` (typed into tmux and read off its screen), its end with
//! its last lab, with its keeper, with its directory, and two users' sandboxes side by side.
//! Each test has a sandbox of its own: its own runtime directory (`XDG_RUNTIME_DIR`), so
//! the tests of this file, run in parallel, never share a kernel.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

/// One user's view: a runtime directory of its own, and the binary and topologies where
/// that user can reach them.
struct User {
    name: String,
    runtime: PathBuf,
    /// Where the binary and topology files were copied for an unprivileged user.
    shared: Option<PathBuf>,
    uid: u32,
}

impl User {
    fn root(test: &str) -> User {
        Self::at(test, std::env::temp_dir().join(format!("lab-sbx-{}-{test}", std::process::id())), 0)
    }

    /// Root, with a runtime directory under /run, as `$XDG_RUNTIME_DIR` is on a desktop.
    fn root_under_run(test: &str) -> User {
        Self::at(test, PathBuf::from(format!("/run/lab-sbx-{}-{test}", std::process::id())), 0)
    }

    fn nobody(test: &str) -> User {
        let mut user = Self::at(
            test,
            std::env::temp_dir().join(format!("lab-sbx-{}-{test}", std::process::id())),
            NOBODY,
        );
        let shared = std::env::temp_dir().join(format!("lab-sbx-{}-{test}-files", std::process::id()));
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_lab"), shared.join("lab")).unwrap();
        std::fs::copy(topology("e9-vlan-tagging"), shared.join("e9-vlan-tagging.toml")).unwrap();
        std::fs::set_permissions(shared.join("e9-vlan-tagging.toml"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        user.shared = Some(shared);
        user
    }

    fn at(test: &str, runtime: PathBuf, uid: u32) -> User {
        let _ = std::fs::remove_dir_all(&runtime);
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        nix::unistd::chown(&runtime, Some(uid.into()), Some(uid.into())).unwrap();
        User { name: test.into(), runtime, shared: None, uid }
    }

    fn binary(&self) -> PathBuf {
        match &self.shared {
            Some(shared) => shared.join("lab"),
            None => PathBuf::from(env!("CARGO_BIN_EXE_lab")),
        }
    }

    /// The e9 topology, where this user can read it.
    fn e9(&self) -> String {
        match &self.shared {
            Some(shared) => shared.join("e9-vlan-tagging.toml").display().to_string(),
            None => topology("e9-vlan-tagging").display().to_string(),
        }
    }

    fn command(&self) -> Command {
        let mut command = match self.uid {
            0 => Command::new(self.binary()),
            uid => {
                let mut c = Command::new("setpriv");
                c.args([&format!("--reuid={uid}"), &format!("--regid={uid}"), "--clear-groups", "--"]);
                c.arg(self.binary());
                c
            }
        };
        command.env("XDG_RUNTIME_DIR", &self.runtime).env_remove("LAB_SANDBOX");
        command
    }

    fn lab(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.command().args(args).stdin(Stdio::null()).output().expect("lab runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    fn home(&self) -> PathBuf {
        self.runtime.join("lab").join("sandbox")
    }

    /// This user's kernel processes: `linux.uml` whose directory is this user's sandbox.
    fn kernels(&self) -> Vec<i32> {
        let marker = format!("uml_dir={}", self.home().display());
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains("linux.uml") && cmdline.contains(&marker) {
                found.push(pid);
            }
        }
        found
    }

    /// Waits until none of this user's kernel processes is left (a kernel takes a moment
    /// to power off); says what was left if some remain after a minute.
    fn assert_no_kernel_left(&self, after: &str) {
        let begun = Instant::now();
        while !self.kernels().is_empty() {
            assert!(
                begun.elapsed() < Duration::from_secs(60),
                "{after}: kernel processes left: {:?}",
                self.kernels()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn status_json(&self) -> serde_json::Value {
        let (code, out, err) = self.lab(&["sandbox", "status", "--json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    fn keeper(&self) -> i32 {
        let text = std::fs::read_to_string(self.home().join("keeper")).unwrap();
        text.split_whitespace().next().unwrap().parse().unwrap()
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = self.lab(&["sandbox", "stop"]);
        for pid in self.kernels() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
        let _ = std::fs::remove_dir_all(&self.runtime);
        if let Some(shared) = &self.shared {
            let _ = std::fs::remove_dir_all(shared);
        }
        let _ = &self.name;
    }
}

fn topology(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies").join(format!("{name}.toml"))
}

fn host_namespaces() -> String {
    String::from_utf8_lossy(&Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).into()
}

#[test]
fn a_lab_up_in_the_sandbox_is_reached_by_every_verb_and_the_kernel_ends_with_the_last_lab() {
    let user = User::root("verbs");
    let e3 = topology("e3-macvlan-vepa").display().to_string();
    let (code, _, err) = user.lab(&["up", "--sandbox", &user.e9()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("booting the full kernel"), "{err}");
    assert!(err.contains("lab `e9-vlan-tagging` is up: 5 nodes"), "{err}");
    let (code, _, err) = user.lab(&["up", "--sandbox", &e3]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("booting"), "the second lab joins the kernel that is up: {err}");
    assert!(!host_namespaces().contains("e9-vlan-tagging-gw"), "the lab is inside, not on this kernel");

    // exec: the command's output on its own streams, its exit status, 127 for no command.
    let (code, out, err) = user.lab(&["exec", "e9-vlan-tagging", "gw", "--", "ip", "-br", "addr"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("eth0.19@eth0") && out.contains("10.10.90.1/24"), "{out}");
    let script = "echo out; echo err >&2; exit 7";
    let (code, out, err) = user.lab(&["exec", "e9-vlan-tagging", "gw", "--", "sh", "-c", script]);
    assert_eq!((code, out.as_str(), err.as_str()), (7, "out\n", "err\n"));
    let (code, _, err) = user.lab(&["exec", "e9-vlan-tagging", "gw", "--", "nosuchcommand"]);
    assert_eq!(code, 127, "{err}");
    let (code, out, _) =
        user.lab(&["exec", "--json", "e9-vlan-tagging", "gw", "--", "sh", "-c", "echo hi; exit 3"]);
    assert_eq!(code, 3);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((json["exit"].as_i64(), json["stdout"].as_str()), (Some(3), Some("hi\n")));

    // verify by name and by file, as JSON too.
    let (code, out, err) = user.lab(&["verify", "e9-vlan-tagging"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("3 of 3 expectations passed") || err.contains("3 of 3 expectations passed"),
        "{out}{err}"
    );
    let (code, out, err) = user.lab(&["verify", "--json", &e3]);
    assert_eq!(code, 0, "{out}{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["lab"], "e3-vepa", "{out}");
    assert!(json["steps"][0]["outcomes"].as_array().is_some_and(|o| o.len() > 2), "{out}");

    // ls: both labs, in the sandbox; ls LAB: the nodes.
    let (code, out, _) = user.lab(&["ls"]);
    assert_eq!(code, 0);
    let row = out.lines().find(|l| l.contains("e9-vlan-tagging")).unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("sandbox"), "{out}");
    let (_, out, _) = user.lab(&["ls", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let places: Vec<(&str, &str)> =
        rows.iter().map(|r| (r["lab"].as_str().unwrap(), r["place"].as_str().unwrap())).collect();
    assert!(
        places.contains(&("e3-vepa", "sandbox")) && places.contains(&("e9-vlan-tagging", "sandbox")),
        "{out}"
    );
    let (code, out, err) = user.lab(&["ls", "e9-vlan-tagging"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("docker1") && out.contains("eth0.19"), "{out}");
    let status = user.status_json();
    assert_eq!(status["labs"], serde_json::json!(["e3-vepa", "e9-vlan-tagging"]), "{status}");
    assert!(status["memory_kib"].as_u64().unwrap() > 0, "{status}");

    // An `up` on this kernel of a lab that is in the sandbox is refused.
    let (code, _, err) = user.lab(&["up", &user.e9()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is up in the sandbox"), "{err}");

    // down: the first leaves the kernel up, the last ends it and its directory.
    let (code, _, err) = user.lab(&["down", &e3]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("lab `e3-vepa` is down") && !err.contains("kernel stops"), "{err}");
    assert_eq!(user.status_json()["up"], true);
    let (code, _, err) = user.lab(&["down", "e9-vlan-tagging"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no lab is left in the sandbox: its kernel stops"), "{err}");
    user.assert_no_kernel_left("the last lab went down");
    let begun = Instant::now();
    while user.home().exists() {
        assert!(begun.elapsed() < Duration::from_secs(30), "the sandbox's directory stays");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(user.status_json()["up"], false);
    let (code, _, err) = user.lab(&["down", "e9-vlan-tagging"]);
    assert_eq!(code, 0);
    assert!(err.contains("is not up"), "{err}");
}

/// A tmux session of its own (its own server socket), whose screen is read back.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(user: &User, name: &str) -> Tmux {
        let tmux = Tmux { socket: format!("lab-test-{}-{name}", std::process::id()) };
        let runtime = format!("XDG_RUNTIME_DIR={}", user.runtime.display());
        let status = Command::new("tmux")
            .args(["-L", &tmux.socket, "-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30"])
            .args(["-e", &runtime, "PS1='host$ ' exec sh"])
            .status()
            .expect("tmux runs (apt-get install tmux)");
        assert!(status.success());
        tmux
    }

    fn type_line(&self, line: &str) {
        let status =
            Command::new("tmux").args(["-L", &self.socket, "send-keys", "-l", line]).status().unwrap();
        assert!(status.success());
        self.keys(&["Enter"]);
    }

    fn keys(&self, keys: &[&str]) {
        let status =
            Command::new("tmux").args(["-L", &self.socket, "send-keys"]).args(keys).status().unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-S", "-200"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into()
    }

    /// Waits until the screen shows `text` (at most two minutes: a boot on a busy machine).
    fn wait_for(&self, text: &str) -> String {
        let begun = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                begun.elapsed() < Duration::from_secs(120),
                "the screen never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn resize(&self, cols: u16, rows: u16) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "resize-window", "-x", &cols.to_string(), "-y", &rows.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
    }
}

#[test]
fn the_sandbox_shell_is_a_root_terminal_inside_typed_into_and_read_off_the_screen() {
    let user = User::root("shell");
    let tmux = Tmux::start(&user, "shell");
    let lab = user.binary().display().to_string();
    tmux.type_line(&format!("cd {} && {lab} sandbox shell", env!("CARGO_MANIFEST_DIR")));
    tmux.wait_for("booting the full kernel");
    tmux.wait_for("(lab sandbox)root@lab-sandbox:");
    // The kernel's own commands, the terminal's size, lab on the PATH.
    tmux.type_line(
        "echo sum=$((6*7)); stty size; uname -r; command -v lab ip bridge tcpdump ping; echo end=$((1+1))",
    );
    tmux.wait_for("sum=42");
    let screen = tmux.wait_for("end=2");
    assert!(screen.contains(&format!("{lab}\n")), "{screen}");
    assert!(screen.contains("30 100"), "the size of the tmux window:\n{screen}");
    assert!(screen.contains("/usr/sbin/tcpdump") || screen.contains("/usr/bin/tcpdump"), "{screen}");
    // A lab made inside the shell is the sandbox's, for the host's verbs too.
    tmux.type_line("clear; lab up -q topologies/e9-vlan-tagging.toml && ip netns list | wc -l");
    tmux.wait_for("lab `e9-vlan-tagging` is up: 5 nodes");
    // Ctrl-C reaches the command in the foreground inside.
    tmux.type_line("clear; lab exec e9-vlan-tagging docker1 -- ping 10.10.90.1");
    tmux.wait_for("bytes from 10.10.90.1");
    tmux.keys(&["C-c"]);
    let screen = tmux.wait_for("packet loss");
    assert!(screen.contains("ping statistics"), "{screen}");
    // The window's new size follows into the shell.
    tmux.resize(90, 25);
    tmux.type_line("clear; stty size");
    tmux.wait_for("25 90");
    let begun = Instant::now();
    loop {
        let (_, out, _) = user.lab(&["ls"]);
        if out.contains("e9-vlan-tagging") {
            assert!(out.contains("sandbox"), "{out}");
            break;
        }
        assert!(begun.elapsed() < Duration::from_secs(30), "the lab made in the shell is not listed: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Leaving the shell gives its status to the terminal outside; the lab stays up.
    tmux.type_line("exit 5");
    tmux.wait_for("exit\nhost$");
    tmux.type_line("echo status=$?");
    tmux.wait_for("status=5");
    let (code, out, err) =
        user.lab(&["exec", "e9-vlan-tagging", "gw", "--", "ip", "-br", "link", "show", "eth0.20"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("eth0.20@eth0"), "{out}");
    // `lab exec` typed at a terminal runs on a terminal inside: tcpdump shows its frames
    // until Ctrl-C, and its summary after.
    tmux.type_line(&format!("clear; {lab} exec e9-vlan-tagging gw -- tcpdump -eni eth0 vlan"));
    tmux.wait_for("listening on eth0");
    let (code, _, err) =
        user.lab(&["exec", "e9-vlan-tagging", "docker1", "--", "ping", "-c", "1", "10.10.90.1"]);
    assert_eq!(code, 0, "{err}");
    tmux.wait_for("vlan 19");
    tmux.keys(&["C-c"]);
    tmux.wait_for("packets captured");
    let (code, _, err) = user.lab(&["sandbox", "stop"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("the sandbox is stopped: lab `e9-vlan-tagging` went with it"), "{err}");
    user.assert_no_kernel_left("sandbox stop");
}

#[test]
fn signals_reach_the_command_inside_and_a_killed_client_hangs_it_up() {
    // A runtime directory under /run, as a desktop's is: the kernel's own /run hides it,
    // and the sandbox must see it again.
    let user = User::root_under_run("signals");
    let (code, _, err) = user.lab(&["up", "--sandbox", &user.e9()]);
    assert_eq!(code, 0, "{err}");
    let running = |jobs: u64| {
        let begun = Instant::now();
        while user.status_json()["jobs"].as_u64() != Some(jobs) {
            assert!(begun.elapsed() < Duration::from_secs(60), "never {jobs} jobs: {}", user.status_json());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let sleeper =
        || user.command().args(["exec", "e9-vlan-tagging", "gw", "--", "sleep", "300"]).spawn().unwrap();
    let mut client = sleeper();
    running(1);
    let pid = nix::unistd::Pid::from_raw(client.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::SIGINT).unwrap();
    let status = client.wait().unwrap();
    assert_eq!(status.code(), Some(130), "sleep ended by the SIGINT it was given");
    running(0);
    let mut client = sleeper();
    running(1);
    client.kill().unwrap();
    client.wait().unwrap();
    running(0);
    // The one-shot sandbox sees such a runtime directory too.
    let (code, out, err) = user.lab(&["run", "--sandbox", "-q", &user.e9()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("3 of 3 expectations passed") || err.contains("3 of 3 expectations passed"),
        "{out}{err}"
    );
    let (code, _, err) = user.lab(&["sandbox", "stop"]);
    assert_eq!(code, 0, "{err}");
    user.assert_no_kernel_left("sandbox stop");
}

#[test]
fn two_users_sandboxes_never_meet_and_a_kernel_never_outlives_its_keeper_or_directory() {
    assert!(nix::unistd::geteuid().is_root(), "this test runs a second user: run the suite as root");
    let nobody = User::nobody("nobody");
    let root = User::root("owner");
    let (code, _, err) = nobody.lab(&["up", "--sandbox", &nobody.e9()]);
    assert_eq!(code, 0, "without root: {err}");
    assert_eq!(root.status_json()["up"], false, "root does not see nobody's sandbox");
    let (code, _, err) = root.lab(&["up", "--sandbox", &root.e9()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("booting"), "root gets a kernel of its own: {err}");
    for (user, file) in [(&nobody, nobody.e9()), (&root, root.e9())] {
        let (_, out, _) = user.lab(&["ls", "--json"]);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        let topologies: Vec<&str> = rows.iter().filter_map(|r| r["topology"].as_str()).collect();
        assert_eq!(topologies, [file.as_str()], "each user lists only its own lab");
        let (code, out, err) = user.lab(&["exec", "e9-vlan-tagging", "gw", "--", "id", "-u"]);
        assert_eq!((code, out.trim()), (0, "0"), "root inside: {err}");
    }
    use std::os::unix::fs::MetadataExt;
    for pid in nobody.kernels() {
        assert_eq!(
            std::fs::metadata(format!("/proc/{pid}")).unwrap().uid(),
            NOBODY,
            "nobody's kernel is nobody's"
        );
    }
    let home = std::fs::metadata(nobody.home()).unwrap();
    assert_eq!((home.uid(), home.mode() & 0o777), (NOBODY, 0o700));
    // A keeper killed outright takes its whole kernel with it.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(nobody.keeper()), nix::sys::signal::SIGKILL).unwrap();
    nobody.assert_no_kernel_left("the keeper was killed");
    assert_eq!(nobody.status_json()["up"], false);
    assert_eq!(root.status_json()["up"], true, "root's sandbox is untouched");
    // The owner's runtime directory removed (a logout): the kernel stops.
    assert!(!root.kernels().is_empty());
    std::fs::remove_dir_all(root.home()).unwrap();
    root.assert_no_kernel_left("the sandbox's directory was removed");
}
