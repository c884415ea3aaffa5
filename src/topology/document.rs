//! The topology file as written: TOML mirrored 1:1 into typed structs, every value spanned.
//! Reading checks keys and value types only; meaning is checked in `validate`.

use super::diagnostic::Span;
use super::reader::{S, Sink, Table};
use crate::kind::{Kind, KindDoc};
use crate::model::{Mac, Role};
use ipnet::IpNet;
use std::net::IpAddr;
use std::time::Duration;
use toml::de::DeTable;

#[derive(Clone)]
pub struct Document {
    pub name: Option<S<String>>,
    pub description: Option<S<String>>,
    pub verify: VerifyDoc,
    pub nodes: Vec<NodeDoc>,
    pub expects: Vec<ExpectDoc>,
    pub steps: Vec<StepDoc>,
}

/// A `[[step]]` of a scenario: its name, its actions (`do`) and its expectations.
#[derive(Clone)]
pub struct StepDoc {
    pub span: Span,
    pub name: Option<S<String>>,
    pub actions: Vec<S<String>>,
    pub expects: Vec<ExpectDoc>,
}

/// An interface's `impair` table: netem's settings as written.
#[derive(Clone)]
pub struct ImpairDoc {
    pub span: Span,
    pub entries: Vec<(S<String>, S<String>)>,
}

#[derive(Clone, Default)]
pub struct VerifyDoc {
    pub timeout: Option<S<Duration>>,
    pub deadline: Option<S<Duration>>,
}

#[derive(Clone)]
pub struct NodeDoc {
    pub role: Role,
    pub span: Span,
    pub name: Option<S<String>>,
    pub sysctl: Vec<(S<String>, S<String>)>,
    pub routes: Vec<RouteDoc>,
    pub ifaces: Vec<IfaceDoc>,
    pub listen: Vec<ListenDoc>,
    pub netns: Option<S<String>>,
    pub nat: Option<NatDoc>,
}

/// A node's `[host.nat]` table.
#[derive(Clone)]
pub struct NatDoc {
    pub span: Span,
    pub masquerade: Vec<MasqueradeDoc>,
    pub publish: Vec<PublishDoc>,
    pub hairpin: Option<S<bool>>,
    pub localhost: Option<S<bool>>,
}

#[derive(Clone)]
pub struct MasqueradeDoc {
    pub span: Span,
    pub from: Option<S<IpNet>>,
    pub out: Option<S<String>>,
    pub out_not: Option<S<String>>,
    pub written: Written,
}

#[derive(Clone)]
pub struct PublishDoc {
    pub span: Span,
    pub proto: Option<S<String>>,
    pub port: Option<S<i64>>,
    pub to: Option<S<String>>,
    pub host_ip: Option<S<IpAddr>>,
    pub written: Written,
}

/// A `[[host.listen]]` service.
#[derive(Clone)]
pub struct ListenDoc {
    pub span: Span,
    pub proto: Option<S<String>>,
    pub port: Option<S<i64>>,
    pub addr: Option<S<IpAddr>>,
    pub written: Written,
}

#[derive(Clone)]
pub struct RouteDoc {
    pub span: Span,
    pub to: Option<S<String>>,
    pub via: Option<S<IpAddr>>,
    pub dev: Option<S<String>>,
}

/// An interface entry: the keys every kind takes, and in `own` those of the kind it
/// declares (`kind`, or veth when it has a `link`), read by that kind (`crate::kind`).
#[derive(Clone)]
pub struct IfaceDoc {
    pub span: Span,
    pub name: Option<S<String>>,
    pub kind: Option<S<String>>,
    pub declared: Option<Kind>,
    pub own: KindDoc,
    pub addresses: Vec<S<IpNet>>,
    pub gateway: Option<S<IpAddr>>,
    pub default_dev: Option<S<bool>>,
    pub mac: Option<S<Mac>>,
    pub mtu: Option<S<i64>>,
    pub up: Option<S<bool>>,
    pub impair: Option<ImpairDoc>,
    pub written: Written,
}

/// Every key written in a table, readable or not, with its value's span: a key of the
/// wrong type is reported as such, never also as missing.
#[derive(Clone, Default)]
pub struct Written(Vec<(String, Span)>);

impl Written {
    /// Whether `key` is written, even with a value that could not be read.
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Span)> {
        self.0.iter().map(|(k, s)| (k.as_str(), s))
    }
}

