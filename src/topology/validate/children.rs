//! Stacking: VLANs, macvlan and ipvlan children on their parents (VLAN interfaces on a
//! bridge too: a switch's SVIs), vxlans on their underlays, and dummies. Each kind checks its
//! own keys and its siblings (`crate::kind`); this phase resolves parents, orders them, and
//! checks what the kernel refuses across kinds: cycles, MTUs larger than the device below,
//! stackings a parent does not accept, two drivers on one parent.

use super::super::diagnostic::{Diagnostic, Span};
use super::super::document::IfaceDoc;
use super::{Draft, one_of};
use crate::kind::{Kind, KindDoc, ipvlan, macvlan, vlan, vxlan};
use crate::model::{IfaceId, IfaceKind, Role};
use crate::topology::diagnostic::a;
use std::collections::{BTreeMap, HashMap};
use toml::Spanned;

pub fn check(d: &mut Draft<'_>) {
    for (id, _) in d.declared_of(Kind::Dummy) {
        set_kind(d, id, IfaceKind::Dummy);
    }
    for (id, doc) in d.declared_of(Kind::Vxlan) {
        let KindDoc::Vxlan(own) = &doc.own else { continue };
        if let Some(tunnel) = vxlan::validate(d, id, doc, own) {
            set_kind(d, id, tunnel);
        }
    }
    for kind in Kind::ALL.into_iter().filter(|k| k.stacked()) {
        for (id, doc) in d.declared_of(kind) {
            let checked = match &doc.own {
                KindDoc::Vlan(own) => vlan::validate(d, id, doc, own),
                KindDoc::Macvlan(own) => macvlan::validate(d, id, doc, own),
                KindDoc::Ipvlan(own) => ipvlan::validate(d, id, doc, own),
                KindDoc::Veth(_) | KindDoc::Vxlan(_) | KindDoc::None => None,
            };
            if let Some(checked) = checked {
                set_kind(d, id, checked);
            }
        }
    }
    let children = children_by_parent(d);
    let Some(order) = parents_first(d) else { return };
    let lowers = lower_devices(d, &order);
    let mtus = effective_mtus(d, &order, &lowers);
    for (parent, kids) in &children {
        check_parent_accepts(d, *parent, kids);
        check_parent_up(d, *parent, kids);
        for kid in kids {
            vlan::check_tag_on_port(d, *kid);
        }
    }
    let mut by_lower: BTreeMap<IfaceId, Vec<IfaceId>> = BTreeMap::new();
    for (child, lower) in &lowers {
        by_lower.entry(*lower).or_default().push(*child);
    }
    for (lower, kids) in &mut by_lower {
        kids.sort();
        check_mtu(d, *lower, kids, &mtus);
        check_siblings(d, kids);
    }
    d.mtus = mtus;
    vxlan::check_tunnels(d);
    filter_vlans_of_routing_bridges(d);
}

/// A bridge with VLAN interfaces of its own (a switch's SVIs) filters VLANs: its VLAN
/// interfaces see only the frames of their VLAN.
fn filter_vlans_of_routing_bridges(d: &mut Draft<'_>) {
    let svis: Vec<(IfaceId, IfaceId, u16)> = d
        .lab
        .iface_ids()
        .filter_map(|id| match d.kind(id) {
            IfaceKind::Vlan { parent, id: vid, .. } if d.kind(*parent).kind() == Kind::Bridge => {
                Some((id, *parent, *vid))
            }
            _ => None,
        })
        .collect();
    for (svi, _, _) in svis.iter().filter(|(_, _, vid)| *vid == 0) {
        d.error(
            Diagnostic::error(d.iface_span(*svi), "a bridge's VLAN interface needs a VLAN from 1 to 4094")
                .label("the bridge cannot be a member of VLAN 0 (EINVAL)")
                .help("give the SVI the id of the VLAN it routes, like `id = 10`"),
        );
    }
    let routing: Vec<IfaceId> = svis.iter().map(|(_, bridge, _)| *bridge).collect();
    for bridge in routing {
        set_kind(d, bridge, IfaceKind::Bridge { vlan_filtering: true });
    }
}

fn set_kind(d: &mut Draft<'_>, id: IfaceId, kind: IfaceKind) {
    d.lab.nodes[id.node.0].ifaces[id.index].kind = kind;
}

/// Parses one of a fixed set of words, reporting the others.
pub(crate) fn word<T: Copy>(
    d: &Draft<'_>,
    value: &Spanned<String>,
    key: &str,
    words: &[(&str, T)],
) -> Option<T> {
    let found = words.iter().find(|(w, _)| w.eq_ignore_ascii_case(value.get_ref())).map(|(_, t)| *t);
    if found.is_none() {
        let names: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
        d.error(
            Diagnostic::error(value.span(), format!("unknown {key} `{}`", value.get_ref()))
                .label(format!("not a {key}"))
                .help(format!("`{key}` is one of {}", one_of(&names))),
        );
    }
    found
}

