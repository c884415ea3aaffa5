//! Expectations: each `[[expect]]` is one kind of observation (reachability, link-layer
//! resolution, interface state, route); its references must name things the lab has.

use super::super::diagnostic::{Diagnostic, Span};
use super::super::document::ExpectDoc;
use super::{Draft, vlan_id};
use crate::model::{
    Check, EncapOn, Expectation, IfaceId, IfaceKind, Mac, MacOf, NodeId, Proto, Role, TaggedOn, Target, Want,
};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;
use toml::Spanned;

pub fn check(d: &mut Draft<'_>) {
    verify_settings(d);
    let expectations: Vec<Expectation> =
        d.doc.expects.iter().enumerate().filter_map(|(i, doc)| expectation(d, i + 1, doc)).collect();
    d.lab.expectations = expectations;
}

fn verify_settings(d: &mut Draft<'_>) {
    let settings = &d.doc.verify;
    if let Some(timeout) = settings.timeout.as_ref().filter(|t| usable_timeout(d, t)) {
        d.lab.verify.timeout = *timeout.get_ref();
    }
    if let Some(deadline) = settings.deadline.as_ref().filter(|t| within(d, t, "a deadline", MAX_DEADLINE)) {
        d.lab.verify.deadline = *deadline.get_ref();
    }
    if d.lab.verify.deadline < d.lab.verify.timeout {
        let span =
            settings.deadline.as_ref().or(settings.timeout.as_ref()).map(|s| s.span()).unwrap_or_default();
        d.error(
            Diagnostic::error(span, "the deadline is shorter than one probe timeout")
                .label("a positive probe could never be retried")
                .help("make `deadline` at least as long as `timeout`"),
        );
    }
}

/// The longest probe timeout and deadline: a probe that needs longer is not a probe.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
pub const MAX_DEADLINE: Duration = Duration::from_secs(600);

/// A timeout of zero would pass every negative expectation without waiting for anything;
/// one over `MAX_TIMEOUT` is a mistake.
fn usable_timeout(d: &Draft<'_>, timeout: &Spanned<Duration>) -> bool {
    if !timeout.get_ref().is_zero() {
        return within(d, timeout, "a timeout", MAX_TIMEOUT);
    }
    d.error(
        Diagnostic::error(timeout.span(), "a timeout of zero")
            .label("no probe could wait for its answer")
            .help("write a duration like \"1s\" or \"300ms\""),
    );
    false
}

fn within(d: &Draft<'_>, value: &Spanned<Duration>, what: &str, max: Duration) -> bool {
    if *value.get_ref() <= max {
        return true;
    }
    d.error(
        Diagnostic::error(value.span(), format!("{what} longer than {}", humantime::format_duration(max)))
            .label("too long to wait for a probe")
            .help(format!("write a duration of at most {}, like \"1s\"", humantime::format_duration(max))),
    );
    false
}

/// The kinds an entry can be, by the keys that only that kind has.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Reach,
    Resolves,
    State,
    Route,
    Connect,
    Listening,
    Quality,
    Throughput,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Connect => "a connect check (`connect`, `result`, `answered_by`, `peer_seen`)",
            Kind::Listening => "a service check (`listener`, `bound`)",
            Kind::Reach => "a reachability check (`reach`, `proto`, `ttl`, `tagged`, `encap`, `redirect`)",
            Kind::Resolves => "a resolution check (`resolves_to`)",
            Kind::State => "an interface-state check (`promiscuous`, `mac`)",
            Kind::Route => "a route check (`route`)",
            Kind::Quality => "a quality check (`rtt`, `loss`, `duplicate`, `reorder`, `probes`)",
            Kind::Throughput => "a throughput check (`throughput`)",
        }
    }
}

/// The keys that say what an [[expect]] checks.
const CHECK_KEYS: [&str; 22] = [
    "rtt",
    "loss",
    "duplicate",
    "reorder",
    "probes",
    "throughput",
    "reach",
    "proto",
    "ttl",
    "tagged",
    "encap",
    "redirect",
    "resolves_to",
    "promiscuous",
    "mac",
    "route",
    "connect",
    "result",
    "answered_by",
    "peer_seen",
    "listener",
    "bound",
];

