//! Names: the lab's and the nodes' (they become namespace names and paths) and the
//! interfaces' (they become kernel device names). Creates the draft's nodes and interfaces.

use super::super::diagnostic::Diagnostic;
use super::super::document::IfaceDoc;
use super::kinds::declared_kind;
use super::{Draft, Kind};
use crate::kind::{KindDoc, vlan};
use crate::model::{Iface, IfaceId, IfaceKind, Node, NodeId, Role};
use std::collections::HashMap;
use toml::Spanned;

/// Longest lab name: namespace names are `<lab>-<node>` and state lives in /run/lab/<lab>.
pub const MAX_LAB_NAME: usize = 24;
pub const MAX_NODE_NAME: usize = 32;
/// IFNAMSIZ - 1: the kernel refuses longer device names.
pub const MAX_IFACE_NAME: usize = 15;
/// The device that is a switch.
pub const BRIDGE_NAME: &str = "br0";

pub fn check(d: &mut Draft<'_>) {
    lab_name(d);
    nodes(d);
    for n in 0..d.lab.nodes.len() {
        ifaces(d, NodeId(n));
    }
}

fn lab_name(d: &mut Draft<'_>) {
    let Some(name) = &d.doc.name else { return };
    if let Err(problem) = safe_name(name.get_ref(), MAX_LAB_NAME) {
        d.error(
            Diagnostic::error(name.span(), format!("the lab name `{}` {problem}", name.get_ref()))
                .label("not usable as a namespace prefix")
                .help(format!(
                    "namespaces are named `<lab>-<node>`: use up to {MAX_LAB_NAME} letters, digits, `_`, `-` or `.`, starting with a letter or digit"
                )),
        );
    }
    d.lab.name = name.get_ref().clone();
}

fn nodes(d: &mut Draft<'_>) {
    let mut seen: HashMap<String, std::ops::Range<usize>> = HashMap::new();
    for (index, node) in d.doc.nodes.iter().enumerate() {
        let name = match &node.name {
            Some(name) => name,
            None => &Spanned::new(node.span.clone(), format!("#{index}")),
        };
        if node.name.is_some() {
            if let Err(problem) = safe_name(name.get_ref(), MAX_NODE_NAME) {
                d.error(
                    Diagnostic::error(name.span(), format!("the node name `{}` {problem}", name.get_ref()))
                        .label("not usable in a namespace name")
                        .help(format!(
                            "use up to {MAX_NODE_NAME} letters, digits, `_`, `-` or `.`, starting with a letter or digit"
                        )),
                );
            }
            if let Some(first) = seen.get(name.get_ref()) {
                d.error(
                    Diagnostic::error(name.span(), format!("two nodes are named `{}`", name.get_ref()))
                        .label("second definition")
                        .related(first.clone(), "first defined here")
                        .help("node names are unique across hosts, routers and switches; rename one"),
                );
            } else {
                seen.insert(name.get_ref().clone(), name.span());
            }
        }
        let id = NodeId(d.lab.nodes.len());
        d.node_names.entry(name.get_ref().clone()).or_insert(id);
        if node.role == Role::Switch {
            d.switches.push(id);
        }
        d.lab.nodes.push(Node {
            name: name.get_ref().clone(),
            role: node.role,
            sysctls: Vec::new(),
            routes: Vec::new(),
            ifaces: Vec::new(),
            listeners: Vec::new(),
            nat: None,
            joins: None,
        });
    }
}

fn ifaces(d: &mut Draft<'_>, node: NodeId) {
    let doc = d.node_doc(node);
    let mut seen: HashMap<String, std::ops::Range<usize>> = HashMap::new();
    for (index, iface) in doc.ifaces.iter().enumerate() {
        let id = IfaceId { node, index };
        let kind = declared_kind(d, iface, doc.role);
        let name = iface_name(d, iface, kind, doc.role);
        let shown = name.clone().unwrap_or_else(|| Spanned::new(iface.span.clone(), format!("#{index}")));
        if name.is_some() {
            if let Some(first) = seen.get(shown.get_ref()) {
                d.error(
                    Diagnostic::error(
                        shown.span(),
                        format!(
                            "node `{}` has two interfaces named `{}`",
                            d.lab.node(node).name,
                            shown.get_ref()
                        ),
                    )
                    .label("second definition")
                    .related(first.clone(), "first defined here")
                    .help("interface names are unique within a node; rename one"),
                );
            } else {
                seen.insert(shown.get_ref().clone(), shown.span());
            }
        }
        d.add_iface(
            node,
            Iface {
                name: shown.into_inner(),
                kind: IfaceKind::Dummy,
                addresses: Vec::new(),
                mac: iface.mac.as_ref().map(|m| *m.get_ref()),
                mtu: None,
                up: iface.up.as_ref().is_none_or(|u| *u.get_ref()),
                impair: None,
                declared: true,
            },
        );
        d.declared.insert(id, iface);
        if let Some(kind) = kind {
            d.kinds.insert(id, kind);
        }
    }
}

