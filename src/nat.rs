//! A node's NAT (IPv4 only): what the topology asks for, and the nf_tables ruleset that
//! does it, as data. The ruleset prints as the `nft -f -` script that `nft list ruleset`
//! shows for it once installed (counters aside); `kernel::nftables` installs it.

pub use crate::model::L4;
use ipnet::Ipv4Net;
use serde::Serialize;
use std::fmt;
use std::net::Ipv4Addr;

/// A node's NAT, as the topology asks it (IPv4 only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Nat {
    pub masquerade: Vec<Masquerade>,
    pub publish: Vec<Publish>,
    /// Subnets whose DNATed traffic back into themselves is masqueraded (Docker's hairpin):
    /// `ct status dnat ip saddr NET ip daddr NET masquerade`.
    pub hairpin: Vec<Ipv4Net>,
    /// The node reaches its published ports at 127.0.0.1 too: DNAT in output without the
    /// `ip daddr != 127.0.0.0/8` guard, and `ct status dnat ip saddr 127.0.0.0/8 masquerade`
    /// (the caller also sets route_localnet=1).
    pub localhost: bool,
}

/// `ip saddr FROM [oifname OUT | oifname != OUT_NOT] masquerade`
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Masquerade {
    pub from: Ipv4Net,
    pub out: Option<String>,
    pub out_not: Option<String>,
}

/// A port of the node published at another address: `PROTO dport PORT dnat to TO:TO_PORT`
/// for traffic to one of the node's own addresses (only `host_ip`, when given).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Publish {
    pub proto: L4,
    pub port: u16,
    pub host_ip: Option<Ipv4Addr>,
    pub to: Ipv4Addr,
    pub to_port: u16,
}

/// The one table of a node's NAT, `ip lab`: each node is a namespace of its own.
pub const TABLE: &str = "lab";

/// Loopback, which traffic from outside never comes from or goes to.
const LOOPBACK: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8);

/// Table `ip lab` with its base chains, each only if it has rules, in hook order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ruleset {
    pub chains: Vec<Chain>,
}

/// A base chain of type nat, named for its hook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Chain {
    pub hook: Hook,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    Prerouting,
    Output,
    Postrouting,
}

impl Hook {
    /// The chain's name, which is the hook's.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }

    /// dstnat (-100) before routing and on output, srcnat (100) after.
    pub fn priority(self) -> i32 {
        match self {
            Hook::Prerouting | Hook::Output => -100,
            Hook::Postrouting => 100,
        }
    }

    /// The priority as `nft list` prints it: by name where nft 1.0.6 has one for the hook.
    fn priority_text(self) -> String {
        match self {
            Hook::Prerouting => "dstnat".to_string(),
            Hook::Postrouting => "srcnat".to_string(),
            Hook::Output => self.priority().to_string(),
        }
    }
}

/// Matches, all of which a packet must pass, then a counter, then the action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub matches: Vec<Match>,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// `ip saddr NET`
    SourceIn(Ipv4Net),
    /// `ip daddr NET`
    DestIn(Ipv4Net),
    /// `ip daddr != NET`
    DestNotIn(Ipv4Net),
    /// `fib daddr type local`: to one of the namespace's own addresses.
    DestLocal,
    /// `ct status dnat`: a connection whose destination was translated.
    Dnatted,
    /// `PROTO dport PORT`
    Port { proto: L4, port: u16 },
    /// `oifname [!=] "NAME"`
    OutIface { name: String, negated: bool },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `dnat to ADDR:PORT`
    Dnat { addr: Ipv4Addr, port: u16 },
    /// `masquerade`
    Masquerade,
}

/// The ruleset that does `nat`.
pub fn ruleset(nat: &Nat) -> Ruleset {
    let chains = [
        (Hook::Prerouting, nat.publish.iter().map(|p| published(p, &[])).collect()),
        (Hook::Output, nat.publish.iter().map(|p| published(p, &output_guard(nat))).collect()),
        (Hook::Postrouting, postrouting(nat)),
    ];
    Ruleset {
        chains: chains
            .into_iter()
            .filter(|(_, rules): &(Hook, Vec<Rule>)| !rules.is_empty())
            .map(|(hook, rules)| Chain { hook, rules })
            .collect(),
    }
}

/// What keeps the node's own connections to loopback from being DNATed, unless it asked
/// to reach its published ports at 127.0.0.1.
fn output_guard(nat: &Nat) -> Vec<Match> {
    if nat.localhost { Vec::new() } else { vec![Match::DestNotIn(LOOPBACK)] }
}

/// `[GUARD] fib daddr type local [ip daddr HOST_IP] PROTO dport PORT dnat to TO:TO_PORT`
fn published(publish: &Publish, guard: &[Match]) -> Rule {
    let mut matches = guard.to_vec();
    matches.push(Match::DestLocal);
    matches.extend(publish.host_ip.map(|ip| Match::DestIn(Ipv4Net::from(ip))));
    matches.push(Match::Port { proto: publish.proto, port: publish.port });
    Rule { matches, action: Action::Dnat { addr: publish.to, port: publish.to_port } }
}

/// Masquerades, then hairpins, then loopback's masquerade.
fn postrouting(nat: &Nat) -> Vec<Rule> {
    let masquerade = |matches| Rule { matches, action: Action::Masquerade };
    let masquerades = nat.masquerade.iter().map(|m| masquerade(masquerade_matches(m)));
    let hairpins = nat.hairpin.iter().map(|net| {
        masquerade(vec![Match::Dnatted, Match::SourceIn(net.trunc()), Match::DestIn(net.trunc())])
    });
    let localhost = nat.localhost.then(|| masquerade(vec![Match::Dnatted, Match::SourceIn(LOOPBACK)]));
    masquerades.chain(hairpins).chain(localhost).collect()
}

