//! Judging: an expectation and what was observed become an outcome — pass or fail, with
//! the expected and observed facts in words ("reply came from 02:..:79, which is net1:eth0").

use super::Observed;
use super::capture::Frame;
use super::transport::Got;
use crate::model::{
    Check, EncapOn, Expectation, IfaceId, Lab, Mac, MacOf, NodeId, Proto, TaggedOn, Target, Want,
};
use crate::state::State;
use serde::Serialize;
use std::time::Duration;

#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// Position among the file's expectations, from 1.
    pub number: usize,
    pub line: usize,
    /// What was checked: "namespace2 → 172.16.10.5".
    pub check: String,
    pub expected: String,
    pub observed: String,
    pub passed: bool,
    /// False when what was observed cannot decide the expectation either way (the machine
    /// dropped frames, or the network never went quiet, each time it was asked): neither a
    /// pass nor a failure of the network, and `passed` is false.
    pub decided: bool,
    pub why: Option<String>,
    /// The path walked for this expectation (`explain`), when it was asked for: every
    /// failure's, and every expectation's for a drawing of the results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub walk: Option<crate::explain::Walk>,
    /// Where the path watcher saw the probe's request and reply, when it watched this
    /// expectation: the evidence the walk's hops are marked with.
    #[serde(skip)]
    pub sighted: Option<Vec<Sighted>>,
}

/// The request (or the reply) of a probe, seen arriving at an interface or leaving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sighted {
    pub at: IfaceId,
    pub leaving: bool,
    pub reply: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub lab: String,
    pub outcomes: Vec<Outcome>,
    #[serde(rename = "elapsed_ms", serialize_with = "millis")]
    pub elapsed: Duration,
    /// Probes ran in this many waves, to fit the machine's neighbour tables.
    pub waves: usize,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

impl Verification {
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.passed)
    }

    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.passed).count()
    }

    /// Expectations that could not be decided.
    pub fn undecided(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.decided).count()
    }
}

/// Whether an outcome rests on an absence (no reply, no other answer), which frames lost by
/// the machine could fake; an outcome that rests on something that came is sure.
pub(super) fn rests_on_silence(
    expectation: &Expectation,
    outcome: &Outcome,
    seen: &Observed,
    index: usize,
) -> bool {
    match &expectation.check {
        Check::Reach { reach, .. } => *reach != outcome.passed,
        Check::Resolves { .. } => true,
        Check::Connect { .. } => got_nothing(seen, index),
        Check::State { .. }
        | Check::Route { .. }
        | Check::Listening { .. }
        | Check::Quality { .. }
        | Check::Throughput { .. } => false,
    }
}

/// Whether a connect probe got nothing back (silence, or not even that decided): what lost
/// frames could fake. A refusal or an unreachable came from somewhere.
fn got_nothing(seen: &Observed, index: usize) -> bool {
    seen.connects
        .get(&index)
        .is_some_and(|(_, s)| matches!(s.got, None | Some(Got::Silence)) && s.failed.is_none())
}

/// Whether an outcome is a failure for want of an answer: a reply or a link-layer answer
/// that did not come (which the machine dropping frames could cause).
pub(super) fn wanted_an_answer(
    expectation: &Expectation,
    outcome: &Outcome,
    seen: &Observed,
    index: usize,
) -> bool {
    let wants = match &expectation.check {
        Check::Reach { reach, .. } => *reach,
        Check::Resolves { .. } => true,
        Check::Connect { want, .. } => *want == Want::Answered && got_nothing(seen, index),
        Check::State { .. }
        | Check::Route { .. }
        | Check::Listening { .. }
        | Check::Quality { .. }
        | Check::Throughput { .. } => false,
    };
    wants && !outcome.passed
}

pub(super) fn judge(lab: &Lab, state: &State, e: &Expectation, index: usize, seen: &Observed) -> Outcome {
    let mut outcome = judge_observed(lab, state, e, index, seen);
    if let Some(reasons) = seen.unsettled.get(&index) {
        outcome.observed = format!("could not decide: {} ({})", reasons.join("; "), outcome.observed);
        outcome.passed = false;
        outcome.decided = false;
    }
    outcome
}

