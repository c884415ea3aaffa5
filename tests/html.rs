//! The results drawn on the topology, checked in a real browser: headless Chromium (Debian
//! package `chromium`) loads the page `lab verify --html` wrote, selects an expectation
//! through `#select=N` (which clicks its list item, as a reader would), and the DOM it leaves
//! is read back: every node and line drawn with its data attributes, each expectation's
//! verdict, the selected one's path highlighted in its verdict's colour and nothing else.
//! `lab graph --results` colours the same paths, a failure's winning. Without a kernel: the
//! SVG of `lab graph --format svg` is well-formed XML, and the DOT legend passes Graphviz.

mod common;
use common::kernel::{UpLab, lab, write_topology};
use lab::model::KernelFeature::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// h1 reaches h2 and c1 (a macvlan child of h2's eth0) across sw1; h3 is in another subnet,
/// so h1 has no route to it.
const TOPOLOGY: &str = r#"name = "html-report"
description = "two hosts and a container on one switch, and a host in the wrong subnet"

[verify]
timeout = "300ms"
deadline = "1s"

[[switch]]
name = "sw1"

[[host]]
name = "h1"
  [[host.iface]]
  name = "eth0"
  link = "sw1"
  addresses = ["10.0.0.1/24"]

[[host]]
name = "h2"
  [[host.iface]]
  name = "eth0"
  link = "sw1"
  addresses = ["10.0.0.2/24"]

[[host]]
name = "c1"
  [[host.iface]]
  name = "eth0"
  kind = "macvlan"
  mode = "bridge"
  parent = "h2:eth0"
  addresses = ["10.0.0.5/24"]

[[host]]
name = "h3"
  [[host.iface]]
  name = "eth0"
  link = "sw1"
  addresses = ["10.0.1.3/24"]

[[expect]]
from = "h1"
to = "10.0.0.2"
reach = true
why = "h1 and h2 are ports of one switch, in one subnet"

[[expect]]
from = "h1"
to = "10.0.0.5"
reach = true
why = "c1 is a macvlan child of h2:eth0 in bridge mode, on the same segment"

[[expect]]
from = "h1"
to = "10.0.1.3"
reach = true
why = "h3 is on 10.0.1.0/24 <not h1's subnet>, so h1 has no route to it"
"#;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Headless Chromium with `args`, its stdout; fails (never skips) when it is missing.
fn chromium(args: &[String]) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the HTML report is checked in headless Chromium; \
         install the Debian package `chromium` (apt-get install chromium)"
    );
    let profile =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chromium-profile-{}", std::process::id()));
    let out = Command::new(CHROMIUM)
        .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into()
}

/// The DOM after the page's script ran, with `fragment` (`#select=N`) in its address.
fn dom_after(page: &Path, fragment: &str) -> Vec<Tag> {
    let dom = chromium(&["--dump-dom".into(), format!("file://{}{fragment}", page.display())]);
    assert!(dom.contains("</html>"), "a whole document: {dom}");
    start_tags(&dom)
}

/// A start tag: its name and attributes, values unescaped.
#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn has_class(&self, class: &str) -> bool {
        self.attr("class").is_some_and(|c| c.split_whitespace().any(|w| w == class))
    }

    /// What a drawn element draws: `node h1`, `iface h1:eth0`, `edge sw1:h1-eth0 h1:eth0`.
    fn drawn(&self) -> Option<String> {
        if self.name != "g" {
            return None;
        }
        if self.has_class("node") {
            Some(format!("node {}", self.attr("data-node")?))
        } else if self.has_class("iface") {
            Some(format!("iface {}", self.attr("data-iface")?))
        } else if self.has_class("edge") {
            Some(format!("edge {} {}", self.attr("data-from")?, self.attr("data-to")?))
        } else {
            None
        }
    }
}

/// Every start tag of an HTML or SVG text, but those inside `<script>` and `<style>`.
fn start_tags(text: &str) -> Vec<Tag> {
    let mut tags = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let (tag, after) = start_tag(rest);
        rest = after;
        if matches!(tag.name.as_str(), "script" | "style") {
            let end = format!("</{}", tag.name);
            rest = rest.find(&end).map_or("", |e| &rest[e..]);
        }
        tags.push(tag);
    }
    tags
}

/// The tag at the start of `text` (just after its `<`), and the text after it.
fn start_tag(text: &str) -> (Tag, &str) {
    let name_end = text.find(|c: char| c.is_whitespace() || c == '>' || c == '/').unwrap_or(text.len());
    let mut tag = Tag { name: text[..name_end].to_ascii_lowercase(), attrs: Vec::new() };
    let mut rest = &text[name_end..];
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if rest.is_empty() || rest.starts_with('>') {
            return (tag, rest.get(1..).unwrap_or(""));
        }
        let end = rest.find(|c: char| c.is_whitespace() || c == '=' || c == '>').unwrap_or(rest.len());
        let name = rest[..end].to_string();
        rest = &rest[end..];
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let quote = after.chars().next().unwrap_or('"');
            let body = &after[1..];
            let close = body.find(quote).unwrap_or(body.len());
            value = unescape(&body[..close]);
            rest = body.get(close + 1..).unwrap_or("");
        }
        tag.attrs.push((name, value));
    }
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// What is drawn, from the drawing's elements.
fn drawn(tags: &[Tag]) -> BTreeSet<String> {
    tags.iter().filter_map(Tag::drawn).collect()
}

