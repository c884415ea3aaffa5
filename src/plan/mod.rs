//! The plan: what realizing a lab takes, as data — stages of steps, where every step of a
//! stage can run at once. Derived from the graph; printed as `ip`/`bridge` commands by
//! `lab up --dry-run`. Touches nothing.

mod commands;

use crate::graph::{LabGraph, Object};
use crate::model::{IfaceId, IfaceKind, Lab, NodeId, PortVlans, Role, Sysctl};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A named namespace with `lo` up, marked as the lab's, and its namespace-wide sysctls
    /// (`namespace_sysctls`) written before anything is made in it.
    CreateNamespace {
        node: NodeId,
    },
    /// A link: a bridge, a cable (both ends), a sub-interface or a child.
    CreateLink {
        iface: IfaceId,
    },
    /// A switch port's membership: master (for a cable's far end), VLANs, hairpin.
    ConfigurePort {
        port: IfaceId,
    },
    WriteSysctls {
        node: NodeId,
    },
    AddAddresses {
        node: NodeId,
    },
    AddRoutes {
        node: NodeId,
    },
    /// Last: a switch port goes up, giving its host carrier. Until then hosts are quiet, so
    /// their IPv6 start-up traffic is not flooded while the rest is still being made.
    EnablePort {
        port: IfaceId,
    },
}

#[derive(Clone, Debug)]
pub struct Stage {
    pub title: String,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub stages: Vec<Stage>,
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
                    Object::Namespace { node } => Step::CreateNamespace { node },
                    Object::Link { iface } => Step::CreateLink { iface },
                })
                .collect();
            stages.push(Stage { title, steps });
        }
        let ports = lab
            .iface_ids()
            .filter(|id| port_work(lab, *id).is_some())
            .map(|port| Step::ConfigurePort { port });
        let sysctls = nodes_where(lab, |n| n.sysctls.iter().any(Sysctl::names_a_device))
            .into_iter()
            .map(|node| Step::WriteSysctls { node });
        stages
            .push(Stage { title: "switch ports and sysctls".into(), steps: ports.chain(sysctls).collect() });
        let addresses = nodes_where(lab, |n| n.ifaces.iter().any(|i| !i.addresses.is_empty()));
        stages.push(Stage {
            title: "addresses".into(),
            steps: addresses.into_iter().map(|node| Step::AddAddresses { node }).collect(),
        });
        let routes = nodes_where(lab, |n| !n.routes.is_empty());
        stages.push(Stage {
            title: "routes".into(),
            steps: routes.into_iter().map(|node| Step::AddRoutes { node }).collect(),
        });
        let ports = lab.iface_ids().filter(|id| is_switch_port(lab, *id) && lab.iface(*id).up);
        stages.push(Stage {
            title: "switch ports up".into(),
            steps: ports.map(|port| Step::EnablePort { port }).collect(),
        });
        stages.retain(|s| !s.steps.is_empty());
        Plan { stages }
    }

    pub fn steps(&self) -> usize {
        self.stages.iter().map(|s| s.steps.len()).sum()
    }

    /// The plan as the `ip`/`bridge` commands that would build the same lab.
    pub fn to_commands(&self, lab: &Lab) -> String {
        commands::render(self, lab)
    }
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
        .map(|(what, n)| if *n == 1 { format!("1 {what}") } else { format!("{n} {what}s") })
        .collect();
    parts.join(", ")
}

fn nodes_where(lab: &Lab, keep: impl Fn(&crate::model::Node) -> bool) -> Vec<NodeId> {
    lab.nodes.iter().enumerate().filter(|(_, n)| keep(n)).map(|(i, _)| NodeId(i)).collect()
}

/// What a switch port needs once it exists.
pub struct PortWork<'a> {
    /// The bridge to join: a port made as the far end of its cable was made without one.
    pub join: Option<IfaceId>,
    /// VLANs to set, on a VLAN-filtering bridge.
    pub vlans: Option<&'a PortVlans>,
    pub hairpin: bool,
}

/// The work a switch port needs after creation, `None` when it needs none.
pub fn port_work(lab: &Lab, id: IfaceId) -> Option<PortWork<'_>> {
    let port = lab.iface(id).kind.port()?;
    let filtering =
        port.master.is_some_and(|m| matches!(lab.iface(m).kind, IfaceKind::Bridge { vlan_filtering: true }));
    let far_end = lab.cables.iter().any(|c| c.b == id);
    let work = PortWork {
        join: port.master.filter(|_| far_end),
        vlans: Some(port).filter(|p| filtering && p.has_vlans()),
        hairpin: port.hairpin,
    };
    (work.join.is_some() || work.vlans.is_some() || work.hairpin).then_some(work)
}

/// Written in every new namespace first: the kernel's defaults rather than the host's (a new
/// namespace copies the host's IPv4 settings), and no duplicate address detection, so that
/// nothing waits. A switch forwards frames only: no address of its own to announce, and (like
/// a hardware switch) no iptables for bridged frames, which a host with br_netfilter loaded
/// would otherwise apply. Keys this kernel lacks are skipped.
pub fn baseline_sysctls(role: Role) -> Vec<Sysctl> {
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

/// The node's own sysctls that act on the whole namespace (`all`, `default`, forwarding):
/// written when the namespace is made, so that `default` reaches the node's interfaces.
pub fn namespace_sysctls(lab: &Lab, node: NodeId) -> Vec<&Sysctl> {
    lab.node(node).sysctls.iter().filter(|s| !s.names_a_device()).collect()
}

/// The node's sysctls about one device, written once the devices exist.
pub fn device_sysctls(lab: &Lab, node: NodeId) -> Vec<&Sysctl> {
    lab.node(node).sysctls.iter().filter(|s| s.names_a_device()).collect()
}

/// A child is made from its parent's namespace, where the kernel first looks its name up: a
/// child named like one of the parent node's interfaces (`eth0` in a container whose host has
/// an `eth0`) is made under this name, one that neither node uses, and renamed in its own
/// namespace.
pub fn temporary_name(lab: &Lab, iface: IfaceId) -> Option<String> {
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
pub fn up_when_made(lab: &Lab, id: IfaceId) -> bool {
    lab.iface(id).up && !is_switch_port(lab, id)
}

/// A switch's end of a cable: created down, brought up in the last stage.
pub fn is_switch_port(lab: &Lab, id: IfaceId) -> bool {
    lab.node(id.node).role == Role::Switch && lab.iface(id).kind.port().is_some()
}