#[derive(Clone)]
pub struct ExpectDoc {
    pub span: Span,
    pub from: Option<S<String>>,
    pub to: Option<S<String>>,
    pub reach: Option<S<bool>>,
    pub proto: Option<S<String>>,
    pub ttl: Option<S<i64>>,
    pub tagged: Option<TaggedDoc>,
    pub encap: Option<EncapDoc>,
    pub redirect: Option<S<IpAddr>>,
    pub resolves_to: Option<S<String>>,
    pub iface: Option<S<String>>,
    pub promiscuous: Option<S<bool>>,
    pub mac: Option<S<String>>,
    pub route: Option<S<IpNet>>,
    pub connect: Option<S<String>>,
    pub result: Option<S<String>>,
    pub answered_by: Option<S<String>>,
    pub peer_seen: Option<S<IpAddr>>,
    pub listener: Option<S<String>>,
    pub bound: Option<S<bool>>,
    pub why: Option<S<String>>,
    pub timeout: Option<S<Duration>>,
    pub rtt: Option<BoundsDoc>,
    pub loss: Option<BoundsDoc>,
    pub duplicate: Option<BoundsDoc>,
    pub reorder: Option<BoundsDoc>,
    pub throughput: Option<BoundsDoc>,
    pub probes: Option<S<i64>>,
    pub written: Written,
}

/// A bound on a measured quantity: `{ above = "...", below = "..." }`, with `stat` for a
/// round-trip time and `duration` for a throughput.
#[derive(Clone)]
pub struct BoundsDoc {
    pub span: Span,
    pub above: Option<S<String>>,
    pub below: Option<S<String>>,
    pub stat: Option<S<String>>,
    pub duration: Option<S<Duration>>,
}

#[derive(Clone)]
pub struct TaggedDoc {
    pub span: Span,
    pub on: Option<S<String>>,
    /// One VLAN, or several (`vlan = [10, 20]`).
    pub vlan: Option<S<Vec<S<i64>>>>,
}

#[derive(Clone)]
pub struct EncapDoc {
    pub span: Span,
    pub on: Option<S<String>>,
    pub vni: Option<S<i64>>,
}

const TOP_KEYS: &[&str] = &["name", "description", "verify", "host", "router", "switch", "expect", "step"];
const STEP_KEYS: &[&str] = &["name", "do", "expect"];
const VERIFY_KEYS: &[&str] = &["timeout", "deadline"];
const NODE_KEYS: &[&str] = &["name", "netns", "sysctl", "routes", "iface", "listen", "nat"];
const NAT_KEYS: &[&str] = &["masquerade", "publish", "hairpin", "localhost"];
const MASQUERADE_KEYS: &[&str] = &["from", "out", "out_not"];
const PUBLISH_KEYS: &[&str] = &["proto", "port", "to", "host_ip"];
const LISTEN_KEYS: &[&str] = &["proto", "port", "addr"];
const ROUTE_KEYS: &[&str] = &["to", "via", "dev"];
/// Keys every interface takes, whatever its kind: naming it, and its settings.
const IFACE_NAMING_KEYS: &[&str] = &["name", "kind"];
const IFACE_SETTING_KEYS: &[&str] = &["addresses", "gateway", "default_dev", "mac", "mtu", "up", "impair"];

/// Every key an interface entry may have: the common ones and every kind's own.
pub fn iface_keys() -> &'static [&'static str] {
    static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let own = Kind::all_keys();
        IFACE_NAMING_KEYS.iter().copied().chain(own).chain(IFACE_SETTING_KEYS.iter().copied()).collect()
    })
}
const EXPECT_KEYS: &[&str] = &[
    "from",
    "to",
    "reach",
    "proto",
    "ttl",
    "tagged",
    "encap",
    "redirect",
    "resolves_to",
    "iface",
    "promiscuous",
    "mac",
    "route",
    "connect",
    "result",
    "answered_by",
    "peer_seen",
    "listener",
    "bound",
    "why",
    "timeout",
    "rtt",
    "loss",
    "duplicate",
    "reorder",
    "throughput",
    "probes",
];
const RTT_KEYS: &[&str] = &["above", "below", "stat"];
const SHARE_KEYS: &[&str] = &["above", "below"];
const THROUGHPUT_KEYS: &[&str] = &["above", "below", "duration"];
const TAGGED_KEYS: &[&str] = &["on", "vlan"];
const ENCAP_KEYS: &[&str] = &["on", "vni"];

pub const CIDR: &str = "an address with its prefix length, like \"10.0.0.2/24\" or \"2001:db8::2/64\"";
pub const IP: &str = "an IPv4 or IPv6 address, like \"10.0.0.1\"";
pub const MAC: &str = "a MAC address, like \"02:42:ac:11:00:02\"";
const DURATION: &str = "a duration, like \"1s\" or \"500ms\"";

