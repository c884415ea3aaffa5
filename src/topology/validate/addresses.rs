//! Layer 3: addresses (unique in the lab), MAC and MTU, gateways and `default_dev`, and
//! static routes whose next hop a connected subnet must reach.

use super::super::diagnostic::{Diagnostic, Span};
use super::super::document::RouteDoc;
use super::Draft;
use crate::model::{Destination, IfaceId, IfaceKind, Mac, NodeId, Role, Route};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use toml::Spanned;

pub fn check(d: &mut Draft<'_>) {
    interface_settings(d);
    unique_addresses(d);
    unique_macs(d);
    for n in 0..d.lab.nodes.len() {
        let node = NodeId(n);
        let mut defaults = Defaults::default();
        interface_routes(d, node, &mut defaults);
        node_routes(d, node, &mut defaults);
    }
}

fn interface_settings(d: &mut Draft<'_>) {
    let declared: Vec<_> = d.declared.iter().map(|(id, doc)| (*id, *doc)).collect();
    for (id, doc) in declared {
        if d.role(id.node) == Role::Switch {
            let l3 = [
                doc.addresses.first().map(|a| a.span()),
                doc.gateway.as_ref().map(|g| g.span()),
                doc.default_dev.as_ref().map(|g| g.span()),
            ];
            if let Some(v6) = doc.addresses.iter().find(|a| matches!(a.get_ref(), IpNet::V6(_))) {
                d.error(
                    Diagnostic::error(v6.span(), "an IPv6 address on a switch interface")
                        .label("a switch's namespace has IPv6 off: it forwards frames and needs no address")
                        .help("give the address to a [[router]] or [[host]] interface on this switch"),
                );
            }
            if let Some(span) = l3.into_iter().flatten().next() {
                d.error(
                    Diagnostic::warning(span, "an address or route on a switch port")
                        .label("the port belongs to the bridge: frames arriving on it are switched, not delivered to this address")
                        .help("to give the segment a gateway or a host, put the address on a [[router]] or [[host]] interface linked to this switch"),
                );
            }
        }
        for address in &doc.addresses {
            check_address(d, address);
        }
        let addresses = doc.addresses.iter().map(|a| *a.get_ref()).collect();
        let mtu = doc.mtu.as_ref().and_then(|m| mtu(d, m));
        if let Some(mac) = &doc.mac {
            check_mac(d, mac);
        }
        let iface = &mut d.lab.nodes[id.node.0].ifaces[id.index];
        iface.addresses = addresses;
        iface.mtu = mtu;
    }
}

fn mtu(d: &Draft<'_>, value: &Spanned<i64>) -> Option<u32> {
    match u32::try_from(*value.get_ref()) {
        Ok(mtu) if (68..=65535).contains(&mtu) => Some(mtu),
        _ => {
            d.error(
                Diagnostic::error(value.span(), format!("MTU {} is outside 68..65535", value.get_ref()))
                    .label("the kernel would refuse it")
                    .help("Ethernet uses 1500; jumbo frames 9000"),
            );
            None
        }
    }
}

/// IPv6 addresses the kernel refuses on a device; every IPv4 address is accepted.
fn check_address(d: &Draft<'_>, address: &Spanned<IpNet>) {
    let IpNet::V6(net) = address.get_ref() else { return };
    let ip = net.addr();
    let problem = if ip.is_loopback() {
        "is the loopback address"
    } else if ip.is_multicast() {
        "is a multicast address"
    } else if ip.is_unspecified() {
        "is the unspecified address"
    } else {
        return;
    };
    d.error(
        Diagnostic::error(address.span(), format!("{ip} {problem}"))
            .label("the kernel refuses it for a device")
            .help("give the interface a unicast address, like \"2001:db8::1/64\""),
    );
}

fn check_mac(d: &Draft<'_>, mac: &Spanned<Mac>) {
    let bytes = mac.get_ref().0;
    let problem = if bytes == [0; 6] {
        Some("is all zeros")
    } else if bytes[0] & 1 == 1 {
        Some("is a multicast address (lowest bit of the first byte set)")
    } else {
        None
    };
    if let Some(problem) = problem {
        d.error(
            Diagnostic::error(mac.span(), format!("the MAC {} {problem}", mac.get_ref()))
                .label("the kernel refuses it for a device")
                .help("use a locally administered unicast MAC, like 02:00:00:00:00:01"),
        );
    }
}

