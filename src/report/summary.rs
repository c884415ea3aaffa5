//! The one-screen summary of a valid lab that `lab validate` prints.

use crate::model::{Check, IfaceKind, Lab};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Serialize, Default)]
pub struct Summary {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub nodes: BTreeMap<&'static str, usize>,
    pub cables: usize,
    pub trunks: usize,
    pub hairpins: usize,
    pub vlans: Vec<u16>,
    /// "macvlan bridge", "ipvlan l2 bridge", "vlan 802.1Q", "dummy": how many of each.
    pub children: BTreeMap<String, usize>,
    pub expectations: BTreeMap<&'static str, usize>,
    /// The scenario's steps, by name, with how many actions and expectations each has.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepSummary>,
}

#[derive(Serialize)]
pub struct StepSummary {
    pub name: String,
    pub actions: usize,
    pub expectations: usize,
}

impl Summary {
    pub fn of(lab: &Lab) -> Self {
        let mut s = Summary {
            name: lab.name.clone(),
            description: lab.description.clone(),
            cables: lab.cables.len(),
            ..Default::default()
        };
        for node in &lab.nodes {
            let role = node.role.as_str();
            *s.nodes.entry(role).or_default() += 1;
        }
        for id in lab.iface_ids() {
            let kind = &lab.iface(id).kind;
            if let Some(port) = kind.port() {
                s.trunks += usize::from(!port.trunk.is_empty());
                s.hairpins += usize::from(port.hairpin);
                s.vlans.extend(port.access.iter().chain(&port.trunk));
            }
            if let IfaceKind::Vlan { id, .. } = kind {
                s.vlans.push(*id);
            }
            let child = kind.summary_label();
            if let Some(child) = child {
                *s.children.entry(child).or_default() += 1;
            }
        }
        s.steps = lab
            .steps
            .iter()
            .map(|step| StepSummary {
                name: crate::report::printable(&step.name).into_owned(),
                actions: step.actions.len(),
                expectations: step.lab.expectations.len(),
            })
            .collect();
        s.vlans.sort_unstable();
        s.vlans.dedup();
        for e in &lab.expectations {
            let kind = match e.check {
                Check::Reach { tagged: Some(_), .. } => "reach + tags",
                Check::Reach { encap: Some(_), .. } => "reach + VXLAN",
                Check::Reach { redirect: Some(_), .. } => "reach + redirect",
                Check::Reach { proto: crate::model::Proto::Arp, .. } => "reach (ARP)",
                Check::Reach { .. } => "reach",
                Check::Resolves { .. } => "resolves_to",
                Check::State { .. } => "interface state",
                Check::Route { .. } => "route",
                Check::Connect { proto: crate::model::L4::Tcp, .. } => "connect (TCP)",
                Check::Connect { proto: crate::model::L4::Udp, .. } => "connect (UDP)",
                Check::Listening { .. } => "service",
                Check::Quality { .. } => "quality (RTT, loss)",
                Check::Throughput { .. } => "throughput",
            };
            *s.expectations.entry(kind).or_default() += 1;
        }
        s
    }

    /// Indented lines under the file's heading.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let Some(description) = &self.description {
            let _ = writeln!(out, "  about         {description}");
        }
        let total: usize = self.nodes.values().sum();
        let by_role = if total == 0 { String::new() } else { format!(": {}", counts(&self.nodes)) };
        let _ = writeln!(out, "  nodes         {total}{by_role}");
        let mut cables = format!("{}", self.cables);
        let ports: Vec<String> = [(self.trunks, "trunk port"), (self.hairpins, "hairpin port")]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| plural(*n, what))
            .collect();
        if !ports.is_empty() {
            let _ = write!(cables, " ({})", ports.join(", "));
        }
        let _ = writeln!(out, "  cables        {cables}");
        let vlans: Vec<String> = self.vlans.iter().map(u16::to_string).collect();
        let _ = writeln!(
            out,
            "  VLANs         {}",
            if vlans.is_empty() { "none".into() } else { vlans.join(", ") }
        );
        let children: usize = self.children.values().sum();
        let _ = writeln!(out, "  sub-ifaces    {children}{}", parenthesized(tally(&self.children)));
        let expectations: usize = self.expectations.values().sum();
        let _ = writeln!(out, "  expectations  {expectations}{}", parenthesized(tally(&self.expectations)));
        if !self.steps.is_empty() {
            let steps: Vec<String> = self
                .steps
                .iter()
                .map(|s| {
                    format!(
                        "`{}` ({}, {})",
                        s.name,
                        plural(s.actions, "action"),
                        plural(s.expectations, "expectation")
                    )
                })
                .collect();
            let _ = writeln!(out, "  steps         {}: {}", self.steps.len(), steps.join(", "));
        }
        out
    }
}

fn counts<K: AsRef<str>>(map: &BTreeMap<K, usize>) -> String {
    map.iter().map(|(k, n)| plural(*n, k.as_ref())).collect::<Vec<_>>().join(", ")
}

/// "2 × macvlan vepa, 1 × dummy".
fn tally<K: AsRef<str>>(map: &BTreeMap<K, usize>) -> String {
    map.iter().map(|(k, n)| format!("{n} × {}", k.as_ref())).collect::<Vec<_>>().join(", ")
}

/// "1 host", "2 hosts", "2 switches", "2 hairpin ports".
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        return format!("1 {what}");
    }
    let suffix = if what.ends_with("ch") || what.ends_with('s') { "es" } else { "s" };
    format!("{n} {what}{suffix}")
}

fn parenthesized(text: String) -> String {
    if text.is_empty() { text } else { format!(": {text}") }
}
