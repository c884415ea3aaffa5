//! Judging: an expectation and what was observed become an outcome — pass or fail, with
//! the expected and observed facts in words ("reply came from 02:..:79, which is net1:eth0").

use super::Observed;
use crate::model::{Check, Expectation, IfaceId, Lab, Mac, MacOf, Proto, TaggedOn, Target};
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
pub(super) fn rests_on_silence(expectation: &Expectation, outcome: &Outcome) -> bool {
    match &expectation.check {
        Check::Reach { reach, .. } => *reach != outcome.passed,
        Check::Resolves { .. } => true,
        Check::State { .. } | Check::Route { .. } => false,
    }
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
    let (check, expected, observed, passed) = match &e.check {
        Check::Reach { from, to, reach, proto: Proto::Icmp, ttl, tagged, redirect } => {
            let echo = Echo {
                lab,
                seen,
                index,
                from: *from,
                to,
                reach: *reach,
                ttl: *ttl,
                tagged: *tagged,
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
        decided: true,
        why: e.why.clone(),
    }
}

/// "172.16.10.5", or "namespace1 (172.16.10.5)" when written by name.
fn target(to: &Target) -> String {
    if to.written == to.addr.to_string() {
        to.written.clone()
    } else {
        format!("{} ({})", to.written, to.addr)
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
    tagged: Option<TaggedOn>,
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
                if let Some(error) = seen.error.as_ref().or(self.seen.notes.get(&self.index)) {
                    text += &format!(" ({error})");
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
            expected.push(format!("tag {} on {on}", tagged.vlan));
            let frames = self.seen.tags.get(&tagged.on).map(|t| t.of(echo.id).to_vec()).unwrap_or_default();
            observed.push(format!("tags seen on {on}: {}", describe_tags(&frames)));
            passed &= !frames.is_empty() && frames.iter().all(|tags| tags.contains(&tagged.vlan));
        }
        (expected.join(", "), observed.join("; "), passed)
    }
}

impl Echo<'_> {
    /// Why no reply came to a `reach = false` probe, as the evidence shows it: the network's
    /// answer (an unreachable), or what the path watcher saw of the request and the reply.
    fn silence(&self, echo: &super::icmp::Echo, seen: &super::icmp::Seen) -> String {
        let mut text = "no reply, the network quiet".to_string();
        if let Some(error) = &seen.error {
            return format!("{text}: {error}");
        }
        if self.seen.watched.contains(&self.index) {
            let sightings = self.seen.trails.echoes.get(&echo.id).map_or(&[][..], Vec::as_slice);
            let resolutions = &self.seen.trails.resolutions;
            text +=
                &format!(": {}", super::trail::explain(self.lab, sightings, resolutions, self.from, self.to));
        }
        text
    }
}

fn describe_tags(frames: &[Vec<u16>]) -> String {
    if frames.is_empty() {
        return "none of the probe's frames passed there".into();
    }
    let mut tags: Vec<String> = Vec::new();
    for frame in frames {
        let text = if frame.is_empty() {
            "untagged".to_string()
        } else {
            frame.iter().map(u16::to_string).collect::<Vec<_>>().join("+")
        };
        if !tags.contains(&text) {
            tags.push(text);
        }
    }
    format!("{} ({} frames)", tags.join(", "), frames.len())
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
