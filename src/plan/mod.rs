//! The plan: what realizing a lab takes, as data: stages of steps, where every step of a
//! stage can run at once and a step's requests run in order. Every request is resolved here
//! (namespaces, device names, each kind's settings, addresses, routes, sysctls), so that
//! `realize` executes it as it is and decides nothing; `Display` prints the same requests
//! as the `ip`/`bridge`/`sysctl` script (`lab up --dry-run`), serde as JSON (`--json`).
//! Derived from the graph; touches nothing.

mod change;
mod request;

pub use request::{NewLink, NewNamespace, Op, Request, quote};

use crate::graph::{LabGraph, Object};
use crate::kernel::marker;
use crate::model::{IfaceId, IfaceKind, Lab, NodeId, Role, Sysctl};
use serde::Serialize;
use std::fmt;

#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub lab: String,
    pub stages: Vec<Stage>,
    /// What each step of the scenario changes, from the state before it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepPlan>,
}

/// A scenario step's requests: the difference between the lab before it and after it.
#[derive(Clone, Debug, Serialize)]
pub struct StepPlan {
    pub name: String,
    pub stages: Vec<Stage>,
}

impl StepPlan {
    /// The stages that change the lab from `before` into `after`, a step named `name`.
    pub fn between(name: &str, before: &Lab, after: &Lab) -> StepPlan {
        StepPlan { name: name.to_string(), stages: change::stages(before, after) }
    }

    /// As a plan of its own, for `realize::change`.
    pub fn plan(&self, lab: &str) -> Plan {
        Plan { lab: lab.to_string(), stages: self.stages.clone(), steps: Vec::new() }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Stage {
    pub title: String,
    pub steps: Vec<Step>,
}

/// Requests that depend on each other, run in order.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub requests: Vec<Request>,
}

impl Step {
    fn one(doing: String, op: Op) -> Step {
        Step { requests: vec![Request { doing, op }] }
    }

    fn of(doing: &str, ops: Vec<Op>) -> Step {
        Step { requests: ops.into_iter().map(|op| Request { doing: doing.to_string(), op }).collect() }
    }
}

impl Plan {
    pub fn new(graph: &LabGraph<'_>) -> Plan {
        let lab = graph.lab;
        let mut stages = Vec::new();
        for objects in graph.creation_stages() {
            let title = stage_title(lab, &objects);
            let steps = objects
                .into_iter()
                .map(|o| match o {
                    Object::Namespace { node } => namespace_step(lab, node),
                    Object::Link { iface } => link_step(lab, iface),
                })
                .collect();
            stages.push(Stage { title, steps });
        }
        let ports = lab.iface_ids().filter_map(|id| port_step(lab, id).or_else(|| bridge_step(lab, id)));
        let sysctls = nodes_where(lab, |n| n.sysctls.iter().any(Sysctl::names_a_device))
            .into_iter()
            .map(|node| sysctl_step(lab, node));
        stages
            .push(Stage { title: "switch ports and sysctls".into(), steps: ports.chain(sysctls).collect() });
        stages.push(Stage { title: "addresses".into(), steps: address_steps(lab) });
        let routes = nodes_where(lab, |n| !n.routes.is_empty());
        stages.push(Stage {
            title: "routes".into(),
            steps: routes.into_iter().map(|node| route_step(lab, node)).collect(),
        });
        let nat = nodes_where(lab, |n| n.nat.is_some());
        if !nat.is_empty() {
            stages.push(Stage {
                title: "NAT".into(),
                steps: nat.into_iter().map(|n| nat_step(lab, n)).collect(),
            });
        }
        let impaired = lab.iface_ids().filter(|id| lab.iface(*id).impair.is_some());
        stages.push(Stage {
            title: "impairments".into(),
            steps: impaired.map(|id| change::impair_step(lab, id)).collect(),
        });
        let ports = lab.iface_ids().filter(|id| is_switch_port(lab, *id) && lab.iface(*id).up);
        stages.push(Stage {
            title: "switch ports up".into(),
            steps: ports
                .map(|port| {
                    let doing = format!("bringing up port {}", lab.iface_label(port));
                    Step::one(
                        doing,
                        Op::SetUp { ns: lab.netns_name(port.node), dev: lab.iface(port).name.clone() },
                    )
                })
                .collect(),
        });
        stages.retain(|s| !s.steps.is_empty());
        let mut steps = Vec::new();
        let mut before = lab;
        for step in &lab.steps {
            steps.push(StepPlan::between(&step.name, before, &step.lab));
            before = &step.lab;
        }
        Plan { lab: lab.name.clone(), stages, steps }
    }