fn judge_observed(lab: &Lab, state: &State, e: &Expectation, index: usize, seen: &Observed) -> Outcome {
    let mut decided = true;
    let (check, expected, observed, passed) = match &e.check {
        Check::Quality { from, to, probes, bounds, .. } => {
            let (expected, observed, passed, sure) =
                super::quality::judge_series(*probes, bounds, seen.series.get(&index));
            decided = sure;
            (
                format!("{} → {} ({probes} echoes)", lab.node(*from).name, target(to)),
                expected,
                observed,
                passed,
            )
        }
        Check::Throughput { from, to, rate, .. } => {
            let (expected, observed, passed) = super::quality::judge_stream(rate, seen.streams.get(&index));
            (format!("{} → {} (TCP stream)", lab.node(*from).name, target(to)), expected, observed, passed)
        }
        Check::Reach { from, to, reach, proto: Proto::Icmp, ttl, tagged, encap, redirect } => {
            let echo = Echo {
                lab,
                seen,
                index,
                from: *from,
                to,
                reach: *reach,
                ttl: *ttl,
                tagged: tagged.as_ref(),
                encap: *encap,
                redirect: *redirect,
            };
            let (expected, observed, passed) = echo.judge();
            (format!("{} → {}", lab.node(*from).name, target(to)), expected, observed, passed)
        }
        Check::Reach { from, to, reach, proto: Proto::Arp, .. } => {
            let answers = seen.answers.get(&index).cloned().unwrap_or_default();
            let expected = if *reach { "an answer" } else { "no answer" }.to_string();
            let observed = describe_answers(state, &answers, to);
            (
                format!("{} → {} (ARP/ND)", lab.node(*from).name, target(to)),
                expected,
                observed,
                // A question that could not be asked proves nothing either way.
                answers.error.is_none() && answers.macs.is_empty() != *reach,
            )
        }
        Check::Resolves { from, to, mac } => {
            let answers = seen.answers.get(&index).cloned().unwrap_or_default();
            let wanted = mac_of(lab, state, *mac);
            let expected = match (&wanted, mac) {
                (Some(m), MacOf::Iface(id)) => format!("{m} ({})", lab.iface_label(*id)),
                (Some(m), MacOf::Literal(_)) => m.to_string(),
                (None, _) => "a MAC lab does not know".into(),
            };
            let passed =
                !answers.macs.is_empty() && wanted.is_some_and(|w| answers.macs.iter().all(|m| *m == w));
            (
                format!("{}: who has {}?", lab.node(*from).name, target(to)),
                expected,
                describe_answers(state, &answers, to),
                passed,
            )
        }
        Check::State { iface, promiscuous, mac } => {
            state_outcome(lab, state, seen, index, *iface, *promiscuous, *mac)
        }
        Check::Connect { from, to, port, proto, want, answered_by, peer_seen } => {
            let connect = Connection { lab, want: *want, answered_by: *answered_by, peer_seen: *peer_seen };
            let (expected, observed, passed) = connect.judge(seen.connects.get(&index));
            let address = std::net::SocketAddr::new(to.addr, *port);
            let at = match to.written == to.addr.to_string() {
                true => address.to_string(),
                false => format!("{}:{port} ({address})", to.written),
            };
            (format!("{} → {at} ({})", lab.node(*from).name, proto.as_str()), expected, observed, passed)
        }
        Check::Listening { node, proto, port, bound } => {
            let opened = seen.bound.get(&(*node, *proto, *port));
            let observed = match opened {
                Some(Ok(())) => "listening".to_string(),
                Some(Err(refused)) => format!("the kernel refused {refused}"),
                None => "not opened".into(),
            };
            (
                format!("{} serves {} port {port}", lab.node(*node).name, proto.as_str()),
                if *bound { "listening" } else { "refused by the kernel" }.to_string(),
                observed,
                opened.is_some_and(|o| o.is_ok() == *bound),
            )
        }
        Check::Route { iface, prefix } => {
            let look = seen.looks.get(&(index, *iface)).cloned().unwrap_or_default();
            let name = &lab.iface(*iface).name;
            let observed = match (&look.error, look.route_devices.as_slice()) {
                (Some(error), _) => error.clone(),
                (None, []) => format!("no route to {prefix}"),
                (None, devices) => format!("{prefix} dev {}", devices.join(", dev ")),
            };
            let passed = look.route_devices.iter().any(|d| d == name);
            (
                format!("{} route {prefix}", lab.iface_label(*iface)),
                format!("{prefix} dev {name}"),
                observed,
                passed,
            )
        }
    };
    Outcome {
        number: e.number,
        line: e.line,
        check,
        expected,
        observed,
        passed,
        decided,
        why: e.why.clone(),
        walk: None,
        sighted: sighted(e, index, seen),
    }
}

