//! Scenarios: the `[[step]]`s after the initial state, and the action language they share
//! with `lab do`. A step's actions edit the file as written (addresses, routes, sysctls,
//! modes, interfaces added or removed), and the state of its links (up or down, cables
//! unplugged, impairments); the lab they leave is checked like the initial one, so every
//! step is a whole, valid lab, and the plan of a step is the difference between two labs.

use super::super::diagnostic::{Diagnostic, Source, Span};
use super::super::document::{Document, ExpectDoc, IfaceDoc, NodeDoc, RouteDoc};
use super::super::reader::{S, Sink, closest};
use crate::impair::Impairment;
use crate::kind::KindDoc;
use crate::model::{IfaceId, IfaceKind, Lab, Step};
use std::collections::BTreeMap;

/// Steps a file may have, and actions a step may take: far above any lesson.
pub const MAX_STEPS: usize = 100;
pub const MAX_ACTIONS: usize = 1000;
/// How reports and `--step` name the state before the first step.
pub const INITIAL: &str = "initial";

/// The verbs of the action language, for help lines.
pub const VERBS: &[&str] =
    &["link", "unplug", "plug", "address", "route", "sysctl", "mode", "impair", "add", "remove"];

/// An action as written, and where its text starts in the source when it is there character
/// for character (no escapes), so that a word of it can be pointed at.
#[derive(Clone)]
pub struct ActionText {
    pub text: S<String>,
    pub base: Option<usize>,
}

impl ActionText {
    /// An action string of the file: its span covers the quotes.
    pub fn in_file(text: &S<String>, source: &str) -> ActionText {
        let span = text.span();
        let inner = span.start + 1..span.end.saturating_sub(1);
        let base = (source.get(inner.clone()) == Some(text.get_ref().as_str())).then_some(inner.start);
        ActionText { text: text.clone(), base }
    }

    /// The words of the action with their spans; `{ ... }` after `add NODE` is one word.
    fn words(&self) -> Vec<S<String>> {
        let text = self.text.get_ref();
        let span_of = |start: usize, end: usize| match self.base {
            Some(base) => base + start..base + end,
            None => self.text.span(),
        };
        let mut words = Vec::new();
        let mut rest = 0;
        while let Some(offset) = text[rest..].find(|c: char| !c.is_whitespace()) {
            let start = rest + offset;
            if text[start..].starts_with('{') && words.len() >= 2 {
                words.push(S::new(span_of(start, text.len()), text[start..].trim_end().to_string()));
                break;
            }
            let end = text[start..].find(char::is_whitespace).map_or(text.len(), |e| start + e);
            words.push(S::new(span_of(start, end), text[start..end].to_string()));
            rest = end;
        }
        words
    }
}

/// One action, its words resolved to kinds of values; names are looked up when applied.
enum Action {
    Link { iface: S<String>, up: bool },
    Unplug { iface: S<String> },
    Plug { iface: S<String> },
    Address { add: bool, iface: S<String>, address: S<ipnet::IpNet> },
    Route { add: bool, node: S<String>, route: RouteDoc },
    Sysctl { node: S<String>, key: S<String>, value: S<String> },
    Mode { iface: S<String>, mode: S<String> },
    Impair { iface: S<String>, impairment: Option<Impairment> },
    Add { node: S<String>, iface: Box<IfaceDoc> },
    Remove { iface: S<String> },
}

/// The links' state a step leaves, by node and interface name: what the file does not say.
#[derive(Clone, Default)]
struct Links(BTreeMap<(String, String), LinkState>);

#[derive(Clone, Copy, Default)]
struct LinkState {
    up: Option<bool>,
    unplugged: bool,
    impair: Option<Option<Impairment>>,
}

