//! Layer 3: addresses (unique in the lab), MAC and MTU, gateways and `default_dev`, and
//! static routes whose next hop a connected subnet must reach.

use super::super::diagnostic::{Diagnostic, Span};
use super::super::document::RouteDoc;
use super::Draft;
use crate::kind::Kind;
use crate::model::{Destination, IfaceId, Mac, NodeId, Role, Route};
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
            no_ipv6_in_a_switch(d, doc);
        }
        if d.role(id.node) == Role::Switch && d.kinds.get(&id) == Some(&crate::kind::Kind::Veth) {
            switch_port_settings(d, doc);
        }
        let effective_mtu = d.mtus.get(&id).copied().unwrap_or(1500);
        for address in &doc.addresses {
            check_address(d, address, effective_mtu);
        }
        let addresses = doc.addresses.iter().map(|a| *a.get_ref()).collect();
        let mtu = doc.mtu.as_ref().and_then(|m| mtu(d, m, d.kinds.get(&id).copied()));
        if let Some(mac) = &doc.mac {
            check_mac(d, mac);
        }
        let iface = &mut d.lab.nodes[id.node.0].ifaces[id.index];
        iface.addresses = addresses;
        iface.mtu = mtu;
    }
}

/// A switch port belongs to its bridge: an address on it reaches nothing (legal, so a
/// warning), and no route can leave by it (ports come up last, after the routes: the kernel
/// refuses a gateway or a device route through a port that is down; and a switch's
/// namespace has IPv6 off).
/// A switch's namespace has IPv6 off, SVIs included.
fn no_ipv6_in_a_switch(d: &Draft<'_>, doc: &super::super::document::IfaceDoc) {
    if let Some(v6) = doc.addresses.iter().find(|a| matches!(a.get_ref(), IpNet::V6(_))) {
        d.error(
            Diagnostic::error(v6.span(), "an IPv6 address on a switch interface")
                .label("a switch's namespace has IPv6 off: it forwards frames, and its SVIs route IPv4")
                .help("give the address to a [[router]] or [[host]] interface on this switch"),
        );
    }
}

fn switch_port_settings(d: &Draft<'_>, doc: &super::super::document::IfaceDoc) {
    let route = doc.gateway.as_ref().map(|g| g.span()).or(doc.default_dev.as_ref().map(|g| g.span()));
    if let Some(span) = route {
        d.error(
            Diagnostic::error(span, "a route through a switch port")
                .label("a switch's ports come up after the routes, and the kernel adds none through a port that is down")
                .help("route on a [[router]] or [[host]] interface linked to this switch instead"),
        );
    } else if let Some(address) = doc.addresses.first() {
        d.error(
            Diagnostic::warning(address.span(), "an address on a switch port")
                .label("the port belongs to the bridge: frames arriving on it are switched, not delivered to this address")
                .help("to give the segment a gateway or a host, put the address on a [[router]] or [[host]] interface linked to this switch"),
        );
    }
}

/// The MTUs the kernel takes for a device of this kind (`Kind::mtu_range`); an entry of
/// no known kind is held to an Ethernet device's.
fn mtu(d: &Draft<'_>, value: &Spanned<i64>, kind: Option<Kind>) -> Option<u32> {
    let (low, high) = kind.unwrap_or(Kind::Veth).mtu_range();
    match u32::try_from(*value.get_ref()) {
        Ok(mtu) if (low..=high).contains(&mtu) => Some(mtu),
        _ => {
            d.error(
                Diagnostic::error(value.span(), format!("MTU {} is outside {low}..{high}", value.get_ref()))
                    .label("the kernel would refuse it")
                    .help("Ethernet uses 1500; jumbo frames 9000"),
            );
            None
        }
    }
}

