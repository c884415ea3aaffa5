//! Validation: a `Document` becomes a checked `model::Lab`, or every reason it cannot.
//! Phases run in order (names, cables, children, addresses, services and shared
//! namespaces, NAT, sysctls, expectations), each
//! adding to one draft lab; a phase reports what it finds and lets later phases go on.

mod addresses;
pub(crate) mod children;
mod expect;
mod impair;
mod kinds;
mod links;
mod names;
mod nat;
mod quality;
mod services;
pub use expect::{MAX_DEADLINE, MAX_TIMEOUT};
pub use names::lab_name_problem;
pub(crate) mod steps;
mod sysctl;
mod sysctl_keys;

use super::diagnostic::{Diagnostic, Source, Span};
use super::document::{Document, IfaceDoc};
use super::reader::{S, Sink, closest};
use crate::kind::Kind;
use crate::model::{IfaceId, IfaceKind, Lab, NodeId, Role, Verify};
use std::collections::HashMap;
use std::path::PathBuf;

/// Name comparisons spent on suggestions per file, at most.
const SUGGESTION_BUDGET: usize = 2_000_000;

/// Checks a document and its steps; the lab is returned only when no error was found.
pub fn validate(doc: &Document, source: &Source, sink: &Sink) -> Option<Lab> {
    let initial = validate_state(doc, source, sink);
    let steps = steps::check(doc, source, sink, initial.as_ref());
    let mut lab = initial?;
    lab.steps = steps?;
    Some(lab)
}

/// Checks one state of a lab: the document as written, or as a step's actions left it.
pub(crate) fn validate_state(doc: &Document, source: &Source, sink: &Sink) -> Option<Lab> {
    let mut draft = Draft::new(doc, source, sink);
    names::check(&mut draft);
    impair::check(&mut draft);
    links::check(&mut draft);
    children::check(&mut draft);
    addresses::check(&mut draft);
    services::check(&mut draft);
    nat::check(&mut draft);
    sysctl::check(&mut draft);
    expect::check(&mut draft);
    draft.finish()
}

/// The lab being built, with what is needed to point back into the file.
pub(crate) struct Draft<'d> {
    pub doc: &'d Document,
    pub source: &'d Source,
    pub sink: &'d Sink,
    pub lab: Lab,
    /// The `[[...iface]]` entry each declared interface came from.
    pub declared: HashMap<IfaceId, &'d IfaceDoc>,
    /// The kind each declared entry asks for, when it names a known one.
    pub kinds: HashMap<IfaceId, Kind>,
    /// Interface indexes by node and name, kept as interfaces are added.
    names: HashMap<(NodeId, String), usize>,
    /// Nodes by name (the first of two with one name), and the switches.
    pub node_names: HashMap<String, NodeId>,
    pub switches: Vec<NodeId>,
    /// Name comparisons left for "did you mean" suggestions: a file with thousands of
    /// unknown names gets suggestions for the first ones, and stays fast.
    suggestions: std::cell::Cell<usize>,
    /// The MTU each interface will have, as written or inherited (by the children phase).
    pub mtus: HashMap<IfaceId, i64>,
    /// Each interface's VLAN sub-interfaces and their ids; made on first use, once every
    /// kind is set (by the expectations phase).
    pub vlan_children: std::cell::OnceCell<HashMap<IfaceId, Vec<(IfaceId, u16)>>>,
    /// The interface of each address, and the IPv4 subnets by broadcast address; made on
    /// first use, once every address is set (by the expectations phase).
    addresses: std::cell::OnceCell<HashMap<std::net::IpAddr, IfaceId>>,
    broadcasts: std::cell::OnceCell<HashMap<std::net::IpAddr, ipnet::IpNet>>,
}

impl<'d> Draft<'d> {
    fn new(doc: &'d Document, source: &'d Source, sink: &'d Sink) -> Self {
        let lab = Lab {
            name: String::new(),
            description: doc.description.as_ref().map(|d| crate::report::printable(d.get_ref()).into_owned()),
            source: PathBuf::from(&source.name),
            nodes: Vec::new(),
            cables: Vec::new(),
            expectations: Vec::new(),
            verify: Verify::default(),
            steps: Vec::new(),
        };
        Draft {
            doc,
            source,
            sink,
            lab,
            declared: HashMap::new(),
            kinds: HashMap::new(),
            names: HashMap::new(),
            node_names: HashMap::new(),
            switches: Vec::new(),
            mtus: HashMap::new(),
            suggestions: std::cell::Cell::new(SUGGESTION_BUDGET),
            vlan_children: std::cell::OnceCell::new(),
            addresses: std::cell::OnceCell::new(),
            broadcasts: std::cell::OnceCell::new(),
        }
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

    /// The node named `name`.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.node_names.get(name).copied()
    }