/// Where each address and MAC was first written, to point at both copies.
fn unique_addresses(d: &Draft<'_>) {
    let mut first: HashMap<IpAddr, (Span, IfaceId)> = HashMap::new();
    for (id, doc) in sorted_declared(d) {
        for address in &doc.addresses {
            let ip = address.get_ref().addr();
            match first.get(&ip) {
                Some((span, owner)) => d.error(
                    Diagnostic::error(address.span(), format!("address {ip} is used twice in the lab"))
                        .label(format!("on `{}`", d.lab.iface_label(id)))
                        .related(span.clone(), format!("already on `{}`", d.lab.iface_label(*owner)))
                        .help("every address belongs to one interface; change one of them"),
                ),
                None => {
                    first.insert(ip, (address.span(), id));
                }
            }
        }
    }
}

fn unique_macs(d: &Draft<'_>) {
    let mut first: HashMap<Mac, Span> = HashMap::new();
    for (_, doc) in sorted_declared(d) {
        let Some(mac) = &doc.mac else { continue };
        match first.get(mac.get_ref()) {
            Some(span) => d.error(
                Diagnostic::error(mac.span(), format!("MAC {} is used twice in the lab", mac.get_ref()))
                    .label("second use")
                    .related(span.clone(), "first use")
                    .help("two devices with one MAC confuse every switch and neighbour table; change one"),
            ),
            None => {
                first.insert(*mac.get_ref(), mac.span());
            }
        }
    }
}

fn sorted_declared<'d>(d: &Draft<'d>) -> Vec<(IfaceId, &'d super::super::document::IfaceDoc)> {
    let mut all: Vec<_> = d.declared.iter().map(|(id, doc)| (*id, *doc)).collect();
    all.sort_by_key(|(_, doc)| doc.span.start);
    all
}

/// Default routes already added in a node, per family, to refuse a second one.
#[derive(Default)]
struct Defaults {
    v4: Option<Span>,
    v6: Option<Span>,
}

impl Defaults {
    fn claim(&mut self, d: &Draft<'_>, v6: bool, span: Span) {
        let slot = if v6 { &mut self.v6 } else { &mut self.v4 };
        match slot {
            Some(first) => d.error(
                Diagnostic::error(span, format!("a second default {} route in this node", if v6 { "IPv6" } else { "IPv4" }))
                    .label("second default")
                    .related(first.clone(), "first default")
                    .help("a node has one default route per family (the kernel refuses a second): keep one, route the rest with `routes`"),
            ),
            None => *slot = Some(span),
        }
    }
}

/// `gateway` and `default_dev` of each interface become default routes.
fn interface_routes(d: &mut Draft<'_>, node: NodeId, defaults: &mut Defaults) {
    for (index, doc) in d.node_doc(node).ifaces.iter().enumerate() {
        let id = IfaceId { node, index };
        let default_dev = doc.default_dev.as_ref().filter(|v| *v.get_ref());
        if let (Some(gateway), Some(dev)) = (&doc.gateway, default_dev) {
            d.error(
                Diagnostic::error(dev.span(), "`gateway` and `default_dev` both add a default route")
                    .label("default dev")
                    .related(gateway.span(), "default via")
                    .help("keep one: `gateway` for a next hop that answers ARP, `default_dev` for ipvlan L3"),
            );
            continue;
        }
        if let Some(gateway) = &doc.gateway {
            check_gateway(d, id, gateway);
            defaults.claim(d, gateway.get_ref().is_ipv6(), gateway.span());
            push_route(
                d,
                node,
                Route {
                    to: Destination::Default { v6: gateway.get_ref().is_ipv6() },
                    via: Some(*gateway.get_ref()),
                    dev: Some(index),
                },
            );
        }
        if let Some(dev) = default_dev {
            if !d.lab.iface(id).up {
                refuse_down(d, id, dev.span());
                continue;
            }
            for v6 in families(d, id) {
                defaults.claim(d, v6, dev.span());
                push_route(d, node, Route { to: Destination::Default { v6 }, via: None, dev: Some(index) });
            }
        }
    }
}

/// The families a device-only default route is added for: IPv4, and IPv6 when the
/// interface has an IPv6 address.
fn families(d: &Draft<'_>, id: IfaceId) -> Vec<bool> {
    let has_v6 = d.lab.iface(id).addresses.iter().any(|a| matches!(a, IpNet::V6(_)));
    if has_v6 { vec![false, true] } else { vec![false] }
}

fn push_route(d: &mut Draft<'_>, node: NodeId, route: Route) {
    d.lab.nodes[node.0].routes.push(route);
}