/// The drawn elements that carry `on-path`, each with its verdict class.
fn on_path(tags: &[Tag]) -> Vec<(String, Vec<String>)> {
    tags.iter()
        .filter(|t| t.has_class("on-path"))
        .filter_map(|t| {
            let verdicts = ["verdict-pass", "verdict-fail", "verdict-undecided"]
                .iter()
                .filter(|v| t.has_class(v))
                .map(|v| v.to_string())
                .collect();
            Some((t.drawn()?, verdicts))
        })
        .collect()
}

/// Asserts that the path of the expectation selected is highlighted, each element in
/// `verdict` only, with every one of `on` and none of `off`.
#[track_caller]
fn assert_path(tags: &[Tag], verdict: &str, on: &[&str], off: &[&str]) {
    let marked = on_path(tags);
    let names: BTreeSet<&str> = marked.iter().map(|(d, _)| d.as_str()).collect();
    for (element, verdicts) in &marked {
        assert_eq!(verdicts, &[verdict.to_string()], "{element} on the path in its verdict's colour only");
    }
    for element in on {
        assert!(
            names.contains(element),
            "{element} is on the path, so highlighted (marked: {names:?}); if nothing is marked, \
             the outcomes carry no walk yet (`lab verify --json` shows none)"
        );
    }
    for element in off {
        assert!(!names.contains(element), "{element} is off the path, yet highlighted: {names:?}");
    }
}

fn selected(tags: &[Tag]) -> Vec<&str> {
    tags.iter()
        .filter(|t| t.name == "li" && t.has_class("expectation") && t.has_class("selected"))
        .filter_map(|t| t.attr("data-number"))
        .collect()
}

kernel_test!(the_report_highlights_the_path_of_the_expectation_selected, [Veth, Bridge, Macvlan], {
    let up = UpLab::up(TOPOLOGY);
    let file = write_topology(&up.name, TOPOLOGY);
    let page =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("html-report-{}.html", std::process::id()));
    let (code, out, err) = lab(&["verify", "--html", page.to_str().unwrap(), &up.name]);
    assert_eq!(code, 1, "expectation 3 fails, so verify exits 1:\n{out}{err}");
    let html = std::fs::read_to_string(&page).expect("verify --html wrote the page");
    for outside in [" src=", " href=", "url(", "@import"] {
        assert!(!html.contains(outside), "self-contained, yet it has `{outside}`");
    }
    assert!(html.contains("&lt;not h1&#39;s subnet&gt;") && !html.contains("<not h1"), "the why is escaped");
    assert!(
        html.contains("stopped at h1: no route to 10.0.1.3 (network unreachable)"),
        "the failure's explanation is on the page"
    );

    let tags = dom_after(&page, "#select=1");
    let nodes: BTreeSet<&str> =
        tags.iter().filter(|t| t.has_class("node")).filter_map(|t| t.attr("data-node")).collect();
    assert_eq!(nodes, BTreeSet::from(["c1", "h1", "h2", "h3", "sw1"]));
    let all = drawn(&tags);
    for element in [
        "iface h1:eth0",
        "iface sw1:br0",
        "iface sw1:h3-eth0",
        "edge sw1:h1-eth0 h1:eth0",
        "edge sw1:br0 sw1:h2-eth0",
        "edge h2:eth0 c1:eth0",
    ] {
        assert!(all.contains(element), "{element} is drawn: {all:?}");
    }
    let kind_of = |from: &str, to: &str| {
        tags.iter()
            .find(|t| {
                t.has_class("edge") && t.attr("data-from") == Some(from) && t.attr("data-to") == Some(to)
            })
            .and_then(|t| t.attr("data-kind"))
    };
    assert_eq!(kind_of("sw1:h3-eth0", "h3:eth0"), Some("cable"));
    assert_eq!(kind_of("h2:eth0", "c1:eth0"), Some("child"));
    assert_eq!(kind_of("sw1:br0", "sw1:h1-eth0"), Some("port"));
    let verdicts: Vec<(&str, &str)> = tags
        .iter()
        .filter(|t| t.name == "li" && t.has_class("expectation"))
        .map(|t| (t.attr("data-number").unwrap(), t.attr("data-verdict").unwrap()))
        .collect();
    assert_eq!(verdicts, [("1", "pass"), ("2", "pass"), ("3", "fail")]);
    assert_eq!(selected(&tags), ["1"], "#select=1 clicked expectation 1");
    let details = tags.iter().find(|t| t.attr("id") == Some("details")).expect("a details panel");
    assert_eq!(details.attr("data-number"), Some("1"));
    assert_path(
        &tags,
        "verdict-pass",
        &[
            "node h1",
            "node sw1",
            "node h2",
            "iface h1:eth0",
            "iface sw1:h1-eth0",
            "iface sw1:h2-eth0",
            "iface h2:eth0",
            "edge sw1:h1-eth0 h1:eth0",
            "edge sw1:h2-eth0 h2:eth0",
        ],
        &[
            "node h3",
            "node c1",
            "iface sw1:h3-eth0",
            "iface h3:eth0",
            "edge sw1:h3-eth0 h3:eth0",
            "edge h2:eth0 c1:eth0",
        ],
    );

    let tags = dom_after(&page, "#select=2");
    assert_eq!(selected(&tags), ["2"]);
    assert_path(
        &tags,
        "verdict-pass",
        &["node c1", "iface c1:eth0", "node sw1"],
        &["node h3", "iface h3:eth0"],
    );

    let tags = dom_after(&page, "#select=3");
    assert_eq!(selected(&tags), ["3"]);
    assert_path(
        &tags,
        "verdict-fail",
        &["node h1"],
        &["node h2", "node c1", "iface h2:eth0", "edge h2:eth0 c1:eth0"],
    );

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-report.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        format!("--screenshot={}", shot.display()),
        "--window-size=1280,900".into(),
        format!("file://{}#select=3", page.display()),
    ]);
    let png = std::fs::read(&shot).expect("chromium saved the screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "a real picture: {} bytes",
        png.len()
    );
    println!("screenshot: {}", shot.display());

    // The same paths in `lab graph --results`: h1 is on the failure's path and the passes',
    // and the failure wins; h2 is on passes' only; the failure's walk stopped at h1 (no
    // route), so h3, where it was meant to go, is on no failing path.
    let (code, drawing, err) = lab(&["graph", "--results", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert_well_formed(&drawing);
    let coloured = start_tags(&drawing);
    let class_of = |node: &str| {
        coloured
            .iter()
            .find(|t| t.attr("data-node") == Some(node))
            .and_then(|t| t.attr("class"))
            .unwrap_or("")
    };
    assert!(class_of("h1").contains("on-path verdict-fail"), "{}", class_of("h1"));
    assert!(class_of("h2").contains("on-path verdict-pass"), "{}", class_of("h2"));
    assert!(!class_of("h3").contains("verdict-fail"), "the walk stopped before h3: {}", class_of("h3"));
    assert!(!class_of("c1").contains("verdict-fail"), "{}", class_of("c1"));
});

