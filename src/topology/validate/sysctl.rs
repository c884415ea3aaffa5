//! Safety: sysctls are written from inside a node's namespace, so only keys the kernel keeps
//! per network namespace are allowed; anything else would change the host. Routers also get
//! forwarding here, before the file's own keys (which may turn it off again).

use super::super::diagnostic::Diagnostic;
use super::Draft;
use crate::model::{NodeId, Role, Sysctl};

/// `net.core` keys that are per network namespace on every kernel lab supports.
const NAMESPACED_NET_CORE: &[&str] = &[
    "net.core.somaxconn",
    "net.core.xfrm_aevent_etime",
    "net.core.xfrm_aevent_rseqth",
    "net.core.xfrm_larval_drop",
    "net.core.xfrm_acq_expires",
];

pub const FORWARDING: [(&str, &str); 2] =
    [("net.ipv4.ip_forward", "1"), ("net.ipv6.conf.all.forwarding", "1")];

pub fn check(d: &mut Draft<'_>) {
    for n in 0..d.lab.nodes.len() {
        let node = NodeId(n);
        let mut sysctls = Vec::new();
        if d.role(node) == Role::Router {
            sysctls.extend(FORWARDING.iter().map(|(k, v)| Sysctl::new(*k, *v)));
        }
        for (key, value) in &d.node_doc(node).sysctl {
            if key_is_safe(d, node, key) && value_is_clean(d, value) {
                ipv6_kept_where_addressed(d, node, key, value);
                sysctls.push(Sysctl::new(key.get_ref().as_str(), value.get_ref().as_str()));
            }
        }
        d.lab.nodes[n].sysctls = sysctls;
    }
}

/// `disable_ipv6` on an interface that has an IPv6 address: the kernel would refuse the
/// address (EACCES).
fn ipv6_kept_where_addressed(
    d: &Draft<'_>,
    node: NodeId,
    key: &toml::Spanned<String>,
    value: &toml::Spanned<String>,
) {
    let sysctl = Sysctl::new(key.get_ref().as_str(), value.get_ref().as_str());
    let Some(device) = sysctl.device().filter(|_| key.get_ref().ends_with(".disable_ipv6")) else { return };
    if value.get_ref().trim() == "0" {
        return;
    }
    let every = device == "all" || device == "default";
    let addressed = d.lab.node(node).ifaces.iter().find(|i| {
        (every || i.name == device) && i.addresses.iter().any(|a| matches!(a, ipnet::IpNet::V6(_)))
    });
    if let Some(iface) = addressed {
        d.error(
            Diagnostic::error(
                key.span(),
                format!("IPv6 is turned off where `{}` has an IPv6 address", iface.name),
            )
            .label("the kernel refuses IPv6 addresses on a device with IPv6 disabled")
            .help("remove the IPv6 address, or this sysctl"),
        );
    }
}

fn key_is_safe(d: &Draft<'_>, node: NodeId, key: &toml::Spanned<String>) -> bool {
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
        return false;
    }
    let namespaced = text.starts_with("net.ipv4.")
        || text.starts_with("net.ipv6.")
        || NAMESPACED_NET_CORE.contains(&text.as_str());
    if !namespaced {
        d.error(
            Diagnostic::error(key.span(), format!("`{text}` is not kept per network namespace"))
                .label("writing it from a node would change the whole machine")
                .help(format!(
                    "a node may set net.ipv4.*, net.ipv6.* and {}",
                    NAMESPACED_NET_CORE.join(", ")
                )),
        );
        return false;
    }
    device_exists(d, node, key)
}

/// `net.ipv4.conf.DEV.x` and `net.ipv4.neigh.DEV.x` must name a device of the node.
fn device_exists(d: &Draft<'_>, node: NodeId, key: &toml::Spanned<String>) -> bool {
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

fn value_is_clean(d: &Draft<'_>, value: &toml::Spanned<String>) -> bool {
    let value_text = value.get_ref();
    let clean = !value_text.trim().is_empty() && !value_text.chars().any(|c| c.is_control() && c != '\t');
    if !clean {
        d.error(
            Diagnostic::error(value.span(), "a sysctl value is one non-empty line")
                .label("empty, or holds a line break or another control character")
                .help("write the value as `sysctl -w` takes it, like \"1\""),
        );
    }
    clean
}