fn check_gateway(d: &Draft<'_>, id: IfaceId, gateway: &Spanned<IpAddr>) {
    let iface = d.lab.iface(id);
    if let IfaceKind::Ipvlan { mode, .. } = iface.kind {
        if mode.is_l3() {
            d.error(
                Diagnostic::warning(
                    gateway.span(),
                    format!("a `gateway` on an ipvlan {} child", mode.as_str()),
                )
                .label("L3 mode has no ARP: the gateway's MAC is never learned")
                .help("use `default_dev = true`: the parent's namespace routes for L3 children"),
            );
            return;
        }
    }
    if !iface.up {
        refuse_down(d, id, gateway.span());
        return;
    }
    if !check_next_hop(d, &iface.addresses, gateway) {
        return;
    }
    if !on_link(&iface.addresses, *gateway.get_ref()) {
        let subnets: Vec<String> = iface.addresses.iter().map(|a| a.trunc().to_string()).collect();
        d.error(
            Diagnostic::error(
                gateway.span(),
                format!(
                    "gateway {} is outside every subnet of `{}`",
                    gateway.get_ref(),
                    d.lab.iface_label(id)
                ),
            )
            .label("not reachable from this interface")
            .help(if subnets.is_empty() {
                "give the interface an address in the gateway's subnet".to_string()
            } else {
                format!("the interface is on {}: pick a gateway there", subnets.join(", "))
            }),
        );
    }
}

/// A next hop may not be one of the interface's own addresses, nor (IPv4) a subnet's
/// broadcast address: the kernel refuses both.
fn check_next_hop(d: &Draft<'_>, addresses: &[IpNet], hop: &Spanned<IpAddr>) -> bool {
    let ip = *hop.get_ref();
    let problem = addresses.iter().find_map(|net| {
        if net.addr() == ip {
            Some(format!("{ip} is this interface's own address"))
        } else if super::broadcast_of(net) == Some(ip) {
            Some(format!("{ip} is the broadcast address of {}", net.trunc()))
        } else {
            None
        }
    });
    let Some(problem) = problem else { return true };
    d.error(
        Diagnostic::error(hop.span(), problem)
            .label("the kernel refuses this next hop")
            .help("the next hop is another machine on the subnet: the router's address"),
    );
    false
}

/// A route through an interface that is down: the kernel refuses it.
fn refuse_down(d: &Draft<'_>, id: IfaceId, span: Span) {
    d.error(
        Diagnostic::error(span, format!("`{}` is down (`up = false`)", d.lab.iface_label(id)))
            .label("the kernel adds no route through a device that is down")
            .help("remove `up = false`, or route through another interface"),
    );
}

/// Whether an address is directly reachable from these interface addresses.
fn on_link(addresses: &[IpNet], ip: IpAddr) -> bool {
    is_link_local(ip) || addresses.iter().any(|net| net.contains(&ip))
}

fn is_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

fn node_routes(d: &mut Draft<'_>, node: NodeId, defaults: &mut Defaults) {
    let mut prefixes: HashMap<IpNet, Span> = HashMap::new();
    for doc in &d.node_doc(node).routes {
        for route in node_route(d, node, doc) {
            match route.to {
                Destination::Default { v6 } => defaults.claim(d, v6, doc.span.clone()),
                Destination::Net(net) => claim_prefix(d, node, net, doc.span.clone(), &mut prefixes),
            }
            push_route(d, node, route);
        }
    }
}

/// A prefix is routed once per node, and an IPv4 prefix never where the node is connected
/// (the kernel made that route already, with the same metric).
fn claim_prefix(d: &Draft<'_>, node: NodeId, net: IpNet, span: Span, seen: &mut HashMap<IpNet, Span>) {
    if let Some(first) = seen.get(&net) {
        d.error(
            Diagnostic::error(span, format!("a second route to {net} in this node"))
                .label("second route")
                .related(first.clone(), "first route")
                .help("the kernel refuses a second route to one prefix: keep one"),
        );
        return;
    }
    seen.insert(net, span.clone());
    let connected = d
        .lab
        .node(node)
        .ifaces
        .iter()
        .find(|i| i.up && matches!(net, IpNet::V4(_)) && i.addresses.iter().any(|a| a.trunc() == net));
    if let Some(iface) = connected {
        d.error(
            Diagnostic::error(span, format!("{net} is connected on `{}` already", iface.name))
                .label("the kernel made this route with the address")
                .help("remove this route: the node reaches that subnet directly"),
        );
    }
}