    pub fn steps(&self) -> usize {
        self.stages.iter().map(|s| s.steps.len()).sum()
    }
}

/// The plan as the `ip`/`bridge`/`sysctl` script that builds the same lab.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_stages(f, &self.stages)?;
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(f, "# step {}: {}", i + 1, crate::report::printable(&step.name).replace('\n', " "))?;
            if step.stages.is_empty() {
                writeln!(f, "# (nothing changes)")?;
            }
            write_stages(f, &step.stages)?;
        }
        Ok(())
    }
}

fn write_stages(f: &mut fmt::Formatter<'_>, stages: &[Stage]) -> fmt::Result {
    for (i, stage) in stages.iter().enumerate() {
        writeln!(f, "# stage {}: {}", i + 1, stage.title)?;
        for request in stage.steps.iter().flat_map(|s| &s.requests) {
            writeln!(f, "{request}")?;
        }
    }
    Ok(())
}

fn namespace_step(lab: &Lab, node: NodeId) -> Step {
    let ns = lab.netns_name(node);
    let op = Op::AddNamespace(NewNamespace {
        ns: ns.clone(),
        node: lab.node(node).name.clone(),
        baseline: baseline_sysctls(lab.node(node).role),
        sysctls: lab.node(node).sysctls.iter().filter(|s| !s.names_a_device()).cloned().collect(),
        mark: marker(&lab.name),
    });
    Step::one(format!("creating namespace {ns}"), op)
}

/// A bridge, a cable (both ends; the far one brought up from its own namespace, the kernel
/// cannot open it before the pair is joined), a child, a dummy, or a vxlan (with an FDB
/// entry for each remote).
fn link_step(lab: &Lab, id: IfaceId) -> Step {
    let iface = lab.iface(id);
    let doing = describe_creation(lab, id);
    let mut link = NewLink {
        ns: lab.netns_name(id.node),
        name: iface.name.clone(),
        parent: None,
        netns: None,
        master: None,
        mac: iface.mac,
        mtu: iface.mtu,
        up: up_when_made(lab, id),
        link: crate::kind::link_type(lab, id),
    };
    let mut after = Vec::new();
    link.master = iface.kind.port().and_then(|p| p.master).map(|m| lab.iface(m).name.clone());
    if let IfaceKind::Veth { peer, .. } = &iface.kind {
        if up_when_made(lab, *peer) {
            after.push(Op::SetUp { ns: lab.netns_name(peer.node), dev: lab.iface(*peer).name.clone() });
        }
    }
    if let IfaceKind::Vxlan(tunnel) = &iface.kind {
        let dev = || iface.name.clone();
        after.extend(tunnel.remotes().iter().map(|dst| Op::AppendFdb {
            ns: link.ns.clone(),
            dev: dev(),
            dst: *dst,
        }));
    }
    if let Some(parent) = iface.kind.parent() {
        link.ns = lab.netns_name(parent.node);
        link.parent = Some(lab.iface(parent).name.clone());
        link.netns = (parent.node != id.node).then(|| lab.netns_name(id.node));
        if let Some(temporary) = temporary_name(lab, id) {
            link.name = temporary.clone();
            link.up = false;
            after.push(Op::Rename {
                ns: lab.netns_name(id.node),
                dev: temporary,
                name: iface.name.clone(),
                up: iface.up,
            });
        }
    }
    let mut ops = vec![Op::AddLink(link)];
    ops.extend(after);
    Step::of(&doing, ops)
}

/// "creating ipvlan `ipvlan1` on net1:eth0"
fn describe_creation(lab: &Lab, iface: IfaceId) -> String {
    let i = lab.iface(iface);
    let home = &lab.node(iface.node).name;
    match &i.kind {
        IfaceKind::Veth { peer, .. } => {
            format!("creating the cable {} -- {}", lab.iface_label(iface), lab.iface_label(*peer))
        }
        kind => match kind.made_on() {
            None => format!("creating {} `{}` in {home}", kind.name(), i.name),
            Some(parent) => {
                let moved = if parent.node != iface.node { format!(" for {home}") } else { String::new() };
                format!("creating {} `{}` on {}{moved}", kind.name(), i.name, lab.iface_label(parent))
            }
        },
    }
}