/// Checks every step of a document whose initial state is `initial` (or only the actions'
/// words, when the initial state is invalid); the steps when all are valid.
pub fn check(doc: &Document, source: &Source, sink: &Sink, initial: Option<&Lab>) -> Option<Vec<Step>> {
    let parsed = parse_steps(doc, source, sink);
    let initial = initial?;
    let mut replay = Replay::new(doc, initial);
    let mut steps = Vec::new();
    for (step, actions) in doc.steps.iter().zip(parsed) {
        let lab = replay.step(&actions?, &step.expects, source, sink)?;
        let name = step.name.as_ref().map(|n| n.get_ref().clone()).unwrap_or_default();
        let written =
            step.actions.iter().map(|a| crate::report::printable(a.get_ref()).into_owned()).collect();
        steps.push(Step { name, line: source.line_col(step.span.start).0, actions: written, lab });
    }
    Some(steps)
}

/// The lab after the steps up to `upto` (none: the initial state), then `extra` actions, with
/// the expectations of the step reached; `None` after reporting why.
pub fn live(
    doc: &Document,
    source: &Source,
    sink: &Sink,
    initial: &Lab,
    upto: usize,
    extra: &[ActionText],
) -> Option<Lab> {
    let parsed = parse_steps(doc, source, sink);
    let mut replay = Replay::new(doc, initial);
    for (step, actions) in doc.steps.iter().zip(parsed).take(upto) {
        replay.step(&actions?, &step.expects, source, sink)?;
    }
    let expects = match upto.checked_sub(1) {
        Some(last) => &doc.steps[last].expects,
        None => &doc.expects,
    };
    let actions = parse_actions(extra, sink)?;
    replay.step(&actions, expects, source, sink)
}

/// Every step's actions parsed; names, sizes and counts checked.
fn parse_steps(doc: &Document, source: &Source, sink: &Sink) -> Vec<Option<Vec<Action>>> {
    if let Some(step) = doc.steps.get(MAX_STEPS) {
        sink.push(
            Diagnostic::error(step.span.clone(), format!("more than {MAX_STEPS} steps"))
                .label("one step too many")
                .help("split the scenario into several files"),
        );
        return doc.steps.iter().map(|_| None).collect();
    }
    step_names(doc, sink);
    doc.steps
        .iter()
        .map(|step| {
            if let Some(action) = step.actions.get(MAX_ACTIONS) {
                sink.push(
                    Diagnostic::error(action.span(), format!("more than {MAX_ACTIONS} actions in one step"))
                        .label("one action too many")
                        .help("split the step in two"),
                );
                return None;
            }
            let written: Vec<ActionText> =
                step.actions.iter().map(|a| ActionText::in_file(a, &source.text)).collect();
            parse_actions(&written, sink)
        })
        .collect()
}

fn step_names(doc: &Document, sink: &Sink) {
    let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
    for name in doc.steps.iter().filter_map(|s| s.name.as_ref()) {
        let text = name.get_ref().as_str();
        let problem = if text.trim().is_empty() || text.chars().any(char::is_control) {
            Some("a step needs a name of printable text, to be reported and chosen by (`--step NAME`)")
        } else if text == INITIAL {
            Some("`initial` names the state before the first step: call this step something else")
        } else {
            None
        };
        if let Some(problem) = problem {
            sink.push(
                Diagnostic::error(name.span(), "this step name cannot be used").label("here").help(problem),
            );
        } else if let Some(first) = seen.get(text) {
            sink.push(
                Diagnostic::error(name.span(), format!("two steps are named `{text}`"))
                    .label("second step of this name")
                    .related(first.clone(), "first named here")
                    .help("step names are unique: `--step NAME` chooses one"),
            );
        } else {
            seen.insert(text, name.span());
        }
    }
}

/// Parses actions; every problem is reported, and `None` returned if there was one.
fn parse_actions(written: &[ActionText], sink: &Sink) -> Option<Vec<Action>> {
    let before = sink.count_errors();
    let actions: Vec<Action> = written.iter().filter_map(|w| parse(w, sink)).collect();
    (sink.count_errors() == before).then_some(actions)
}

