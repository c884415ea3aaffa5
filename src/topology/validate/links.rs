//! Cables: veth pairs to a switch or to a bridge inside a host (each makes a port of that
//! bridge) or point-to-point between two interfaces, which end each cable joins, and each
//! switch's bridge. A cable end's keys and
//! its port options (access, trunk, hairpin) are read and checked in `kind/veth.rs`.

use super::super::diagnostic::Diagnostic;
use super::super::document::IfaceDoc;
use super::names::{BRIDGE_NAME, IFACE_NAME_RULE, valid_iface_name};
use super::{Draft, Kind};
use crate::kind::veth::{self, Options};
use crate::model::{Cable, Iface, IfaceId, IfaceKind, NodeId, PortVlans, Role};
use std::collections::{HashMap, HashSet};
use toml::Spanned;

/// A cable end's own keys (none when the entry is not a cable end).
fn veth_doc(doc: &IfaceDoc) -> &veth::Doc {
    static NONE: veth::Doc = veth::Doc { link: None, access: None, trunk: None, native: None, hairpin: None };
    doc.own.veth().unwrap_or(&NONE)
}

pub fn check(d: &mut Draft<'_>) {
    for (id, _) in d.declared_of(Kind::Bridge) {
        d.lab.nodes[id.node.0].ifaces[id.index].kind = IfaceKind::Bridge { vlan_filtering: false };
    }
    let bridges = add_bridges(d);
    let veths = d.declared_of(Kind::Veth);
    let options: HashMap<IfaceId, Options> =
        veths.iter().map(|(id, doc)| (*id, veth::port_options(d, veth_doc(doc)))).collect();
    let vlan_aware = vlan_aware_switches(d, &veths, &options);
    for (id, doc) in veths {
        let Some(link) = &veth_doc(doc).link else {
            if !doc.written.has("link") {
                d.error(
                    Diagnostic::error(doc.span.clone(), "a veth interface needs a `link`")
                        .label("a cable to where?")
                        .help("add `link = \"SWITCH\"` or `link = \"NODE:IFACE\"`"),
                );
            }
            continue;
        };
        let ends = Ends { bridges: &bridges, options: &options, vlan_aware: &vlan_aware };
        match link.get_ref().split_once(':') {
            None => cable_to_switch(d, id, link, &ends),
            Some((node, iface)) => cable_to_iface(d, id, link, node, iface, &ends),
        }
    }
    for bridge in
        d.lab.iface_ids().filter(|id| d.lab.iface(*id).kind.kind() == Kind::Bridge).collect::<Vec<_>>()
    {
        decide_vlan_filtering(d, bridge);
        check_port_count(d, bridge);
    }
}

/// The ports of a bridge.
fn ports_of<'a>(d: &'a Draft<'_>, bridge: IfaceId) -> impl Iterator<Item = &'a PortVlans> {
    d.lab
        .node(bridge.node)
        .ifaces
        .iter()
        .filter_map(|i| i.kind.port())
        .filter(move |p| p.master == Some(bridge))
}

/// The most ports a Linux bridge holds (BR_MAX_PORTS - 1: port number 0 is reserved); the
/// next one is refused with EXFULL.
pub const MAX_BRIDGE_PORTS: usize = 1023;

fn check_port_count(d: &Draft<'_>, bridge: IfaceId) {
    let ports = ports_of(d, bridge).count();
    if ports <= MAX_BRIDGE_PORTS {
        return;
    }
    let (span, what) = match d.declared.get(&bridge) {
        Some(doc) => (doc.span.clone(), format!("bridge `{}`", d.lab.iface_label(bridge))),
        None => {
            let node = d.node_doc(bridge.node);
            let span = node.name.as_ref().map_or(node.span.clone(), |n| n.span());
            (span, format!("switch `{}`", d.lab.node(bridge.node).name))
        }
    };
    d.error(
        Diagnostic::error(
            span,
            format!("{what} has {ports} ports, more than a Linux bridge holds ({MAX_BRIDGE_PORTS})"),
        )
        .label("the kernel refuses the 1024th port (exchange full)")
        .help("spread the cables over several switches, joined to each other by a cable"),
    );
}

