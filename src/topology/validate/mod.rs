//! Validation: a `Document` becomes a checked `model::Lab`, or every reason it cannot.
//! Phases run in order (names, cables, children, addresses, sysctls, expectations), each
//! adding to one draft lab; a phase reports what it finds and lets later phases go on.

mod addresses;
mod children;
mod expect;
mod kinds;
mod links;
mod names;
pub use names::lab_name_problem;
mod sysctl;

use super::diagnostic::{Diagnostic, Source, Span};
use super::document::{Document, IfaceDoc};
use super::reader::{S, Sink, closest};
use crate::model::{IfaceId, IfaceKind, Lab, NodeId, Role, Verify};
pub(super) use kinds::DeclaredKind;
use std::collections::HashMap;
use std::path::PathBuf;

/// Checks a document; the lab is returned only when no error was found.
pub fn validate(doc: &Document, source: &Source, sink: &Sink) -> Option<Lab> {
    let mut draft = Draft::new(doc, source, sink);
    names::check(&mut draft);
    links::check(&mut draft);
    children::check(&mut draft);
    addresses::check(&mut draft);
    sysctl::check(&mut draft);
    expect::check(&mut draft);
    draft.finish()
}

/// The lab being built, with what is needed to point back into the file.
pub(super) struct Draft<'d> {
    pub doc: &'d Document,
    pub source: &'d Source,
    pub sink: &'d Sink,
    pub lab: Lab,
    /// The `[[...iface]]` entry each declared interface came from.
    pub declared: HashMap<IfaceId, &'d IfaceDoc>,
    /// The kind each declared entry asks for, when it names a known one.
    pub kinds: HashMap<IfaceId, DeclaredKind>,
}

impl<'d> Draft<'d> {
    fn new(doc: &'d Document, source: &'d Source, sink: &'d Sink) -> Self {
        let lab = Lab {
            name: String::new(),
            description: doc.description.as_ref().map(|d| d.get_ref().clone()),
            source: PathBuf::from(&source.name),
            nodes: Vec::new(),
            cables: Vec::new(),
            expectations: Vec::new(),
            verify: Verify::default(),
        };
        Draft { doc, source, sink, lab, declared: HashMap::new(), kinds: HashMap::new() }
    }

    pub fn error(&self, diagnostic: Diagnostic) {
        self.sink.push(diagnostic);
    }