/// Reads a parsed TOML document; problems go to `sink`.
pub fn read(root: &DeTable<'_>, span: Span, sink: &Sink) -> Document {
    let top = Table::new(root, span, "the topology", TOP_KEYS, sink);
    let mut nodes = Vec::new();
    for (key, role) in [("switch", Role::Switch), ("router", Role::Router), ("host", Role::Host)] {
        for (span, table) in top.tables(key) {
            nodes.push(read_node(table, span, role, sink));
        }
    }
    nodes.sort_by_key(|n| n.span.start);
    Document {
        name: top
            .required_string("name", "add `name = \"my-lab\"` at the top of the file, before any [[...]]"),
        description: top.string("description"),
        verify: top.table("verify").map(|(s, t)| read_verify(t, s, sink)).unwrap_or_default(),
        nodes,
        expects: top.tables("expect").into_iter().map(|(s, t)| read_expect(t, s, sink)).collect(),
        steps: top.tables("step").into_iter().map(|(s, t)| read_step(t, s, sink)).collect(),
    }
}

fn read_step(table: &DeTable<'_>, span: Span, sink: &Sink) -> StepDoc {
    let t = Table::new(table, span.clone(), "a [[step]]", STEP_KEYS, sink).at("step");
    StepDoc {
        span,
        name: t.required_string("name", "add `name = \"...\"`, unique among the steps"),
        actions: t.strings("do").map(|l| l.into_inner()).unwrap_or_default(),
        expects: t.tables("expect").into_iter().map(|(s, e)| read_expect(e, s, sink)).collect(),
    }
}

fn read_verify(table: &DeTable<'_>, span: Span, sink: &Sink) -> VerifyDoc {
    let t = Table::new(table, span, "the [verify] table", VERIFY_KEYS, sink);
    VerifyDoc { timeout: duration(&t, "timeout"), deadline: duration(&t, "deadline") }
}

fn duration(t: &Table<'_, '_>, key: &str) -> Option<S<Duration>> {
    t.parsed::<humantime::Duration>(key, DURATION)
        .map(|d| toml::Spanned::new(d.span(), d.into_inner().into()))
}

fn read_node(table: &DeTable<'_>, span: Span, role: Role, sink: &Sink) -> NodeDoc {
    let what = match role {
        Role::Host => "a [[host]]",
        Role::Router => "a [[router]]",
        Role::Switch => "a [[switch]]",
    };
    let t = Table::new(table, span.clone(), what, NODE_KEYS, sink).at(role.as_str());
    let iface_what = match role {
        Role::Host => "a host interface",
        Role::Router => "a router interface",
        Role::Switch => "a switch interface",
    };
    NodeDoc {
        role,
        span,
        name: t.required_string("name", "add `name = \"...\"`, unique in the lab"),
        sysctl: t.scalar_entries("sysctl"),
        routes: t.tables("routes").into_iter().map(|(s, r)| read_route(r, s, sink)).collect(),
        ifaces: t.tables("iface").into_iter().map(|(s, i)| read_iface(i, s, iface_what, sink)).collect(),
        listen: t.tables("listen").into_iter().map(|(s, l)| read_listen(l, s, sink)).collect(),
        netns: t.string("netns"),
        nat: t.table("nat").map(|(s, n)| read_nat(n, s, sink)),
    }
}

fn read_nat(table: &DeTable<'_>, span: Span, sink: &Sink) -> NatDoc {
    let t = Table::new(table, span.clone(), "a `nat` table", NAT_KEYS, sink);
    NatDoc {
        span,
        masquerade: t
            .tables("masquerade")
            .into_iter()
            .map(|(span, m)| {
                let t = Table::new(m, span.clone(), "a `masquerade` rule", MASQUERADE_KEYS, sink);
                MasqueradeDoc {
                    span,
                    from: t.parsed("from", CIDR),
                    out: t.string("out"),
                    out_not: t.string("out_not"),
                    written: Written(t.keys()),
                }
            })
            .collect(),
        publish: t
            .tables("publish")
            .into_iter()
            .map(|(span, p)| {
                let t = Table::new(p, span.clone(), "a published port", PUBLISH_KEYS, sink);
                PublishDoc {
                    span,
                    proto: t.string("proto"),
                    port: t.integer("port"),
                    to: t.string("to"),
                    host_ip: t.parsed("host_ip", IP),
                    written: Written(t.keys()),
                }
            })
            .collect(),
        hairpin: t.bool("hairpin"),
        localhost: t.bool("localhost"),
    }
}