fn node_route(d: &Draft<'_>, node: NodeId, doc: &RouteDoc) -> Vec<Route> {
    let Some(to) = &doc.to else { return Vec::new() };
    let dev = match &doc.dev {
        Some(dev) => match d.resolve_iface(dev, Some(node)) {
            Some(id) if !d.lab.iface(id).up => {
                refuse_down(d, id, dev.span());
                return Vec::new();
            }
            Some(id) => Some(id),
            None => return Vec::new(),
        },
        None => None,
    };
    let Some(destinations) = destinations(d, to, doc, dev) else { return Vec::new() };
    match (&doc.via, dev) {
        (None, None) => {
            d.error(
                Diagnostic::error(doc.span.clone(), "a route needs `via` or `dev`")
                    .label("where does it go?")
                    .help("add `via = \"NEXT-HOP\"` or `dev = \"IFACE\"`"),
            );
            return Vec::new();
        }
        (Some(via), dev) => {
            if !check_via(d, node, via, dev, &destinations) {
                return Vec::new();
            }
        }
        (None, Some(_)) => {}
    }
    destinations
        .into_iter()
        .map(|to| Route { to, via: doc.via.as_ref().map(|v| *v.get_ref()), dev: dev.map(|i| i.index) })
        .collect()
}

/// `to`: "default" (per family), or a prefix without host bits.
fn destinations(
    d: &Draft<'_>,
    to: &Spanned<String>,
    doc: &RouteDoc,
    dev: Option<IfaceId>,
) -> Option<Vec<Destination>> {
    if to.get_ref() == "default" {
        return Some(match (&doc.via, dev) {
            (Some(via), _) => vec![Destination::Default { v6: via.get_ref().is_ipv6() }],
            (None, Some(dev)) => families(d, dev).into_iter().map(|v6| Destination::Default { v6 }).collect(),
            (None, None) => vec![Destination::Default { v6: false }],
        });
    }
    let Ok(net) = to.get_ref().parse::<IpNet>() else {
        d.error(
            Diagnostic::error(to.span(), format!("`to` has a bad value `{}`", to.get_ref()))
                .label("not a prefix")
                .help("write \"default\" or a prefix like \"10.10.40.0/24\""),
        );
        return None;
    };
    if net.trunc() != net {
        d.error(
            Diagnostic::error(to.span(), format!("{net} has host bits set"))
                .label("not a network prefix")
                .help(format!("write \"{}\"", net.trunc())),
        );
        return None;
    }
    Some(vec![if net.prefix_len() == 0 {
        Destination::Default { v6: matches!(net, IpNet::V6(_)) }
    } else {
        Destination::Net(net)
    }])
}

/// The next hop must be on a connected subnet (of `dev` when given) and of the right family.
fn check_via(
    d: &Draft<'_>,
    node: NodeId,
    via: &Spanned<IpAddr>,
    dev: Option<IfaceId>,
    to: &[Destination],
) -> bool {
    let v6 = via.get_ref().is_ipv6();
    let family_mismatch = to.iter().any(|t| match t {
        Destination::Default { v6: t6 } => *t6 != v6,
        Destination::Net(net) => matches!(net, IpNet::V6(_)) != v6,
    });
    if family_mismatch {
        d.error(
            Diagnostic::error(via.span(), "the next hop and the destination are of different families")
                .label("IPv4 and IPv6 mixed")
                .help("an IPv4 prefix needs an IPv4 `via`, an IPv6 prefix an IPv6 one"),
        );
        return false;
    }
    if dev.is_none() && is_link_local(*via.get_ref()) {
        d.error(
            Diagnostic::error(via.span(), format!("the link-local next hop {} needs a `dev`", via.get_ref()))
                .label("fe80::/10 is on every link: which one?")
                .help("add `dev = \"IFACE\"`: the interface the next hop is on"),
        );
        return false;
    }
    let ifaces: Vec<IfaceId> = match dev {
        Some(dev) => vec![dev],
        None => (0..d.lab.node(node).ifaces.len())
            .map(|index| IfaceId { node, index })
            .filter(|i| d.lab.iface(*i).up)
            .collect(),
    };
    let addresses: Vec<IpNet> = ifaces.iter().flat_map(|i| d.lab.iface(*i).addresses.clone()).collect();
    if !check_next_hop(d, &addresses, via) {
        return false;
    }
    let reachable = on_link(&addresses, *via.get_ref());
    if !reachable {
        d.error(
            Diagnostic::error(via.span(), format!("no connected subnet of `{}` reaches {}", d.lab.node(node).name, via.get_ref()))
                .label("next hop not on any link")
                .help("a next hop must be inside the subnet of one of the node's addresses; add that address or fix `via`"),
        );
    }
    reachable
}