/// What the path watcher saw of an echo's request and reply, when it watched it.
fn sighted(e: &Expectation, index: usize, seen: &Observed) -> Option<Vec<Sighted>> {
    if !matches!(e.check, Check::Reach { proto: Proto::Icmp, .. }) || !seen.watched.contains(&index) {
        return None;
    }
    let (echo, _) = seen.echo.get(&index)?;
    let sightings = seen.trails.echoes.get(&echo.id).map_or(&[][..], Vec::as_slice);
    let frames = sightings.iter().filter(|s| s.frame != super::watch::Frame::Error);
    Some(
        frames
            .map(|s| Sighted { at: s.at, leaving: s.leaving, reply: s.frame == super::watch::Frame::Reply })
            .collect(),
    )
}

/// "172.16.10.5", or "namespace1 (172.16.10.5)" when written by name.
fn target(to: &Target) -> String {
    if to.written == to.addr.to_string() {
        to.written.clone()
    } else {
        format!("{} ({})", to.written, to.addr)
    }
}

struct Connection<'a> {
    lab: &'a Lab,
    want: Want,
    answered_by: Option<NodeId>,
    peer_seen: Option<std::net::IpAddr>,
}

impl Connection<'_> {
    fn judge(
        &self,
        seen: Option<&(super::transport::Connect, super::transport::Seen)>,
    ) -> (String, String, bool) {
        let mut expected = vec![self.want.as_str().to_string()];
        if let Some(node) = self.answered_by {
            expected.push(format!("by {}", self.lab.node(node).name));
        }
        if let Some(peer) = self.peer_seen {
            expected.push(format!("which sees {peer}"));
        }
        let Some((connect, seen)) = seen else { return (expected.join(", "), "not probed".into(), false) };
        if let Some(failed) = &seen.failed {
            return (expected.join(", "), format!("could not connect: {failed}"), false);
        }
        let (observed, passed) = match &seen.got {
            Some(Got::Answered { by, saw }) => {
                let who = self.answered_by.is_none_or(|n| self.lab.node(n).name == *by);
                let source = self.peer_seen.is_none_or(|p| p == saw.ip());
                let tries =
                    if seen.attempts > 1 { format!(", try {}", seen.attempts) } else { String::new() };
                let text = format!(
                    "answered by {by}, which saw {saw} ({:.1} ms{tries})",
                    seen.took.as_secs_f64() * 1000.0
                );
                (text, self.want == Want::Answered && who && source)
            }
            Some(Got::Spoke(line)) => (format!("answered, but not by a lab service: {line:?}"), false),
            Some(Got::Refused) => {
                let how = match connect.proto {
                    crate::model::L4::Tcp => "refused (TCP reset)",
                    crate::model::L4::Udp => "refused (ICMP port unreachable)",
                };
                (how.to_string(), matches!(self.want, Want::Refused | Want::NoAnswer))
            }
            Some(Got::Unreachable(why)) => {
                (format!("unreachable: {why}"), matches!(self.want, Want::Unreachable | Want::NoAnswer))
            }
            Some(Got::Silence) => {
                let waited = if connect.positive { connect.deadline } else { connect.timeout };
                let text = format!("no answer in {}, the network quiet", seconds(waited));
                (text, matches!(self.want, Want::Timeout | Want::NoAnswer))
            }
            None => (format!("no answer: {}", seen.undecided.clone().unwrap_or_default()), false),
        };
        (expected.join(", "), observed, passed)
    }
}