/// Resolves `parent`: an interface of the same node, or `NODE:IFACE`.
pub(crate) fn parent(d: &Draft<'_>, id: IfaceId, doc: &IfaceDoc) -> Option<IfaceId> {
    let Some(text) = doc.own.parent() else {
        if !doc.written.has("parent") {
            d.error(
                Diagnostic::error(doc.span.clone(), "this interface needs a `parent`")
                    .label("stacked on what?")
                    .help("add `parent = \"eth0\"` (same node) or `parent = \"NODE:IFACE\"`"),
            );
        }
        return None;
    };
    if text.get_ref().rsplit(':').next() == Some("lo") {
        d.error(
            Diagnostic::error(text.span(), "the kernel refuses `lo` as a parent")
                .label("loopback cannot carry sub-interfaces or children")
                .help("use a cable end (veth) or a `dummy` interface as the parent"),
        );
        return None;
    }
    let parent = d.resolve_iface(text, Some(id.node))?;
    if parent == id {
        d.error(
            Diagnostic::error(text.span(), "an interface cannot be its own parent")
                .label("this interface")
                .help("name the interface it is stacked on"),
        );
        return None;
    }
    let svi = d.kind(parent).kind() == Kind::Bridge
        && d.kinds.get(&id) == Some(&Kind::Vlan)
        && parent.node == id.node;
    if d.role(parent.node) == Role::Switch && !svi {
        d.error(
            Diagnostic::error(
                text.span(),
                if d.kind(parent).kind() == Kind::Bridge {
                    "only a VLAN interface of the switch itself can stack on its bridge"
                } else {
                    "a switch port cannot be a parent"
                },
            )
                .label(format!("`{}` is a switch", d.lab.node(parent.node).name))
                .help("stack sub-interfaces and children on a host's or router's interface; a switch routes through VLAN interfaces of its bridge (`parent = \"br0\"`)"),
        );
        return None;
    }
    Some(parent)
}

fn children_by_parent(d: &Draft<'_>) -> BTreeMap<IfaceId, Vec<IfaceId>> {
    let mut children: BTreeMap<IfaceId, Vec<IfaceId>> = BTreeMap::new();
    for id in d.lab.iface_ids() {
        if let Some(parent) = d.kind(id).parent() {
            children.entry(parent).or_default().push(id);
        }
    }
    children
}

/// Every interface, parents (and underlays) before what is made on them; `None` (after
/// reporting each interface on a cycle) when they form a cycle. Linear: each interface is
/// walked up once.
fn parents_first(d: &Draft<'_>) -> Option<Vec<IfaceId>> {
    let mut depth: HashMap<IfaceId, usize> = HashMap::new();
    let mut on_cycle = Vec::new();
    for start in d.lab.iface_ids() {
        let mut path = Vec::new();
        let mut at = Some(start);
        // Walk up to an interface whose depth is known, or to the top, or back into the path.
        let base = loop {
            match at {
                None => break 0,
                Some(id) if depth.contains_key(&id) => break depth[&id] + 1,
                Some(id) => match path.iter().position(|p| *p == id) {
                    Some(first) => {
                        for member in path.drain(first..) {
                            depth.insert(member, 0);
                            on_cycle.push(member);
                        }
                        break 0;
                    }
                    None => {
                        path.push(id);
                        at = d.kind(id).made_on();
                    }
                },
            }
        };
        for (n, id) in path.iter().rev().enumerate() {
            depth.insert(*id, base + n);
        }
    }
    for &id in &on_cycle {
        d.error(
            Diagnostic::error(
                d.iface_span(id),
                format!("`{}` is stacked on itself through its parents", d.lab.iface_label(id)),
            )
            .label("parents form a cycle")
            .help("every chain of `parent` must end at a cable end or a dummy"),
        );
    }
    if !on_cycle.is_empty() {
        return None;
    }
    let mut order: Vec<IfaceId> = d.lab.iface_ids().collect();
    order.sort_by_key(|id| depth[id]);
    Some(order)
}

/// The device each child really attaches to: its parent, except that the kernel stacks a
/// macvlan on a macvlan's lower device, and an ipvlan on an ipvlan's. `order` has parents
/// first.
fn lower_devices(d: &Draft<'_>, order: &[IfaceId]) -> HashMap<IfaceId, IfaceId> {
    let mut lower: HashMap<IfaceId, IfaceId> = HashMap::new();
    for &child in order {
        let Some(parent) = d.kind(child).parent() else { continue };
        let kind = d.kind(child).kind();
        let same_kind = kind.stacks_on_lower() && d.kind(parent).kind() == kind;
        let device = if same_kind { lower.get(&parent).copied().unwrap_or(parent) } else { parent };
        lower.insert(child, device);
    }
    lower
}