fn kinds_present(doc: &ExpectDoc) -> Vec<(Kind, Span)> {
    // `reach` and `proto` also say what a connect or a service check wants.
    let transport = doc.connect.is_some() || doc.listener.is_some();
    let shared = |span: Option<Span>| span.filter(|_| !transport);
    let candidates = [
        (Kind::Connect, doc.connect.as_ref().map(|v| v.span())),
        (Kind::Connect, doc.result.as_ref().map(|v| v.span())),
        (Kind::Connect, doc.answered_by.as_ref().map(|v| v.span())),
        (Kind::Connect, doc.peer_seen.as_ref().map(|v| v.span())),
        (Kind::Listening, doc.listener.as_ref().map(|v| v.span())),
        (Kind::Listening, doc.bound.as_ref().map(|v| v.span())),
        (Kind::Reach, shared(doc.reach.as_ref().map(|v| v.span()))),
        (Kind::Reach, shared(doc.proto.as_ref().map(|v| v.span()))),
        (Kind::Reach, doc.ttl.as_ref().map(|v| v.span())),
        (Kind::Reach, doc.tagged.as_ref().map(|v| v.span.clone())),
        (Kind::Reach, doc.encap.as_ref().map(|v| v.span.clone())),
        (Kind::Reach, doc.redirect.as_ref().map(|v| v.span())),
        (Kind::Resolves, doc.resolves_to.as_ref().map(|v| v.span())),
        (Kind::State, doc.promiscuous.as_ref().map(|v| v.span())),
        (Kind::State, doc.mac.as_ref().map(|v| v.span())),
        (Kind::Route, doc.route.as_ref().map(|v| v.span())),
        (Kind::Quality, doc.rtt.as_ref().map(|v| v.span.clone())),
        (Kind::Quality, doc.loss.as_ref().map(|v| v.span.clone())),
        (Kind::Quality, doc.duplicate.as_ref().map(|v| v.span.clone())),
        (Kind::Quality, doc.reorder.as_ref().map(|v| v.span.clone())),
        (Kind::Quality, doc.probes.as_ref().map(|v| v.span())),
        (Kind::Throughput, doc.throughput.as_ref().map(|v| v.span.clone())),
    ];
    let mut kinds: Vec<(Kind, Span)> = Vec::new();
    for (kind, span) in candidates {
        if let Some(span) = span {
            if !kinds.iter().any(|(k, _)| *k == kind) {
                kinds.push((kind, span));
            }
        }
    }
    kinds
}

fn expectation(d: &Draft<'_>, number: usize, doc: &ExpectDoc) -> Option<Expectation> {
    let kinds = kinds_present(doc);
    let kind = match kinds.as_slice() {
        [] => {
            // A check key of the wrong type is reported already.
            if !CHECK_KEYS.iter().any(|k| doc.written.has(k)) {
                d.error(
                    Diagnostic::error(doc.span.clone(), "this [[expect]] does not say what to check")
                        .label("no check")
                        .help("add `reach = true|false`, `resolves_to = \"NODE:IFACE\"`, `promiscuous = true|false`, `mac = ...` or `route = \"PREFIX\"`"),
                );
            }
            if let Some(from) = &doc.from {
                source_node(d, from);
            }
            return None;
        }
        [(kind, _)] => *kind,
        [(first, first_span), (second, second_span), ..] => {
            d.error(
                Diagnostic::error(
                    second_span.clone(),
                    format!("this [[expect]] mixes {} with {}", first.describe(), second.describe()),
                )
                .label("second kind of check")
                .related(first_span.clone(), "first kind of check")
                .help("one [[expect]] makes one observation: split it into two entries"),
            );
            return None;
        }
    };
    if !keys_fit_kind(d, doc, kind) {
        return None;
    }
    let check = match kind {
        Kind::Reach => reach(d, doc)?,
        Kind::Resolves => resolves(d, doc)?,
        Kind::State => state(d, doc)?,
        Kind::Route => route(d, doc)?,
        Kind::Connect => connect(d, doc)?,
        Kind::Listening => listening(d, doc)?,
        Kind::Quality => {
            super::quality::series(d, doc, source_node(d, doc.from.as_ref()?), target(d, doc.to.as_ref()?))?
        }
        Kind::Throughput => {
            super::quality::stream(d, doc, source_node(d, doc.from.as_ref()?), target(d, doc.to.as_ref()?))?
        }
    };
    Some(Expectation {
        number,
        line: d.source.line_col(doc.span.start).0,
        check,
        why: doc.why.as_ref().map(|w| crate::report::printable(w.get_ref()).into_owned()),
        timeout: doc.timeout.as_ref().filter(|t| usable_timeout(d, t)).map(|t| *t.get_ref()),
    })
}