struct Echo<'a> {
    lab: &'a Lab,
    seen: &'a Observed,
    index: usize,
    from: crate::model::NodeId,
    to: &'a Target,
    reach: bool,
    ttl: Option<u8>,
    tagged: Option<&'a TaggedOn>,
    encap: Option<EncapOn>,
    redirect: Option<std::net::IpAddr>,
}

impl Echo<'_> {
    fn judge(&self) -> (String, String, bool) {
        let Some((echo, seen)) = self.seen.echo.get(&self.index) else {
            return (String::new(), "not probed".into(), false);
        };
        let mut expected = vec![if self.reach { "reply".to_string() } else { "no reply".to_string() }];
        if let Some(failed) = &seen.failed {
            return (expected.join(", "), format!("could not probe: {failed}"), false);
        }
        let mut observed = Vec::new();
        let mut passed = seen.reply.is_some() == self.reach;
        match &seen.reply {
            Some(reply) => {
                let ttl = reply.ttl.map(|t| format!(", TTL {t}")).unwrap_or_default();
                let from =
                    if reply.from == echo.target { String::new() } else { format!(" from {}", reply.from) };
                observed.push(format!("reply{from} in {:.1} ms{ttl}", reply.rtt.as_secs_f64() * 1000.0));
            }
            None if self.reach => {
                let mut text = format!("no reply in {}", seconds(echo.deadline));
                let watched = self.seen.watched.contains(&self.index);
                // What the watcher saw says more than what the source node knows of the way.
                let note = if watched { None } else { self.seen.notes.get(&self.index) };
                if let Some(error) = seen.error.as_ref().or(note) {
                    text += &format!(" ({error})");
                }
                if watched {
                    text += &format!(": {}", self.trail(echo));
                }
                observed.push(text);
            }
            None => observed.push(self.silence(echo, seen)),
        }
        if let Some(ttl) = self.ttl {
            expected.push(format!("TTL {ttl}"));
            passed &= seen.reply.as_ref().and_then(|r| r.ttl) == Some(ttl);
        }
        if let Some(gateway) = self.redirect {
            expected.push(format!("redirect to {gateway}"));
            match seen.redirect {
                Some((to, from)) => observed.push(format!("redirect to {to} from {from}")),
                None => observed.push("no redirect".into()),
            }
            passed &= seen.redirect.is_some_and(|(to, _)| to == gateway);
        }
        if let Some(tagged) = self.tagged {
            let on = self.lab.iface_label(tagged.on);
            let vlans: Vec<String> = tagged.vlans.iter().map(u16::to_string).collect();
            expected.push(match vlans.as_slice() {
                [one] => format!("tag {one} on {on}"),
                many => format!("tags {} on {on}", many.join(" and ")),
            });
            let frames = self.frames(tagged.on, echo.id);
            let tags: Vec<Vec<u16>> = frames.iter().map(|f| f.tags.clone()).collect();
            let why = tagged.unmet(&tags).map(|w| format!(": {w}")).unwrap_or_default();
            observed.push(format!("tags seen on {on}: {}{why}", describe_tags(&frames)));
            passed &= tagged.met_by(&tags);
        }
        if let Some(encap) = self.encap {
            let on = self.lab.iface_label(encap.on);
            expected.push(format!("VXLAN {} (port {}) on {on}", encap.vni, encap.port));
            let frames = self.frames(encap.on, echo.id);
            observed.push(format!("seen on {on}: {}", describe_tunnels(&frames)));
            passed &= !frames.is_empty() && frames.iter().all(|f| f.vxlan == Some((encap.port, encap.vni)));
        }
        (expected.join(", "), observed.join("; "), passed)
    }
}