/// What a switch port needs once it exists: its bridge, when it was made as the far end of
/// its cable (without one); VLANs, on a VLAN-filtering bridge; hairpin. `None`: nothing.
fn port_step(lab: &Lab, id: IfaceId) -> Option<Step> {
    let port = lab.iface(id).kind.port()?;
    let ns = lab.netns_name(id.node);
    let dev = lab.iface(id).name.clone();
    let mut ops = Vec::new();
    let far_end = lab.cables.iter().any(|c| c.b == id);
    if let Some(master) = port.master.filter(|_| far_end) {
        ops.push(Op::SetMaster { ns: ns.clone(), dev: dev.clone(), master: lab.iface(master).name.clone() });
    }
    let filtering =
        port.master.is_some_and(|m| matches!(lab.iface(m).kind, IfaceKind::Bridge { vlan_filtering: true }));
    if filtering && port.has_vlans() {
        ops.push(Op::SetPortVlans {
            ns: ns.clone(),
            dev: dev.clone(),
            access: port.access,
            trunk: port.trunk.clone(),
            leave_default: !port.keeps_default_vlan(),
        });
    }
    if port.hairpin {
        ops.push(Op::SetHairpin { ns, dev });
    }
    (!ops.is_empty()).then(|| Step::of(&format!("setting up port {}", lab.iface_label(id)), ops))
}

/// A bridge's own VLANs, when VLAN interfaces of it route them (a switch's SVIs).
fn bridge_step(lab: &Lab, id: IfaceId) -> Option<Step> {
    if !matches!(lab.iface(id).kind, IfaceKind::Bridge { vlan_filtering: true }) {
        return None;
    }
    let mut vlans: Vec<u16> = lab
        .iface_ids()
        .filter_map(|child| match lab.iface(child).kind {
            IfaceKind::Vlan { parent, id: vid, .. } if parent == id => Some(vid),
            _ => None,
        })
        .collect();
    vlans.sort_unstable();
    vlans.dedup();
    if vlans.is_empty() {
        return None;
    }
    let op = Op::SetBridgeVlans { ns: lab.netns_name(id.node), dev: lab.iface(id).name.clone(), vlans };
    Some(Step::one(format!("adding the VLANs of bridge {}", lab.iface_label(id)), op))
}

/// The node's sysctls about one device, written once the devices exist.
fn sysctl_step(lab: &Lab, node: NodeId) -> Step {
    let sysctls = lab.node(node).sysctls.iter().filter(|s| s.names_a_device()).cloned().collect();
    let name = lab.node(node).name.clone();
    let op = Op::WriteSysctls { ns: lab.netns_name(node), node: name.clone(), sysctls };
    Step::one(format!("writing the sysctls of {name}"), op)
}

fn address_steps(lab: &Lab) -> Vec<Step> {
    let mut steps = Vec::new();
    for id in lab.iface_ids() {
        let iface = lab.iface(id);
        for address in &iface.addresses {
            let doing = format!("adding address {address} to {}", lab.iface_label(id));
            let op =
                Op::AddAddress { ns: lab.netns_name(id.node), dev: iface.name.clone(), address: *address };
            steps.push(Step::one(doing, op));
        }
    }
    steps
}

/// A node's routes, in the order written: a gateway may be reached through a route before it.
fn route_step(lab: &Lab, node: NodeId) -> Step {
    let n = lab.node(node);
    let requests = n
        .routes
        .iter()
        .map(|route| {
            let dev = route.dev.map(|d| n.ifaces[d].name.clone());
            let shown = match (route.via, &dev) {
                (Some(via), _) => format!("{} via {via}", route.to),
                (None, dev) => format!("{} dev {}", route.to, dev.as_deref().unwrap_or("?")),
            };
            let op = Op::AddRoute { ns: lab.netns_name(node), to: route.to, via: route.via, dev };
            Request { doing: format!("adding route {shown} in {}", n.name), op }
        })
        .collect();
    Step { requests }
}