/// Reach and resolution checks go `from` a node `to` a target; state and route checks
/// look at one `iface`.
fn keys_fit_kind(d: &Draft<'_>, doc: &ExpectDoc, kind: Kind) -> bool {
    match kind {
        Kind::Connect => return doc.iface.is_none() || misplaced_iface(d, doc, kind),
        Kind::Listening => return doc.iface.is_none() || misplaced_iface(d, doc, kind),
        _ => {}
    }
    let probe = matches!(kind, Kind::Reach | Kind::Resolves | Kind::Quality | Kind::Throughput);
    let misplaced: Vec<(&str, Span)> = if probe {
        doc.iface.iter().map(|v| ("iface", v.span())).collect()
    } else {
        [("from", doc.from.as_ref().map(|v| v.span())), ("to", doc.to.as_ref().map(|v| v.span()))]
            .into_iter()
            .filter_map(|(k, s)| Some((k, s?)))
            .collect()
    };
    for (key, span) in &misplaced {
        d.error(
            Diagnostic::error(span.clone(), format!("`{key}` does not belong in {}", kind.describe()))
                .label("mixes kinds of check")
                .help(if probe {
                    "probes go `from` a node `to` a target; `iface` is for interface-state and route checks"
                } else {
                    "interface-state and route checks name one `iface`; `from`/`to` are for probes"
                }),
        );
    }
    let required: &[(&str, bool)] = if probe {
        &[("from", doc.from.is_some()), ("to", doc.to.is_some())]
    } else {
        &[("iface", doc.iface.is_some())]
    };
    let mut complete = true;
    for (key, present) in required {
        if !present {
            complete = false;
            d.error(
                Diagnostic::error(doc.span.clone(), format!("{} needs `{key}`", kind.describe()))
                    .label(format!("`{key}` missing"))
                    .help(match *key {
                        "from" => "add `from = \"NODE\"`, the node the probe starts in",
                        "to" => "add `to = \"ADDRESS\"`, `\"NODE\"` or `\"NODE:IFACE\"`",
                        _ => "add `iface = \"NODE:IFACE\"`",
                    }),
            );
        }
    }
    misplaced.is_empty() && complete
}

fn misplaced_iface(d: &Draft<'_>, doc: &ExpectDoc, kind: Kind) -> bool {
    if let Some(iface) = &doc.iface {
        d.error(
            Diagnostic::error(iface.span(), format!("`iface` does not belong in {}", kind.describe()))
                .label("mixes kinds of check")
                .help("`iface` is for interface-state and route checks; remove it"),
        );
    }
    false
}

/// `connect = "ADDRESS:PORT"` (or `"NODE:PORT"`, `"NODE:IFACE:PORT"`, `"[IPv6]:PORT"`) from
/// a node, over `proto`, wanting `reach` or a precise `result`.
fn connect(d: &Draft<'_>, doc: &ExpectDoc) -> Option<Check> {
    let Some(written) = &doc.connect else {
        d.error(
            Diagnostic::error(doc.span.clone(), "a connect check needs `connect`")
                .label("`connect` missing")
                .help("add `connect = \"ADDRESS:PORT\"`, like `connect = \"10.0.0.1:8080\"`"),
        );
        return None;
    };
    let Some(from) = &doc.from else {
        d.error(
            Diagnostic::error(doc.span.clone(), "a connect check needs `from`")
                .label("`from` missing")
                .help("add `from = \"NODE\"`, the node the connection starts in"),
        );
        return None;
    };
    if let Some(to) = &doc.to {
        d.error(
            Diagnostic::error(to.span(), "`to` does not belong in a connect check")
                .label("the address is in `connect`")
                .help("write the address and port together: `connect = \"ADDRESS:PORT\"`"),
        );
        return None;
    }
    let from = source_node(d, from);
    let (to, port) = connect_target(d, written)?;
    let proto = match &doc.proto {
        Some(proto) => super::services::l4(d, proto)?,
        None => crate::model::L4::Tcp,
    };
    let want = want(d, doc)?;
    let answered_by = match &doc.answered_by {
        Some(node) => Some(d.resolve_node(node)?),
        None => None,
    };
    let answers_wanted =
        doc.answered_by.as_ref().map(|a| a.span()).or(doc.peer_seen.as_ref().map(|p| p.span()));
    if let (Some(span), false) = (answers_wanted, want == Want::Answered) {
        d.error(
            Diagnostic::error(span, "only an answered connection says who answered")
                .label(format!("this check wants {}", want.as_str()))
                .help("remove `answered_by`/`peer_seen`, or expect `reach = true`"),
        );
        return None;
    }
    Some(Check::Connect {
        from: from?,
        to,
        port,
        proto,
        want,
        answered_by,
        peer_seen: doc.peer_seen.as_ref().map(|p| *p.get_ref()),
    })
}