impl Echo<'_> {
    /// The frames of one echo a capture saw on an interface.
    fn frames(&self, on: IfaceId, id: u16) -> Vec<Frame> {
        self.seen.captured.get(&on).map(|c| c.of(id).to_vec()).unwrap_or_default()
    }

    /// Why no reply came to a `reach = false` probe, as the evidence shows it: the network's
    /// answer (an unreachable), or what the path watcher saw of the request and the reply.
    fn silence(&self, echo: &super::icmp::Echo, seen: &super::icmp::Seen) -> String {
        let mut text = "no reply, the network quiet".to_string();
        if let Some(error) = &seen.error {
            return format!("{text}: {error}");
        }
        if self.seen.watched.contains(&self.index) {
            text += &format!(": {}", self.trail(echo));
        }
        text
    }

    /// Where the path watcher saw the probe's request and its reply go.
    fn trail(&self, echo: &super::icmp::Echo) -> String {
        let sightings = self.seen.trails.echoes.get(&echo.id).map_or(&[][..], Vec::as_slice);
        let resolutions = &self.seen.trails.resolutions;
        super::trail::explain(self.lab, sightings, resolutions, self.from, self.to)
    }
}

fn describe_tags(frames: &[Frame]) -> String {
    describe_frames(frames, |frame| match frame.tags.as_slice() {
        [] => "untagged".to_string(),
        tags => tags.iter().map(u16::to_string).collect::<Vec<_>>().join("+"),
    })
}

fn describe_tunnels(frames: &[Frame]) -> String {
    describe_frames(frames, |frame| match frame.vxlan {
        Some((port, vni)) => format!("VXLAN {vni} (port {port})"),
        None => "not in VXLAN".to_string(),
    })
}

/// What frames of a probe showed, each way once: "19, untagged (4 frames)".
fn describe_frames(frames: &[Frame], shown: impl Fn(&Frame) -> String) -> String {
    if frames.is_empty() {
        return "none of the probe's frames passed there".into();
    }
    let mut seen: Vec<String> = Vec::new();
    for text in frames.iter().map(shown) {
        if !seen.contains(&text) {
            seen.push(text);
        }
    }
    format!("{} ({} frames)", seen.join(", "), frames.len())
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{} s", d.as_secs()) } else { format!("{:.1} s", d.as_secs_f64()) }
}

fn describe_answers(state: &State, answers: &super::arp::Answers, to: &Target) -> String {
    if let Some(error) = &answers.error {
        return format!("could not ask: {error}");
    }
    let on = answers.on.as_deref().unwrap_or("?");
    if answers.macs.is_empty() {
        return format!("no answer for {} on {on}", to.addr);
    }
    let who: Vec<String> =
        answers.macs.iter().map(|m| format!("{m}, which is {}", owner(state, *m))).collect();
    let first = if answers.macs.len() == 1 { "answer came from" } else { "answers came from" };
    format!("{first} {}", who.join("; and from "))
}

/// The interface that carries a MAC, from the state recorded at `up`.
fn owner(state: &State, mac: Mac) -> String {
    let owners: Vec<String> = state
        .nodes
        .iter()
        .flat_map(|n| {
            n.ifaces.iter().filter(|i| i.mac == Some(mac)).map(move |i| format!("{}:{}", n.name, i.name))
        })
        .collect();
    match owners.as_slice() {
        [] => "not in this lab".into(),
        [one] => one.clone(),
        [first, second] => format!("{first} (and {second})"),
        [first, rest @ ..] => format!("{first} (and {} more interfaces with that MAC)", rest.len()),
    }
}

fn mac_of(lab: &Lab, state: &State, mac: MacOf) -> Option<Mac> {
    match mac {
        MacOf::Literal(m) => Some(m),
        MacOf::Iface(id) => recorded_mac(lab, state, id),
    }
}

fn recorded_mac(lab: &Lab, state: &State, id: IfaceId) -> Option<Mac> {
    let node = state.node(&lab.node(id.node).name)?;
    node.ifaces.iter().find(|i| i.name == lab.iface(id).name)?.mac
}

