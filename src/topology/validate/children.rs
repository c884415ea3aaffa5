//! Sub-interfaces and children: 802.1Q/802.1ad VLANs, macvlan and ipvlan on their parents,
//! and dummies; the combinations the kernel refuses, or would silently change.

use super::super::diagnostic::{Diagnostic, Span};
use super::super::document::IfaceDoc;
use super::{DeclaredKind, Draft, one_of, vlan_id};
use crate::model::{IfaceId, IfaceKind, IpvlanFlag, IpvlanMode, MacvlanMode, Role, VlanProtocol};
use std::collections::{BTreeMap, HashMap};
use toml::Spanned;

pub fn check(d: &mut Draft<'_>) {
    for (id, _) in d.declared_of(DeclaredKind::Dummy) {
        set_kind(d, id, IfaceKind::Dummy);
    }
    for (id, doc) in d.declared_of(DeclaredKind::Vlan) {
        if let Some(kind) = vlan(d, id, doc) {
            set_kind(d, id, kind);
        }
    }
    for (id, doc) in d.declared_of(DeclaredKind::Macvlan) {
        if let Some(kind) = macvlan(d, id, doc) {
            set_kind(d, id, kind);
        }
    }
    for (id, doc) in d.declared_of(DeclaredKind::Ipvlan) {
        if let Some(kind) = ipvlan(d, id, doc) {
            set_kind(d, id, kind);
        }
    }
    let children = children_by_parent(d);
    let Some(order) = parents_first(d) else { return };
    let lowers = lower_devices(d, &order);
    let mtus = effective_mtus(d, &order, &lowers);
    for (parent, kids) in &children {
        check_parent_accepts(d, *parent, kids);
        check_parent_up(d, *parent, kids);
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
}

fn set_kind(d: &mut Draft<'_>, id: IfaceId, kind: IfaceKind) {
    d.lab.nodes[id.node.0].ifaces[id.index].kind = kind;
}

fn vlan(d: &Draft<'_>, id: IfaceId, doc: &IfaceDoc) -> Option<IfaceKind> {
    let parent = parent(d, id, doc);
    let vid = match &doc.id {
        // 0 is priority tagging: frames carry a tag with no VLAN, which the kernel allows.
        Some(vid) if *vid.get_ref() == 0 => Some(0),
        Some(vid) => vlan_id(d, vid, "VLAN id"),
        None if doc.written.has("id") => None,
        None => {
            d.error(
                Diagnostic::error(doc.span.clone(), "a vlan interface needs an `id`")
                    .label("which VLAN?")
                    .help("add `id = 19` (1..4094)"),
            );
            None
        }
    };
    let protocol = match doc.protocol.as_ref() {
        None => Some(VlanProtocol::Dot1Q),
        Some(p) => {
            word(d, p, "protocol", &[("802.1Q", VlanProtocol::Dot1Q), ("802.1ad", VlanProtocol::Dot1Ad)])
        }
    };
    Some(IfaceKind::Vlan { parent: parent?, id: vid?, protocol: protocol? })
}

fn macvlan(d: &Draft<'_>, id: IfaceId, doc: &IfaceDoc) -> Option<IfaceKind> {
    let parent = parent(d, id, doc);
    let mode = match &doc.mode {
        Some(mode) => word(d, mode, "mode", &MacvlanMode::ALL)?,
        None => {
            d.error(
                Diagnostic::warning(
                    doc.span.clone(),
                    "macvlan `mode` not given: it will be vepa, as with `ip link`",
                )
                .label("mode defaults to vepa")
                .help("write `mode = \"vepa\"` to keep this, or choose private, bridge, passthru or source"),
            );
            MacvlanMode::Vepa
        }
    };
    let source_macs: Vec<_> =
        doc.source_macs.iter().flat_map(|l| l.get_ref().iter().map(|m| *m.get_ref())).collect();
    match (&doc.source_macs, mode) {
        (None, MacvlanMode::Source) => d.error(
            Diagnostic::warning(
                doc.mode.as_ref().map_or(doc.span.clone(), |m| m.span()),
                "a macvlan in `source` mode without `source_macs` receives nothing",
            )
            .label("accepts frames only from listed MACs, and none are listed")
            .help("add `source_macs = [\"02:00:00:00:00:01\"]`: the senders this child receives from"),
        ),
        (Some(list), mode) if mode != MacvlanMode::Source => d.error(
            Diagnostic::error(
                list.span(),
                format!("`source_macs` only applies in `source` mode, not `{}`", mode.as_str()),
            )
            .label("ignored by the kernel in this mode")
            .help("remove `source_macs`, or set `mode = \"source\"`"),
        ),
        _ => {}
    }
    if let (Some(mac), MacvlanMode::Passthru) = (&doc.mac, mode) {
        d.error(
            Diagnostic::error(mac.span(), "a passthru macvlan child cannot have its own MAC")
                .label("passthru takes over its parent: the kernel gives the child the parent's MAC")
                .help("set `mac` on the parent instead, or use another mode"),
        );
    }
    Some(IfaceKind::Macvlan { parent: parent?, mode, source_macs })
}

fn ipvlan(d: &Draft<'_>, id: IfaceId, doc: &IfaceDoc) -> Option<IfaceKind> {
    let parent = parent(d, id, doc);
    let mode = match &doc.mode {
        Some(mode) => word(d, mode, "mode", &IpvlanMode::ALL)?,
        None => {
            d.error(
                Diagnostic::warning(
                    doc.span.clone(),
                    "ipvlan `mode` not given: it will be l3, as with `ip link`",
                )
                .label("mode defaults to l3")
                .help("write `mode = \"l3\"` to keep this, or choose l2 or l3s"),
            );
            IpvlanMode::L3
        }
    };
    if let Some(mac) = &doc.mac {
        d.error(
            Diagnostic::error(mac.span(), "an ipvlan child cannot have its own MAC")
                .label("ipvlan children always carry their parent's MAC")
                .help("remove `mac`, or use a macvlan child, which has a MAC of its own"),
        );
    }
    let flag = ipvlan_flag(d, doc)?;
    Some(IfaceKind::Ipvlan { parent: parent?, mode, flag })
}

/// `flag`: one of bridge (the default), private, vepa; private and vepa exclude each other.
fn ipvlan_flag(d: &Draft<'_>, doc: &IfaceDoc) -> Option<IpvlanFlag> {
    let Some(list) = &doc.flag else { return Some(IpvlanFlag::Bridge) };
    let flags: Vec<(IpvlanFlag, Span)> = list
        .get_ref()
        .iter()
        .filter_map(|f| Some((word(d, f, "flag", &IpvlanFlag::ALL)?, f.span())))
        .collect();
    let private = flags.iter().find(|(f, _)| *f == IpvlanFlag::Private);
    let vepa = flags.iter().find(|(f, _)| *f == IpvlanFlag::Vepa);
    if let (Some((_, p)), Some((_, v))) = (private, vepa) {
        d.error(
            Diagnostic::error(v.clone(), "ipvlan flags `private` and `vepa` exclude each other")
                .label("vepa")
                .related(p.clone(), "private")
                .help("choose one: private drops traffic between siblings, vepa sends it out through the parent"),
        );
        return None;
    }
    Some(match (private, vepa) {
        (Some(_), _) => IpvlanFlag::Private,
        (_, Some(_)) => IpvlanFlag::Vepa,
        _ => IpvlanFlag::Bridge,
    })
}

/// Parses one of a fixed set of words, reporting the others.
fn word<T: Copy>(d: &Draft<'_>, value: &Spanned<String>, key: &str, words: &[(&str, T)]) -> Option<T> {
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
fn parent(d: &Draft<'_>, id: IfaceId, doc: &IfaceDoc) -> Option<IfaceId> {
    let Some(text) = &doc.parent else {
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
    if d.role(parent.node) == Role::Switch {
        d.error(
            Diagnostic::error(text.span(), "a switch port cannot be a parent")
                .label(format!("`{}` is a switch", d.lab.node(parent.node).name))
                .help("stack sub-interfaces and children on a host's or router's interface"),
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

/// Every interface, parents before their children; `None` (after reporting each interface
/// on a cycle) when parents form a cycle. Linear: each interface is walked up once.
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
                        at = d.kind(id).parent();
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
        let same_kind = matches!(
            (d.kind(child), d.kind(parent)),
            (IfaceKind::Macvlan { .. }, IfaceKind::Macvlan { .. })
                | (IfaceKind::Ipvlan { .. }, IfaceKind::Ipvlan { .. })
        );
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
    for &kid in kids.iter().filter(|k| d.lab.iface(**k).up && matches!(d.kind(**k), IfaceKind::Vlan { .. })) {
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

/// Stackings the kernel refuses: macvlan or VLAN on an ipvlan child.
fn check_parent_accepts(d: &Draft<'_>, parent: IfaceId, kids: &[IfaceId]) {
    let IfaceKind::Ipvlan { .. } = d.kind(parent) else { return };
    for &kid in kids {
        let kind = d.kind(kid).name();
        if matches!(d.kind(kid), IfaceKind::Macvlan { .. } | IfaceKind::Vlan { .. }) {
            d.error(
                Diagnostic::error(
                    parent_span(d, kid),
                    format!("the kernel refuses a {kind} on an ipvlan child"),
                )
                .label(format!("`{}` is an ipvlan child", d.lab.iface_label(parent)))
                .help(format!("stack the {kind} on the ipvlan's parent instead")),
            );
        }
    }
}

/// The MTU each interface will have: its own (as written), else that of the device it
/// attaches to (`lowers`), else 1500. `order` has parents first.
fn effective_mtus(
    d: &Draft<'_>,
    order: &[IfaceId],
    lowers: &HashMap<IfaceId, IfaceId>,
) -> HashMap<IfaceId, i64> {
    let mut mtus = HashMap::new();
    for &id in order {
        let written = d.declared.get(&id).and_then(|doc| doc.mtu.as_ref()).map(|m| *m.get_ref());
        let inherited = lowers.get(&id).and_then(|lower| mtus.get(lower).copied());
        mtus.insert(id, written.or(inherited).unwrap_or(1500));
    }
    mtus
}

/// The kernel refuses a VLAN or macvlan with a larger MTU than the device it attaches to
/// (EINVAL); an ipvlan may be larger.
fn check_mtu(d: &Draft<'_>, parent: IfaceId, kids: &[IfaceId], mtus: &HashMap<IfaceId, i64>) {
    let limit = mtus.get(&parent).copied().unwrap_or(1500);
    for &kid in kids.iter().filter(|k| !matches!(d.kind(**k), IfaceKind::Ipvlan { .. })) {
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

fn parent_span(d: &Draft<'_>, child: IfaceId) -> Span {
    match d.declared.get(&child).and_then(|doc| doc.parent.as_ref()) {
        Some(parent) => parent.span(),
        None => d.iface_span(child),
    }
}

/// Rules among the children of one lower device.
fn check_siblings(d: &Draft<'_>, kids: &[IfaceId]) {
    let macvlans: Vec<IfaceId> =
        kids.iter().copied().filter(|k| matches!(d.kind(*k), IfaceKind::Macvlan { .. })).collect();
    let ipvlans: Vec<IfaceId> =
        kids.iter().copied().filter(|k| matches!(d.kind(*k), IfaceKind::Ipvlan { .. })).collect();
    if let (Some(&m), Some(&i)) = (macvlans.first(), ipvlans.first()) {
        let later = m.max(i);
        let earlier = m.min(i);
        d.error(
            Diagnostic::error(parent_span(d, later), "macvlan and ipvlan children cannot share a parent")
                .label(format!("`{}` is a {}", d.lab.iface_label(later), d.kind(later).name()))
                .related(
                    parent_span(d, earlier),
                    format!(
                        "`{}` is a {} on the same parent",
                        d.lab.iface_label(earlier),
                        d.kind(earlier).name()
                    ),
                )
                .help("the kernel gives a device to one driver only (EBUSY): use one kind per parent"),
        );
    }
    check_passthru(d, &macvlans);
    check_macvlan_macs(d, &macvlans);
    check_ipvlan_port(d, &ipvlans);
    check_ipvlan_addresses(d, &ipvlans);
    check_vlan_ids(d, kids);
}

/// A macvlan that is up may not carry its lower device's MAC or a sibling's: the kernel
/// refuses it (EADDRINUSE).
fn check_macvlan_macs(d: &Draft<'_>, macvlans: &[IfaceId]) {
    let written = |id: IfaceId| d.declared.get(&id).and_then(|doc| doc.mac.as_ref());
    for (i, &m) in macvlans.iter().enumerate() {
        let Some(mac) = written(m).filter(|_| d.lab.iface(m).up) else { continue };
        let lower = d.kind(m).parent().map(|p| lower_of(d, p));
        let clash =
            lower.filter(|l| written(*l).is_some_and(|l| l.get_ref() == mac.get_ref())).or_else(|| {
                macvlans[..i]
                    .iter()
                    .copied()
                    .find(|o| written(*o).is_some_and(|o| o.get_ref() == mac.get_ref()))
            });
        if let Some(other) = clash {
            d.error(
                Diagnostic::error(
                    mac.span(),
                    format!("`{}` has the MAC of `{}`", d.lab.iface_label(m), d.lab.iface_label(other)),
                )
                .label("the kernel refuses a macvlan with its parent's or a sibling's MAC (address in use)")
                .help("give it a MAC of its own, or none (the kernel picks one)"),
            );
        }
    }
}

/// The device a macvlan on `parent` attaches to: `parent`, or its lower device when it is
/// a macvlan itself.
fn lower_of(d: &Draft<'_>, parent: IfaceId) -> IfaceId {
    let mut at = parent;
    let mut steps = 0;
    while let (IfaceKind::Macvlan { parent, .. }, true) = (d.kind(at), steps < d.lab.iface_ids().count()) {
        at = *parent;
        steps += 1;
    }
    at
}

fn check_passthru(d: &Draft<'_>, macvlans: &[IfaceId]) {
    if macvlans.len() < 2 {
        return;
    }
    for &m in macvlans {
        if let IfaceKind::Macvlan { mode: MacvlanMode::Passthru, .. } = d.kind(m) {
            let other = *macvlans.iter().find(|o| **o != m).unwrap_or(&m);
            d.error(
                Diagnostic::error(parent_span(d, m), "a passthru macvlan must be its parent's only macvlan")
                    .label(format!("`{}` is passthru", d.lab.iface_label(m)))
                    .related(parent_span(d, other), format!("`{}` shares the parent", d.lab.iface_label(other)))
                    .help("passthru hands the whole parent to one child: remove the siblings or choose another mode"),
            );
        }
    }
}

/// ipvlan children of one parent share its MAC, and the kernel tells them apart by address:
/// two with one address are refused (EADDRINUSE).
fn check_ipvlan_addresses(d: &Draft<'_>, ipvlans: &[IfaceId]) {
    let mut first: HashMap<std::net::IpAddr, IfaceId> = HashMap::new();
    for &child in ipvlans {
        let Some(doc) = d.declared.get(&child) else { continue };
        for address in &doc.addresses {
            let ip = address.get_ref().addr();
            match first.get(&ip) {
                Some(&other) if other != child => d.error(
                    Diagnostic::error(address.span(), format!("{ip} is on two ipvlan children of one parent"))
                        .label(format!("on `{}`", d.lab.iface_label(child)))
                        .related(d.iface_span(other), format!("also on `{}`", d.lab.iface_label(other)))
                        .help("ipvlan children share their parent's MAC, so each needs addresses of its own (the kernel refuses: address in use)"),
                ),
                _ => {
                    first.insert(ip, child);
                }
            }
        }
    }
}

/// ipvlan mode and flags belong to the parent (the ipvlan port): every child must agree.
fn check_ipvlan_port(d: &Draft<'_>, ipvlans: &[IfaceId]) {
    let Some((&first, rest)) = ipvlans.split_first() else { return };
    let IfaceKind::Ipvlan { mode, flag, .. } = *d.kind(first) else { return };
    for &other in rest {
        let IfaceKind::Ipvlan { mode: m, flag: f, .. } = *d.kind(other) else { continue };
        if (m, f) == (mode, flag) {
            continue;
        }
        d.error(
            Diagnostic::error(d.iface_span(other), format!(
                "ipvlan children of one parent must share mode and flag: `{}` is {} {}, `{}` is {} {}",
                d.lab.iface_label(other), m.as_str(), f.as_str(),
                d.lab.iface_label(first), mode.as_str(), flag.as_str()
            ))
            .label(format!("{} {}", m.as_str(), f.as_str()))
            .related(d.iface_span(first), format!("{} {}", mode.as_str(), flag.as_str()))
            .help(format!(
                "the mode and flag are the parent's: the kernel would silently switch every child to `{} {}`, the last one created; give all of them the same",
                m.as_str(), f.as_str()
            )),
        );
    }
}

fn check_vlan_ids(d: &Draft<'_>, kids: &[IfaceId]) {
    let mut seen: BTreeMap<(u16, u16, IfaceId), IfaceId> = BTreeMap::new();
    for &kid in kids {
        let IfaceKind::Vlan { parent, id, protocol } = *d.kind(kid) else { continue };
        match seen.get(&(protocol.ethertype(), id, parent)) {
            Some(&first) => d.error(
                Diagnostic::error(
                    d.iface_span(kid),
                    format!("VLAN {id} is on `{}` twice", d.lab.iface_label(parent)),
                )
                .label(format!("`{}`", d.lab.iface_label(kid)))
                .related(d.iface_span(first), format!("`{}` has the same id", d.lab.iface_label(first)))
                .help("a parent carries each VLAN id once per protocol: remove one, or change its `id`"),
            ),
            None => {
                seen.insert((protocol.ethertype(), id, parent), kid);
            }
        }
    }
}