fn parse(written: &ActionText, sink: &Sink) -> Option<Action> {
    let words = written.words();
    let Some(verb) = words.first() else {
        sink.push(
            Diagnostic::error(written.text.span(), "an empty action")
                .label("nothing to do")
                .help(format!("an action starts with one of: {}", VERBS.join(", "))),
        );
        return None;
    };
    let args = &words[1..];
    let usage = |form: &str| {
        Diagnostic::error(written.text.span(), format!("`{}` takes: {form}", verb.get_ref()))
            .label("not in this form")
            .help(format!("write it as `{form}`"))
    };
    let wrong = |form: &str| {
        sink.push(usage(form));
        None
    };
    match (verb.get_ref().as_str(), args) {
        ("link", [iface, state]) => match state.get_ref().as_str() {
            "up" | "down" => Some(Action::Link { iface: iface.clone(), up: state.get_ref() == "up" }),
            _ => {
                sink.push(
                    Diagnostic::error(state.span(), format!("`{}` is not a link state", state.get_ref()))
                        .label("up or down")
                        .help("write `link NODE:IFACE up` or `link NODE:IFACE down`"),
                );
                None
            }
        },
        ("link", _) => wrong("link NODE:IFACE up|down"),
        ("unplug", [iface]) => Some(Action::Unplug { iface: iface.clone() }),
        ("unplug", _) => wrong("unplug NODE:IFACE"),
        ("plug", [iface]) => Some(Action::Plug { iface: iface.clone() }),
        ("plug", _) => wrong("plug NODE:IFACE"),
        ("address", [op, iface, address]) if is_add_or_del(op) => {
            let address = parsed(address, sink, super::super::document::CIDR)?;
            Some(Action::Address { add: op.get_ref() == "add", iface: iface.clone(), address })
        }
        ("address", _) => wrong("address add|del NODE:IFACE ADDRESS/PREFIX"),
        ("route", [op, node, rest @ ..]) if is_add_or_del(op) && !rest.is_empty() => {
            let route = route(written, &rest[0], &rest[1..], sink)?;
            Some(Action::Route { add: op.get_ref() == "add", node: node.clone(), route })
        }
        ("route", _) => wrong("route add|del NODE DESTINATION [via GATEWAY] [dev IFACE]"),
        ("sysctl", [node, setting]) => match setting.get_ref().split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                let start = setting.span().start;
                let key_span = start..start + key.len();
                let key = S::new(key_span.clone(), key.to_string());
                let value = S::new(setting.span(), value.to_string());
                Some(Action::Sysctl { node: node.clone(), key, value })
            }
            _ => wrong("sysctl NODE KEY=VALUE"),
        },
        ("sysctl", _) => wrong("sysctl NODE KEY=VALUE"),
        ("mode", [iface, mode]) => Some(Action::Mode { iface: iface.clone(), mode: mode.clone() }),
        ("mode", _) => wrong("mode NODE:IFACE MODE"),
        ("impair", [iface, clear]) if clear.get_ref() == "clear" => {
            Some(Action::Impair { iface: iface.clone(), impairment: None })
        }
        ("impair", [iface, settings @ ..]) if !settings.is_empty() => {
            let impairment = impairment(settings, sink)?;
            Some(Action::Impair { iface: iface.clone(), impairment: Some(impairment) })
        }
        ("impair", _) => {
            wrong("impair NODE:IFACE KEY=VALUE... (delay, jitter, loss, ...) or impair NODE:IFACE clear")
        }
        ("add", [node, table]) if table.get_ref().starts_with('{') => {
            let iface = added_iface(written, table, sink)?;
            Some(Action::Add { node: node.clone(), iface: Box::new(iface) })
        }
        ("add", _) => wrong("add NODE { name = \"eth1\", ... }"),
        ("remove", [iface]) => Some(Action::Remove { iface: iface.clone() }),
        ("remove", _) => wrong("remove NODE:IFACE"),
        (other, _) => {
            let mut d =
                Diagnostic::error(verb.span(), format!("unknown action `{other}`")).label("not an action");
            d = match closest(other, VERBS.iter().copied()) {
                Some(best) => d.help(format!("did you mean `{best}`?")),
                None => d.help(format!("the actions are: {}", VERBS.join(", "))),
            };
            sink.push(d);
            None
        }
    }
}

