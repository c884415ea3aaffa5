//! NAT: a node's `[host.nat]` (masquerade, published ports, hairpin, localhost) becomes a
//! `nat::Nat`, every reference resolved to addresses of the lab. Runs once every address is
//! known. A node with NAT forwards IPv4 (as Docker turns on `ip_forward`), and one that
//! reaches its published ports at 127.0.0.1 routes localnet (`route_localnet`).

use super::super::diagnostic::Diagnostic;
use super::super::document::{MasqueradeDoc, NatDoc, PublishDoc};
use super::super::reader::S;
use super::Draft;
use super::services::{l4, port_number};
use crate::model::{L4, NodeId, Role};
use crate::nat::{Masquerade, Nat, Publish};
use ipnet::{IpNet, Ipv4Net};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

/// What a node with NAT writes before its own sysctls: forwarding, and for `localhost`,
/// routing of 127/8 once DNATed.
pub const FORWARDING: (&str, &str) = ("net.ipv4.ip_forward", "1");
pub const ROUTE_LOCALNET: (&str, &str) = ("net.ipv4.conf.all.route_localnet", "1");

pub fn check(d: &mut Draft<'_>) {
    for n in 0..d.lab.nodes.len() {
        let node = NodeId(n);
        if let Some(doc) = &d.node_doc(node).nat {
            d.lab.nodes[n].nat = nat(d, node, doc);
        }
    }
}

fn nat(d: &Draft<'_>, node: NodeId, doc: &NatDoc) -> Option<Nat> {
    let refusal = match (d.role(node), d.lab.node(node).joins) {
        (Role::Switch, _) => Some("a switch does no NAT: it forwards frames, not packets".to_string()),
        (_, Some(home)) => {
            Some(format!("NAT belongs to the namespace: write it on `{}`", d.lab.node(home).name))
        }
        _ => None,
    };
    if let Some(refusal) = refusal {
        d.error(
            Diagnostic::error(doc.span.clone(), refusal)
                .label("no NAT here")
                .help("put `[host.nat]` on the host or router that owns the namespace and its addresses"),
        );
        return None;
    }
    let masquerade: Vec<Masquerade> = doc.masquerade.iter().filter_map(|m| masquerade(d, node, m)).collect();
    let publish: Vec<Publish> = doc.publish.iter().filter_map(|p| publish(d, node, p)).collect();
    check_published_once(d, doc, &publish);
    let hairpin = match &doc.hairpin {
        Some(h) if *h.get_ref() => hairpin_subnets(d, &publish),
        _ => Vec::new(),
    };
    if let (true, Some(h)) = (doc.publish.is_empty(), doc.hairpin.as_ref().filter(|h| *h.get_ref())) {
        d.error(
            Diagnostic::warning(h.span(), "`hairpin` without a published port")
                .label("no published port to come back to")
                .help("add a `publish` entry, or remove `hairpin`"),
        );
    }
    let localhost = doc.localhost.as_ref().is_some_and(|l| *l.get_ref());
    if let (true, Some(l)) = (publish.is_empty(), doc.localhost.as_ref().filter(|l| *l.get_ref())) {
        d.error(
            Diagnostic::warning(l.span(), "`localhost` without a published port")
                .label("nothing to reach at 127.0.0.1")
                .help("add a `publish` entry, or remove `localhost`"),
        );
    }
    let complete = masquerade.len() == doc.masquerade.len() && publish.len() == doc.publish.len();
    complete.then_some(Nat { masquerade, publish, hairpin, localhost })
}

fn masquerade(d: &Draft<'_>, node: NodeId, doc: &MasqueradeDoc) -> Option<Masquerade> {
    let Some(from) = &doc.from else {
        // A `from` of the wrong type is reported already.
        if doc.written.has("from") {
            return None;
        }
        d.error(
            Diagnostic::error(doc.span.clone(), "a masquerade rule needs `from`")
                .label("whose packets?")
                .help(
                    "add `from = \"172.17.0.0/16\"`, the subnet whose packets leave with this node's address",
                ),
        );
        return None;
    };
    let from = ipv4_prefix(d, from)?;
    if let (Some(out), Some(out_not)) = (&doc.out, &doc.out_not) {
        d.error(
            Diagnostic::error(out_not.span(), "`out` and `out_not` exclude each other")
                .label("both written")
                .related(out.span(), "`out`")
                .help("keep `out` (only packets leaving there) or `out_not` (all but those leaving there)"),
        );
        return None;
    }
    for name in [&doc.out, &doc.out_not].into_iter().flatten() {
        d.resolve_iface(name, Some(node))?;
    }
    Some(Masquerade {
        from,
        out: doc.out.as_ref().map(|o| o.get_ref().clone()),
        out_not: doc.out_not.as_ref().map(|o| o.get_ref().clone()),
    })
}

/// An IPv4 prefix without host bits: lab's NAT is IPv4's, as Docker's default is.
fn ipv4_prefix(d: &Draft<'_>, net: &S<IpNet>) -> Option<Ipv4Net> {
    let IpNet::V4(v4) = net.get_ref() else {
        d.error(
            Diagnostic::error(net.span(), "lab's NAT is IPv4 only")
                .label("an IPv6 prefix")
                .help("masquerade an IPv4 subnet; IPv6 needs no NAT"),
        );
        return None;
    };
    if v4.trunc() != *v4 {
        d.error(
            Diagnostic::error(net.span(), format!("{v4} has host bits set"))
                .label("not a network prefix")
                .help(format!("write \"{}\"", v4.trunc())),
        );
        return None;
    }
    Some(*v4)
}