/// One bridge per switch, named `br0`; indexed by node.
fn add_bridges(d: &mut Draft<'_>) -> Vec<Option<IfaceId>> {
    (0..d.lab.nodes.len())
        .map(|n| {
            (d.lab.nodes[n].role == Role::Switch).then(|| {
                add_iface(d, NodeId(n), BRIDGE_NAME.into(), IfaceKind::Bridge { vlan_filtering: false })
            })
        })
        .collect()
}

fn add_iface(d: &mut Draft<'_>, node: NodeId, name: String, kind: IfaceKind) -> IfaceId {
    d.add_iface(
        node,
        Iface {
            name,
            kind,
            addresses: Vec::new(),
            mac: None,
            mtu: None,
            up: true,
            impair: None,
            declared: false,
        },
    )
}

/// Switches that have port options of their own: written on their own interfaces, or on a
/// host's or router's cable to them. Options written on another switch's end of a
/// switch-to-switch cable do not count: they configure that other switch.
fn vlan_aware_switches(
    d: &Draft<'_>,
    veths: &[(IfaceId, &IfaceDoc)],
    options: &HashMap<IfaceId, Options>,
) -> HashSet<NodeId> {
    let mut aware = HashSet::new();
    for (id, doc) in veths {
        if options[id].span.is_none() {
            continue;
        }
        if d.role(id.node) == Role::Switch {
            aware.insert(id.node);
            continue;
        }
        let far =
            veth_doc(doc).link.as_ref().map(|l| l.get_ref().split(':').next().unwrap_or_default().to_owned());
        if let Some(far) = far.and_then(|name| d.node_id(&name)).filter(|n| d.role(*n) == Role::Switch) {
            aware.insert(far);
        }
    }
    aware
}

/// What cable ends need to know: each switch's bridge, each veth's port options, and which
/// switches have VLANs of their own.
struct Ends<'a> {
    bridges: &'a [Option<IfaceId>],
    options: &'a HashMap<IfaceId, Options>,
    vlan_aware: &'a HashSet<NodeId>,
}

impl Ends<'_> {
    /// The port an interface is, when its node is a switch, with these VLANs.
    fn port(&self, d: &Draft<'_>, node: NodeId, vlans: &PortVlans) -> Option<PortVlans> {
        (d.role(node) == Role::Switch).then(|| PortVlans { master: self.bridges[node.0], ..vlans.clone() })
    }

    /// The options of an end that has none of its own, given the other end's: the same,
    /// unless both ends are switches and this one has no VLANs elsewhere, in which case its
    /// end is a plain port (an unmanaged switch passes frames on, tags and all).
    fn inherited<'v>(
        &self,
        d: &Draft<'_>,
        node: NodeId,
        other: NodeId,
        vlans: &'v PortVlans,
    ) -> Option<&'v PortVlans> {
        let switch_to_plain_switch =
            d.role(node) == Role::Switch && d.role(other) == Role::Switch && !self.vlan_aware.contains(&node);
        (!switch_to_plain_switch).then_some(vlans)
    }

    fn options_of(&self, id: IfaceId) -> Option<&Options> {
        self.options.get(&id).filter(|o| o.span.is_some())
    }
}

fn cable_to_switch(d: &mut Draft<'_>, id: IfaceId, link: &Spanned<String>, ends: &Ends<'_>) {
    let Some(switch) = find_switch(d, id.node, link) else { return };
    let port_name = port_name(d, switch, id);
    let vlans = &ends.options[&id].vlans;
    let plain = PortVlans::default();
    let far_vlans = ends.port(d, switch, ends.inherited(d, switch, id.node, vlans).unwrap_or(&plain));
    let port = add_iface(d, switch, port_name, IfaceKind::Veth { peer: id, port: far_vlans });
    let own = ends.port(d, id.node, vlans);
    d.lab.nodes[id.node.0].ifaces[id.index].kind = IfaceKind::Veth { peer: port, port: own };
    d.lab.cables.push(Cable { a: port, b: id });
}

