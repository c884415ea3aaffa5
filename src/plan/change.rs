//! The plan of a step: the difference between the lab before it and the lab after it, as
//! requests in an order that always works: interfaces removed, addresses and routes taken
//! off, links down, modes, sysctls, interfaces made, links up (with what the kernel dropped
//! put back), addresses and routes added, impairments, new switch ports up.

use super::{Op, Request, Stage, Step};
use crate::graph::{LabGraph, Object};
use crate::model::{Destination, IfaceId, IfaceKind, Lab, NodeId, Route};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// A route as `ip route` names it: its interface by name, not index.
type NamedRoute = (Destination, Option<IpAddr>, Option<String>);

/// The stages that change `before` into `after` (the same nodes; interfaces matched by name).
pub fn stages(before: &Lab, after: &Lab) -> Vec<Stage> {
    let diff = Diff { before, after };
    let mut stages = vec![
        stage("removing interfaces", diff.removed_links()),
        stage("taking off routes and addresses", diff.taken_off()),
        stage("links down", diff.links_down()),
        stage("modes", diff.modes()),
        stage("new interfaces", diff.new_links()),
        stage("new switch ports and sysctls", diff.new_ports_and_sysctls()),
        stage("links up", diff.links_up()),
        stage("addresses", diff.new_addresses()),
        stage("routes", diff.new_routes()),
        stage("impairments", diff.impairments()),
        stage("new switch ports up", diff.new_ports_up()),
    ];
    stages.retain(|s| !s.steps.is_empty());
    stages
}

fn stage(title: &str, steps: Vec<Step>) -> Stage {
    Stage { title: title.into(), steps }
}

struct Diff<'l> {
    before: &'l Lab,
    after: &'l Lab,
}

