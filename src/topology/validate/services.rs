//! Services and shared namespaces: the `[[host.listen]]` services lab serves from inside a
//! node, and `netns = "NODE"`, a node that lives in another node's namespace (Docker's
//! container and host models). Runs once every address is known.

use super::super::diagnostic::Diagnostic;
use super::super::document::{ListenDoc, NodeDoc};
use super::super::reader::S;
use super::Draft;
use crate::model::{L4, Listener, NodeId, Role};
use std::collections::HashMap;

pub fn check(d: &mut Draft<'_>) {
    for n in 0..d.lab.nodes.len() {
        let node = NodeId(n);
        if let Some(home) = d.node_doc(node).netns.as_ref() {
            d.lab.nodes[n].joins = joined(d, node, home);
        }
    }
    for n in 0..d.lab.nodes.len() {
        let listeners =
            d.node_doc(NodeId(n)).listen.iter().filter_map(|l| listener(d, NodeId(n), l)).collect();
        d.lab.nodes[n].listeners = listeners;
    }
    warn_of_shared_ports(d);
}

/// `netns = "HOME"`: an existing host or router that lives in its own namespace, and a
/// joining node with nothing of its own that a namespace holds.
fn joined(d: &Draft<'_>, node: NodeId, home: &S<String>) -> Option<NodeId> {
    let target = d.resolve_node(home)?;
    let problem = if target == node {
        Some("a node cannot join its own namespace".to_string())
    } else if d.role(target) == Role::Switch {
        Some(format!("`{}` is a switch: its namespace holds only its bridge", home.get_ref()))
    } else if d.node_doc(target).netns.is_some() {
        Some(format!("`{}` itself joins another node's namespace", home.get_ref()))
    } else if d.role(node) != Role::Host {
        Some("only a [[host]] can join another node's namespace".to_string())
    } else {
        None
    };
    if let Some(problem) = problem {
        d.error(
            Diagnostic::error(home.span(), problem)
                .label("cannot share this namespace")
                .help("name a host or router that has a namespace of its own"),
        );
        return None;
    }
    report_own_network(d, d.node_doc(node), home.get_ref());
    report_cables_into(d, node, home.get_ref());
    Some(target)
}

/// A cable whose far end names an interface of a joining node would make that interface in
/// the node's namespace, which is another's: the cable must name the home's interface.
fn report_cables_into(d: &Draft<'_>, node: NodeId, home: &str) {
    for iface in d.lab.node(node).ifaces.iter().filter(|i| !i.declared) {
        let crate::model::IfaceKind::Veth { peer, .. } = iface.kind else { continue };
        d.error(
            Diagnostic::error(
                d.iface_span(peer),
                format!("this cable ends in `{}`, which has no interfaces of its own", d.lab.node(node).name),
            )
            .label(format!("`{}` lives in `{home}`'s namespace", d.lab.node(node).name))
            .help(format!("link to an interface of `{home}` instead: `link = \"{home}:{}\"`", iface.name)),
        );
    }
}

/// A node that joins another's namespace uses that namespace's interfaces, routes and
/// sysctls: it can declare none of its own.
fn report_own_network(d: &Draft<'_>, doc: &NodeDoc, home: &str) {
    let own = [
        doc.ifaces.first().map(|i| (i.span.clone(), "interfaces")),
        doc.routes.first().map(|r| (r.span.clone(), "routes")),
        doc.sysctl.first().map(|(k, _)| (k.span(), "sysctls")),
    ];
    for (span, what) in own.into_iter().flatten() {
        d.error(
            Diagnostic::error(span, format!("a node in `{home}`'s namespace has no {what} of its own"))
                .label("it shares those of the namespace it joins")
                .help(format!("declare them on `{home}`, or remove `netns`")),
        );
    }
}