/// `link = "NODE:BRIDGE"`, a bridge inside a host: a new port of that bridge is made in the
/// host, as Docker makes a `veth` on `docker0` for each container; this end's port options
/// configure it.
fn cable_to_bridge(d: &mut Draft<'_>, id: IfaceId, bridge: IfaceId, ends: &Ends<'_>) {
    let port_name = port_name(d, bridge.node, id);
    let vlans = &ends.options[&id].vlans;
    let far_vlans = PortVlans { master: Some(bridge), ..vlans.clone() };
    let port = add_iface(d, bridge.node, port_name, IfaceKind::Veth { peer: id, port: Some(far_vlans) });
    let own = ends.port(d, id.node, vlans);
    d.lab.nodes[id.node.0].ifaces[id.index].kind = IfaceKind::Veth { peer: port, port: own };
    d.lab.cables.push(Cable { a: port, b: id });
}

/// `link = "SWITCH"`: the node must exist and be a switch other than this one.
fn find_switch(d: &Draft<'_>, home: NodeId, link: &Spanned<String>) -> Option<NodeId> {
    let name = link.get_ref();
    match d.node_id(name) {
        Some(node) if node == home => {
            d.error(
                Diagnostic::error(link.span(), "a cable cannot go from a switch to itself")
                    .label("this switch")
                    .help("link to another switch, or to `NODE:IFACE`"),
            );
            None
        }
        Some(node) if d.role(node) == Role::Switch => Some(node),
        Some(node) => {
            d.error(
                Diagnostic::error(
                    link.span(),
                    format!("`{name}` is a {}, not a switch", d.role(node).as_str()),
                )
                .label("`link = \"NAME\"` names a switch")
                .help(format!("for a cable to one of its interfaces write `link = \"{name}:IFACE\"`")),
            );
            None
        }
        None => {
            let mut e = Diagnostic::error(link.span(), format!("unknown switch `{name}`"))
                .label("no switch has this name");
            e = match d.closest(name, d.switches.len(), d.switch_names()) {
                Some(best) => e.help(format!("did you mean `{best}`?")),
                None => e.help(format!(
                    "add a [[switch]] named `{name}`, or write `link = \"NODE:IFACE\"` for a point-to-point cable"
                )),
            };
            d.error(e);
            None
        }
    }
}

/// A switch-side port name: `<node>-<iface>` when it fits, else `p<N>` (counted from the
/// switch's number of interfaces, so that finding a free one stays cheap).
fn port_name(d: &Draft<'_>, switch: NodeId, far: IfaceId) -> String {
    let taken = |name: &str| d.iface_id(switch, name).is_some();
    let wanted = format!("{}-{}", d.lab.node(far.node).name, d.lab.iface(far).name);
    if valid_iface_name(&wanted).is_ok() && !taken(&wanted) {
        return wanted;
    }
    let first = d.lab.node(switch).ifaces.len();
    (first..).map(|n| format!("p{n}")).find(|name| !taken(name)).unwrap_or_default()
}

fn cable_to_iface(
    d: &mut Draft<'_>,
    id: IfaceId,
    link: &Spanned<String>,
    node: &str,
    iface: &str,
    ends: &Ends<'_>,
) {
    let Some(far_node) = d.resolve_node(&Spanned::new(link.span(), node.to_owned())) else { return };
    if let Some(bridge) = d.iface_id(far_node, iface).filter(|b| d.kinds.get(b) == Some(&Kind::Bridge)) {
        return cable_to_bridge(d, id, bridge, ends);
    }
    check_options_reach_a_switch(d, id, far_node, ends);
    let far = match d.iface_id(far_node, iface) {
        Some(far) if !far_end_agrees(d, id, far, link) => return,
        Some(far) if far < id => return, // the cable was made from the other end
        Some(far) => far,
        None => match new_far_end(d, far_node, iface, link) {
            Some(far) => far,
            None => return,
        },
    };
    // Options on one end configure the switch end(s); an end's own options win.
    let plain = PortVlans::default();
    let own_vlans = &ends.options[&id].vlans;
    let far_vlans = match ends.options_of(far) {
        Some(o) => &o.vlans,
        None => ends.inherited(d, far_node, id.node, own_vlans).unwrap_or(&plain),
    };
    let near_vlans = match ends.options_of(id) {
        Some(o) => &o.vlans,
        None => ends.inherited(d, id.node, far_node, far_vlans).unwrap_or(&plain),
    };
    let own = ends.port(d, id.node, near_vlans);
    let far_port = ends.port(d, far_node, far_vlans);
    d.lab.nodes[id.node.0].ifaces[id.index].kind = IfaceKind::Veth { peer: far, port: own };
    d.lab.nodes[far_node.0].ifaces[far.index].kind = IfaceKind::Veth { peer: id, port: far_port };
    d.lab.cables.push(Cable { a: id, b: far });
}