/// A node's NAT rules, once its interfaces, addresses and routes exist.
fn nat_step(lab: &Lab, node: NodeId) -> Step {
    let n = lab.node(node);
    let ruleset = crate::nat::ruleset(n.nat.as_ref().expect("a node with NAT"));
    let op = Op::InstallNat { ns: lab.netns_name(node), node: n.name.clone(), ruleset };
    Step::one(format!("installing the NAT rules of {}", n.name), op)
}

/// "namespaces", or what a creation stage makes: "2 cables, 1 bridge".
fn stage_title(lab: &Lab, objects: &[Object]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for object in objects {
        let what = match object {
            Object::Namespace { .. } => "namespace",
            Object::Link { iface } => match lab.iface(*iface).kind {
                IfaceKind::Veth { .. } => "cable",
                ref kind => kind.name(),
            },
        };
        match counts.iter_mut().find(|(w, _)| *w == what) {
            Some((_, n)) => *n += 1,
            None => counts.push((what, 1)),
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(what, n)| match (*n, what.strip_suffix('y')) {
            (1, _) => format!("1 {what}"),
            (n, Some(stem)) => format!("{n} {stem}ies"),
            (n, None) => format!("{n} {what}s"),
        })
        .collect();
    parts.join(", ")
}

fn nodes_where(lab: &Lab, keep: impl Fn(&crate::model::Node) -> bool) -> Vec<NodeId> {
    lab.nodes.iter().enumerate().filter(|(_, n)| keep(n)).map(|(i, _)| NodeId(i)).collect()
}

/// Written in every new namespace first: the kernel's defaults rather than the host's (a new
/// namespace copies the host's IPv4 settings), and no duplicate address detection, so that
/// nothing waits. A switch forwards frames only: no address of its own to announce, and (like
/// a hardware switch) no iptables for bridged frames, which a host with br_netfilter loaded
/// would otherwise apply. Keys this kernel lacks are skipped.
fn baseline_sysctls(role: Role) -> Vec<Sysctl> {
    let mut baseline = vec![
        Sysctl::new("net.ipv4.conf.all.rp_filter", "0"),
        Sysctl::new("net.ipv4.conf.default.rp_filter", "0"),
        Sysctl::new("net.ipv6.conf.all.accept_dad", "0"),
        Sysctl::new("net.ipv6.conf.default.accept_dad", "0"),
    ];
    if role == Role::Switch {
        baseline.extend([
            Sysctl::new("net.ipv6.conf.default.disable_ipv6", "1"),
            Sysctl::new("net.bridge.bridge-nf-call-iptables", "0"),
            Sysctl::new("net.bridge.bridge-nf-call-ip6tables", "0"),
            Sysctl::new("net.bridge.bridge-nf-call-arptables", "0"),
        ]);
    }
    baseline
}

/// A child is made from its parent's namespace, where the kernel first looks its name up: a
/// child named like one of the parent node's interfaces (`eth0` in a container whose host has
/// an `eth0`) is made under this name, one that neither node uses, and renamed in its own
/// namespace.
fn temporary_name(lab: &Lab, iface: IfaceId) -> Option<String> {
    let parent = lab.iface(iface).kind.parent()?;
    let used_in = |node: NodeId, name: &str| lab.node(node).ifaces.iter().any(|i| i.name == name);
    if iface.node == parent.node || !used_in(parent.node, &lab.iface(iface).name) {
        return None;
    }
    let taken = |candidate: &str| used_in(parent.node, candidate) || used_in(iface.node, candidate);
    let base = format!("lab{}x{}", iface.node.0, iface.index);
    (0..).map(|n| if n == 0 { base.clone() } else { format!("{base}n{n}") }).find(|c| !taken(c))
}

/// Whether an interface is set up as it is made: unless it asks to stay down, or is a switch
/// port, which comes up in the last stage.
fn up_when_made(lab: &Lab, id: IfaceId) -> bool {
    lab.iface(id).up && !is_switch_port(lab, id)
}

/// A switch's end of a cable: created down, brought up in the last stage.
pub fn is_switch_port(lab: &Lab, id: IfaceId) -> bool {
    lab.node(id.node).role == Role::Switch && lab.iface(id).kind.port().is_some()
}