fn masquerade_matches(masquerade: &Masquerade) -> Vec<Match> {
    let out = masquerade.out.iter().map(|name| Match::OutIface { name: name.clone(), negated: false });
    let out_not = masquerade.out_not.iter().map(|name| Match::OutIface { name: name.clone(), negated: true });
    std::iter::once(Match::SourceIn(masquerade.from.trunc())).chain(out).chain(out_not).collect()
}

/// A network as nft prints it: a single address without its /32.
struct Net(Ipv4Net);

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0.prefix_len() {
            32 => write!(f, "{}", self.0.addr()),
            _ => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Match::SourceIn(net) => write!(f, "ip saddr {}", Net(*net)),
            Match::DestIn(net) => write!(f, "ip daddr {}", Net(*net)),
            Match::DestNotIn(net) => write!(f, "ip daddr != {}", Net(*net)),
            Match::DestLocal => write!(f, "fib daddr type local"),
            Match::Dnatted => write!(f, "ct status dnat"),
            Match::Port { proto, port } => write!(f, "{} dport {port}", proto.as_str()),
            Match::OutIface { name, negated: false } => write!(f, "oifname \"{name}\""),
            Match::OutIface { name, negated: true } => write!(f, "oifname != \"{name}\""),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Action::Dnat { addr, port } => write!(f, "dnat to {addr}:{port}"),
            Action::Masquerade => write!(f, "masquerade"),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for matched in &self.matches {
            write!(f, "{matched} ")?;
        }
        write!(f, "counter {}", self.action)
    }
}

/// The chains are separated by an empty line and indented by tabs, as `nft list` does.
impl fmt::Display for Ruleset {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        writeln!(f, "table ip {TABLE} {{")?;
        for (i, chain) in self.chains.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let hook = chain.hook;
            writeln!(f, "\tchain {} {{", hook.name())?;
            writeln!(
                f,
                "\t\ttype nat hook {} priority {}; policy accept;",
                hook.name(),
                hook.priority_text()
            )?;
            for rule in &chain.rules {
                writeln!(f, "\t\t{rule}")?;
            }
            writeln!(f, "\t}}")?;
        }
        writeln!(f, "}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docker's default bridge with port 8080 published to a container's 80, reachable at
    /// 127.0.0.1 too.
    fn docker() -> Nat {
        Nat {
            masquerade: vec![Masquerade {
                from: "172.17.0.0/16".parse().unwrap(),
                out: None,
                out_not: Some("docker0".to_string()),
            }],
            publish: vec![Publish {
                proto: L4::Tcp,
                port: 8080,
                host_ip: None,
                to: Ipv4Addr::new(172, 17, 0, 2),
                to_port: 80,
            }],
            hairpin: vec!["172.17.0.0/16".parse().unwrap()],
            localhost: true,
        }
    }

    #[test]
    fn docker_prints_as_nft_lists_it() {
        let expected = "\
table ip lab {
\tchain prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tfib daddr type local tcp dport 8080 counter dnat to 172.17.0.2:80
\t}

\tchain output {
\t\ttype nat hook output priority -100; policy accept;
\t\tfib daddr type local tcp dport 8080 counter dnat to 172.17.0.2:80
\t}

\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tip saddr 172.17.0.0/16 oifname != \"docker0\" counter masquerade
\t\tct status dnat ip saddr 172.17.0.0/16 ip daddr 172.17.0.0/16 counter masquerade
\t\tct status dnat ip saddr 127.0.0.0/8 counter masquerade
\t}
}
";
        assert_eq!(ruleset(&docker()).to_string(), expected);
    }

    #[test]
    fn without_localhost_output_leaves_loopback_alone() {
        let nat = Nat { localhost: false, ..docker() };
        let set = ruleset(&nat);
        let output = &set.chains[1];
        assert_eq!(output.hook, Hook::Output);
        assert_eq!(
            output.rules[0].to_string(),
            "ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 8080 counter dnat to 172.17.0.2:80"
        );
        assert_eq!(set.chains[2].rules.len(), 2, "no loopback masquerade");
    }

    #[test]
    fn a_host_ip_and_an_outgoing_interface_narrow_the_rules() {
        let nat = Nat {
            masquerade: vec![Masquerade {
                from: "10.1.2.3/8".parse().unwrap(),
                out: Some("eth0".into()),
                out_not: None,
            }],
            publish: vec![Publish {
                proto: L4::Udp,
                port: 53,
                host_ip: Some(Ipv4Addr::new(192, 0, 2, 1)),
                to: Ipv4Addr::new(10, 0, 0, 2),
                to_port: 5353,
            }],
            ..Nat::default()
        };
        let set = ruleset(&nat);
        assert_eq!(
            set.chains[0].rules[0].to_string(),
            "fib daddr type local ip daddr 192.0.2.1 udp dport 53 counter dnat to 10.0.0.2:5353"
        );
        assert_eq!(
            set.chains[2].rules[0].to_string(),
            "ip saddr 10.0.0.0/8 oifname \"eth0\" counter masquerade"
        );
    }

    #[test]
    fn chains_without_rules_are_left_out() {
        let nat = Nat { publish: Vec::new(), hairpin: Vec::new(), localhost: false, ..docker() };
        let hooks: Vec<Hook> = ruleset(&nat).chains.iter().map(|c| c.hook).collect();
        assert_eq!(hooks, [Hook::Postrouting]);
        assert_eq!(ruleset(&Nat::default()).to_string(), "table ip lab {\n}\n");
    }
}
