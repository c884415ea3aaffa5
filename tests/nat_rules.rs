//! NAT rules installed by `kernel::nftables`, natively (as root, on a kernel with nf_tables
//! NAT for IPv4), in namespaces this test makes with `ip` and always deletes: what
//! `nft list ruleset` (the independent witness) shows is the ruleset's own script; a refused
//! batch leaves nothing; and connections go where the rules send them.

use lab::kernel::{netns, nftables};
use lab::nat::{self, Action, Chain, Hook, L4, Masquerade, Match, Nat, Publish, Rule, Ruleset};
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// A namespace made with `ip netns add`, deleted when dropped, also when the test fails.
struct Namespace {
    name: String,
}

impl Namespace {
    fn new(role: &str) -> Namespace {
        assert!(nix::unistd::geteuid().is_root(), "NAT rules are tested natively, as root");
        let name = format!("lab-t-nat-{}-{role}", std::process::id());
        run("ip", &["netns", "add", &name]);
        Namespace { name }
    }

    fn file(&self) -> File {
        netns::open(&self.name).expect("the namespace just made")
    }

    /// `ip netns exec NAME COMMAND...`, which must succeed; its output.
    fn exec(&self, command: &[&str]) -> String {
        run("ip", &[&["netns", "exec", &self.name], command].concat())
    }

    fn nft_list(&self) -> String {
        without_counts(&self.exec(&["nft", "list", "ruleset"]))
    }

    /// Installs `ruleset` from a thread inside this namespace.
    fn install(&self, ruleset: &Ruleset) -> Result<(), nftables::Error> {
        netns::run_in(&self.file(), || Ok(nftables::install(ruleset))).expect("a thread in the namespace")
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect("the command runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{program} {}: {stderr}", args.join(" "));
    String::from_utf8(out.stdout).expect("text")
}

/// `counter packets N bytes M` as `counter`, the way a script says it.
fn without_counts(listing: &str) -> String {
    let mut text = listing.to_string();
    while let Some(at) = text.find("counter packets ") {
        let rest = &text[at + "counter packets ".len()..];
        let bytes = rest.find(" bytes ").expect("bytes follow packets") + " bytes ".len();
        let digits = rest[bytes..].find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len() - bytes);
        let end = at + "counter packets ".len() + bytes + digits;
        text.replace_range(at..end, "counter");
    }
    text
}

fn assert_supported() {
    assert!(
        nftables::supported().expect("probing nf_tables"),
        "this kernel has no nf_tables NAT for IPv4: these tests run natively where it has"
    );
}

/// Docker's default bridge on `bridge`, port 8080 published to the container's 80.
fn docker(bridge: &str, localhost: bool) -> Nat {
    Nat {
        masquerade: vec![Masquerade {
            from: "172.17.0.0/16".parse().unwrap(),
            out: None,
            out_not: Some(bridge.to_string()),
        }],
        publish: vec![Publish {
            proto: L4::Tcp,
            port: 8080,
            host_ip: None,
            to: Ipv4Addr::new(172, 17, 0, 2),
            to_port: 80,
        }],
        hairpin: vec!["172.17.0.0/16".parse().unwrap()],
        localhost,
    }
}

/// Every match and action: both output guards' cases are in `docker`.
fn everything() -> Nat {
    let mut nat = docker("docker0", false);
    nat.masquerade.push(Masquerade {
        from: "10.1.2.3/8".parse().unwrap(),
        out: Some("eth0".into()),
        out_not: None,
    });
    nat.publish.push(Publish {
        proto: L4::Udp,
        port: 53,
        host_ip: Some(Ipv4Addr::new(192, 0, 2, 1)),
        to: Ipv4Addr::new(172, 17, 0, 3),
        to_port: 5353,
    });
    nat
}

#[test]
fn nft_lists_what_was_installed_and_no_other_table_changes() {
    assert_supported();
    for (role, nat) in [("docker", docker("docker0", true)), ("all", everything())] {
        let ns = Namespace::new(role);
        ns.exec(&["nft", "add", "table", "ip", "other"]);
        ns.exec(&["nft", "add", "chain", "ip", "other", "c", "{ type nat hook postrouting priority 50; }"]);
        ns.exec(&["nft", "add", "rule", "ip", "other", "c", "ip saddr 10.9.0.0/16 counter masquerade"]);
        let before = ns.nft_list();
        let ruleset = nat::ruleset(&nat);
        let started = Instant::now();
        ns.install(&ruleset).expect("installing");
        println!("{role}: installed {} chains in {:?}", ruleset.chains.len(), started.elapsed());
        assert_eq!(ns.nft_list(), format!("{before}{ruleset}"), "{role}");
    }
}

#[test]
fn installing_the_docker_ruleset_takes() {
    assert_supported();
    let ruleset = nat::ruleset(&docker("docker0", true));
    let mut times: Vec<Duration> = (0..50)
        .map(|_| {
            netns::run_in_throwaway(|| {
                let started = Instant::now();
                nftables::install(&ruleset).map_err(io::Error::other)?;
                Ok(started.elapsed())
            })
            .expect("installing")
        })
        .collect();
    times.sort();
    println!("docker ruleset, 50 installs: min {:?}, median {:?}, max {:?}", times[0], times[25], times[49]);
}