/// `reach = true|false`, or `result = "answered" | "refused" | "unreachable" | "timeout"`.
fn want(d: &Draft<'_>, doc: &ExpectDoc) -> Option<Want> {
    let from_reach = doc.reach.as_ref().map(|r| if *r.get_ref() { Want::Answered } else { Want::NoAnswer });
    let Some(result) = &doc.result else {
        return Some(from_reach.unwrap_or(Want::Answered));
    };
    let words = [
        ("answered", Want::Answered),
        ("refused", Want::Refused),
        ("unreachable", Want::Unreachable),
        ("timeout", Want::Timeout),
    ];
    let Some(want) = words.iter().find(|(w, _)| w == result.get_ref()).map(|(_, want)| *want) else {
        d.error(
            Diagnostic::error(result.span(), format!("unknown result `{}`", result.get_ref()))
                .label("not a connection's result")
                .help("`result` is \"answered\", \"refused\", \"unreachable\" or \"timeout\""),
        );
        return None;
    };
    let agrees = match from_reach {
        None => true,
        Some(Want::Answered) => want == Want::Answered,
        Some(_) => want != Want::Answered,
    };
    if !agrees {
        d.error(
            Diagnostic::error(result.span(), "`reach` and `result` disagree")
                .label(format!("`result = \"{}\"`", result.get_ref()))
                .help("keep one of them"),
        );
        return None;
    }
    Some(want)
}

/// The address and port of `connect`: the port after the last colon, the address before it
/// as `to` takes it (an address, a node, `NODE:IFACE`; IPv6 in brackets).
fn connect_target(d: &Draft<'_>, written: &Spanned<String>) -> Option<(Target, u16)> {
    let text = written.get_ref();
    let split = match text.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once("]:"),
        None => text.rsplit_once(':'),
    };
    if let Some((host, _)) =
        split.filter(|(host, _)| !text.starts_with('[') && host.parse::<std::net::Ipv6Addr>().is_ok())
    {
        d.error(
            Diagnostic::error(
                written.span(),
                format!("`{text}`: an IPv6 address and its port need brackets"),
            )
            .label("where does the address end?")
            .help(format!("write \"[{host}]:PORT\"")),
        );
        return None;
    }
    let Some((host, port)) = split.filter(|(host, _)| !host.is_empty()) else {
        d.error(
            Diagnostic::error(written.span(), format!("`{text}` is not ADDRESS:PORT"))
                .label("where to connect?")
                .help("write \"ADDRESS:PORT\", like \"10.0.0.1:80\", \"web:80\" or \"[2001:db8::1]:80\""),
        );
        return None;
    };
    let Some(port) = port
        .parse::<i64>()
        .ok()
        .and_then(|p| super::services::port_number(d, &Spanned::new(written.span(), p)))
    else {
        if port.parse::<i64>().is_err() {
            d.error(
                Diagnostic::error(written.span(), format!("`{port}` is not a port"))
                    .label("the part after the last `:` is the port")
                    .help("write \"ADDRESS:PORT\", like \"10.0.0.1:8080\" or \"[2001:db8::1]:80\""),
            );
        }
        return None;
    };
    let to = connect_address(d, &Spanned::new(written.span(), host.to_owned()))?;
    Some((to, port))
}