fn publish(d: &Draft<'_>, node: NodeId, doc: &PublishDoc) -> Option<Publish> {
    let proto = match &doc.proto {
        Some(proto) => l4(d, proto)?,
        None => L4::Tcp,
    };
    let (Some(port), Some(to)) = (&doc.port, &doc.to) else {
        // A `port` or `to` of the wrong type is reported already.
        if ["port", "to"].iter().all(|k| doc.written.has(k)) {
            return None;
        }
        d.error(
            Diagnostic::error(doc.span.clone(), "a published port needs `port` and `to`")
                .label("which port, to where?")
                .help("write `{ port = 8080, to = \"c1:80\" }`: the node's port 8080 goes to c1's port 80"),
        );
        return None;
    };
    let port = port_number(d, port)?;
    let host_ip = match &doc.host_ip {
        Some(ip) => Some(own_ipv4(d, node, ip)?),
        None => None,
    };
    let (to, to_port) = destination(d, to)?;
    Some(Publish { proto, port, host_ip, to, to_port })
}

/// `host_ip`: one of the node's own IPv4 addresses.
fn own_ipv4(d: &Draft<'_>, node: NodeId, ip: &S<IpAddr>) -> Option<Ipv4Addr> {
    match ip.get_ref() {
        IpAddr::V4(v4) if d.has_address(node, *ip.get_ref()) => Some(*v4),
        _ => {
            d.error(
                Diagnostic::error(
                    ip.span(),
                    format!("{} is not an IPv4 address of `{}`", ip.get_ref(), d.lab.node(node).name),
                )
                .label("packets to it never reach this node's NAT")
                .help("name one of the node's IPv4 addresses, or remove `host_ip` to publish on all"),
            );
            None
        }
    }
}

/// `to = "NODE:PORT"`, `"NODE:IFACE:PORT"` or `"IP:PORT"`: an IPv4 address and a port.
fn destination(d: &Draft<'_>, to: &S<String>) -> Option<(Ipv4Addr, u16)> {
    let text = to.get_ref();
    if text.starts_with('[') {
        d.error(
            Diagnostic::error(to.span(), "lab's NAT is IPv4 only")
                .label("an IPv6 destination")
                .help("publish to an IPv4 address or a node with one: `to = \"c1:80\"`"),
        );
        return None;
    }
    let parsed = text.rsplit_once(':').and_then(|(host, port)| Some((host, port.parse::<i64>().ok()?)));
    let Some((host, port)) = parsed else {
        d.error(
            Diagnostic::error(to.span(), format!("`{text}` is not NODE:PORT or IP:PORT"))
                .label("where do published packets go?")
                .help("write `to = \"c1:80\"` or `to = \"172.17.0.2:80\"`"),
        );
        return None;
    };
    let port = port_number(d, &S::new(to.span(), port))?;
    if let Ok(IpAddr::V4(addr)) = host.parse::<IpAddr>() {
        return Some((addr, port));
    }
    let ids = if host.contains(':') {
        vec![d.resolve_iface(&S::new(to.span(), host.to_owned()), None)?]
    } else {
        let node = d.lab.home(d.resolve_node(&S::new(to.span(), host.to_owned()))?);
        (0..d.lab.node(node).ifaces.len()).map(|index| crate::model::IfaceId { node, index }).collect()
    };
    let found = ids.iter().flat_map(|id| &d.lab.iface(*id).addresses).find_map(|a| match a.addr() {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    });
    if found.is_none() {
        d.error(
            Diagnostic::error(to.span(), format!("`{host}` has no IPv4 address to publish to"))
                .label("no address")
                .help("give it an IPv4 address, or write the address: `to = \"IP:PORT\"`"),
        );
    }
    Some((found?, port))
}

/// One port of one address is published once: the kernel would take the first rule only.
fn check_published_once(d: &Draft<'_>, doc: &NatDoc, publish: &[Publish]) {
    if publish.len() != doc.publish.len() {
        return;
    }
    let mut seen: HashMap<(L4, u16), Option<Ipv4Addr>> = HashMap::new();
    for (p, written) in publish.iter().zip(&doc.publish) {
        let clash = match seen.get(&(p.proto, p.port)) {
            Some(earlier) => earlier.is_none() || p.host_ip.is_none() || *earlier == p.host_ip,
            None => false,
        };
        if clash {
            d.error(
                Diagnostic::error(
                    written.span.clone(),
                    format!("{} port {} is published twice", p.proto.as_str(), p.port),
                )
                .label("the first rule would take every packet")
                .help("publish each port of an address once"),
            );
        }
        seen.entry((p.proto, p.port)).or_insert(p.host_ip);
    }
}

/// The subnets of the published destinations, as the lab has them: hairpin traffic is the
/// DNATed traffic from such a subnet back into it.
fn hairpin_subnets(d: &Draft<'_>, publish: &[Publish]) -> Vec<Ipv4Net> {
    let mut subnets: Vec<Ipv4Net> = publish
        .iter()
        .filter_map(|p| {
            d.lab.nodes.iter().flat_map(|n| n.ifaces.iter().flat_map(|i| &i.addresses)).find_map(
                |a| match a {
                    IpNet::V4(v4) if v4.addr() == p.to => Some(v4.trunc()),
                    _ => None,
                },
            )
        })
        .collect();
    subnets.sort();
    subnets.dedup();
    subnets
}
