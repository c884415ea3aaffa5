//! Requests: what one step asks of the kernel, every name resolved, and the same request as
//! the `ip`, `bridge`, `sysctl` or `nft` command that asks it (`Display`, quoted for sh).

use crate::kind::LinkType;
use crate::model::{Destination, Mac, Sysctl};
use ipnet::IpNet;
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// One request and what it is for, in words for errors: "creating the cable h1:eth0 -- sw:h1".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Request {
    pub doing: String,
    #[serde(flatten)]
    pub op: Op,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    AddNamespace(NewNamespace),
    AddLink(NewLink),
    SetUp {
        ns: String,
        dev: String,
    },
    Rename {
        ns: String,
        dev: String,
        name: String,
        up: bool,
    },
    SetMaster {
        ns: String,
        dev: String,
        master: String,
    },
    /// A bridge port's VLANs; `leave_default` takes it off VLAN 1.
    SetPortVlans {
        ns: String,
        dev: String,
        access: Option<u16>,
        trunk: Vec<u16>,
        leave_default: bool,
    },
    SetHairpin {
        ns: String,
        dev: String,
    },
    /// A bridge's own VLANs (`self`): those its VLAN interfaces (SVIs) route.
    SetBridgeVlans {
        ns: String,
        dev: String,
        vlans: Vec<u16>,
    },
    /// One more destination for the frames a VXLAN device floods: an all-zeros FDB entry,
    /// appended to those already there.
    AppendFdb {
        ns: String,
        dev: String,
        dst: IpAddr,
    },
    WriteSysctls {
        ns: String,
        node: String,
        sysctls: Vec<Sysctl>,
    },
    AddAddress {
        ns: String,
        dev: String,
        address: IpNet,
    },
    AddRoute {
        ns: String,
        to: Destination,
        via: Option<IpAddr>,
        dev: Option<String>,
    },
    /// A node's NAT: table `ip lab`, installed in one atomic batch.
    InstallNat {
        ns: String,
        node: String,
        ruleset: crate::nat::Ruleset,
    },
    /// An interface's impairment (netem as its root queue), or none: the device's default.
    Impair {
        ns: String,
        dev: String,
        impairment: Option<crate::impair::Impairment>,
    },
    // What a step changes on a live lab.
    SetDown {
        ns: String,
        dev: String,
    },
    DelLink {
        ns: String,
        dev: String,
    },
    /// A live child's mode (changelink): a macvlan's own, an ipvlan parent's; or a live
    /// bridge's VLAN filtering.
    SetMode {
        ns: String,
        dev: String,
        link: LinkType,
    },
    DelAddress {
        ns: String,
        dev: String,
        address: IpNet,
    },
    /// An address that must be there: added, or kept (the kernel drops IPv6 addresses
    /// when a link goes down).
    ReplaceAddress {
        ns: String,
        dev: String,
        address: IpNet,
    },
    DelRoute {
        ns: String,
        to: Destination,
        via: Option<IpAddr>,
        dev: Option<String>,
    },
    /// A route that must be there: added, or kept (the kernel drops the routes through a
    /// link that goes down).
    ReplaceRoute {
        ns: String,
        to: Destination,
        via: Option<IpAddr>,
        dev: Option<String>,
    },
}

/// A named namespace marked as the lab's (`lo` up, its alias `mark`), with the baseline
/// sysctls (skipped where this kernel lacks the key) and the node's namespace-wide ones
/// written before anything is made in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewNamespace {
    pub ns: String,
    pub node: String,
    pub baseline: Vec<Sysctl>,
    pub sysctls: Vec<Sysctl>,
    pub mark: String,
}

/// A link to make: from the socket of namespace `ns` (a child's is its parent's), on
/// `parent` there (a vxlan on its underlay, `LinkType::underlay`), into namespace `netns`
/// when that is another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewLink {
    pub ns: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<Mac>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    pub up: bool,
    pub link: LinkType,
}

impl NewLink {
    /// The device the link is made on, which must exist first: a child's parent, a vxlan's
    /// underlay.
    pub fn lower(&self) -> Option<&str> {
        self.parent.as_deref().or(self.link.underlay())
    }
}

