//! The checked lab: every reference resolved, every kind typed, nothing left to validate.
//! Built only by `topology::validate`; later stages read it and never see raw TOML.

mod expect;

pub use crate::kind::{
    Cable, IfaceKind, IpvlanFlag, IpvlanMode, KernelFeature, MacvlanMode, PortVlans, VlanProtocol,
};
pub use expect::{
    Bounds, Check, EncapOn, Expectation, MacOf, Proto, QualityBounds, RttBounds, Stat, TaggedOn, Target,
    Verify, Want,
};

use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;
use std::path::PathBuf;

/// A MAC address, printed the way `ip link` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Mac(pub [u8; 6]);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl From<Mac> for String {
    fn from(mac: Mac) -> String {
        mac.to_string()
    }
}

impl TryFrom<String> for Mac {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse().map_err(|()| format!("bad MAC {text}"))
    }
}

impl std::str::FromStr for Mac {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        let mut bytes = [0u8; 6];
        let mut parts = text.split(':');
        for byte in &mut bytes {
            let part = parts.next().ok_or(())?;
            if part.len() != 2 {
                return Err(());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ())?;
        }
        if parts.next().is_some() {
            return Err(());
        }
        Ok(Mac(bytes))
    }
}

/// Index of a node in `Lab::nodes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct NodeId(pub usize);

/// An interface: its node and its index in that node's `ifaces`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct IfaceId {
    pub node: NodeId,
    pub index: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Host,
    Router,
    Switch,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Host => "host",
            Role::Router => "router",
            Role::Switch => "switch",
        }
    }
}

/// A checked lab, ready to be graphed, planned and realized.
#[derive(Clone, Debug, Serialize)]
pub struct Lab {
    pub name: String,
    pub description: Option<String>,
    pub source: PathBuf,
    pub nodes: Vec<Node>,
    pub cables: Vec<Cable>,
    pub expectations: Vec<Expectation>,
    pub verify: Verify,
    /// The scenario's steps after this initial state, in file order.
    pub steps: Vec<Step>,
}

/// A step of a scenario: the lab as its actions leave it, with the step's own expectations.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub name: String,
    /// Line of the `[[step]]` in the topology file.
    pub line: usize,
    /// The actions as written.
    pub actions: Vec<String>,
    #[serde(skip)]
    pub lab: Lab,
}

#[derive(Clone, Debug, Serialize)]
pub struct Node {
    pub name: String,
    pub role: Role,
    /// Sysctls written inside the node, in file order (routers get forwarding first).
    pub sysctls: Vec<Sysctl>,
    pub routes: Vec<Route>,
    pub ifaces: Vec<Iface>,
    /// Services lab serves from inside the node while it verifies, in file order.
    pub listeners: Vec<Listener>,
    /// The NAT lab installs in the node (`[host.nat]`), as one nf_tables table.
    pub nat: Option<crate::nat::Nat>,
    /// The node whose namespace this one joins (Docker's container and host models): it
    /// has no namespace, interfaces, sysctls or routes of its own.
    pub joins: Option<NodeId>,
}

/// A transport protocol of a service or a connect probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum L4 {
    Tcp,
    Udp,
}

impl L4 {
    pub fn as_str(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
        }
    }
}

/// A service: lab listens on `port` (at `addr`, or every address) and answers each peer
/// with who it is and which address it saw (`lab NODE saw IP:PORT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub proto: L4,
    pub port: u16,
    pub addr: Option<IpAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sysctl {
    pub key: String,
    pub value: String,
}

impl Sysctl {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Sysctl {
        Sysctl { key: key.into(), value: value.into() }
    }

    /// The device of a `net.ipv4.conf.DEV.KEY` or `net.ipv6.neigh.DEV.KEY` key (`all` and
    /// `default` included). Interface names may contain dots (`eth1.19`), so everything
    /// between `conf.`/`neigh.` and the last component is the device.
    pub fn device(&self) -> Option<String> {
        let parts: Vec<&str> = self.key.split('.').collect();
        let per_device = parts.len() > 4
            && parts[0] == "net"
            && matches!(parts[1], "ipv4" | "ipv6")
            && matches!(parts[2], "conf" | "neigh");
        per_device.then(|| parts[3..parts.len() - 1].join("."))
    }

    /// Whether the key is about one device, and so can only be written once it exists.
    pub fn names_a_device(&self) -> bool {
        self.device().is_some_and(|d| d != "all" && d != "default")
    }

