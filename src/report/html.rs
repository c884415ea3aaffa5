//! The results drawn on the topology: one self-contained HTML page (no network access needed
//! to open it) with the lab drawn, every expectation listed, and the path of the one selected
//! highlighted in its verdict's colour, with its explanation and what was observed.
//! `#select=N` (or `#select=STEP/N`) in the page's address selects expectation N on load.

use crate::explain::{Hop, Walk, Way};
use crate::graph::{LabGraph, PathNames, Verdict, Wiring, svg, xml_escape};
use crate::model::Lab;
use crate::probe::{Outcome, Verification};
use std::fmt::Write;

/// One checked state of a lab: its step (for a scenario), the lab as it stood, the results.
pub struct State<'a> {
    pub step: Option<&'a str>,
    pub lab: &'a Lab,
    pub verification: &'a Verification,
}

const STYLE: &str = "
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #222; background: #fafafa; }
header { padding: 10px 20px; background: #fff; border-bottom: 1px solid #ddd; }
header h1 { margin: 0; font-size: 20px; }
header .summary { margin: 2px 0 0; color: #555; }
#steps button { margin: 6px 6px 0 0; padding: 3px 10px; border: 1px solid #aaa; border-radius: 4px; background: #fff; cursor: pointer; }
#steps button.current { background: #222; color: #fff; }
.page { display: grid; grid-template-columns: minmax(0, 1fr) 400px; gap: 16px; padding: 16px 20px; }
.state[hidden] { display: none; }
.state h2 { margin: 0 0 8px; font-size: 16px; }
.drawing { overflow: auto; max-height: 70vh; background: #fff; border: 1px solid #ddd; }
ol.expectations { list-style: none; margin: 12px 0; padding: 0; }
li.expectation { margin: 0 0 6px; padding: 6px 10px; background: #fff; border: 1px solid #ddd; border-left: 6px solid #999; border-radius: 4px; cursor: pointer; }
li.expectation:hover { background: #f3f6fa; }
li.expectation.selected { outline: 2px solid #222; }
li.expectation[data-verdict=pass] { border-left-color: #1a7f37; }
li.expectation[data-verdict=fail] { border-left-color: #cf222e; }
li.expectation[data-verdict=undecided] { border-left-color: #bf8700; }
.verdict { display: inline-block; min-width: 72px; font-weight: bold; text-transform: uppercase; font-size: 12px; }
[data-verdict=pass] .verdict { color: #1a7f37; }
[data-verdict=fail] .verdict { color: #cf222e; }
[data-verdict=undecided] .verdict { color: #bf8700; }
.number { color: #666; margin-right: 6px; }
.check { font-family: monospace; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 4px 0 0; font-size: 13px; }
dl.facts dt { color: #666; }
dl.facts dd { margin: 0; font-family: monospace; white-space: pre-wrap; }
.explanation { display: none; }
li.expectation.selected .explanation { display: block; }
.explanation .why { margin: 6px 0; }
.explanation .stop { margin: 6px 0; font-weight: bold; }
ol.hops { margin: 4px 0; padding-left: 22px; font-size: 13px; font-family: monospace; }
aside { position: sticky; top: 16px; align-self: start; }
#details { padding: 10px 14px; background: #fff; border: 1px solid #ddd; border-radius: 4px; }
#details .explanation { display: block; }
#details h3 { margin: 0 0 6px; font-size: 15px; }
.hint { color: #666; }
";

/// Selects an expectation on a click (or Enter): marks it and every drawn element of its
/// path, shows its explanation; then honours `#select=[STEP/]N`.
const SCRIPT: &str = r##"
(function () {
  "use strict";
  var VERDICTS = ["verdict-pass", "verdict-fail", "verdict-undecided"];
  var details = document.getElementById("details");
  function each(root, selector, f) { Array.prototype.forEach.call(root.querySelectorAll(selector), f); }
  function clear() {
    each(document, ".expectation.selected", function (e) { e.classList.remove("selected"); });
    each(document, ".on-path", function (e) {
      e.classList.remove("on-path");
      VERDICTS.forEach(function (v) { e.classList.remove(v); });
    });
  }
  function show(section) {
    each(document, "section.state", function (s) { s.hidden = s !== section; });
    each(document, "#steps button", function (b) {
      b.classList.toggle("current", b.getAttribute("data-state") === section.getAttribute("data-state"));
    });
  }
  function select(item) {
    clear();
    var section = item.closest("section.state");
    show(section);
    var path = JSON.parse(item.getAttribute("data-path") || '{"nodes": [], "ifaces": [], "edges": []}');
    var nodes = new Set(path.nodes), ifaces = new Set(path.ifaces);
    var edges = new Set(path.edges.map(function (e) { return e[0] + "\n" + e[1]; }));
    var verdict = "verdict-" + item.getAttribute("data-verdict");
    function mark(e) { e.classList.add("on-path", verdict); }
    each(section, "svg .node", function (e) { if (nodes.has(e.getAttribute("data-node"))) mark(e); });
    each(section, "svg .iface", function (e) { if (ifaces.has(e.getAttribute("data-iface"))) mark(e); });
    each(section, "svg .edge", function (e) {
      if (edges.has(e.getAttribute("data-from") + "\n" + e.getAttribute("data-to"))) mark(e);
    });
    item.classList.add("selected");
    details.setAttribute("data-number", item.getAttribute("data-number"));
    details.setAttribute("data-verdict", item.getAttribute("data-verdict"));
    details.innerHTML = "";
    var heading = document.createElement("h3");
    heading.textContent = item.querySelector(".summary").textContent;
    details.appendChild(heading);
    each(item, ".facts, .explanation", function (e) { details.appendChild(e.cloneNode(true)); });
  }
  each(document, "li.expectation", function (item) {
    item.addEventListener("click", function () { select(item); });
    item.addEventListener("keydown", function (event) { if (event.key === "Enter") select(item); });
  });
  each(document, "#steps button", function (button) {
    button.addEventListener("click", function () {
      clear();
      show(document.querySelector("section.state[data-state='" + button.getAttribute("data-state") + "']"));
    });
  });
  var wanted = /^#select=(?:(.*)\/)?(\d+)$/.exec(decodeURIComponent(location.hash));
  if (wanted) {
    var sections = Array.prototype.filter.call(document.querySelectorAll("section.state"), function (s) {
      return wanted[1] === undefined ? !s.hidden : s.getAttribute("data-step") === wanted[1];
    });
    var item = sections.length ? sections[0].querySelector("li.expectation[data-number='" + wanted[2] + "']") : null;
    if (item) item.click();
  }
})();
"##;

/// The page.
pub fn page(states: &[State]) -> String {
    let title = xml_escape(states.first().map_or("lab", |s| s.lab.name.as_str()));
    let mut out = String::new();
    let _ = writeln!(out, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">");
    let _ = writeln!(out, "<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(out, "<header>\n<h1>{title}</h1>\n<p class=\"summary\">{}</p>", summary(states));
    step_buttons(&mut out, states);
    out.push_str("</header>\n<div class=\"page\">\n<main>\n");
    for (n, state) in states.iter().enumerate() {
        state_section(&mut out, n, state);
    }
    out.push_str(
        "</main>\n<aside>\n<div id=\"details\"><p class=\"hint\">Select an expectation to see its path ",
    );
    out.push_str("on the drawing, what was observed and why.</p></div>\n</aside>\n</div>\n");
    let _ = writeln!(out, "<script>{SCRIPT}</script>\n</body>\n</html>");
    out
}

/// "3 of 4 expectations passed", over every state.
fn summary(states: &[State]) -> String {
    let outcomes = || states.iter().flat_map(|s| &s.verification.outcomes);
    let total = outcomes().count();
    let passed = outcomes().filter(|o| o.passed).count();
    let steps = if states.len() > 1 { format!(", in {} states", states.len()) } else { String::new() };
    format!("{passed} of {total} expectations passed{steps}")
}

/// A button per state, when there is more than one.
fn step_buttons(out: &mut String, states: &[State]) {
    if states.len() < 2 {
        return;
    }
    out.push_str("<nav id=\"steps\">");
    for (n, state) in states.iter().enumerate() {
        let current = if n == 0 { " class=\"current\"" } else { "" };
        let failed = state.verification.failed();
        let mark = if failed == 0 { String::new() } else { format!(" ({failed} failed)") };
        let _ = write!(
            out,
            "<button type=\"button\" data-state=\"{n}\"{current}>{}{mark}</button>",
            xml_escape(state.step.unwrap_or("initial"))
        );
    }
    out.push_str("</nav>\n");
}

fn state_section(out: &mut String, n: usize, state: &State) {
    let hidden = if n == 0 { "" } else { " hidden" };
    let step = state.step.unwrap_or("");
    let _ = writeln!(
        out,
        "<section class=\"state\" data-state=\"{n}\" data-step=\"{}\"{hidden}>",
        xml_escape(step)
    );
    if let Some(step) = state.step {
        let _ = writeln!(out, "<h2>step {}</h2>", xml_escape(step));
    }
    let graph = LabGraph::new(state.lab);
    let _ = writeln!(out, "<div class=\"drawing\">\n{}</div>", svg(&graph, None));
    let wiring = Wiring::new(&graph);
    out.push_str("<ol class=\"expectations\">\n");
    for outcome in &state.verification.outcomes {
        let path = outcome.walk.as_ref().map_or_else(crate::graph::Path::default, |w| wiring.path(w));
        expectation_item(out, outcome, &path.names(state.lab));
    }
    out.push_str("</ol>\n</section>\n");
}

fn expectation_item(out: &mut String, outcome: &Outcome, path: &PathNames) {
    let verdict = Verdict::of(outcome).as_str();
    let path = serde_json::to_string(path).unwrap_or_default();
    let _ = writeln!(
        out,
        "<li class=\"expectation\" data-number=\"{}\" data-verdict=\"{verdict}\" data-path=\"{}\" \
         tabindex=\"0\">",
        outcome.number,
        xml_escape(&path)
    );
    let _ = writeln!(
        out,
        "<div class=\"summary\"><span class=\"verdict\">{verdict}</span> <span class=\"number\">#{}</span> \
         <span class=\"check\">{}</span></div>",
        outcome.number,
        xml_escape(&outcome.check)
    );
    let _ = writeln!(
        out,
        "<dl class=\"facts\"><dt>line</dt><dd>{}</dd><dt>expected</dt><dd>{}</dd>\
         <dt>observed</dt><dd>{}</dd></dl>",
        outcome.line,
        xml_escape(&outcome.expected),
        xml_escape(&outcome.observed)
    );
    out.push_str("<div class=\"explanation\">\n");
    if let Some(why) = &outcome.why {
        let _ = writeln!(out, "<p class=\"why\">{}</p>", xml_escape(why));
    }
    match &outcome.walk {
        Some(walk) => walk_text(out, walk),
        None => out.push_str("<p class=\"hint\">No path was walked for this expectation.</p>\n"),
    }
    out.push_str("</div>\n</li>\n");
}

/// Where the walk stopped, and its hops.
fn walk_text(out: &mut String, walk: &Walk) {
    let _ = writeln!(out, "<p class=\"stop\">{}</p>", xml_escape(&walk.summary()));
    if let Some(seen) = walk.sightings() {
        let _ = writeln!(out, "<p class=\"seen\">{}</p>", xml_escape(&seen));
    }
    if walk.hops.is_empty() {
        return;
    }
    out.push_str("<ol class=\"hops\">\n");
    for hop in &walk.hops {
        let _ = writeln!(out, "<li class=\"hop\">{}</li>", hop_text(hop));
    }
    out.push_str("</ol>\n");
}

/// "there: arrives at sw1:h1-eth0", escaped.
fn hop_text(hop: &Hop) -> String {
    let way = match hop.way {
        Way::There => "there",
        Way::Back => "back",
    };
    let moving = if hop.arriving { "arrives at" } else { "leaves by" };
    let seen = match hop.seen {
        Some(true) => " (seen)",
        Some(false) => " (not seen)",
        None => "",
    };
    format!("{way}: {moving} {}{seen}", xml_escape(&hop.label()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(number: usize, passed: bool, why: &str) -> Outcome {
        Outcome {
            number,
            line: 10 + number,
            check: format!("h1 → h{number}"),
            expected: "a reply".into(),
            observed: if passed { "reply".into() } else { "<nothing>".into() },
            passed,
            decided: true,
            why: Some(why.into()),
            walk: None,
            sighted: None,
        }
    }

    #[test]
    fn a_page_lists_every_expectation_escaped_with_its_verdict() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/e9-vlan-tagging.toml");
        let lab = crate::topology::load(&path).unwrap().lab.unwrap();
        let verification = Verification {
            lab: lab.name.clone(),
            outcomes: vec![outcome(1, true, "plain"), outcome(2, false, "a <b> & 'c'")],
            elapsed: std::time::Duration::ZERO,
            waves: 1,
        };
        let html = page(&[State { step: None, lab: &lab, verification: &verification }]);
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<title>e9-vlan-tagging</title>"));
        assert!(html.contains("<li class=\"expectation\" data-number=\"1\" data-verdict=\"pass\""));
        assert!(html.contains("<li class=\"expectation\" data-number=\"2\" data-verdict=\"fail\""));
        assert!(html.contains("a &lt;b&gt; &amp; &#39;c&#39;") && html.contains("&lt;nothing&gt;"));
        assert!(!html.contains("<b>") && !html.contains("<nothing>"));
        assert_eq!(html.matches("http").count(), 1, "no address but the SVG namespace's");
        assert_eq!(html.matches("<g class=\"node ").count(), lab.nodes.len());
    }
}