fn state_outcome(
    lab: &Lab,
    state: &State,
    seen: &Observed,
    index: usize,
    iface: IfaceId,
    promiscuous: Option<bool>,
    mac: Option<MacOf>,
) -> (String, String, String, bool) {
    let look = seen.looks.get(&(index, iface)).cloned().unwrap_or_default();
    let Some(link) = look.link else {
        return (
            lab.iface_label(iface),
            "an interface".into(),
            look.error.unwrap_or_else(|| "not read".into()),
            false,
        );
    };
    let (mut expected, mut observed, mut passed) = (Vec::new(), Vec::new(), true);
    if let Some(wanted) = promiscuous {
        expected.push(if wanted { "promiscuous".to_string() } else { "not promiscuous".to_string() });
        observed.push(format!("promiscuity {}", link.promiscuity));
        passed &= (link.promiscuity > 0) == wanted;
    }
    if let Some(mac) = mac {
        let wanted = match mac {
            MacOf::Literal(m) => Some(m),
            MacOf::Iface(other) => {
                seen.looks.get(&(index, other)).and_then(|l| l.link.as_ref()).and_then(|l| l.mac)
            }
        };
        let described = match (mac, wanted) {
            (MacOf::Iface(other), Some(m)) => format!("MAC {m} (that of {})", lab.iface_label(other)),
            (_, Some(m)) => format!("MAC {m}"),
            (_, None) => "a MAC that could not be read".into(),
        };
        expected.push(described);
        let actual = link.mac.map_or("no MAC".to_string(), |m| format!("MAC {m}"));
        observed.push(match link.mac {
            Some(m) if Some(m) != wanted => format!("{actual}, which is {}", owner(state, m)),
            _ => actual,
        });
        passed &= wanted.is_some() && link.mac == wanted;
    }
    (lab.iface_label(iface), expected.join(", "), observed.join(", "), passed)
}

#[cfg(test)]
mod tests {
    //! The judge on hand-built observations: what a user reads in the report, for each way
    //! a probe can end.
    use super::*;
    use crate::probe::icmp::{Echo as Probe, Reply, Seen};
    use crate::probe::watch::{Frame, Sighting};
    use crate::state::{IfaceState, NodeState};
    use std::net::IpAddr;

    const LAB: &str = r#"name = "t-judge"
[[switch]]
name = "sw"
[[host]]
name = "a"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  addresses = ["10.0.0.1/24"]
[[host]]
name = "b"
  [[host.iface]]
  name = "eth0"
  link = "sw"
  mac = "02:00:00:00:00:0b"
  addresses = ["10.0.0.2/24"]
[[expect]]
from = "a"
to = "b"
reach = true
[[expect]]
from = "a"
to = "b"
reach = false
[[expect]]
from = "a"
to = "b"
reach = true
ttl = 64
[[expect]]
from = "a"
to = "10.0.0.2"
resolves_to = "b:eth0"
"#;

    fn lab() -> Lab {
        let checked = crate::topology::check(crate::topology::Source::new("t.toml", LAB));
        checked.lab.expect("the test topology is valid")
    }

    fn state(lab: &Lab) -> State {
        let nodes = lab
            .nodes
            .iter()
            .enumerate()
            .map(|(at, n)| NodeState {
                name: n.name.clone(),
                netns: lab.netns_name(crate::model::NodeId(at)),
                ifaces: n
                    .ifaces
                    .iter()
                    .enumerate()
                    .map(|(i, iface)| IfaceState {
                        name: iface.name.clone(),
                        index: i as u32 + 2,
                        mac: iface.mac,
                    })
                    .collect(),
            })
            .collect();
        State {
            lab: lab.name.clone(),
            topology: "t.toml".into(),
            source: LAB.into(),
            description: None,
            created: 0,
            nodes,
            step: None,
            live: Vec::new(),
        }
    }

    fn b() -> IpAddr {
        "10.0.0.2".parse().unwrap()
    }

    fn probe(id: u16) -> Probe {
        Probe {
            target: b(),
            positive: true,
            timeout: Duration::from_millis(300),
            deadline: Duration::from_secs(5),
            id,
            wants_redirect: false,
        }
    }

    fn reply(rtt: Duration, ttl: u8) -> Seen {
        Seen { reply: Some(Reply { ttl: Some(ttl), rtt, from: b() }), sent: 1, ..Seen::default() }
    }

    fn outcome(index: usize, seen: &Observed) -> Outcome {
        let lab = lab();
        let state = state(&lab);
        judge(&lab, &state, &lab.expectations[index], index, seen)
    }

