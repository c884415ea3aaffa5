//! Interface kinds as declared: which kind each entry asks for, and which keys that kind takes.

use super::super::diagnostic::Diagnostic;
use super::super::document::IfaceDoc;
use super::super::reader::closest;
use super::{Draft, one_of};
use crate::model::Role;
use toml::Spanned;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeclaredKind {
    Veth,
    Vlan,
    Macvlan,
    Ipvlan,
    Dummy,
}

const KINDS: [(&str, DeclaredKind); 5] = [
    ("veth", DeclaredKind::Veth),
    ("vlan", DeclaredKind::Vlan),
    ("macvlan", DeclaredKind::Macvlan),
    ("ipvlan", DeclaredKind::Ipvlan),
    ("dummy", DeclaredKind::Dummy),
];

impl DeclaredKind {
    fn name(self) -> &'static str {
        KINDS.iter().find(|(_, k)| *k == self).map(|(n, _)| *n).unwrap_or_default()
    }

    /// Keys that only this kind takes (besides name, kind, addresses, gateway, ...).
    fn own_keys(self) -> &'static [&'static str] {
        match self {
            DeclaredKind::Veth => &["link", "access", "trunk", "hairpin"],
            DeclaredKind::Vlan => &["parent", "id", "protocol"],
            DeclaredKind::Macvlan => &["parent", "mode", "source_macs"],
            DeclaredKind::Ipvlan => &["parent", "mode", "flag"],
            DeclaredKind::Dummy => &[],
        }
    }
}

/// The kind an entry declares: `kind`, or veth when it has a `link`.
pub fn declared_kind(d: &Draft<'_>, doc: &IfaceDoc, role: Role) -> Option<DeclaredKind> {
    let kind = match (&doc.kind, &doc.link) {
        (Some(kind), _) => parse_kind(d, kind)?,
        (None, Some(_)) => DeclaredKind::Veth,
        (None, None) if doc.written.has("kind") => return None,
        (None, None) if doc.written.has("link") => DeclaredKind::Veth,
        (None, None) => {
            d.error(
                Diagnostic::error(doc.span.clone(), "this interface has neither `kind` nor `link`")
                    .label("what should this interface be?")
                    .help(format!(
                        "add `link = \"SWITCH\"` or `link = \"NODE:IFACE\"` for a cable, or `kind = {}`",
                        one_of(&["vlan", "macvlan", "ipvlan", "dummy"])
                    )),
            );
            return None;
        }
    };
    check_keys(d, doc, kind);
    if role == Role::Switch && kind != DeclaredKind::Veth {
        d.error(
            Diagnostic::error(doc.span.clone(), format!("a switch cannot have a {} interface", kind.name()))
                .label("switch interfaces are ports")
                .help("a switch's interfaces are cables (`link = ...`); put sub-interfaces and children in a host or router"),
        );
    }
    Some(kind)
}

fn parse_kind(d: &Draft<'_>, kind: &Spanned<String>) -> Option<DeclaredKind> {
    let found = KINDS.iter().find(|(n, _)| n == kind.get_ref()).map(|(_, k)| *k);
    if found.is_none() {
        let names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
        let mut e = Diagnostic::error(kind.span(), format!("unknown interface kind `{}`", kind.get_ref()))
            .label("not a kind lab knows");
        e = match closest(kind.get_ref(), names.iter().copied()) {
            Some(best) => e.help(format!("did you mean \"{best}\"?")),
            None => e.help(format!("`kind` is one of {}", one_of(&names))),
        };
        d.error(e);
    }
    found
}

/// Reports keys that belong to another kind (`mode` on a vlan, `id` on a macvlan, ...).
fn check_keys(d: &Draft<'_>, doc: &IfaceDoc, kind: DeclaredKind) {
    let present: [(&str, Option<std::ops::Range<usize>>); 11] = [
        ("link", doc.link.as_ref().map(|v| v.span())),
        ("access", doc.access.as_ref().map(|v| v.span())),
        ("trunk", doc.trunk.as_ref().map(|v| v.span())),
        ("hairpin", doc.hairpin.as_ref().map(|v| v.span())),
        ("parent", doc.parent.as_ref().map(|v| v.span())),
        ("id", doc.id.as_ref().map(|v| v.span())),
        ("protocol", doc.protocol.as_ref().map(|v| v.span())),
        ("mode", doc.mode.as_ref().map(|v| v.span())),
        ("source_macs", doc.source_macs.as_ref().map(|v| v.span())),
        ("flag", doc.flag.as_ref().map(|v| v.span())),
        ("kind", None),
    ];
    for (key, span) in present {
        let Some(span) = span else { continue };
        if kind.own_keys().contains(&key) {
            continue;
        }
        let owners: Vec<&str> =
            KINDS.iter().filter(|(_, k)| k.own_keys().contains(&key)).map(|(n, _)| *n).collect();
        d.error(
            Diagnostic::error(span, format!("`{key}` does not apply to a {} interface", kind.name()))
                .label(format!("only for {}", owners.join(" and ")))
                .help(match kind.own_keys() {
                    [] => format!("remove `{key}`; a {} takes only the common keys", kind.name()),
                    own => format!(
                        "remove `{key}`, or change `kind`; a {} takes {}",
                        kind.name(),
                        own.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    ),
                }),
        );
    }
}