/// A connect target may be loopback (a service in the same namespace) or any address.
fn connect_address(d: &Draft<'_>, host: &Spanned<String>) -> Option<Target> {
    match host.get_ref().parse::<IpAddr>() {
        Ok(addr) => {
            Some(Target { addr, iface: d.addresses().get(&addr).copied(), written: host.get_ref().clone() })
        }
        Err(_) => target(d, host),
    }
}

/// `listener = "NODE:PORT"` and `bound`: whether lab could open that service.
fn listening(d: &Draft<'_>, doc: &ExpectDoc) -> Option<Check> {
    let Some(written) = &doc.listener else {
        d.error(
            Diagnostic::error(doc.span.clone(), "a service check needs `listener`")
                .label("`listener` missing")
                .help("add `listener = \"NODE:PORT\"`"),
        );
        return None;
    };
    let proto = match &doc.proto {
        Some(proto) => super::services::l4(d, proto)?,
        None => crate::model::L4::Tcp,
    };
    let parsed = written.get_ref().rsplit_once(':').and_then(|(n, p)| Some((n, p.parse::<u16>().ok()?)));
    let Some((name, port)) = parsed else {
        d.error(
            Diagnostic::error(written.span(), format!("`{}` is not NODE:PORT", written.get_ref()))
                .label("which service?")
                .help("write `listener = \"web1:80\"`"),
        );
        return None;
    };
    let node = d.resolve_node(&Spanned::new(written.span(), name.to_owned()))?;
    let declared = d.lab.node(node).listeners.iter().any(|l| l.port == port && l.proto == proto);
    if !declared {
        d.error(
            Diagnostic::error(
                written.span(),
                format!("`{name}` has no {} service on port {port}", proto.as_str()),
            )
            .label("nothing to check")
            .help(format!("add `[[host.listen]]` with `port = {port}` to `{name}`")),
        );
        return None;
    }
    let bound = doc.bound.as_ref().is_none_or(|b| *b.get_ref());
    Some(Check::Listening { node, proto, port, bound })
}

fn reach(d: &Draft<'_>, doc: &ExpectDoc) -> Option<Check> {
    let from = source_node(d, doc.from.as_ref()?);
    let to = target(d, doc.to.as_ref()?);
    let Some(reach) = &doc.reach else {
        d.error(
            Diagnostic::error(doc.span.clone(), "a reachability check needs `reach`")
                .label("`reach` missing")
                .help("add `reach = true` (an answer must come back) or `reach = false` (none may)"),
        );
        return None;
    };
    let proto = match &doc.proto {
        None => Proto::Icmp,
        Some(p) if p.get_ref() == "icmp" => Proto::Icmp,
        Some(p) if p.get_ref() == "arp" => Proto::Arp,
        Some(p) => {
            d.error(
                Diagnostic::error(p.span(), format!("unknown proto `{}`", p.get_ref()))
                    .label("not a probe protocol")
                    .help("`proto` is \"icmp\" (echo, the default) or \"arp\" (link-layer resolution only)"),
            );
            return None;
        }
    };
    let ttl = doc.ttl.as_ref().and_then(|t| ttl(d, t, *reach.get_ref(), proto));
    let tagged = match &doc.tagged {
        Some(tagged) => Some(tagged_on(d, tagged)?),
        None => None,
    };
    let encap = match &doc.encap {
        Some(encap) => Some(encap_on(d, encap)?),
        None => None,
    };
    if let (Some(redirect), Proto::Arp) = (&doc.redirect, proto) {
        d.error(
            Diagnostic::error(redirect.span(), "`redirect` needs an ICMP probe")
                .label("redirects answer routed packets, not ARP")
                .help("remove `proto = \"arp\"` or `redirect`"),
        );
    }
    if let (Some(encap), Proto::Arp) = (&doc.encap, proto) {
        d.error(
            Diagnostic::error(encap.span.clone(), "`encap` needs an ICMP probe")
                .label("the capture finds the probe by its echo inside the tunnel's packets")
                .help("remove `proto = \"arp\"` or `encap`"),
        );
    }
    Some(Check::Reach {
        from: from?,
        to: to?,
        reach: *reach.get_ref(),
        proto,
        ttl,
        tagged,
        encap,
        redirect: doc.redirect.as_ref().map(|r| *r.get_ref()),
    })
}

