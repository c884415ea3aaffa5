//! Sysctls: each key must be one a network namespace has and may write (`sysctl_keys`),
//! which keeps a node from changing the whole machine and catches typos; each value must
//! have the key's shape and range. Routers (and switches with SVIs, and nodes with NAT) get
//! forwarding here, before the file's own keys
//! (which may turn it off again). And what a sysctl does to the rest of the file: IPv6 turned
//! off where an IPv6 address or route needs it.

use super::super::diagnostic::Diagnostic;
use super::Draft;
use super::sysctl_keys::{KEYS, Shape};
use crate::model::{Destination, NodeId, Role, Sysctl};
use toml::Spanned;

pub const FORWARDING: [(&str, &str); 2] =
    [("net.ipv4.ip_forward", "1"), ("net.ipv6.conf.all.forwarding", "1")];

/// Ranges the kernel enforces on some integer keys (`DEV` for any device).
const RANGES: &[(&str, i64, i64)] = &[
    ("net.ipv4.ip_default_ttl", 1, 255),
    ("net.ipv6.conf.DEV.hop_limit", 1, 255),
    ("net.ipv4.icmp_ratelimit", 0, i32::MAX as i64),
    ("net.ipv6.conf.DEV.mtu", 1280, i32::MAX as i64),
    ("net.ipv4.ip_local_port_range", 1, 65535),
];

/// A switch with VLAN interfaces of its bridge (SVIs) routes between them, like a
/// multilayer switch.
fn routes_between_vlans(d: &Draft<'_>, node: NodeId) -> bool {
    d.role(node) == Role::Switch
        && d.lab.node(node).ifaces.iter().any(|i| matches!(i.kind, crate::model::IfaceKind::Vlan { .. }))
}

pub fn check(d: &mut Draft<'_>) {
    for n in 0..d.lab.nodes.len() {
        let node = NodeId(n);
        let mut sysctls = Vec::new();
        if d.role(node) == Role::Router || routes_between_vlans(d, node) {
            sysctls.extend(FORWARDING.iter().map(|(k, v)| Sysctl::new(*k, *v)));
        }
        if let Some(nat) = &d.lab.node(node).nat {
            if d.role(node) != Role::Router {
                sysctls.push(Sysctl::new(super::nat::FORWARDING.0, super::nat::FORWARDING.1));
            }
            if nat.localhost {
                sysctls.push(Sysctl::new(super::nat::ROUTE_LOCALNET.0, super::nat::ROUTE_LOCALNET.1));
            }
        }
        for (key, value) in &d.node_doc(node).sysctl {
            let Some(shape) = known_key(d, node, key) else { continue };
            if value_fits(d, key, value, shape) {
                ipv6_kept_where_needed(d, node, key, value);
                sysctls.push(Sysctl::new(key.get_ref().as_str(), value.get_ref().as_str()));
            }
        }
        d.lab.nodes[n].sysctls = sysctls;
    }
}

/// The table entry of a key: exact, or with its device as `DEV`.
fn lookup(key: &str) -> Option<(bool, Shape)> {
    let exact = KEYS.binary_search_by(|(k, _, _)| k.cmp(&key)).ok().map(|i| (KEYS[i].1, KEYS[i].2));
    exact.or_else(|| {
        let pattern = device_pattern(key)?;
        KEYS.binary_search_by(|(k, _, _)| k.cmp(&pattern.as_str())).ok().map(|i| (KEYS[i].1, KEYS[i].2))
    })
}

/// `net.ipv4.conf.eth1.19.rp_filter` as `net.ipv4.conf.DEV.rp_filter`. The kernel's
/// neighbour settings have a `default` but no `all`.
fn device_pattern(key: &str) -> Option<String> {
    let device = Sysctl::new(key, "").device()?;
    let parts: Vec<&str> = key.split('.').collect();
    let last = parts.last()?;
    let no_such = device.is_empty() || (device == "all" && parts[2] == "neigh");
    (!no_such).then(|| format!("{}.DEV.{last}", parts[..3].join(".")))
}