impl Diff<'_> {
    /// The same interface in the other lab, by node and name.
    fn in_after(&self, id: IfaceId) -> Option<IfaceId> {
        self.after.iface_id(id.node, &self.before.iface(id).name)
    }

    fn in_before(&self, id: IfaceId) -> Option<IfaceId> {
        self.before.iface_id(id.node, &self.after.iface(id).name)
    }

    /// Interfaces in both labs: (before, after).
    fn kept(&self) -> impl Iterator<Item = (IfaceId, IfaceId)> + '_ {
        self.before.iface_ids().filter_map(|b| self.in_after(b).map(|a| (b, a)))
    }

    fn is_new(&self, id: IfaceId) -> bool {
        self.in_before(id).is_none()
    }

    fn removed(&self) -> BTreeSet<IfaceId> {
        self.before.iface_ids().filter(|b| self.in_after(*b).is_none()).collect()
    }

    /// Every removed interface the kernel does not take with another: a cable once (its far
    /// end goes with it), a child not when its parent goes.
    fn removed_links(&self) -> Vec<Step> {
        let removed = self.removed();
        let lab = self.before;
        let mut deleted: BTreeSet<IfaceId> = BTreeSet::new();
        let mut steps = Vec::new();
        for &id in &removed {
            let kind = &lab.iface(id).kind;
            let parent_goes = kind.parent().is_some_and(|p| removed.contains(&p));
            let peer_went = matches!(kind, IfaceKind::Veth { peer, .. } if deleted.contains(peer));
            if parent_goes || peer_went {
                continue;
            }
            deleted.insert(id);
            let op = Op::DelLink { ns: lab.netns_name(id.node), dev: lab.iface(id).name.clone() };
            steps.push(Step::one(format!("removing {}", lab.iface_label(id)), op));
        }
        steps
    }

    fn taken_off(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        for node in node_ids(self.before) {
            let after = routes(self.after, node);
            let ns = self.before.netns_name(node);
            let gone = routes(self.before, node).into_iter().filter(|r| !after.contains(r));
            for (to, via, dev) in gone.filter(|(_, _, dev)| self.dev_stays(node, dev.as_deref())) {
                let doing = format!("taking off route {to} in {}", self.before.node(node).name);
                steps.push(Step::one(doing, Op::DelRoute { ns: ns.clone(), to, via, dev }));
            }
        }
        for (b, a) in self.kept() {
            let kept = &self.after.iface(a).addresses;
            for address in self.before.iface(b).addresses.iter().filter(|x| !kept.contains(x)) {
                let doing = format!("taking {address} off {}", self.before.iface_label(b));
                let op = Op::DelAddress {
                    ns: self.before.netns_name(b.node),
                    dev: name(self.before, b),
                    address: *address,
                };
                steps.push(Step::one(doing, op));
            }
        }
        steps
    }

    fn dev_stays(&self, node: NodeId, dev: Option<&str>) -> bool {
        dev.is_none_or(|d| self.after.iface_id(node, d).is_some())
    }

    fn links_down(&self) -> Vec<Step> {
        self.kept()
            .filter(|(b, a)| self.before.iface(*b).up && !self.after.iface(*a).up)
            .map(|(b, _)| {
                let op = Op::SetDown { ns: self.before.netns_name(b.node), dev: name(self.before, b) };
                Step::one(format!("bringing down {}", self.before.iface_label(b)), op)
            })
            .collect()
    }

    /// A macvlan child's new mode; an ipvlan parent's, once through one of its children.
    fn modes(&self) -> Vec<Step> {
        let mut parents = BTreeSet::new();
        let mut steps = Vec::new();
        for (b, a) in self.kept() {
            let (before, after) = (&self.before.iface(b).kind, &self.after.iface(a).kind);
            let changed = match (before, after) {
                (IfaceKind::Macvlan { mode: m, .. }, IfaceKind::Macvlan { mode: n, .. }) => m != n,
                (IfaceKind::Ipvlan { mode: m, .. }, IfaceKind::Ipvlan { mode: n, parent, .. }) => {
                    m != n && parents.insert(*parent)
                }
                (IfaceKind::Bridge { vlan_filtering: m }, IfaceKind::Bridge { vlan_filtering: n }) => m != n,
                _ => false,
            };
            if changed {
                let link = crate::kind::link_type(self.after, a);
                let doing = format!("changing {} to {}", self.after.iface_label(a), link.mode_words());
                let op = Op::SetMode { ns: self.after.netns_name(a.node), dev: name(self.after, a), link };
                steps.push(Step::one(doing, op));
            }
        }
        steps
    }

    /// The new interfaces, in the order the graph makes them (parents first).
    fn new_links(&self) -> Vec<Step> {
        let graph = LabGraph::new(self.after);
        graph
            .creation_stages()
            .into_iter()
            .flatten()
            .filter_map(|object| match object {
                Object::Link { iface } if self.is_new(iface) => Some(super::link_step(self.after, iface)),
                _ => None,
            })
            .collect()
    }

    /// New ports' bridges, VLANs and hairpin; sysctls new or changed (after the interfaces
    /// they may name exist).
    fn new_ports_and_sysctls(&self) -> Vec<Step> {
        let lab = self.after;
        let ports = lab.iface_ids().filter(|id| self.is_new(*id)).filter_map(|id| super::port_step(lab, id));
        let sysctls = node_ids(lab).into_iter().filter_map(|node| {
            let old = effective(&self.before.node(node).sysctls);
            let new = effective(&lab.node(node).sysctls);
            let changed: Vec<_> = new.into_iter().filter(|s| !old.contains(s)).collect();
            (!changed.is_empty()).then(|| {
                let n = &lab.node(node).name;
                let op = Op::WriteSysctls { ns: lab.netns_name(node), node: n.clone(), sysctls: changed };
                Step::one(format!("writing the sysctls of {n}"), op)
            })
        });
        ports.chain(sysctls).collect()
    }

    /// Links that come up, with their addresses and their node's routes put back: the kernel
    /// drops IPv6 addresses and the routes through a link that goes down.
    fn links_up(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        for (b, a) in self.kept().filter(|(b, a)| !self.before.iface(*b).up && self.after.iface(*a).up) {
            let lab = self.after;
            let (ns, dev) = (lab.netns_name(a.node), name(lab, a));
            let mut requests = vec![Request {
                doing: format!("bringing up {}", lab.iface_label(a)),
                op: Op::SetUp { ns: ns.clone(), dev: dev.clone() },
            }];
            for address in &lab.iface(a).addresses {
                let op = Op::ReplaceAddress { ns: ns.clone(), dev: dev.clone(), address: *address };
                requests
                    .push(Request { doing: format!("putting {address} back on {}", lab.iface_label(a)), op });
            }
            let old = routes(self.before, b.node);
            for (to, via, dev) in routes(lab, a.node).into_iter().filter(|r| old.contains(r)) {
                let doing = format!("putting route {to} back in {}", lab.node(a.node).name);
                requests.push(Request { doing, op: Op::ReplaceRoute { ns: ns.clone(), to, via, dev } });
            }
            steps.push(Step { requests });
        }
        steps
    }

    fn new_addresses(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        for id in self.after.iface_ids() {
            let old = self.in_before(id).map(|b| self.before.iface(b).addresses.clone()).unwrap_or_default();
            for address in self.after.iface(id).addresses.iter().filter(|a| !old.contains(a)) {
                let doing = format!("adding address {address} to {}", self.after.iface_label(id));
                let op = Op::AddAddress {
                    ns: self.after.netns_name(id.node),
                    dev: name(self.after, id),
                    address: *address,
                };
                steps.push(Step::one(doing, op));
            }
        }
        steps
    }

    /// Each node's new routes, in the order written, in one step.
    fn new_routes(&self) -> Vec<Step> {
        node_ids(self.after)
            .into_iter()
            .filter_map(|node| {
                let old = routes(self.before, node);
                let ns = self.after.netns_name(node);
                let requests: Vec<Request> = routes(self.after, node)
                    .into_iter()
                    .filter(|r| !old.contains(r))
                    .map(|(to, via, dev)| Request {
                        doing: format!("adding route {to} in {}", self.after.node(node).name),
                        op: Op::AddRoute { ns: ns.clone(), to, via, dev },
                    })
                    .collect();
                (!requests.is_empty()).then_some(Step { requests })
            })
            .collect()
    }

    fn impairments(&self) -> Vec<Step> {
        self.after
            .iface_ids()
            .filter(|id| {
                let before = self.in_before(*id).and_then(|b| self.before.iface(b).impair);
                before != self.after.iface(*id).impair
            })
            .map(|id| {
                let mut step = impair_step(self.after, id);
                let before = self.in_before(id).and_then(|b| self.before.iface(b).impair);
                if before.is_some() && self.after.iface(id).impair.is_some() {
                    // `tc qdisc replace` keeps netem settings it is not given: start afresh.
                    let clear = Op::Impair {
                        ns: self.after.netns_name(id.node),
                        dev: name(self.after, id),
                        impairment: None,
                    };
                    let doing = format!("clearing the impairment of {}", self.after.iface_label(id));
                    step.requests.insert(0, Request { doing, op: clear });
                }
                step
            })
            .collect()
    }

    fn new_ports_up(&self) -> Vec<Step> {
        let lab = self.after;
        lab.iface_ids()
            .filter(|id| self.is_new(*id) && super::is_switch_port(lab, *id) && lab.iface(*id).up)
            .map(|port| {
                let op = Op::SetUp { ns: lab.netns_name(port.node), dev: name(lab, port) };
                Step::one(format!("bringing up port {}", lab.iface_label(port)), op)
            })
            .collect()
    }
}