fn is_add_or_del(op: &S<String>) -> bool {
    matches!(op.get_ref().as_str(), "add" | "del")
}

fn parsed<T: std::str::FromStr>(word: &S<String>, sink: &Sink, expected: &str) -> Option<S<T>> {
    match word.get_ref().parse() {
        Ok(value) => Some(S::new(word.span(), value)),
        Err(_) => {
            sink.push(
                Diagnostic::error(word.span(), format!("`{}` is not {expected}", word.get_ref()))
                    .label("cannot be read")
                    .help(format!("write {expected}")),
            );
            None
        }
    }
}

/// `DESTINATION [via GATEWAY] [dev IFACE]`, as a route of the file.
fn route(written: &ActionText, to: &S<String>, rest: &[S<String>], sink: &Sink) -> Option<RouteDoc> {
    let mut doc = RouteDoc { span: written.text.span(), to: Some(to.clone()), via: None, dev: None };
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        let Some(value) = words.next() else {
            sink.push(
                Diagnostic::error(word.span(), format!("`{}` needs a value after it", word.get_ref()))
                    .label("nothing follows")
                    .help("write `via GATEWAY` or `dev IFACE`"),
            );
            return None;
        };
        match word.get_ref().as_str() {
            "via" => doc.via = Some(parsed(value, sink, super::super::document::IP)?),
            "dev" => doc.dev = Some(value.clone()),
            other => {
                sink.push(
                    Diagnostic::error(word.span(), format!("`{other}` is not part of a route"))
                        .label("neither via nor dev")
                        .help("a route is `DESTINATION [via GATEWAY] [dev IFACE]`"),
                );
                return None;
            }
        }
    }
    Some(doc)
}

/// `KEY=VALUE...`: netem's settings, replacing the interface's.
fn impairment(settings: &[S<String>], sink: &Sink) -> Option<Impairment> {
    let mut impairment = Impairment::default();
    let mut ok = true;
    for setting in settings {
        let Some((key, value)) = setting.get_ref().split_once('=') else {
            sink.push(
                Diagnostic::error(setting.span(), format!("`{}` is not KEY=VALUE", setting.get_ref()))
                    .label("no `=`")
                    .help("write e.g. `delay=50ms loss=10%`"),
            );
            ok = false;
            continue;
        };
        if let Err(problem) = impairment.set(key, value) {
            sink.push(Diagnostic::error(setting.span(), problem).label("not a usable impairment"));
            ok = false;
        }
    }
    if let Some(conflict) = impairment.conflict() {
        let span = settings[0].span().start..settings[settings.len() - 1].span().end;
        sink.push(Diagnostic::error(span, conflict).label("cannot be set as written"));
        ok = false;
    }
    ok.then_some(impairment)
}

/// `{ name = ..., kind = ..., ... }`: an interface entry, read as the file's are, its spans
/// in the source (the text is padded to where it stands).
fn added_iface(written: &ActionText, table: &S<String>, sink: &Sink) -> Option<IfaceDoc> {
    const KEY: &str = "iface = ";
    // Where the table stands; in a string with escapes, about there (escapes shift it).
    let at = match written.base {
        Some(_) => table.span().start,
        None => written.text.span().start + 1 + written.text.get_ref().find('{').unwrap_or_default(),
    };
    let text = format!("{}{KEY}{}", " ".repeat(at.saturating_sub(KEY.len())), table.get_ref());
    let (root, errors) = toml::de::DeTable::parse_recoverable(&text);
    if let Some(error) = errors.first() {
        let message = error.message().trim_end().to_string();
        sink.push(
            Diagnostic::error(table.span(), format!("the interface is not a TOML table: {message}"))
                .label("cannot be read")
                .help("write it as an inline table: { name = \"eth1\", link = \"sw1\", addresses = [\"10.0.0.9/24\"] }"),
        );
        return None;
    }
    let root = root.into_inner();
    let (_, value) = root.iter().next()?;
    let Some(iface) = value.get_ref().as_table() else {
        sink.push(Diagnostic::error(table.span(), "the interface must be a table").label("not { ... }"));
        return None;
    };
    Some(super::super::document::read_iface(iface, value.span(), "an added interface", sink))
}