/// A sub-interface (VLAN) that is up needs its parent up: the kernel refuses it otherwise
/// (ENETDOWN). macvlan and ipvlan children just wait for their parent (LOWERLAYERDOWN).
fn check_parent_up(d: &Draft<'_>, parent: IfaceId, kids: &[IfaceId]) {
    if d.lab.iface(parent).up {
        return;
    }
    for &kid in kids.iter().filter(|k| d.lab.iface(**k).up && d.kind(**k).kind().needs_parent_up()) {
        d.error(
            Diagnostic::error(
                parent_span(d, kid),
                format!("`{}` is down, so its VLAN cannot be up", d.lab.iface_label(parent)),
            )
            .label("the kernel refuses an up VLAN on a parent that is down (network is down)")
            .help("remove `up = false` from the parent, or add `up = false` to this VLAN"),
        );
    }
}

/// Stackings the kernel refuses (`Kind::accepts_child`): a macvlan or VLAN on an ipvlan.
fn check_parent_accepts(d: &Draft<'_>, parent: IfaceId, kids: &[IfaceId]) {
    let parent_kind = d.kind(parent).kind();
    for &kid in kids {
        let kind = d.kind(kid).name();
        if !parent_kind.accepts_child(d.kind(kid).kind()) {
            let parent_kind = parent_kind.name();
            d.error(
                Diagnostic::error(
                    parent_span(d, kid),
                    format!("the kernel refuses a {kind} on an {parent_kind} child"),
                )
                .label(format!("`{}` is an {parent_kind} child", d.lab.iface_label(parent)))
                .help(format!("stack the {kind} on the {parent_kind}'s parent instead")),
            );
        }
    }
}

/// The MTU each interface will have: its own (as written), else that of the device it
/// attaches to (`lowers`), else 1500; a vxlan's is its kind's (`vxlan::Tunnel::kernel_mtu`).
/// `order` has parents first.
fn effective_mtus(
    d: &Draft<'_>,
    order: &[IfaceId],
    lowers: &HashMap<IfaceId, IfaceId>,
) -> HashMap<IfaceId, i64> {
    let mut mtus = HashMap::new();
    for &id in order {
        let written = d.declared.get(&id).and_then(|doc| doc.mtu.as_ref()).map(|m| *m.get_ref());
        let inherited = lowers.get(&id).and_then(|lower| mtus.get(lower).copied());
        let mtu = match d.kind(id) {
            IfaceKind::Vxlan(tunnel) => {
                tunnel.kernel_mtu(written, tunnel.underlay.and_then(|u| mtus.get(&u).copied()))
            }
            _ => written.or(inherited).unwrap_or(1500),
        };
        mtus.insert(id, mtu);
    }
    mtus
}

/// The kernel refuses a VLAN or macvlan with a larger MTU than the device it attaches to
/// (EINVAL); an ipvlan may be larger.
fn check_mtu(d: &Draft<'_>, parent: IfaceId, kids: &[IfaceId], mtus: &HashMap<IfaceId, i64>) {
    let limit = mtus.get(&parent).copied().unwrap_or(1500);
    for &kid in kids.iter().filter(|k| !d.kind(**k).kind().may_exceed_parent_mtu()) {
        let Some(mtu) = d.declared.get(&kid).and_then(|doc| doc.mtu.as_ref()) else { continue };
        if *mtu.get_ref() > limit {
            d.error(
                Diagnostic::error(
                    mtu.span(),
                    format!(
                        "MTU {} exceeds the {limit} of its parent `{}`",
                        mtu.get_ref(),
                        d.lab.iface_label(parent)
                    ),
                )
                .label("the kernel refuses a child larger than its parent")
                .help(format!("lower it to {limit} or less, or raise the parent's `mtu`")),
            );
        }
    }
}

pub(crate) fn parent_span(d: &Draft<'_>, child: IfaceId) -> Span {
    match d.declared.get(&child).and_then(|doc| doc.own.parent()) {
        Some(parent) => parent.span(),
        None => d.iface_span(child),
    }
}

/// Rules among the children of one lower device: one driver per device, then each kind's
/// own rules among its siblings.
fn check_siblings(d: &Draft<'_>, kids: &[IfaceId]) {
    let of_kind =
        |kind: Kind| -> Vec<IfaceId> { kids.iter().copied().filter(|k| d.kind(*k).kind() == kind).collect() };
    let claimed: Vec<IfaceId> = Kind::ALL
        .into_iter()
        .filter(|k| k.claims_parent())
        .filter_map(|k| of_kind(k).first().copied())
        .collect();
    if let [first, second, ..] = claimed[..] {
        let (earlier, later) = (first.min(second), first.max(second));
        d.error(
            Diagnostic::error(
                parent_span(d, later),
                format!(
                    "{} and {} children cannot share a parent",
                    d.kind(first).name(),
                    d.kind(second).name()
                ),
            )
            .label(format!("`{}` is {}", d.lab.iface_label(later), a(d.kind(later).name())))
            .related(
                parent_span(d, earlier),
                format!(
                    "`{}` is {} on the same parent",
                    d.lab.iface_label(earlier),
                    a(d.kind(earlier).name())
                ),
            )
            .help("the kernel gives a device to one driver only (EBUSY): use one kind per parent"),
        );
    }
    for kind in Kind::ALL {
        let siblings = of_kind(kind);
        if !siblings.is_empty() {
            crate::kind::check_siblings(kind, d, &siblings);
        }
    }
}