/// The interface's name: given, or `PARENT.ID` for a VLAN sub-interface.
fn iface_name(d: &Draft<'_>, iface: &IfaceDoc, kind: Option<Kind>, role: Role) -> Option<Spanned<String>> {
    let name = match (&iface.name, kind) {
        (Some(name), _) => name.clone(),
        (None, Some(Kind::Vlan)) => match &iface.own {
            KindDoc::Vlan(own) => vlan::default_name(iface, own)?,
            _ => return None,
        },
        (None, _) if iface.written.has("name") => return None,
        (None, _) => {
            d.error(
                Diagnostic::error(iface.span.clone(), "this interface has no `name`")
                    .label("name missing")
                    .help("add `name = \"eth0\"` (only VLAN sub-interfaces get a default name, PARENT.ID)"),
            );
            return None;
        }
    };
    let given = iface.name.is_some();
    if let Err(problem) = valid_iface_name(name.get_ref()) {
        let help = if given {
            IFACE_NAME_RULE.to_string()
        } else {
            "the default name is PARENT.ID; give this interface a shorter `name`".to_string()
        };
        d.error(
            Diagnostic::error(name.span(), format!("the interface name `{}` {problem}", name.get_ref()))
                .label("the kernel would refuse this device name")
                .help(help),
        );
    } else if name.get_ref() == "lo" {
        d.error(
            Diagnostic::error(name.span(), "`lo` is the loopback device every namespace already has")
                .label("reserved")
                .help("choose another name"),
        );
    } else if role == Role::Switch && name.get_ref() == BRIDGE_NAME {
        d.error(
            Diagnostic::error(name.span(), format!("`{BRIDGE_NAME}` is the switch's own bridge device"))
                .label("reserved in switches")
                .help("choose another name for this port"),
        );
    }
    Some(name)
}

/// A device name the kernel, `ip` and a shell all take as written: 1 to 15 bytes of
/// letters, digits, `_`, `-` and `.`, not starting with `-` (which `ip` reads as an
/// option), and not `all` or `default`, whose per-device sysctl directories the kernel
/// already has (it refuses such a device). The kernel itself would also take `%` (as a
/// template: `eth%d` becomes `eth0`), quotes, `;` or `$`, which no printed command could
/// carry safely.
pub fn valid_iface_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > MAX_IFACE_NAME {
        return Err(format!("is {} bytes long, over the kernel's {MAX_IFACE_NAME}", name.len()));
    }
    if name == "." || name == ".." {
        return Err("is not a device name".into());
    }
    if name == "all" || name == "default" {
        return Err("is reserved: the kernel keeps `all` and `default` for settings of every device".into());
    }
    if MADE_BY_THE_KERNEL.contains(&name) {
        return Err("is reserved: the kernel makes a device of that name in every namespace once its module (a tunnel, bonding) is loaded".into());
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "_-.".contains(*c))) {
        return Err(format!("contains {bad:?}"));
    }
    if name.starts_with('-') {
        return Err("starts with `-`, which `ip` would take for an option".into());
    }
    Ok(())
}

/// Devices (and one sysfs entry) the kernel makes in every new namespace when the module
/// behind them is loaded: sit, ipip, GRE, VTI and ip6 tunnels, bonding.
const MADE_BY_THE_KERNEL: &[&str] = &[
    "sit0",
    "tunl0",
    "gre0",
    "gretap0",
    "erspan0",
    "ip6tnl0",
    "ip6gre0",
    "ip_vti0",
    "ip6_vti0",
    "bonding_masters",
];

/// How to write a device name, for help lines.
pub const IFACE_NAME_RULE: &str = "use 1 to 15 letters, digits, `_`, `-` or `.`, not starting with `-`";

/// Lab and node names: safe as file names and as parts of namespace names.
/// What is wrong with a lab name given on the command line, if anything.
pub fn lab_name_problem(name: &str) -> Option<String> {
    safe_name(name, MAX_LAB_NAME).err()
}

pub fn safe_name(name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > max {
        return Err(format!("is {} bytes long, over {max}", name.len()));
    }
    if name.contains("..") || name.contains('/') {
        return Err("would reach outside its directory (`..` or `/`)".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or a digit".into());
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "_-.".contains(*c))) {
        return Err(format!("contains {bad:?}"));
    }
    Ok(())
}