/// The labs of a scenario, one step after another: the document as the actions left it,
/// and the links' state.
struct Replay {
    doc: Document,
    links: Links,
    lab: Lab,
}

impl Replay {
    fn new(doc: &Document, initial: &Lab) -> Self {
        let mut doc = doc.clone();
        doc.steps.clear();
        Replay { doc, links: Links::default(), lab: initial.clone() }
    }

    /// Applies one step's actions and checks the lab they leave, with `expects`.
    fn step(
        &mut self,
        actions: &[Action],
        expects: &[ExpectDoc],
        source: &Source,
        sink: &Sink,
    ) -> Option<Lab> {
        let before = sink.count_errors();
        for action in actions {
            self.edit(action, sink);
        }
        if sink.count_errors() > before {
            return None;
        }
        let mut doc = self.doc.clone();
        doc.expects = expects.to_vec();
        let mut lab = super::validate_state(&doc, source, sink)?;
        for action in actions {
            self.set_link(&lab, action, sink);
        }
        if sink.count_errors() > before {
            return None;
        }
        self.links.apply(&mut lab);
        self.lab = lab.clone();
        Some(lab)
    }

    /// The edits an action makes to the file as written.
    fn edit(&mut self, action: &Action, sink: &Sink) {
        match action {
            Action::Address { add, iface, address } => {
                let Some(entry) = self.declared(iface, sink) else { return };
                let addresses = &mut entry.addresses;
                let at = addresses.iter().position(|a| a.get_ref() == address.get_ref());
                match (add, at) {
                    (true, None) => addresses.push(address.clone()),
                    (true, Some(_)) => sink.push(
                        Diagnostic::error(
                            address.span(),
                            format!("{} already has {}", iface.get_ref(), address.get_ref()),
                        )
                        .label("already there")
                        .help("an address is added once"),
                    ),
                    (false, Some(at)) => {
                        addresses.remove(at);
                    }
                    (false, None) => sink.push(
                        Diagnostic::error(
                            address.span(),
                            format!("{} has no address {}", iface.get_ref(), address.get_ref()),
                        )
                        .label("not one of its addresses")
                        .help(format!(
                            "its addresses are: {}",
                            list(addresses.iter().map(|a| a.get_ref().to_string()))
                        )),
                    ),
                }
            }
            Action::Route { add, node, route } => {
                let Some(n) = self.node_doc(node, sink) else { return };
                if *add {
                    n.routes.push(route.clone());
                } else {
                    delete_route(n, route, sink);
                }
            }
            Action::Sysctl { node, key, value } => {
                let Some(n) = self.node_doc(node, sink) else { return };
                match n.sysctl.iter_mut().find(|(k, _)| k.get_ref() == key.get_ref()) {
                    Some((_, v)) => *v = value.clone(),
                    None => n.sysctl.push((key.clone(), value.clone())),
                }
            }
            Action::Mode { iface, mode } => self.set_mode(iface, mode, sink),
            Action::Add { node, iface } => {
                if let Some(n) = self.node_doc(node, sink) {
                    n.ifaces.push((**iface).clone());
                }
            }
            Action::Remove { iface } => {
                let Some((node, name)) = self.declared_at(iface, sink) else { return };
                self.doc.nodes[node].ifaces.retain(|i| i.name.as_ref().map(|n| n.get_ref()) != Some(&name));
                // A cable is one thing: its far end goes too, when the file declares it.
                let far = self.in_lab(iface, sink).and_then(|id| match self.lab.iface(id).kind {
                    IfaceKind::Veth { peer, .. } if self.lab.iface(peer).declared => Some(peer),
                    _ => None,
                });
                if let Some(peer) = far {
                    let (node, name) =
                        (self.lab.node(peer.node).name.clone(), self.lab.iface(peer).name.clone());
                    if let Some(n) = self
                        .doc
                        .nodes
                        .iter_mut()
                        .find(|n| n.name.as_ref().map(|x| x.get_ref()) == Some(&node))
                    {
                        n.ifaces.retain(|i| i.name.as_ref().map(|x| x.get_ref()) != Some(&name));
                    }
                }
            }
            Action::Link { .. } | Action::Unplug { .. } | Action::Plug { .. } | Action::Impair { .. } => {}
        }
    }