fn ttl(d: &Draft<'_>, value: &Spanned<i64>, reach: bool, proto: Proto) -> Option<u8> {
    let problem = if !reach {
        Some("a `reach = false` check gets no reply to read a TTL from")
    } else if proto == Proto::Arp {
        Some("ARP replies have no TTL")
    } else {
        None
    };
    if let Some(problem) = problem {
        d.error(
            Diagnostic::error(value.span(), "`ttl` cannot be observed here")
                .label(problem)
                .help("remove `ttl`"),
        );
        return None;
    }
    match u8::try_from(*value.get_ref()) {
        Ok(ttl) if ttl > 0 => Some(ttl),
        _ => {
            d.error(
                Diagnostic::error(value.span(), format!("TTL {} is outside 1..255", value.get_ref()))
                    .label("not a TTL")
                    .help("Linux sends with TTL 64: a reply that crossed one router arrives with 63"),
            );
            None
        }
    }
}

fn resolves(d: &Draft<'_>, doc: &ExpectDoc) -> Option<Check> {
    let from = source_node(d, doc.from.as_ref()?);
    let to = target(d, doc.to.as_ref()?);
    let mac = mac_of(d, doc.resolves_to.as_ref()?);
    Some(Check::Resolves { from: from?, to: to?, mac: mac? })
}

fn state(d: &Draft<'_>, doc: &ExpectDoc) -> Option<Check> {
    let iface = d.resolve_iface(doc.iface.as_ref()?, None)?;
    let mac = match &doc.mac {
        Some(mac) => Some(mac_of(d, mac)?),
        None => None,
    };
    Some(Check::State { iface, promiscuous: doc.promiscuous.as_ref().map(|p| *p.get_ref()), mac })
}

fn route(d: &Draft<'_>, doc: &ExpectDoc) -> Option<Check> {
    let iface = d.resolve_iface(doc.iface.as_ref()?, None)?;
    let prefix = doc.route.as_ref()?;
    if prefix.get_ref().trunc() != *prefix.get_ref() {
        d.error(
            Diagnostic::error(prefix.span(), format!("{} has host bits set", prefix.get_ref()))
                .label("not a network prefix")
                .help(format!("write \"{}\"", prefix.get_ref().trunc())),
        );
        return None;
    }
    Some(Check::Route { iface, prefix: *prefix.get_ref() })
}

/// `from`: a node that is not a switch, or a switch that routes (has addresses on VLAN
/// interfaces of its bridge); whether a host has an address is not checked here.
pub(super) fn source_node(d: &Draft<'_>, from: &Spanned<String>) -> Option<NodeId> {
    if from.get_ref().contains(':') {
        d.error(
            Diagnostic::error(from.span(), "`from` names a node, not an interface")
                .label("probes start in a node; its routes pick the interface")
                .help(format!("write `from = \"{}\"`", from.get_ref().split(':').next().unwrap_or_default())),
        );
        return None;
    }
    let node = d.resolve_node(from)?;
    let routes = d.lab.node(node).ifaces.iter().any(|i| !i.addresses.is_empty());
    if d.role(node) == Role::Switch && !routes {
        d.error(
            Diagnostic::error(
                from.span(),
                format!("`{}` is a switch: it has no address to probe from", from.get_ref()),
            )
            .label("switches only forward")
            .help("probe from a host or router attached to the switch"),
        );
        return None;
    }
    Some(node)
}