fn read_listen(table: &DeTable<'_>, span: Span, sink: &Sink) -> ListenDoc {
    let t = Table::new(table, span.clone(), "a service (`listen`)", LISTEN_KEYS, sink);
    ListenDoc {
        span,
        proto: t.string("proto"),
        port: t.integer("port"),
        addr: t.parsed("addr", IP),
        written: Written(t.keys()),
    }
}

fn read_route(table: &DeTable<'_>, span: Span, sink: &Sink) -> RouteDoc {
    let t = Table::new(table, span.clone(), "a route", ROUTE_KEYS, sink);
    RouteDoc {
        span,
        to: t.required_string("to", "add `to = \"10.1.0.0/16\"` or `to = \"default\"`"),
        via: t.parsed("via", IP),
        dev: t.string("dev"),
    }
}

pub fn read_iface(table: &DeTable<'_>, span: Span, what: &'static str, sink: &Sink) -> IfaceDoc {
    let t = Table::new(table, span.clone(), what, iface_keys(), sink);
    let kind = t.string("kind");
    let declared = match &kind {
        Some(kind) => Kind::named(kind.get_ref()),
        None if t.has("link") && !t.has("kind") => Some(Kind::Veth),
        None => None,
    };
    IfaceDoc {
        span,
        name: t.string("name"),
        kind,
        declared,
        own: KindDoc::read(declared, &t),
        addresses: t.parsed_list("addresses", CIDR).map(|l| l.into_inner()).unwrap_or_default(),
        gateway: t.parsed("gateway", IP),
        default_dev: t.bool("default_dev"),
        mac: t.parsed("mac", MAC),
        mtu: t.integer("mtu"),
        up: t.bool("up"),
        impair: t.table("impair").map(|(span, _)| ImpairDoc { span, entries: t.scalar_entries("impair") }),
        written: Written(t.keys()),
    }
}

fn read_expect(table: &DeTable<'_>, span: Span, sink: &Sink) -> ExpectDoc {
    let t = Table::new(table, span.clone(), "an [[expect]]", EXPECT_KEYS, sink);
    ExpectDoc {
        span,
        from: t.string("from"),
        to: t.string("to"),
        reach: t.bool("reach"),
        proto: t.string("proto"),
        ttl: t.integer("ttl"),
        tagged: t.table("tagged").map(|(s, tagged)| {
            let t = Table::new(tagged, s.clone(), "`tagged`", TAGGED_KEYS, sink);
            TaggedDoc {
                span: s,
                on: t.required_string("on", "add `on = \"NODE:IFACE\"`"),
                vlan: t.integers("vlan"),
            }
        }),
        encap: t.table("encap").map(|(s, encap)| {
            let t = Table::new(encap, s.clone(), "`encap`", ENCAP_KEYS, sink);
            EncapDoc {
                span: s,
                on: t.required_string("on", "add `on = \"NODE:IFACE\"`, an underlay"),
                vni: t.integer("vni"),
            }
        }),
        redirect: t.parsed("redirect", IP),
        resolves_to: t.string("resolves_to"),
        iface: t.string("iface"),
        promiscuous: t.bool("promiscuous"),
        mac: t.string("mac"),
        route: t.parsed("route", CIDR),
        connect: t.string("connect"),
        result: t.string("result"),
        answered_by: t.string("answered_by"),
        peer_seen: t.parsed("peer_seen", IP),
        listener: t.string("listener"),
        bound: t.bool("bound"),
        why: t.string("why"),
        timeout: duration(&t, "timeout"),
        rtt: bounds(&t, "rtt", "`rtt`", RTT_KEYS, sink),
        loss: bounds(&t, "loss", "`loss`", SHARE_KEYS, sink),
        duplicate: bounds(&t, "duplicate", "`duplicate`", SHARE_KEYS, sink),
        reorder: bounds(&t, "reorder", "`reorder`", SHARE_KEYS, sink),
        throughput: bounds(&t, "throughput", "`throughput`", THROUGHPUT_KEYS, sink),
        probes: t.integer("probes"),
        written: Written(t.keys()),
    }
}

/// A bounds table (`rtt = { above = "40ms", below = "60ms" }`); numbers are read as text, so
/// that `loss = { below = 5 }` means 5%.
fn bounds(t: &Table<'_, '_>, key: &str, what: &'static str, keys: &[&str], sink: &Sink) -> Option<BoundsDoc> {
    let (span, table) = t.table(key)?;
    let b = Table::new(table, span.clone(), what, keys, sink);
    Some(BoundsDoc {
        span,
        above: b.scalar_value("above"),
        below: b.scalar_value("below"),
        stat: b.string("stat"),
        duration: duration(&b, "duration"),
    })
}