/// The shape of a key a namespace may write, or `None` after saying why it is refused.
fn known_key(d: &Draft<'_>, node: NodeId, key: &Spanned<String>) -> Option<Shape> {
    let text = key.get_ref();
    let odd = text.chars().any(|c| !(c.is_ascii_alphanumeric() || "_-.".contains(c)));
    if text.contains("..") || odd {
        d.error(
            Diagnostic::error(
                key.span(),
                format!("the sysctl key `{text}` could reach outside /proc/sys/net"),
            )
            .label("only letters, digits, `_`, `-` and `.` may make a key, without `..`")
            .help("write keys with dots, like \"net.ipv4.conf.all.arp_ignore\""),
        );
        return None;
    }
    if !text.starts_with("net.") {
        d.error(
            Diagnostic::error(key.span(), format!("`{text}` is not a network setting"))
                .label("writing it from a node would change the whole machine")
                .help("a node may set only what its network namespace keeps: keys under net., like \"net.ipv4.conf.all.rp_filter\""),
        );
        return None;
    }
    if !device_exists(d, node, key) || !has_ipv6_settings(d, node, key) {
        return None;
    }
    match lookup(text) {
        Some((true, shape)) => Some(shape),
        Some((false, _)) => {
            d.error(
                Diagnostic::error(key.span(), format!("`{text}` belongs to the whole machine"))
                    .label("a network namespace may only read it")
                    .help("remove it: a node can set only what its own namespace keeps"),
            );
            None
        }
        None => {
            let candidates = KEYS.iter().map(|(k, _, _)| *k);
            let wanted = device_pattern(text).unwrap_or_else(|| text.clone());
            let mut e =
                Diagnostic::error(key.span(), format!("`{text}` is not a sysctl of a network namespace"))
                    .label("no such key (Linux 6.1 and 6.18)");
            e = match d.closest(&wanted, KEYS.len(), candidates) {
                Some(best) => e.help(format!(
                    "did you mean \"{}\"?",
                    best.replace(".DEV.", &format!(".{}.", device_of(text)))
                )),
                None => e.help("see `ls /proc/sys/net/ipv4 /proc/sys/net/ipv6` for the keys"),
            };
            d.error(e);
            None
        }
    }
}

/// The device a per-device key names, or `all` when it names none.
fn device_of(key: &str) -> String {
    Sysctl::new(key, "").device().unwrap_or_else(|| "all".into())
}

/// A value the kernel takes for a key of this shape: one line, so many integers in range.
fn value_fits(d: &Draft<'_>, key: &Spanned<String>, value: &Spanned<String>, shape: Shape) -> bool {
    let text = value.get_ref();
    if text.trim().is_empty() || text.chars().any(|c| c.is_control() && c != '\t') {
        d.error(
            Diagnostic::error(value.span(), "a sysctl value is one non-empty line")
                .label("empty, or holds a line break or another control character")
                .help("write the value as `sysctl -w` takes it, like \"1\""),
        );
        return false;
    }
    let Shape::Ints(count) = shape else { return true };
    let numbers: Vec<Option<i64>> = text.split_whitespace().map(|t| t.parse().ok()).collect();
    let bad = |problem: String, help: String| {
        d.error(Diagnostic::error(value.span(), problem).label("the kernel refuses it (EINVAL)").help(help));
        false
    };
    if numbers.len() != count || numbers.iter().any(Option::is_none) {
        let what = if count == 1 { "an integer".to_string() } else { format!("{count} integers") };
        return bad(
            format!("`{}` takes {what}, not `{text}`", key.get_ref()),
            format!("write {what}, like \"{}\"", ["1"; 3][..count.min(3)].join(" ")),
        );
    }
    let numbers: Vec<i64> = numbers.into_iter().flatten().collect();
    let pattern = device_pattern(key.get_ref()).unwrap_or_else(|| key.get_ref().clone());
    if let Some((_, low, high)) = RANGES.iter().find(|(k, _, _)| *k == pattern || *k == key.get_ref()) {
        if let Some(out) = numbers.iter().find(|n| !(*low..=*high).contains(*n)) {
            return bad(
                format!("{out} is outside {low}..{high} for `{}`", key.get_ref()),
                format!("write a value from {low} to {high}"),
            );
        }
    }
    if key.get_ref().ends_with("ip_local_port_range") && numbers.first() > numbers.last() {
        return bad(
            "the port range runs backwards".into(),
            "write the lower port first, like \"32768 60999\"".into(),
        );
    }
    true
}