/// Addresses the kernel refuses on a device, or ignores: an IPv4 address needs an MTU of
/// 68, an IPv6 one 1280 (below, the device has no IPv6 at all); IPv4's 0.0.0.0/8 is
/// dropped without a word, and a /0 leaves no subnet.
fn check_address(d: &Draft<'_>, address: &Spanned<IpNet>, mtu: i64) {
    let (floor, family) = if address.get_ref().addr().is_ipv6() { (1280, "IPv6") } else { (68, "IPv4") };
    if mtu < floor {
        d.error(
            Diagnostic::error(address.span(), format!("an {family} address on an interface with MTU {mtu}"))
                .label(format!("{family} needs an MTU of at least {floor}: the kernel refuses the address"))
                .help(format!("raise `mtu` to {floor} or more, or remove the address")),
        );
    }
    if let IpNet::V4(net) = address.get_ref() {
        let problem = if net.addr().octets()[0] == 0 {
            "is in 0.0.0.0/8, \"this network\": the kernel drops such an address without a word"
        } else if net.prefix_len() == 0 {
            "has prefix length 0: it leaves no subnet, and no next hop is reachable through it"
        } else {
            return;
        };
        d.error(
            Diagnostic::error(address.span(), format!("{} {problem}", address.get_ref()))
                .label("not an address a device can use")
                .help("give the interface an address with a prefix, like \"10.0.0.1/24\""),
        );
        return;
    }
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

/// An address twice on one interface is refused by the kernel (for IPv4 with the same
/// prefix length). On two interfaces it is legal (anycast, a container's address in two
/// hosts, the same link-local address on every link) but makes a probe `to` it go wherever
/// routing sends it: a warning, except for link-local addresses.
fn unique_addresses(d: &Draft<'_>) {
    let mut first: HashMap<IpAddr, (Span, IfaceId, u8)> = HashMap::new();
    for (id, doc) in sorted_declared(d) {
        for address in &doc.addresses {
            let ip = address.get_ref().addr();
            let prefix = address.get_ref().prefix_len();
            let Some((span, owner, first_prefix)) = first.get(&ip) else {
                first.insert(ip, (address.span(), id, prefix));
                continue;
            };
            if *owner == id && (ip.is_ipv6() || *first_prefix == prefix) {
                d.error(
                    Diagnostic::error(
                        address.span(),
                        format!("address {ip} is twice on `{}`", d.lab.iface_label(id)),
                    )
                    .label("second time")
                    .related(span.clone(), "first time")
                    .help("the kernel refuses an address a device has already; remove one"),
                );
            } else if *owner != id && !is_link_local(ip) {
                d.error(
                    Diagnostic::warning(address.span(), format!("address {ip} is on two interfaces"))
                        .label(format!("on `{}`", d.lab.iface_label(id)))
                        .related(span.clone(), format!("also on `{}`", d.lab.iface_label(*owner)))
                        .help(format!(
                            "legal, but a probe to {ip} goes wherever routing sends it; name the target as NODE:IFACE to say which one is meant"
                        )),
                );
            }
        }
    }
}

/// Two devices with one MAC are legal (the kernel refuses only a macvlan on its parent's or
/// a sibling's, checked with the children) but confuse every switch and neighbour table.
fn unique_macs(d: &Draft<'_>) {
    let mut first: HashMap<Mac, Span> = HashMap::new();
    for (_, doc) in sorted_declared(d) {
        let Some(mac) = &doc.mac else { continue };
        match first.get(mac.get_ref()) {
            Some(span) => d.error(
                Diagnostic::warning(mac.span(), format!("MAC {} is used twice in the lab", mac.get_ref()))
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
    if !crate::kind::gateway_works(d, id, gateway) {
        return;
    }
    if !iface.up {
        refuse_down(d, id, gateway.span());
        return;
    }
    if !check_next_hop(d, id.node, &iface.addresses, gateway) {
        return;
    }
    if !on_link(&iface.addresses, *gateway.get_ref()) && !device_route_covers(d, id.node, *gateway.get_ref())
    {
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
fn check_next_hop(d: &Draft<'_>, node: NodeId, addresses: &[IpNet], hop: &Spanned<IpAddr>) -> bool {
    let ip = *hop.get_ref();
    let own = |net: &IpNet| net.addr() == ip;
    let node_has = d.lab.node(node).ifaces.iter().any(|i| i.addresses.iter().any(own));
    let problem = if ip.is_ipv6() && node_has {
        Some(format!("{ip} is an address of this node"))
    } else {
        addresses
            .iter()
            .find(|net| super::broadcast_of(net) == Some(ip))
            .map(|net| format!("{ip} is the broadcast address of {}", net.trunc()))
    };
    let Some(problem) = problem else { return true };
    d.error(
        Diagnostic::error(hop.span(), problem)
            .label("the kernel refuses this next hop")
            .help("the next hop is another machine on the subnet: the router's address"),
    );
    false
}

/// Whether a route the node already has straight out of a device (no `via`: the subnet is on
/// that link) covers `hop`, which makes it a usable next hop.
fn device_route_covers(d: &Draft<'_>, node: NodeId, hop: IpAddr) -> bool {
    d.lab.node(node).routes.iter().filter(|r| r.via.is_none() && r.dev.is_some()).any(|r| match r.to {
        Destination::Default { v6 } => v6 == hop.is_ipv6(),
        Destination::Net(net) => net.contains(&hop),
    })
}

/// A route through an interface that is down: the kernel refuses it.
fn refuse_down(d: &Draft<'_>, id: IfaceId, span: Span) {
    d.error(
        Diagnostic::error(span, format!("`{}` is down (`up = false`)", d.lab.iface_label(id)))
            .label("the kernel adds no route through a device that is down")
            .help("remove `up = false`, or route through another interface"),
    );
}

/// Whether the kernel adds a route to an IPv4 address's subnet with the address: not for a
/// /32, which has none.
fn makes_prefix_route(address: &IpNet) -> bool {
    address.prefix_len() < address.max_prefix_len()
}

/// Whether an address is directly reachable from these interface addresses.
fn on_link(addresses: &[IpNet], ip: IpAddr) -> bool {
    is_link_local(ip) || addresses.iter().any(|net| net.contains(&ip))
}

fn is_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

fn node_routes(d: &mut Draft<'_>, node: NodeId, defaults: &mut Defaults) {
    if let (Role::Switch, Some(first)) = (d.role(node), d.node_doc(node).routes.first()) {
        d.error(
            Diagnostic::error(first.span.clone(), "a route in a switch")
                .label("a switch forwards frames: its ports come up after the routes, and its namespace has IPv6 off")
                .help("route in a [[router]] linked to this switch instead"),
        );
        return;
    }
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
    let connected = d.lab.node(node).ifaces.iter().find(|i| {
        i.up && matches!(net, IpNet::V4(_))
            && i.addresses.iter().any(|a| makes_prefix_route(a) && a.trunc() == net)
    });
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
        // The kernel refuses an IPv4 prefix with host bits, and clears them from an IPv6 one.
        let refused = matches!(net, IpNet::V4(_));
        let diagnostic = if refused { Diagnostic::error } else { Diagnostic::warning };
        d.error(
            diagnostic(to.span(), format!("{net} has host bits set"))
                .label(if refused {
                    "not a network prefix"
                } else {
                    "the kernel routes the prefix without them"
                })
                .help(format!("write \"{}\"", net.trunc())),
        );
        if refused {
            return None;
        }
    }
    let net = net.trunc();
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
    if !check_next_hop(d, node, &addresses, via) {
        return false;
    }
    let reachable = on_link(&addresses, *via.get_ref()) || device_route_covers(d, node, *via.get_ref());
    if !reachable {
        d.error(
            Diagnostic::error(via.span(), format!("no connected subnet of `{}` reaches {}", d.lab.node(node).name, via.get_ref()))
                .label("next hop not on any link")
                .help("a next hop must be inside the subnet of one of the node's addresses; add that address or fix `via`"),
        );
    }
    reachable
}
