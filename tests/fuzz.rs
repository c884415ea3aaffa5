//! Parsing and validation never panic, whatever the input: arbitrary text, and the real
//! topologies mutated (lines dropped, duplicated, swapped; tokens replaced; bytes spliced).
//! Every problem found comes with a fix; every valid result can be drawn and planned.
//! Bounded here; `PROPTEST_CASES=100000 cargo test --release --test fuzz` runs longer.

mod common;
use lab::graph::{Format, LabGraph, render};
use proptest::prelude::*;

/// Everything a checked topology feeds into must hold up too.
fn check_everything(text: &str) {
    let checked = common::check(text);
    for d in &checked.diagnostics {
        assert!(d.span.end <= text.len() && d.span.start <= d.span.end, "span out of the text: {d:?}");
        let _ = checked.source.line_col(d.span.start);
        assert!(d.help.as_ref().is_some_and(|h| !h.is_empty()), "every problem says how to fix it: {d:?}");
    }
    let _ = lab::topology::diagnostic::render(&checked.source, &checked.diagnostics, false);
    if let Some(lab) = &checked.lab {
        let graph = LabGraph::new(lab);
        let _ = graph.creation_stages();
        for format in [Format::Dot, Format::Mermaid, Format::Json] {
            let _ = render(&graph, format);
        }
        let _ = lab::plan::Plan::new(&graph).to_string();
    }
}

fn corpus() -> Vec<String> {
    common::topology_files().iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
}

/// Words that make mutations meaningful: keys, kinds, modes and odd values.
const TOKENS: &[&str] = &[
    "name",
    "kind",
    "link",
    "parent",
    "mode",
    "flag",
    "id",
    "access",
    "trunk",
    "hairpin",
    "addresses",
    "gateway",
    "default_dev",
    "mac",
    "mtu",
    "up",
    "routes",
    "sysctl",
    "expect",
    "from",
    "to",
    "reach",
    "tagged",
    "resolves_to",
    "iface",
    "promiscuous",
    "route",
    "ttl",
    "redirect",
    "proto",
    "\"veth\"",
    "\"vlan\"",
    "\"macvlan\"",
    "\"ipvlan\"",
    "\"dummy\"",
    "\"passthru\"",
    "\"source\"",
    "\"l3s\"",
    "\"private\"",
    "\"vepa\"",
    "\"lo\"",
    "\"sw1\"",
    "\"net1:eth0\"",
    "\"eth0\"",
    "0",
    "4095",
    "-1",
    "99999999999999999999",
    "[]",
    "{}",
    "\"\"",
    "\"::1/128\"",
    "\"10.0.0.1/33\"",
    "\"ff:ff:ff:ff:ff:ff\"",
    "true",
    "[[host]]",
    "[[switch]]",
    "[[router]]",
    "[[host.iface]]",
    "[[expect]]",
    "\"a:b:c\"",
    "é",
    "\u{0}",
];

#[derive(Debug, Clone)]
enum Mutation {
    DropLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    ReplaceToken(usize, usize),
    Splice(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DropLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::ReplaceToken(a, b)),
        (any::<usize>(), ".{0,12}").prop_map(|(a, s)| Mutation::Splice(a, s)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        return text.to_owned();
    }
    let n = lines.len();
    match m {
        Mutation::DropLine(i) => {
            lines.remove(i % n);
        }
        Mutation::DuplicateLine(i) => {
            let line = lines[i % n].clone();
            lines.insert(i % n, line);
        }
        Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
        Mutation::ReplaceToken(line, token) => {
            let l = &mut lines[line % n];
            let words: Vec<&str> = l.split(' ').collect();
            let pick = line % words.len().max(1);
            let mut words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
            if let Some(w) = words.get_mut(pick) {
                *w = TOKENS[token % TOKENS.len()].to_owned();
            }
            *l = words.join(" ");
        }
        Mutation::Splice(at, insert) => {
            let joined = lines.join("\n");
            let mut at = at % (joined.len() + 1);
            while !joined.is_char_boundary(at) {
                at -= 1;
            }
            return format!("{}{insert}{}", &joined[..at], &joined[at..]);
        }
    }
    lines.join("\n")
}

/// 256 cases in the test suite; `PROPTEST_CASES=N` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        check_everything(&text);
    }

    #[test]
    fn mutated_topologies_never_panic(file in any::<usize>(), mutations in prop::collection::vec(mutation(), 1..6)) {
        let corpus = corpus();
        let mut text = corpus[file % corpus.len()].clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        check_everything(&text);
    }
}
