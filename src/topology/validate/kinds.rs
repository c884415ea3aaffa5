//! Interface kinds as declared: which kind each entry asks for, and that it writes no key
//! of another kind. The kinds and their keys are `crate::kind`'s.

use super::super::diagnostic::Diagnostic;
use super::super::document::IfaceDoc;
use super::super::reader::closest;
use super::{Draft, one_of};
use crate::kind::Kind;
use crate::model::Role;
use crate::topology::diagnostic::a;
use toml::Spanned;

/// The kind an entry declares: `kind`, or veth when it has a `link`.
pub fn declared_kind(d: &Draft<'_>, doc: &IfaceDoc, role: Role) -> Option<Kind> {
    let kind = match (&doc.kind, doc.declared) {
        (_, Some(kind)) => kind,
        (Some(kind), None) => {
            report_unknown_kind(d, kind);
            return None;
        }
        (None, None) if doc.written.has("kind") => return None,
        (None, None) => {
            let children: Vec<&str> =
                Kind::declarable_names().into_iter().filter(|k| *k != crate::kind::veth::NAME).collect();
            d.error(
                Diagnostic::error(doc.span.clone(), "this interface has neither `kind` nor `link`")
                    .label("what should this interface be?")
                    .help(format!(
                        "add `link = \"SWITCH\"` or `link = \"NODE:IFACE\"` for a cable, or `kind = {}`",
                        one_of(&children)
                    )),
            );
            return None;
        }
    };
    check_keys(d, doc, kind);
    if role == Role::Switch && !matches!(kind, Kind::Veth | Kind::Vlan) {
        d.error(
            Diagnostic::error(doc.span.clone(), format!("a switch cannot have {} interface", a(kind.name())))
                .label("switch interfaces are ports, or VLAN interfaces of its bridge")
                .help("a switch's interfaces are cables (`link = ...`) and SVIs (`kind = \"vlan\"`, `parent = \"br0\"`); put other children in a host or router"),
        );
    }
    Some(kind)
}

fn report_unknown_kind(d: &Draft<'_>, kind: &Spanned<String>) {
    let names = Kind::declarable_names();
    let mut e = Diagnostic::error(kind.span(), format!("unknown interface kind `{}`", kind.get_ref()))
        .label("not a kind lab knows");
    e = match closest(kind.get_ref(), names.iter().copied()) {
        Some(best) => e.help(format!("did you mean \"{best}\"?")),
        None => e.help(format!("`kind` is one of {}", one_of(&names))),
    };
    d.error(e);
}

/// Reports keys that belong to another kind (`mode` on a vlan, `id` on a macvlan, ...).
fn check_keys(d: &Draft<'_>, doc: &IfaceDoc, kind: Kind) {
    let kinds_keys = Kind::all_keys();
    for (key, span) in doc.written.iter() {
        if !kinds_keys.contains(&key) || kind.keys().contains(&key) {
            continue;
        }
        let owners: Vec<&str> =
            Kind::ALL.iter().filter(|k| k.keys().contains(&key)).map(|k| k.name()).collect();
        d.error(
            Diagnostic::error(
                span.clone(),
                format!("`{key}` does not apply to {} interface", a(kind.name())),
            )
            .label(format!("only for {}", owners.join(" and ")))
            .help(match kind.keys() {
                [] => format!("remove `{key}`; {} takes only the common keys", a(kind.name())),
                own => format!(
                    "remove `{key}`, or change `kind`; {} takes {}",
                    a(kind.name()),
                    own.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                ),
            }),
        );
    }
}