/// `access`, `trunk` and `hairpin` configure a switch port: one end must be a switch.
fn check_options_reach_a_switch(d: &Draft<'_>, id: IfaceId, far_node: NodeId, ends: &Ends<'_>) {
    let Some(span) = ends.options_of(id).and_then(|o| o.span.clone()) else { return };
    if d.role(id.node) == Role::Switch || d.role(far_node) == Role::Switch {
        return;
    }
    d.error(
        Diagnostic::error(span, "port options need a switch at one end of the cable")
            .label(format!(
                "`{}` and `{}` are not switches",
                d.lab.node(id.node).name,
                d.lab.node(far_node).name
            ))
            .help(
                "`access`, `trunk` and `hairpin` configure a switch port: link to a switch, or remove them",
            ),
    );
}

/// A far end that exists must be a declared veth naming this interface back.
fn far_end_agrees(d: &Draft<'_>, id: IfaceId, far: IfaceId, link: &Spanned<String>) -> bool {
    let far_label = d.lab.iface_label(far);
    let Some(far_doc) = d.declared.get(&far) else {
        d.error(
            Diagnostic::error(link.span(), format!("`{far_label}` is already the end of another cable"))
                .label("taken")
                .help("each interface ends one cable; name another interface"),
        );
        return false;
    };
    if far == id {
        d.error(
            Diagnostic::error(link.span(), "a cable cannot connect an interface to itself")
                .label("this interface")
                .help("name another interface"),
        );
        return false;
    }
    if d.kinds.get(&far) != Some(&Kind::Veth) {
        d.error(
            Diagnostic::error(link.span(), format!("`{far_label}` is not a cable end"))
                .label(format!(
                    "`{far_label}` is {}",
                    crate::topology::diagnostic::a(
                        far_doc.kind.as_ref().map_or("sub-interface", |k| k.get_ref())
                    )
                ))
                .related(far_doc.span.clone(), "defined here")
                .help("a point-to-point cable joins two veth interfaces"),
        );
        return false;
    }
    let back = veth_doc(far_doc).link.as_ref().map(|l| l.get_ref().as_str());
    let me = d.lab.iface_label(id);
    if back != Some(me.as_str()) {
        let back_span = veth_doc(far_doc).link.as_ref().map_or(far_doc.span.clone(), |l| l.span());
        d.error(
            Diagnostic::error(link.span(), "the two ends of this cable name different peers")
                .label(format!("`{me}` links to `{far_label}`"))
                .related(back_span, format!("but `{far_label}` links to `{}`", back.unwrap_or("?")))
                .help(format!("make both ends name each other: `link = \"{me}\"` on `{far_label}`")),
        );
        return false;
    }
    true
}

/// `link = "NODE:IFACE"` to an interface declared nowhere: lab makes that end, bare.
fn new_far_end(d: &mut Draft<'_>, node: NodeId, name: &str, link: &Spanned<String>) -> Option<IfaceId> {
    let problem = match valid_iface_name(name) {
        Err(problem) => Some(problem),
        Ok(()) if name == "lo" => Some("is the loopback device".into()),
        Ok(()) if d.role(node) == Role::Switch && name == BRIDGE_NAME => {
            Some("is the switch's bridge".into())
        }
        Ok(()) => None,
    };
    if let Some(problem) = problem {
        d.error(
            Diagnostic::error(link.span(), format!("the interface name `{name}` {problem}"))
                .label("cannot be the far end of a cable")
                .help(IFACE_NAME_RULE),
        );
        return None;
    }
    Some(add_iface(d, node, name.to_owned(), IfaceKind::Dummy))
}

fn decide_vlan_filtering(d: &mut Draft<'_>, bridge: IfaceId) {
    let filtering = ports_of(d, bridge).any(PortVlans::has_vlans);
    d.lab.nodes[bridge.node.0].ifaces[bridge.index].kind = IfaceKind::Bridge { vlan_filtering: filtering };
}