    /// A child's mode; an ipvlan's is its parent's, so every child of that parent gets it.
    fn set_mode(&mut self, iface: &S<String>, mode: &S<String>, sink: &Sink) {
        let Some(id) = self.in_lab(iface, sink) else { return };
        let targets: Vec<IfaceId> = match self.lab.iface(id).kind {
            IfaceKind::Macvlan { .. } => vec![id],
            IfaceKind::Ipvlan { parent, .. } => self
                .lab
                .iface_ids()
                .filter(
                    |c| matches!(self.lab.iface(*c).kind, IfaceKind::Ipvlan { parent: p, .. } if p == parent),
                )
                .collect(),
            _ => {
                sink.push(
                    Diagnostic::error(
                        iface.span(),
                        format!("{} is not a macvlan or ipvlan child", iface.get_ref()),
                    )
                    .label("has no mode")
                    .help("`mode` changes a macvlan child's mode, or an ipvlan parent's (through any child)"),
                );
                return;
            }
        };
        for target in targets {
            let node = self.lab.node(target.node).name.clone();
            let name = self.lab.iface(target).name.clone();
            let Some(entry) = self.doc_iface(&node, &name) else { continue };
            match &mut entry.own {
                KindDoc::Macvlan(doc) => {
                    if passthru(doc.mode.as_ref()) != (mode.get_ref() == "passthru") {
                        sink.push(
                            Diagnostic::error(mode.span(), "passthru cannot be set or left on a live child")
                                .label("the kernel refuses this change (EINVAL)")
                                .help("remove the child and add it again in the new mode"),
                        );
                    }
                    doc.mode = Some(mode.clone());
                }
                KindDoc::Ipvlan(doc) => doc.mode = Some(mode.clone()),
                _ => {}
            }
        }
    }

    /// The link state an action sets, checked against the lab the step's edits made.
    fn set_link(&mut self, lab: &Lab, action: &Action, sink: &Sink) {
        let iface = match action {
            Action::Link { iface, .. }
            | Action::Unplug { iface }
            | Action::Plug { iface }
            | Action::Impair { iface, .. } => iface,
            _ => return,
        };
        let Some(id) = find_iface(lab, iface, sink) else { return };
        let key = |id: IfaceId| (lab.node(id.node).name.clone(), lab.iface(id).name.clone());
        match action {
            Action::Unplug { .. } | Action::Plug { .. } => {
                let IfaceKind::Veth { peer, .. } = lab.iface(id).kind else {
                    sink.push(
                        Diagnostic::error(iface.span(), format!("{} is not the end of a cable", iface.get_ref()))
                            .label("no cable to unplug")
                            .help("unplug and plug take either end of a cable (a veth); use `link NODE:IFACE down` for others"),
                    );
                    return;
                };
                let unplug = matches!(action, Action::Unplug { .. });
                let now = self.links.0.get(&key(id)).is_some_and(|s| s.unplugged);
                if now == unplug {
                    let state = if unplug { "already unplugged" } else { "plugged in" };
                    sink.push(
                        Diagnostic::error(
                            iface.span(),
                            format!("the cable of {} is {state}", iface.get_ref()),
                        )
                        .label("nothing to change")
                        .help(if unplug {
                            "plug it in first"
                        } else {
                            "unplug it first"
                        }),
                    );
                    return;
                }
                for end in [id, peer] {
                    self.links.0.entry(key(end)).or_default().unplugged = unplug;
                }
            }
            Action::Impair { impairment, .. } => {
                self.links.0.entry(key(id)).or_default().impair = Some(*impairment);
            }
            Action::Link { up, .. } => {
                if self.links.0.get(&key(id)).is_some_and(|s| s.unplugged) {
                    sink.push(
                        Diagnostic::error(
                            iface.span(),
                            format!("the cable of {} is unplugged", iface.get_ref()),
                        )
                        .label("no carrier to bring up or down")
                        .help("plug it in first: `plug NODE:IFACE`"),
                    );
                    return;
                }
                self.links.0.entry(key(id)).or_default().up = Some(*up);
            }
            _ => {}
        }
    }