/// `to`: an address, `NODE` (its first address) or `NODE:IFACE` (that interface's first).
pub(super) fn target(d: &Draft<'_>, to: &Spanned<String>) -> Option<Target> {
    let written = to.get_ref().clone();
    if let Ok(addr) = written.parse::<IpAddr>() {
        if let Some(problem) = many_hosts(d, addr) {
            d.error(
                Diagnostic::error(to.span(), format!("`to` is {problem}"))
                    .label("not one host: hosts ignore echoes to it (icmp_echo_ignore_broadcasts), or all answer")
                    .help("probe one host's address, or a node"),
            );
            return None;
        }
        let iface = d.addresses().get(&addr).copied();
        return Some(Target { addr, iface, written });
    }
    if let Ok(net) = written.parse::<ipnet::IpNet>() {
        d.error(
            Diagnostic::error(to.span(), format!("`to` is one address, not the prefix {net}"))
                .label("a probe goes to one address")
                .help(format!(
                    "write an address, like \"{}\", or a node",
                    net.hosts().next().unwrap_or(net.addr())
                )),
        );
        return None;
    }
    let candidates: Vec<IfaceId> = if written.contains(':') {
        vec![d.resolve_iface(to, None)?]
    } else {
        let node = d.lab.home(d.resolve_node(to)?);
        (0..d.lab.node(node).ifaces.len()).map(|index| IfaceId { node, index }).collect()
    };
    let found = candidates.iter().find_map(|id| Some((*id, d.lab.iface(*id).addresses.first()?.addr())));
    match found {
        Some((iface, addr)) => Some(Target { addr, iface: Some(iface), written }),
        None => {
            d.error(
                Diagnostic::error(to.span(), format!("`{written}` has no address to probe"))
                    .label("no address")
                    .help("give it an address, or write the address to probe"),
            );
            None
        }
    }
}

/// Whether an address stands for many hosts: multicast, the limited broadcast, or the
/// broadcast address of one of the lab's IPv4 subnets.
fn many_hosts(d: &Draft<'_>, addr: IpAddr) -> Option<String> {
    if addr.is_multicast() {
        return Some(format!("the multicast address {addr}"));
    }
    if addr == IpAddr::V4(std::net::Ipv4Addr::BROADCAST) {
        return Some("the limited broadcast address".into());
    }
    d.broadcasts().get(&addr).map(|net| format!("the broadcast address of {}", net.trunc()))
}

/// `NODE:IFACE` (that interface's MAC once up) or a literal MAC.
fn mac_of(d: &Draft<'_>, text: &Spanned<String>) -> Option<MacOf> {
    if let Ok(mac) = text.get_ref().parse::<Mac>() {
        return Some(MacOf::Literal(mac));
    }
    if !text.get_ref().contains(':') || text.get_ref().matches(':').count() > 1 {
        d.error(
            Diagnostic::error(text.span(), format!("`{}` is neither an interface nor a MAC", text.get_ref()))
                .label("cannot tell whose MAC")
                .help("write \"NODE:IFACE\" or a MAC like \"02:42:ac:11:00:02\""),
        );
        return None;
    }
    Some(MacOf::Iface(d.resolve_iface(text, None)?))
}

/// `tagged = { on = "NODE:IFACE", vlan = N }` (or `vlan = [N, M]`): the interface must
/// carry those VLANs.
fn tagged_on(d: &Draft<'_>, tagged: &super::super::document::TaggedDoc) -> Option<TaggedOn> {
    let on = d.resolve_iface(tagged.on.as_ref()?, None)?;
    let Some(vlan) = &tagged.vlan else {
        d.error(
            Diagnostic::error(tagged.span.clone(), "`tagged` needs a `vlan`")
                .label("which tag?")
                .help("write `tagged = { on = \"NODE:IFACE\", vlan = 19 }`"),
        );
        return None;
    };
    if vlan.get_ref().is_empty() {
        d.error(
            Diagnostic::error(vlan.span(), "`vlan` names no VLAN").label("empty").help(
                "write `vlan = 19`, or `vlan = [10, 20]` for a probe that crosses the trunk in two VLANs",
            ),
        );
        return None;
    }
    let vlans: Vec<(u16, Span)> =
        vlan.get_ref().iter().map(|v| Some((vlan_id(d, v, "VLAN")?, v.span()))).collect::<Option<_>>()?;
    let carried = vlans_carried(d, on);
    let span = tagged.on.as_ref().map(|o| o.span()).unwrap_or(tagged.span.clone());
    if carried.is_empty() {
        d.error(
            Diagnostic::error(span, format!("`{}` carries no VLAN", d.lab.iface_label(on)))
                .label("no tags can be seen here")
                .help("name a trunk: an interface with VLAN sub-interfaces, or a cable whose switch port has `trunk`"),
        );
        return None;
    }
    let mut ok = true;
    for (vlan, at) in vlans.iter().filter(|(v, _)| !carried.contains(v)) {
        let list: Vec<String> = carried.iter().map(u16::to_string).collect();
        d.error(
            Diagnostic::error(at.clone(), format!("`{}` does not carry VLAN {vlan}", d.lab.iface_label(on)))
                .label(format!("it carries {}", list.join(", ")))
                .related(span.clone(), "this interface")
                .help("name the trunk that carries this VLAN, or fix `vlan`"),
        );
        ok = false;
    }
    let mut ids: Vec<u16> = vlans.into_iter().map(|(v, _)| v).collect();
    ids.sort_unstable();
    ids.dedup();
    ok.then_some(TaggedOn { on, vlans: ids })
}