/// Asserts that the text parses as XML (Python's minidom, an independent parser).
#[track_caller]
fn assert_well_formed(text: &str) {
    let parse = "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.stdin)";
    let out = common::piped_through("python3", &["-c", parse], text, "apt-get install python3");
    assert!(out.status.success(), "not well-formed XML: {}", String::from_utf8_lossy(&out.stderr));
}

fn e9() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/e9-vlan-tagging.toml")
}

#[test]
fn the_svg_drawing_is_well_formed_and_draws_every_node_once() {
    let (code, drawing, err) = lab(&["graph", e9().to_str().unwrap(), "--format", "svg"]);
    assert_eq!(code, 0, "{err}");
    assert!(drawing.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{drawing}");
    assert_well_formed(&drawing);
    let lab = lab::topology::load(&e9()).unwrap().lab.unwrap();
    let tags = start_tags(&drawing);
    let nodes: Vec<&str> = tags.iter().filter_map(|t| t.attr("data-node")).collect();
    let names: Vec<&str> = lab.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(nodes, names, "one data-node per node");
    let kinds: BTreeSet<&str> = tags.iter().filter_map(|t| t.attr("data-kind")).collect();
    assert_eq!(kinds, BTreeSet::from(["cable", "child", "port", "trunk"]));
    assert!(tags.iter().any(|t| t.has_class("legend")), "a legend");
}

#[test]
fn the_dot_and_mermaid_drawings_have_a_legend() {
    let (code, dot, err) = lab(&["graph", e9().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(dot.contains("subgraph \"cluster_legend\""), "{dot}");
    for meaning in
        ["cable", "trunk (tagged VLANs)", "parent -> child", "cable into a hairpin port", "vxlan tunnel"]
    {
        assert!(dot.contains(&format!("label=\"{meaning}\"")), "{meaning} in the legend: {dot}");
    }
    assert!(dot.contains("[dir=none, penwidth=4, label=\"trunk 19,20\"]"), "trunks drawn as the legend says");
    let out = common::piped_through("dot", &["-Tsvg"], &dot, "apt-get install graphviz");
    assert!(out.status.success(), "dot refused it: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(">legend</text>"), "Graphviz draws the legend");
    let (_, mermaid, _) = lab(&["graph", e9().to_str().unwrap(), "--format", "mermaid"]);
    assert!(mermaid.contains("  subgraph legend[\"legend\"]"), "{mermaid}");
}