    /// The file under /proc/sys/ that holds the key.
    pub fn proc_path(&self) -> PathBuf {
        let mut path = PathBuf::from("/proc/sys");
        match self.device() {
            Some(device) => {
                let parts: Vec<&str> = self.key.split('.').collect();
                path.extend(&parts[..3]);
                path.push(device);
                path.push(parts[parts.len() - 1]);
            }
            None => path.extend(self.key.split('.')),
        }
        path
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Destination {
    Default { v6: bool },
    Net(IpNet),
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Default { v6: false } => f.write_str("default"),
            Destination::Default { v6: true } => f.write_str("default (v6)"),
            Destination::Net(net) => write!(f, "{net}"),
        }
    }
}

/// A static route in a node: through a gateway, or straight out of a device (scope link).
#[derive(Clone, Debug, Serialize)]
pub struct Route {
    pub to: Destination,
    pub via: Option<IpAddr>,
    /// Index into the node's `ifaces`.
    pub dev: Option<usize>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Iface {
    pub name: String,
    pub kind: IfaceKind,
    pub addresses: Vec<IpNet>,
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
    pub up: bool,
    /// What netem does to the frames it sends, when it is impaired.
    pub impair: Option<crate::impair::Impairment>,
    /// False for interfaces `lab` made up (switch ports of host-side cables, bridges).
    pub declared: bool,
}

impl Lab {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    pub fn iface(&self, id: IfaceId) -> &Iface {
        &self.nodes[id.node.0].ifaces[id.index]
    }

    /// `node:iface`, the way users write it.
    pub fn iface_label(&self, id: IfaceId) -> String {
        format!("{}:{}", self.node(id.node).name, self.iface(id).name)
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name).map(NodeId)
    }

    pub fn iface_id(&self, node: NodeId, name: &str) -> Option<IfaceId> {
        let index = self.node(node).ifaces.iter().position(|i| i.name == name)?;
        Some(IfaceId { node, index })
    }

    /// Every interface of the lab, node by node.
    pub fn iface_ids(&self) -> impl Iterator<Item = IfaceId> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .flat_map(|(n, node)| (0..node.ifaces.len()).map(move |index| IfaceId { node: NodeId(n), index }))
    }

    /// The name of the network namespace a node lives in: its own, or the one it joins.
    pub fn netns_name(&self, node: NodeId) -> String {
        netns_name(&self.name, &self.node(self.home(node)).name)
    }

    /// The node whose namespace `node` lives in.
    pub fn home(&self, node: NodeId) -> NodeId {
        self.node(node).joins.unwrap_or(node)
    }

    /// Link kinds and features the kernel must offer to realize this lab.
    pub fn kernel_needs(&self) -> Vec<KernelFeature> {
        let mut needs = vec![KernelFeature::Veth];
        for id in self.iface_ids() {
            let need = self.iface(id).kind.feature();
            if !needs.contains(&need) {
                needs.push(need);
            }
        }
        if self.nodes.iter().any(|n| n.nat.is_some()) {
            needs.push(KernelFeature::Nat);
        }
        if self.iface_ids().any(|id| self.iface(id).impair.is_some()) {
            needs.push(KernelFeature::Netem);
        }
        for step in &self.steps {
            needs.extend(step.lab.kernel_needs());
        }
        needs.sort();
        needs.dedup();
        needs
    }
}

/// Namespace names are `<lab>-<node>`, as `ip netns` shows them.
pub fn netns_name(lab: &str, node: &str) -> String {
    format!("{lab}-{node}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_paths_keep_dotted_interface_names_whole() {
        let per_iface = Sysctl { key: "net.ipv4.conf.eth1.19.arp_ignore".into(), value: "1".into() };
        assert_eq!(per_iface.proc_path(), PathBuf::from("/proc/sys/net/ipv4/conf/eth1.19/arp_ignore"));
        let global = Sysctl { key: "net.ipv4.ip_forward".into(), value: "1".into() };
        assert_eq!(global.proc_path(), PathBuf::from("/proc/sys/net/ipv4/ip_forward"));
    }

    #[test]
    fn macs_round_trip() {
        let mac: Mac = "02:42:ac:11:00:0a".parse().unwrap();
        assert_eq!(mac.to_string(), "02:42:ac:11:00:0a");
        assert!("02:42:ac:11:00".parse::<Mac>().is_err());
        assert!("02:42:ac:11:00:0a:00".parse::<Mac>().is_err());
    }
}