    fn node_doc(&mut self, node: &S<String>, sink: &Sink) -> Option<&mut NodeDoc> {
        let at =
            self.doc.nodes.iter().position(|n| n.name.as_ref().map(|x| x.get_ref()) == Some(node.get_ref()));
        if at.is_none() {
            let names = self.doc.nodes.iter().filter_map(|n| n.name.as_ref()).map(|n| n.get_ref().as_str());
            sink.push(unknown(node, "node", names));
        }
        Some(&mut self.doc.nodes[at?])
    }

    fn doc_iface(&mut self, node: &str, name: &str) -> Option<&mut IfaceDoc> {
        let n = self
            .doc
            .nodes
            .iter_mut()
            .find(|n| n.name.as_ref().map(|x| x.get_ref().as_str()) == Some(node))?;
        n.ifaces.iter_mut().find(|i| i.name.as_ref().map(|x| x.get_ref().as_str()) == Some(name))
    }

    /// `NODE:IFACE` of an interface the file declares: its node's index and its name.
    fn declared_at(&mut self, iface: &S<String>, sink: &Sink) -> Option<(usize, String)> {
        let id = self.in_lab(iface, sink)?;
        let node = self.lab.node(id.node).name.clone();
        let name = self.lab.iface(id).name.clone();
        if !self.lab.iface(id).declared {
            let made_by = self
                .lab
                .cables
                .iter()
                .find(|c| c.a == id || c.b == id)
                .map(|c| if c.a == id { c.b } else { c.a });
            let help = match made_by {
                Some(other) => format!(
                    "lab made it for the cable of {}: change that interface instead",
                    self.lab.iface_label(other)
                ),
                None => "lab made it: change the interface it was made for".into(),
            };
            sink.push(
                Diagnostic::error(iface.span(), format!("{} is not declared in the file", iface.get_ref()))
                    .label("made by lab")
                    .help(help),
            );
            return None;
        }
        let at = self.doc.nodes.iter().position(|n| n.name.as_ref().map(|x| x.get_ref()) == Some(&node))?;
        Some((at, name))
    }

    fn declared(&mut self, iface: &S<String>, sink: &Sink) -> Option<&mut IfaceDoc> {
        let (node, name) = self.declared_at(iface, sink)?;
        self.doc.nodes[node].ifaces.iter_mut().find(|i| i.name.as_ref().map(|x| x.get_ref()) == Some(&name))
    }

    /// `NODE:IFACE` in the lab before this step.
    fn in_lab(&self, iface: &S<String>, sink: &Sink) -> Option<IfaceId> {
        find_iface(&self.lab, iface, sink)
    }
}

fn passthru(mode: Option<&S<String>>) -> bool {
    mode.is_some_and(|m| m.get_ref() == "passthru")
}