fn listener(d: &Draft<'_>, node: NodeId, doc: &ListenDoc) -> Option<Listener> {
    if d.role(node) == Role::Switch {
        d.error(
            Diagnostic::error(doc.span.clone(), "a switch runs no services")
                .label("switches only forward")
                .help("put the service on a host or router"),
        );
        return None;
    }
    let proto = match &doc.proto {
        Some(proto) => l4(d, proto)?,
        None => L4::Tcp,
    };
    let Some(port) = &doc.port else {
        if doc.written.has("port") {
            return None;
        }
        d.error(
            Diagnostic::error(doc.span.clone(), "a service needs a `port`")
                .label("which port?")
                .help("add `port = 80`"),
        );
        return None;
    };
    let port = port_number(d, port)?;
    let addr = doc.addr.as_ref().map(|a| *a.get_ref());
    if let (Some(addr), Some(span)) = (addr, doc.addr.as_ref().map(|a| a.span())) {
        let home = d.lab.node(node).joins.unwrap_or(node);
        if !d.has_address(home, addr) && !addr.is_loopback() && !addr.is_unspecified() {
            d.error(
                Diagnostic::error(span, format!("{addr} is not an address of `{}`", d.lab.node(home).name))
                    .label("the kernel cannot bind it (EADDRNOTAVAIL)")
                    .help("listen on one of the node's addresses, or remove `addr` to listen on all"),
            );
            return None;
        }
    }
    Some(Listener { proto, port, addr })
}

/// `proto = "tcp" | "udp"`.
pub(super) fn l4(d: &Draft<'_>, proto: &S<String>) -> Option<L4> {
    match proto.get_ref().as_str() {
        "tcp" => Some(L4::Tcp),
        "udp" => Some(L4::Udp),
        other => {
            d.error(
                Diagnostic::error(proto.span(), format!("unknown transport `{other}`"))
                    .label("not a service protocol")
                    .help("write `proto = \"tcp\"` or `proto = \"udp\"`"),
            );
            None
        }
    }
}

/// A TCP or UDP port: 1..65535 (port 0 asks the kernel for any).
pub(super) fn port_number(d: &Draft<'_>, port: &S<i64>) -> Option<u16> {
    match u16::try_from(*port.get_ref()) {
        Ok(p) if p > 0 => Some(p),
        _ => {
            d.error(
                Diagnostic::error(port.span(), format!("port {} is outside 1..65535", port.get_ref()))
                    .label("not a port")
                    .help("write a port like 80 or 8080"),
            );
            None
        }
    }
}

/// Two services on one port of one namespace: the kernel lets only the first listen; a
/// warning, since that is what the host model shows.
fn warn_of_shared_ports(d: &Draft<'_>) {
    /// The address a port is served on (every one: `None`), and by which node.
    type Served = (Option<std::net::IpAddr>, NodeId);
    let mut bound: HashMap<(NodeId, L4, u16), Vec<Served>> = HashMap::new();
    for n in 0..d.lab.nodes.len() {
        let node = NodeId(n);
        let home = d.lab.node(node).joins.unwrap_or(node);
        for (i, listener) in d.lab.node(node).listeners.iter().enumerate() {
            let earlier = bound.entry((home, listener.proto, listener.port)).or_default();
            // Every address takes the port on all of them; two single addresses share it.
            let clash = earlier
                .iter()
                .find(|(addr, _)| addr.is_none() || listener.addr.is_none() || *addr == listener.addr);
            if let Some((_, owner)) = clash {
                let span = d.node_doc(node).listen[i].span.clone();
                d.error(
                    Diagnostic::warning(
                        span,
                        format!(
                            "{} port {} is already served in this namespace, by `{}`",
                            listener.proto.as_str(),
                            listener.port,
                            d.lab.node(*owner).name
                        ),
                    )
                    .label("the kernel refuses the second listener (EADDRINUSE)")
                    .help(
                        "expect it with `listener = \"NODE:PORT\"` and `bound = false`, or use another port",
                    ),
                );
            }
            earlier.push((listener.addr, node));
        }
    }
}