    #[test]
    fn a_reply_later_than_the_timeout_still_passes_a_reach() {
        let mut seen = Observed::default();
        seen.echo.insert(0, (probe(1), reply(Duration::from_secs(2), 64)));
        let o = outcome(0, &seen);
        assert!(o.passed && o.decided, "{o:?}");
        assert_eq!(o.observed, "reply in 2000.0 ms, TTL 64");
    }

    #[test]
    fn a_reply_fails_reach_false_whenever_it_came() {
        let mut seen = Observed::default();
        seen.echo.insert(1, (probe(2), reply(Duration::from_secs(4), 64)));
        let o = outcome(1, &seen);
        assert!(!o.passed && o.decided, "{o:?}");
        assert_eq!(o.expected, "no reply");
        assert!(o.observed.starts_with("reply in 4000.0 ms"), "{}", o.observed);
    }

    #[test]
    fn silence_passes_reach_false_with_where_the_request_stopped() {
        let lab = lab();
        let mut seen = Observed::default();
        seen.echo.insert(1, (probe(3), Seen { sent: 1, ..Seen::default() }));
        seen.watched.insert(1);
        let a_eth0 = crate::model::IfaceId { node: crate::model::NodeId(1), index: 0 };
        assert_eq!(lab.iface_label(a_eth0), "a:eth0");
        seen.trails.echoes.insert(
            3,
            vec![Sighting { frame: Frame::Request, at: a_eth0, leaving: true, stamp: Duration::ZERO }],
        );
        let o = outcome(1, &seen);
        assert!(o.passed && o.decided, "{o:?}");
        assert_eq!(
            o.observed,
            "no reply, the network quiet: the request never reached b, last seen leaving a:eth0"
        );
    }

    #[test]
    fn a_network_that_never_went_quiet_decides_nothing() {
        let mut seen = Observed::default();
        seen.echo.insert(1, (probe(4), Seen { sent: 1, ..Seen::default() }));
        seen.unsettled.insert(1, vec!["frames were dropped by the machine".into()]);
        let o = outcome(1, &seen);
        assert!(!o.passed && !o.decided, "{o:?}");
        assert!(
            o.observed.starts_with("could not decide: frames were dropped by the machine"),
            "{}",
            o.observed
        );
    }

    #[test]
    fn a_probe_that_could_not_be_sent_fails_either_way() {
        let mut seen = Observed::default();
        seen.echo.insert(0, (probe(5), Seen { failed: Some("no route to it".into()), ..Seen::default() }));
        seen.echo.insert(1, (probe(6), Seen { failed: Some("no route to it".into()), ..Seen::default() }));
        for index in [0, 1] {
            let o = outcome(index, &seen);
            assert!(!o.passed, "{o:?}");
            assert_eq!(o.observed, "could not probe: no route to it");
        }
    }

    #[test]
    fn a_reply_with_another_ttl_fails_the_ttl_expectation() {
        let mut seen = Observed::default();
        seen.echo.insert(2, (probe(7), reply(Duration::from_millis(1), 63)));
        let o = outcome(2, &seen);
        assert!(!o.passed, "{o:?}");
        assert_eq!(o.expected, "reply, TTL 64");
        seen.echo.insert(2, (probe(7), reply(Duration::from_millis(1), 64)));
        assert!(outcome(2, &seen).passed);
    }

    #[test]
    fn resolves_to_passes_only_when_every_answer_is_the_wanted_mac() {
        let wanted: Mac = "02:00:00:00:00:0b".parse().unwrap();
        let other: Mac = "02:00:00:00:00:0c".parse().unwrap();
        let mut seen = Observed::default();
        let answers = |macs: Vec<Mac>| super::super::arp::Answers { macs, ..Default::default() };
        seen.answers.insert(3, answers(vec![wanted]));
        assert!(outcome(3, &seen).passed);
        seen.answers.insert(3, answers(vec![wanted, other]));
        assert!(!outcome(3, &seen).passed, "a second MAC answering is a failure");
        seen.answers.insert(3, answers(Vec::new()));
        let o = outcome(3, &seen);
        assert!(!o.passed, "{o:?}");
        assert_eq!(o.expected, "02:00:00:00:00:0b (b:eth0)");
    }
}