#[test]
fn a_thousand_published_ports_install_in_one_batch() {
    assert_supported();
    let ns = Namespace::new("many");
    let publish = |port| Publish {
        proto: L4::Tcp,
        port,
        host_ip: None,
        to: Ipv4Addr::new(172, 17, 0, 2),
        to_port: port,
    };
    let nat = Nat { publish: (1..=1000).map(publish).collect(), ..docker("docker0", false) };
    let ruleset = nat::ruleset(&nat);
    let started = Instant::now();
    ns.install(&ruleset).expect("installing");
    let rules: usize = ruleset.chains.iter().map(|c| c.rules.len()).sum();
    println!("1000 published ports: installed {rules} rules in {:?}", started.elapsed());
    assert_eq!(ns.nft_list(), ruleset.to_string());
}

#[test]
fn a_second_install_is_refused_at_the_table_and_changes_nothing() {
    assert_supported();
    let ns = Namespace::new("twice");
    let ruleset = nat::ruleset(&docker("docker0", false));
    ns.install(&ruleset).expect("the first install");
    let error = ns.install(&ruleset).expect_err("the second install");
    assert_eq!(error.to_string(), "adding table ip lab: file exists (os error 17)");
    assert_eq!(ns.nft_list(), ruleset.to_string());
}

#[test]
fn a_refused_rule_is_named_and_nothing_is_installed() {
    assert_supported();
    let ns = Namespace::new("refused");
    let masquerade = Rule { matches: vec![], action: Action::Masquerade };
    let dnat_after_routing = Rule {
        matches: vec![Match::DestLocal],
        action: Action::Dnat { addr: Ipv4Addr::new(192, 0, 2, 2), port: 80 },
    };
    let ruleset = Ruleset {
        chains: vec![Chain {
            hook: Hook::Postrouting,
            rules: vec![masquerade.clone(), dnat_after_routing, masquerade],
        }],
    };
    let error = ns.install(&ruleset).expect_err("DNAT is refused in postrouting");
    assert_eq!(
        error.to_string(),
        "adding rule 2 of chain postrouting: operation not supported (os error 95)"
    );
    assert_eq!(ns.nft_list(), "", "the whole batch was refused");
}

/// A host with Docker's NAT between a client (192.0.2.2, on ext0 192.0.2.1/24) and a
/// container (172.17.0.2, on veth0 172.17.0.1/16): who each connection reaches, and as whom.
#[test]
fn connections_go_where_the_rules_send_them() {
    assert_supported();
    let (host, container, client) = (Namespace::new("host"), Namespace::new("ctr"), Namespace::new("client"));
    let ip = |ns: &Namespace, args: &str| {
        run("ip", &[&["-n", &ns.name], &args.split(' ').collect::<Vec<_>>()[..]].concat())
    };
    ip(&host, &format!("link add veth0 type veth peer name eth0 netns {}", container.name));
    ip(&host, &format!("link add ext0 type veth peer name eth0 netns {}", client.name));
    for (ns, dev, address, gateway) in [
        (&host, "veth0", "172.17.0.1/16", None),
        (&host, "ext0", "192.0.2.1/24", None),
        (&container, "eth0", "172.17.0.2/16", Some("172.17.0.1")),
        (&client, "eth0", "192.0.2.2/24", Some("192.0.2.1")),
    ] {
        ip(ns, &format!("address add {address} dev {dev}"));
        ip(ns, &format!("link set {dev} up"));
        ip(ns, "link set lo up");
        if let Some(gateway) = gateway {
            ip(ns, &format!("route replace default via {gateway}"));
        }
    }
    host.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.route_localnet=1"]);
    host.install(&nat::ruleset(&docker("veth0", true))).expect("installing");

    let service = listen(&container, 80);
    let outside = listen(&client, 9000);
    let published = "192.0.2.1:8080";
    // client -> host's address: DNAT in prerouting; the container sees the client.
    assert_eq!(connect(&client, published, &service), "192.0.2.2");
    // host -> its own address: DNAT in output; seen from that address.
    assert_eq!(connect(&host, published, &service), "192.0.2.1");
    // host -> 127.0.0.1: DNAT in output without the loopback guard, then masqueraded.
    assert_eq!(connect(&host, "127.0.0.1:8080", &service), "172.17.0.1");
    // container -> its own published port: hairpin, masqueraded so that it answers the host.
    assert_eq!(connect(&container, published, &service), "172.17.0.1");
    // container -> outside: masqueraded behind the host's outgoing address.
    assert_eq!(connect(&container, "192.0.2.2:9000", &outside), "192.0.2.1");
}

/// A listener made inside `ns` (a socket stays in the namespace it was made in).
fn listen(ns: &Namespace, port: u16) -> TcpListener {
    netns::run_in(&ns.file(), || TcpListener::bind(("0.0.0.0", port))).expect("listening")
}

/// Connects from inside `ns` to `to`, which `listener` must answer: the address it saw.
fn connect(ns: &Namespace, to: &str, listener: &TcpListener) -> String {
    let to: SocketAddr = to.parse().unwrap();
    netns::run_in(&ns.file(), || TcpStream::connect_timeout(&to, Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("connecting from {} to {to}: {e}", ns.name));
    let (_, peer) = listener.accept().expect("the connection was made, so it is queued");
    peer.ip().to_string()
}