/// `encap = { on = "NODE:IFACE", vni = N }`: the interface must carry that VNI (a vxlan with
/// it hangs on the interface, or is in its node without an underlay); the port is that
/// vxlan's.
fn encap_on(d: &Draft<'_>, encap: &super::super::document::EncapDoc) -> Option<EncapOn> {
    let on = d.resolve_iface(encap.on.as_ref()?, None)?;
    let Some(vni) = &encap.vni else {
        d.error(
            Diagnostic::error(encap.span.clone(), "`encap` needs a `vni`")
                .label("which VXLAN network?")
                .help("write `encap = { on = \"NODE:IFACE\", vni = 42 }`"),
        );
        return None;
    };
    let carried = crate::kind::vxlan::carried(&d.lab, on);
    let span = encap.on.as_ref().map(|o| o.span()).unwrap_or(encap.span.clone());
    let label = d.lab.iface_label(on);
    match carried.iter().find(|(v, _)| i64::from(*v) == *vni.get_ref()) {
        Some(&(vni, port)) => Some(EncapOn { on, vni, port }),
        None if carried.is_empty() => {
            d.error(
                Diagnostic::error(span, format!("`{label}` carries no VXLAN"))
                    .label("no vxlan has it as its underlay")
                    .help("name the underlay of a vxlan: the interface its `underlay` names"),
            );
            None
        }
        None => {
            let list: Vec<String> = carried.iter().map(|(v, _)| v.to_string()).collect();
            d.error(
                Diagnostic::error(vni.span(), format!("`{label}` does not carry VNI {}", vni.get_ref()))
                    .label(format!("it carries {}", list.join(", ")))
                    .help("name the underlay of a vxlan with this VNI, or fix `vni`"),
            );
            None
        }
    }
}

/// VLANs that travel tagged over an interface: its sub-interfaces' ids and the trunk VLANs
/// of the port at either end of its cable.
fn vlans_carried(d: &Draft<'_>, iface: IfaceId) -> Vec<u16> {
    let mut vlans = stacked_vlans(d, iface);
    if let IfaceKind::Veth { peer, port } = d.kind(iface) {
        let peer_port = d.kind(*peer).port();
        for p in [port.as_ref(), peer_port].into_iter().flatten() {
            vlans.extend(&p.trunk);
        }
    }
    vlans.sort_unstable();
    vlans.dedup();
    vlans
}

/// The ids of the VLAN sub-interfaces on an interface, and of those stacked on them (the
/// inner tags of QinQ): every tag its frames can carry. Each interface is visited once, so a
/// stacking loop (reported elsewhere) ends the walk.
fn stacked_vlans(d: &Draft<'_>, iface: IfaceId) -> Vec<u16> {
    let vlan_children = d.vlan_children.get_or_init(|| {
        let mut children: HashMap<IfaceId, Vec<(IfaceId, u16)>> = HashMap::new();
        for id in d.lab.iface_ids() {
            if let IfaceKind::Vlan { parent, id: vid, .. } = d.kind(id) {
                children.entry(*parent).or_default().push((id, *vid));
            }
        }
        children
    });
    let mut vlans = Vec::new();
    let mut seen = HashSet::from([iface]);
    let mut next = vec![iface];
    while let Some(at) = next.pop() {
        for &(child, vid) in vlan_children.get(&at).into_iter().flatten() {
            vlans.push(vid);
            if seen.insert(child) {
                next.push(child);
            }
        }
    }
    vlans
}