impl Op {
    /// The namespace the request acts in.
    pub fn ns(&self) -> &str {
        match self {
            Op::AddLink(link) => &link.ns,
            Op::AddNamespace(namespace) => &namespace.ns,
            Op::SetUp { ns, .. }
            | Op::Rename { ns, .. }
            | Op::SetMaster { ns, .. }
            | Op::SetPortVlans { ns, .. }
            | Op::SetHairpin { ns, .. }
            | Op::SetBridgeVlans { ns, .. }
            | Op::AppendFdb { ns, .. }
            | Op::WriteSysctls { ns, .. }
            | Op::AddAddress { ns, .. }
            | Op::AddRoute { ns, .. }
            | Op::InstallNat { ns, .. }
            | Op::Impair { ns, .. }
            | Op::SetDown { ns, .. }
            | Op::DelLink { ns, .. }
            | Op::SetMode { ns, .. }
            | Op::DelAddress { ns, .. }
            | Op::ReplaceAddress { ns, .. }
            | Op::DelRoute { ns, .. }
            | Op::ReplaceRoute { ns, .. } => ns,
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.op.fmt(f)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = quote(self.ns());
        match self {
            Op::AddNamespace(NewNamespace { baseline, sysctls, mark, .. }) => {
                writeln!(f, "ip netns add {ns}")?;
                // `-e`: like lab, skip baseline keys this kernel lacks.
                for s in baseline {
                    writeln!(f, "ip netns exec {ns} sysctl -e -w {}", sysctl_arg(s))?;
                }
                for s in sysctls {
                    writeln!(f, "ip netns exec {ns} sysctl -w {}", sysctl_arg(s))?;
                }
                write!(f, "ip -n {ns} link set lo up alias {}", quote(mark))
            }
            Op::AddLink(link) => link.fmt(f),
            Op::SetUp { dev, .. } => write!(f, "ip -n {ns} link set dev {} up", quote(dev)),
            Op::Rename { dev, name, up, .. } => {
                let up = if *up { " up" } else { "" };
                write!(f, "ip -n {ns} link set dev {} name {}{up}", quote(dev), quote(name))
            }
            Op::SetMaster { dev, master, .. } => {
                write!(f, "ip -n {ns} link set dev {} master {}", quote(dev), quote(master))
            }
            Op::SetPortVlans { dev, access, trunk, leave_default, .. } => {
                let dev = quote(dev);
                let mut lines = Vec::new();
                if let Some(access) = access {
                    lines.push(format!("bridge -n {ns} vlan add dev {dev} vid {access} pvid untagged"));
                }
                lines.extend(trunk.iter().map(|vid| format!("bridge -n {ns} vlan add dev {dev} vid {vid}")));
                if *leave_default {
                    lines.push(format!("bridge -n {ns} vlan del dev {dev} vid 1"));
                }
                f.write_str(&lines.join("\n"))
            }
            Op::SetHairpin { dev, .. } => write!(f, "bridge -n {ns} link set dev {} hairpin on", quote(dev)),
            Op::SetBridgeVlans { dev, vlans, .. } => {
                let dev = quote(dev);
                let lines: Vec<String> = vlans
                    .iter()
                    .map(|vid| format!("bridge -n {ns} vlan add dev {dev} vid {vid} self"))
                    .collect();
                f.write_str(&lines.join("\n"))
            }
            Op::AppendFdb { dev, dst, .. } => {
                write!(f, "bridge -n {ns} fdb append 00:00:00:00:00:00 dev {} dst {dst}", quote(dev))
            }
            Op::WriteSysctls { sysctls, .. } => {
                let lines: Vec<String> = sysctls
                    .iter()
                    .map(|s| format!("ip netns exec {ns} sysctl -w {}", sysctl_arg(s)))
                    .collect();
                f.write_str(&lines.join("\n"))
            }
            Op::AddAddress { dev, address, .. } => {
                let nodad = if address.addr().is_ipv6() { " nodad" } else { "" };
                write!(f, "ip -n {ns} address add {address} dev {}{nodad}", quote(dev))
            }
            Op::ReplaceAddress { dev, address, .. } => {
                let nodad = if address.addr().is_ipv6() { " nodad" } else { "" };
                write!(f, "ip -n {ns} address replace {address} dev {}{nodad}", quote(dev))
            }
            Op::DelAddress { dev, address, .. } => {
                write!(f, "ip -n {ns} address del {address} dev {}", quote(dev))
            }
            Op::Impair { dev, impairment: Some(impairment), .. } => {
                write!(f, "tc -n {ns} qdisc replace dev {} root netem {impairment}", quote(dev))
            }
            Op::Impair { dev, impairment: None, .. } => {
                write!(f, "tc -n {ns} qdisc del dev {} root", quote(dev))
            }
            Op::SetDown { dev, .. } => write!(f, "ip -n {ns} link set dev {} down", quote(dev)),
            Op::DelLink { dev, .. } => write!(f, "ip -n {ns} link del dev {}", quote(dev)),
            Op::SetMode { dev, link, .. } => {
                write!(f, "ip -n {ns} link set dev {} type {}", quote(dev), link.mode_words())
            }
            Op::DelRoute { to, via, dev, .. } => route_command(f, &ns, "del", to, via, dev),
            Op::ReplaceRoute { to, via, dev, .. } => route_command(f, &ns, "replace", to, via, dev),
            // A quoted here-document: the shell expands nothing in the rules.
            Op::InstallNat { ruleset, .. } => write!(f, "ip netns exec {ns} nft -f - <<'EOF'\n{ruleset}EOF"),
            Op::AddRoute { to, via, dev, .. } => route_command(f, &ns, "add", to, via, dev),
        }
    }
}

/// `ip [-6] -n NS route VERB TO [via GATEWAY] [dev DEV]`
fn route_command(
    f: &mut fmt::Formatter<'_>,
    ns: &str,
    verb: &str,
    to: &Destination,
    via: &Option<IpAddr>,
    dev: &Option<String>,
) -> fmt::Result {
    let (family, to) = match to {
        Destination::Default { v6: true } => (" -6", "default".to_string()),
        Destination::Default { v6: false } => ("", "default".to_string()),
        Destination::Net(net) => ("", net.to_string()),
    };
    write!(f, "ip{family} -n {ns} route {verb} {to}")?;
    if let Some(via) = via {
        write!(f, " via {via}")?;
    }
    if let Some(dev) = dev {
        write!(f, " dev {}", quote(dev))?;
    }
    Ok(())
}

impl fmt::Display for NewLink {
    /// `ip -n NS link add [link PARENT] name NAME [netns NS] [master M] [address MAC]
    /// [mtu MTU] [up] type ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ip -n {} link add", quote(&self.ns))?;
        if let Some(parent) = &self.parent {
            write!(f, " link {}", quote(parent))?;
        }
        write!(f, " name {}", quote(&self.name))?;
        if let Some(netns) = &self.netns {
            write!(f, " netns {}", quote(netns))?;
        }
        if let Some(master) = &self.master {
            write!(f, " master {}", quote(master))?;
        }
        if let Some(mac) = self.mac {
            write!(f, " address {mac}")?;
        }
        if let Some(mtu) = self.mtu {
            write!(f, " mtu {mtu}")?;
        }
        if self.up {
            f.write_str(" up")?;
        }
        write!(f, " type {}", self.link.ip_type())
    }
}

/// `KEY=VALUE` for sysctl(8), quoted for the shell; a device name with dots is written in
/// the `/` form, which sysctl(8) does not split (`net/ipv4/conf/eth1.19/rp_filter`).
fn sysctl_arg(sysctl: &Sysctl) -> String {
    let arg = match sysctl.device() {
        Some(device) if device.contains('.') => {
            let path = sysctl.proc_path();
            let relative = path.strip_prefix("/proc/sys").unwrap_or(&path);
            format!("{}={}", relative.display(), sysctl.value)
        }
        _ => format!("{}={}", sysctl.key, sysctl.value),
    };
    quote(&arg)
}

/// A word for sh: as it is when it holds nothing the shell would read, else single-quoted.
pub fn quote(word: &str) -> String {
    let plain =
        !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "_-.,:/=@+%".contains(c));
    if plain { word.to_string() } else { format!("'{}'", word.replace('\'', "'\\''")) }
}