/// Takes a route off a node: one of its `[[routes]]`, or the default route an interface's
/// `gateway` or `default_dev` makes.
fn delete_route(node: &mut NodeDoc, route: &RouteDoc, sink: &Sink) {
    let to = route.to.as_ref().map(|t| t.get_ref().as_str()).unwrap_or_default();
    let via = route.via.as_ref().map(|v| *v.get_ref());
    let dev = route.dev.as_ref().map(|d| d.get_ref().as_str());
    let same = |r: &RouteDoc| {
        r.to.as_ref().is_some_and(|t| t.get_ref() == to)
            && via.is_none_or(|v| r.via.as_ref().map(|x| *x.get_ref()) == Some(v))
            && dev.is_none_or(|d| r.dev.as_ref().map(|x| x.get_ref().as_str()) == Some(d))
    };
    if let Some(at) = node.routes.iter().position(same) {
        node.routes.remove(at);
        return;
    }
    if to == "default" {
        let named = |i: &IfaceDoc| dev.is_none_or(|d| i.name.as_ref().is_some_and(|n| n.get_ref() == d));
        let gateway =
            |i: &IfaceDoc| i.gateway.as_ref().is_some_and(|g| via.is_none_or(|v| *g.get_ref() == v));
        if let Some(iface) = node.ifaces.iter_mut().find(|i| named(i) && gateway(i)) {
            iface.gateway = None;
            return;
        }
        let device = |i: &IfaceDoc| via.is_none() && i.default_dev.as_ref().is_some_and(|d| *d.get_ref());
        if let Some(iface) = node.ifaces.iter_mut().find(|i| named(i) && device(i)) {
            iface.default_dev = None;
            return;
        }
    }
    let name = node.name.as_ref().map(|n| n.get_ref().as_str()).unwrap_or("the node");
    let routes: Vec<String> =
        node.routes.iter().filter_map(|r| r.to.as_ref()).map(|t| t.get_ref().clone()).collect();
    sink.push(
        Diagnostic::error(route.span.clone(), format!("{name} has no such route to {to}"))
            .label("not one of its routes")
            .help(format!("its routes in the file go to: {}", list(routes.into_iter()))),
    );
}

/// `NODE:IFACE` in a lab, or a diagnostic naming the closest.
fn find_iface(lab: &Lab, iface: &S<String>, sink: &Sink) -> Option<IfaceId> {
    let Some((node, name)) = iface.get_ref().split_once(':') else {
        sink.push(
            Diagnostic::error(iface.span(), format!("`{}` is not NODE:IFACE", iface.get_ref()))
                .label("no node given")
                .help("name the interface with its node, like \"h1:eth0\""),
        );
        return None;
    };
    let Some(node_id) = lab.node_id(node) else {
        sink.push(unknown(
            &S::new(iface.span(), node.to_string()),
            "node",
            lab.nodes.iter().map(|n| n.name.as_str()),
        ));
        return None;
    };
    let home = lab.home(node_id);
    let found = lab.iface_id(home, name);
    if found.is_none() {
        let names = lab.node(home).ifaces.iter().map(|i| i.name.as_str());
        sink.push(unknown(&S::new(iface.span(), name.to_string()), &format!("interface of `{node}`"), names));
    }
    found
}

fn unknown<'n>(word: &S<String>, what: &str, names: impl Iterator<Item = &'n str> + Clone) -> Diagnostic {
    let d = Diagnostic::error(word.span(), format!("no {what} is named `{}`", word.get_ref()))
        .label("unknown name");
    match closest(word.get_ref(), names.clone()) {
        Some(best) => d.help(format!("did you mean `{best}`?")),
        None => d.help(format!("the names are: {}", list(names.map(str::to_string)))),
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.take(13).collect();
    if items.is_empty() { "none".into() } else { items.join(", ") }
}

impl Links {
    /// Sets the links' state on a lab the file made: down, unplugged, impaired.
    fn apply(&mut self, lab: &mut Lab) {
        self.0.retain(|(node, iface), _| lab.node_id(node).and_then(|n| lab.iface_id(n, iface)).is_some());
        for ((node, iface), state) in &self.0 {
            let Some(id) = lab.node_id(node).and_then(|n| lab.iface_id(n, iface)) else { continue };
            let entry = &mut lab.nodes[id.node.0].ifaces[id.index];
            if let Some(up) = state.up {
                entry.up = up;
            }
            if state.unplugged {
                entry.up = false;
            }
            if let Some(impair) = state.impair {
                entry.impair = impair;
            }
        }
    }
}