/// Sets (or clears) an interface's impairment as the lab says.
pub fn impair_step(lab: &Lab, id: IfaceId) -> Step {
    let impairment = lab.iface(id).impair;
    let doing = match impairment {
        Some(_) => format!("impairing {}", lab.iface_label(id)),
        None => format!("clearing the impairment of {}", lab.iface_label(id)),
    };
    Step::one(doing, Op::Impair { ns: lab.netns_name(id.node), dev: name(lab, id), impairment })
}

fn name(lab: &Lab, id: IfaceId) -> String {
    lab.iface(id).name.clone()
}

/// Nodes with a namespace of their own.
fn node_ids(lab: &Lab) -> Vec<NodeId> {
    (0..lab.nodes.len()).map(NodeId).filter(|n| lab.node(*n).joins.is_none()).collect()
}

fn routes(lab: &Lab, node: NodeId) -> Vec<NamedRoute> {
    let n = lab.node(node);
    n.routes.iter().map(|r: &Route| (r.to, r.via, r.dev.map(|d| n.ifaces[d].name.clone()))).collect()
}

/// What a node's sysctls leave: each key's last value, in the order keys first appear.
fn effective(sysctls: &[crate::model::Sysctl]) -> Vec<crate::model::Sysctl> {
    let mut out: Vec<crate::model::Sysctl> = Vec::new();
    for sysctl in sysctls {
        match out.iter_mut().find(|s| s.key == sysctl.key) {
            Some(kept) => kept.value = sysctl.value.clone(),
            None => out.push(sysctl.clone()),
        }
    }
    out
}