/// A device whose MTU is below IPv6's 1280 has no IPv6 at all, nor its settings.
fn has_ipv6_settings(d: &Draft<'_>, node: NodeId, key: &Spanned<String>) -> bool {
    if !key.get_ref().starts_with("net.ipv6.") {
        return true;
    }
    let Some(device) = Sysctl::new(key.get_ref().as_str(), "").device() else { return true };
    let Some(id) = d.iface_id(node, &device) else { return true };
    let mtu = d.mtus.get(&id).copied().unwrap_or(1500);
    if mtu >= 1280 {
        return true;
    }
    d.error(
        Diagnostic::error(key.span(), format!("`{device}` has no IPv6 settings: its MTU is {mtu}"))
            .label("below IPv6's 1280 the kernel gives a device no IPv6 at all")
            .help("raise its `mtu` to 1280 or more, or remove this sysctl"),
    );
    false
}

/// `net.ipv4.conf.DEV.x` and `net.ipv4.neigh.DEV.x` must name a device of the node.
fn device_exists(d: &Draft<'_>, node: NodeId, key: &Spanned<String>) -> bool {
    let Some(device) = Sysctl::new(key.get_ref().as_str(), "").device() else { return true };
    let known = device == "all"
        || device == "default"
        || device == "lo"
        || d.lab.node(node).ifaces.iter().any(|i| i.name == device);
    if !known {
        let names: Vec<&str> = d.lab.node(node).ifaces.iter().map(|i| i.name.as_str()).collect();
        d.error(
            Diagnostic::error(key.span(), format!("`{}` has no interface `{device}`", d.lab.node(node).name))
                .label("unknown device in this sysctl")
                .help(format!("use all, default or one of: {}", names.join(", "))),
        );
    }
    known
}

/// `disable_ipv6` where IPv6 is needed: on an interface with an IPv6 address (the kernel
/// refuses the address, EACCES) or one an IPv6 route leaves by (EACCES too). `all` and
/// `default` turn it off on every interface.
fn ipv6_kept_where_needed(d: &Draft<'_>, node: NodeId, key: &Spanned<String>, value: &Spanned<String>) {
    let sysctl = Sysctl::new(key.get_ref().as_str(), value.get_ref().as_str());
    let Some(device) = sysctl.device().filter(|_| key.get_ref().ends_with(".disable_ipv6")) else { return };
    if value.get_ref().trim() == "0" {
        return;
    }
    let every = device == "all" || device == "default";
    let n = d.lab.node(node);
    let hit = |name: &str| every || name == device;
    let addressed = n
        .ifaces
        .iter()
        .find(|i| hit(&i.name) && i.addresses.iter().any(|a| matches!(a, ipnet::IpNet::V6(_))));
    let routed = n.routes.iter().find(|r| {
        let v6 = matches!(r.to, Destination::Default { v6: true } | Destination::Net(ipnet::IpNet::V6(_)));
        v6 && r.dev.is_some_and(|dev| hit(&n.ifaces[dev].name))
    });
    let problem = match (addressed, routed) {
        (Some(iface), _) => format!("IPv6 is turned off where `{}` has an IPv6 address", iface.name),
        (None, Some(route)) => format!(
            "IPv6 is turned off on `{}`, which the IPv6 route to {} leaves by",
            route.dev.map_or("?", |dev| n.ifaces[dev].name.as_str()),
            route.to
        ),
        (None, None) => return,
    };
    d.error(
        Diagnostic::error(key.span(), problem)
            .label("the kernel refuses IPv6 addresses and routes on a device with IPv6 disabled")
            .help("remove the IPv6 address or route, or this sysctl"),
    );
}