    pub fn node_doc(&self, node: NodeId) -> &'d super::document::NodeDoc {
        &self.doc.nodes[node.0]
    }

    /// Where an interface is defined in the file: its own entry, or the cable that made it.
    pub fn iface_span(&self, id: IfaceId) -> Span {
        match self.declared.get(&id) {
            Some(doc) => doc.span.clone(),
            None => self.node_doc(id.node).span.clone(),
        }
    }

    /// Resolves `NODE` to a node, reporting an unknown name with the closest one.
    pub fn resolve_node(&self, name: &S<String>) -> Option<NodeId> {
        let found = self.lab.node_id(name.get_ref());
        if found.is_none() {
            let names = self.lab.nodes.iter().map(|n| n.name.as_str());
            let mut d = Diagnostic::error(name.span(), format!("unknown node `{}`", name.get_ref()))
                .label("no node has this name");
            let all: Vec<&str> = names.collect();
            d = match closest(name.get_ref(), all.iter().copied()) {
                Some(best) => d.help(format!("did you mean `{best}`?")),
                None if all.is_empty() => d.help("declare the node as a [[host]], [[router]] or [[switch]]"),
                None => d.help(format!("the nodes are: {}", shortened(&all))),
            };
            self.error(d);
        }
        found
    }

    /// Resolves `NODE:IFACE`, or `IFACE` inside `home` when given.
    pub fn resolve_iface(&self, text: &S<String>, home: Option<NodeId>) -> Option<IfaceId> {
        let (node, iface) = match (text.get_ref().split_once(':'), home) {
            (Some((node, iface)), _) => (self.resolve_node(&S::new(text.span(), node.to_owned()))?, iface),
            (None, Some(home)) => (home, text.get_ref().as_str()),
            (None, None) => {
                let written = text.get_ref();
                let help = match self.lab.node_id(written) {
                    Some(node) => {
                        let first = self.lab.node(node).ifaces.first().map_or("IFACE", |i| i.name.as_str());
                        format!(
                            "`{written}` is a node: name one of its interfaces, like \"{written}:{first}\""
                        )
                    }
                    None => format!("write it as \"NODE:{written}\""),
                };
                self.error(
                    Diagnostic::error(text.span(), "an interface must be written `NODE:IFACE`")
                        .label("no node given")
                        .help(help),
                );
                return None;
            }
        };
        let found = self.lab.iface_id(node, iface);
        if found.is_none() {
            let mut d = unknown_iface(&self.lab, node, iface, text.span());
            if let Some(other) = self.lab.node_id(iface) {
                let other = self.lab.node(other);
                d = d.help(format!(
                    "`{iface}` is a {}, not an interface of `{}`: name an interface, like \"{}:IFACE\"",
                    other.role.as_str(),
                    self.lab.node(node).name,
                    other.name
                ));
            }
            self.error(d);
        }
        found
    }

    pub fn role(&self, node: NodeId) -> Role {
        self.lab.node(node).role
    }

    pub fn kind(&self, id: IfaceId) -> &IfaceKind {
        &self.lab.iface(id).kind
    }

    /// Declared interfaces of one kind, in file order.
    pub fn declared_of(&self, kind: DeclaredKind) -> Vec<(IfaceId, &'d IfaceDoc)> {
        let mut found: Vec<_> =
            self.kinds.iter().filter(|(_, k)| **k == kind).map(|(id, _)| (*id, self.declared[id])).collect();
        found.sort_by_key(|(id, _)| *id);
        found
    }

    fn finish(self) -> Option<Lab> {
        (self.sink.count_errors() == 0).then_some(self.lab)
    }
}

fn unknown_iface(lab: &Lab, node: NodeId, iface: &str, span: Span) -> Diagnostic {
    let n = lab.node(node);
    let mut d = Diagnostic::error(span, format!("node `{}` has no interface `{iface}`", n.name))
        .label("unknown interface");
    let names: Vec<&str> = n.ifaces.iter().map(|i| i.name.as_str()).collect();
    d = match closest(iface, names.iter().copied()) {
        Some(best) => d.help(format!("did you mean `{}:{best}`?", n.name)),
        None if names.is_empty() => d.help(format!("`{}` has no interfaces yet", n.name)),
        None => d.help(format!("the interfaces of `{}` are: {}", n.name, shortened(&names))),
    };
    d
}

/// A list of names for a help line: the first twelve, then how many more.
fn shortened(names: &[&str]) -> String {
    const SHOWN: usize = 12;
    match names.len() {
        n if n <= SHOWN => names.join(", "),
        n => format!("{}, and {} more", names[..SHOWN].join(", "), n - SHOWN),
    }
}

/// The broadcast address of an IPv4 subnet that has one (not /31 or /32).
fn broadcast_of(net: &ipnet::IpNet) -> Option<std::net::IpAddr> {
    match net {
        ipnet::IpNet::V4(v4) if v4.prefix_len() < 31 => Some(std::net::IpAddr::V4(v4.broadcast())),
        _ => None,
    }
}

/// Human list of allowed words: "`a`, `b` or `c`".
pub(super) fn one_of(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

/// A VLAN id in 1..=4094, or an error naming `what` it is.
pub(super) fn vlan_id(d: &Draft<'_>, value: &S<i64>, what: &str) -> Option<u16> {
    match u16::try_from(*value.get_ref()) {
        Ok(id) if (1..=4094).contains(&id) => Some(id),
        _ => {
            d.error(
                Diagnostic::error(value.span(), format!("{what} {} is outside 1..4094", value.get_ref()))
                    .label("not a usable VLAN id")
                    .help("802.1Q VLAN ids run from 1 to 4094 (0 and 4095 are reserved)"),
            );
            None
        }
    }
}