    /// The candidate closest to `word`, while the file's suggestion budget lasts; `count`
    /// is how many candidates there are.
    pub fn closest<'c>(
        &self,
        word: &str,
        count: usize,
        candidates: impl Iterator<Item = &'c str>,
    ) -> Option<&'c str> {
        let left = self.suggestions.get();
        if left < count {
            return None;
        }
        self.suggestions.set(left - count);
        closest(word, candidates)
    }

    /// The interface that has each address (the first, where two have it).
    /// Whether `addr` is written on one of `node`'s interfaces.
    pub fn has_address(&self, node: NodeId, addr: std::net::IpAddr) -> bool {
        self.lab.node(node).ifaces.iter().flat_map(|i| &i.addresses).any(|a| a.addr() == addr)
    }

    pub fn addresses(&self) -> &HashMap<std::net::IpAddr, IfaceId> {
        self.addresses.get_or_init(|| {
            let mut owners = HashMap::new();
            for id in self.lab.iface_ids() {
                for net in &self.lab.iface(id).addresses {
                    owners.entry(net.addr()).or_insert(id);
                }
            }
            owners
        })
    }

    /// The lab's IPv4 subnets, by their broadcast addresses.
    pub fn broadcasts(&self) -> &HashMap<std::net::IpAddr, ipnet::IpNet> {
        self.broadcasts.get_or_init(|| {
            let mut subnets = HashMap::new();
            for net in self.lab.iface_ids().flat_map(|id| self.lab.iface(id).addresses.iter()) {
                if let Some(broadcast) = broadcast_of(net) {
                    subnets.entry(broadcast).or_insert(*net);
                }
            }
            subnets
        })
    }

    /// The names of the switches.
    pub fn switch_names(&self) -> impl Iterator<Item = &str> {
        self.switches.iter().map(|n| self.lab.node(*n).name.as_str())
    }

    /// Resolves `NODE` to a node, reporting an unknown name with the closest one.
    pub fn resolve_node(&self, name: &S<String>) -> Option<NodeId> {
        let found = self.node_id(name.get_ref());
        if found.is_none() {
            let mut d = Diagnostic::error(name.span(), format!("unknown node `{}`", name.get_ref()))
                .label("no node has this name");
            let nodes = &self.lab.nodes;
            let names = || nodes.iter().map(|n| n.name.as_str());
            d = match self.closest(name.get_ref(), nodes.len(), names()) {
                Some(best) => d.help(format!("did you mean `{best}`?")),
                None if nodes.is_empty() => {
                    d.help("declare the node as a [[host]], [[router]] or [[switch]]")
                }
                None => d.help(format!("the nodes are: {}", shortened(names(), nodes.len()))),
            };
            self.error(d);
        }
        found
    }

    /// Resolves `NODE:IFACE`, or `IFACE` inside `home` when given.
    pub fn resolve_iface(&self, text: &S<String>, home: Option<NodeId>) -> Option<IfaceId> {
        let (node, iface) = match (text.get_ref().split_once(':'), home) {
            (Some((node, iface)), _) => {
                // A node in another's namespace sees that namespace's interfaces.
                let node = self.resolve_node(&S::new(text.span(), node.to_owned()))?;
                (self.lab.home(node), iface)
            }
            (None, Some(home)) => (home, text.get_ref().as_str()),
            (None, None) => {
                let written = text.get_ref();
                let help = match self.node_id(written) {
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
        let found = self.iface_id(node, iface);
        if found.is_none() {
            let mut d = self.unknown_iface(node, iface, text.span());
            if let Some(other) = self.node_id(iface) {
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

    /// The interface of `node` named `name`.
    pub fn iface_id(&self, node: NodeId, name: &str) -> Option<IfaceId> {
        let index = *self.names.get(&(node, name.to_string()))?;
        Some(IfaceId { node, index })
    }

    /// Adds an interface to a node, keeping the name index; the first of two interfaces
    /// with one name (an error reported by `names`) is the one found by name.
    pub fn add_iface(&mut self, node: NodeId, iface: crate::model::Iface) -> IfaceId {
        let ifaces = &mut self.lab.nodes[node.0].ifaces;
        let index = ifaces.len();
        self.names.entry((node, iface.name.clone())).or_insert(index);
        ifaces.push(iface);
        IfaceId { node, index }
    }

    pub fn role(&self, node: NodeId) -> Role {
        self.lab.node(node).role
    }

    pub fn kind(&self, id: IfaceId) -> &IfaceKind {
        &self.lab.iface(id).kind
    }

    /// Declared interfaces of one kind, in file order.
    pub fn declared_of(&self, kind: Kind) -> Vec<(IfaceId, &'d IfaceDoc)> {
        let mut found: Vec<_> =
            self.kinds.iter().filter(|(_, k)| **k == kind).map(|(id, _)| (*id, self.declared[id])).collect();
        found.sort_by_key(|(id, _)| *id);
        found
    }

    fn unknown_iface(&self, node: NodeId, iface: &str, span: Span) -> Diagnostic {
        let n = self.lab.node(node);
        let mut d = Diagnostic::error(span, format!("node `{}` has no interface `{iface}`", n.name))
            .label("unknown interface");
        let names = || n.ifaces.iter().map(|i| i.name.as_str());
        d = match self.closest(iface, n.ifaces.len(), names()) {
            Some(best) => d.help(format!("did you mean `{}:{best}`?", n.name)),
            None if n.ifaces.is_empty() => d.help(format!("`{}` has no interfaces yet", n.name)),
            None => {
                d.help(format!("the interfaces of `{}` are: {}", n.name, shortened(names(), n.ifaces.len())))
            }
        };
        d
    }

    fn finish(self) -> Option<Lab> {
        (self.sink.count_errors() == 0).then_some(self.lab)
    }
}

/// A list of `count` names for a help line: the first twelve, then how many more.
fn shortened<'n>(names: impl Iterator<Item = &'n str>, count: usize) -> String {
    const SHOWN: usize = 12;
    let (mut once, mut consumed): (Vec<&str>, usize) = (Vec::new(), 0);
    for name in names {
        if once.len() == SHOWN {
            break;
        }
        consumed += 1;
        if !once.contains(&name) {
            once.push(name);
        }
    }
    match count.saturating_sub(consumed) {
        0 => once.join(", "),
        more => format!("{}, and {more} more", once.join(", ")),
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
pub(crate) fn one_of(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

/// A VLAN id in 1..=4094, or an error naming `what` it is.
pub(crate) fn vlan_id(d: &Draft<'_>, value: &S<i64>, what: &str) -> Option<u16> {
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
