//! Drawings of a lab graph: Graphviz DOT (one cluster per node), Mermaid, each with a legend
//! of its line styles, JSON, and the SVG `svg` lays out.

use super::{Edge, LabGraph, Object, Vertex};
use crate::kind::Kind;
use crate::model::{IfaceId, IfaceKind, Lab, PortVlans};
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use serde::Serialize;
use std::fmt::Write;

/// The drawings `render` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Dot,
    Mermaid,
    Json,
    Svg,
}

pub fn render(graph: &LabGraph<'_>, format: Format) -> String {
    match format {
        Format::Dot => dot(graph),
        Format::Mermaid => mermaid(graph),
        Format::Json => json(graph),
        Format::Svg => super::svg(graph, None),
    }
}

fn vertex_id(id: IfaceId) -> String {
    format!("n{}_{}", id.node.0, id.index)
}

/// An interface's label lines: name, kind, addresses.
fn iface_lines(lab: &Lab, id: IfaceId) -> Vec<String> {
    let iface = lab.iface(id);
    let mut lines = vec![iface.name.clone(), iface.kind.describe()];
    lines.extend(iface.addresses.iter().map(|a| a.to_string()));
    lines
}

pub(super) fn port_text(port: &PortVlans) -> String {
    let mut parts = Vec::new();
    if !port.trunk.is_empty() {
        let ids: Vec<String> = port.trunk.iter().map(u16::to_string).collect();
        parts.push(format!("trunk {}", ids.join(",")));
    }
    // With tagged VLANs, the untagged one is the trunk's native VLAN.
    match (port.access, port.trunk.is_empty()) {
        (Some(access), true) => parts.push(format!("access {access}")),
        (Some(native), false) => parts.push(format!("native {native}")),
        (None, _) => {}
    }
    if port.hairpin {
        parts.push("hairpin".into());
    }
    parts.join(" ")
}

/// The label of a cable: the VLAN options of whichever end is a switch port.
pub(super) fn cable_text(lab: &Lab, a: IfaceId, b: IfaceId) -> String {
    [a, b]
        .iter()
        .filter_map(|end| lab.iface(*end).kind.port())
        .map(port_text)
        .find(|t| !t.is_empty())
        .unwrap_or_default()
}

/// The label of a tunnel: "vxlan 42".
pub(super) fn tunnel_text(lab: &Lab, end: IfaceId) -> String {
    match &lab.iface(end).kind {
        IfaceKind::Vxlan(tunnel) => format!("vxlan {}", tunnel.vni),
        _ => String::new(),
    }
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot(graph: &LabGraph<'_>) -> String {
    let lab = graph.lab;
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&lab.name));
    let _ = writeln!(out, "  label=\"{}\";", dot_escape(&lab.name));
    out.push_str("  rankdir=LR;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
    out.push_str("  edge [fontname=\"monospace\", fontsize=9];\n");
    for (n, node) in lab.nodes.iter().enumerate() {
        let _ = writeln!(out, "  subgraph \"cluster_{n}\" {{");
        let _ = writeln!(out, "    label=\"{}\";", dot_escape(&node_title(lab, node)));
        if node.joins.is_some() {
            out.push_str("    style=dashed;\n");
        }
        if node.ifaces.is_empty() {
            let _ = writeln!(out, "    \"node{n}\" [label=\"{}\", shape=plaintext];", empty_text(node));
        }
        for index in 0..node.ifaces.len() {
            let id = IfaceId { node: crate::model::NodeId(n), index };
            let label = iface_lines(lab, id).iter().map(|l| dot_escape(l)).collect::<Vec<_>>().join("\\n");
            let _ = writeln!(out, "    \"{}\" [label=\"{label}\"{}];", vertex_id(id), dot_shape(lab, id));
        }
        out.push_str("  }\n");
    }
    for (n, home) in joined(lab) {
        let _ = writeln!(
            out,
            "  \"node{n}\" -> \"{}\" [{DOT_NAMESPACE}, label=\"same namespace\"];",
            home_vertex(lab, home)
        );
    }
    for edge in (&graph.graph).edge_references() {
        let (Vertex::Iface(a), Vertex::Iface(b)) = (graph.graph[edge.source()], graph.graph[edge.target()])
        else {
            continue;
        };
        let attrs = match edge.weight() {
            Edge::Cable => {
                format!("{}, label=\"{}\"", dot_cable(lab, a, b), dot_escape(&cable_text(lab, a, b)))
            }
            Edge::Stacked => format!("{DOT_CHILD}, label=\"parent\""),
            Edge::Port => DOT_PORT.to_string(),
            Edge::Underlay => format!("{DOT_UNDERLAY}, label=\"underlay\""),
            Edge::Tunnel => format!("{DOT_TUNNEL}, label=\"{}\"", dot_escape(&tunnel_text(lab, a))),
            Edge::Has => continue,
        };
        let _ = writeln!(out, "  \"{}\" -> \"{}\" [{attrs}];", vertex_id(a), vertex_id(b));
    }
    dot_legend(&mut out);
    out.push_str("}\n");
    out
}

/// The line styles of DOT drawings, each named in the legend.
const DOT_CABLE: &str = "dir=none, penwidth=2";
const DOT_TRUNK: &str = "dir=none, penwidth=4";
const DOT_HAIRPIN: &str = "color=\"#b35c00\"";
const DOT_CHILD: &str = "style=dashed";
const DOT_PORT: &str = "dir=none, style=dotted";
const DOT_UNDERLAY: &str = "style=dashed";
const DOT_TUNNEL: &str = "dir=none, style=dashed, color=blue";
const DOT_NAMESPACE: &str = "style=dashed, dir=none";

/// A cable's style: thicker when it carries tagged VLANs, coloured into a hairpin port.
fn dot_cable(lab: &Lab, a: IfaceId, b: IfaceId) -> String {
    let ports: Vec<&PortVlans> = [a, b].iter().filter_map(|end| lab.iface(*end).kind.port()).collect();
    let style = if ports.iter().any(|p| !p.trunk.is_empty()) { DOT_TRUNK } else { DOT_CABLE };
    match ports.iter().any(|p| p.hairpin) {
        true => format!("{style}, {DOT_HAIRPIN}"),
        false => style.to_string(),
    }
}

/// Each line style once, between two points, with what it means.
fn dot_legend(out: &mut String) {
    let hairpin = format!("{DOT_CABLE}, {DOT_HAIRPIN}");
    let samples = [
        (DOT_CABLE, "cable"),
        (DOT_TRUNK, "trunk (tagged VLANs)"),
        (hairpin.as_str(), "cable into a hairpin port"),
        (DOT_CHILD, "parent -> child"),
        (DOT_PORT, "bridge - port"),
        (DOT_UNDERLAY, "underlay -> vxlan"),
        (DOT_TUNNEL, "vxlan tunnel"),
        (DOT_NAMESPACE, "same namespace"),
    ];
    out.push_str("  subgraph \"cluster_legend\" {\n    label=\"legend\";\n    style=dashed;\n");
    out.push_str("    node [shape=point, width=0.05, label=\"\"];\n");
    for (n, (style, meaning)) in samples.iter().enumerate() {
        let _ = writeln!(out, "    \"legend{n}a\" -> \"legend{n}b\" [{style}, label=\"{meaning}\"];");
    }
    out.push_str("  }\n");
}

/// Bridges and tunnels look unlike cable ends: a bridge inside a host is a switch in it.
fn dot_shape(lab: &Lab, id: IfaceId) -> &'static str {
    match lab.iface(id).kind.kind() {
        Kind::Bridge => ", shape=component, style=filled, fillcolor=\"#dde8ff\"",
        _ => "",
    }
}

fn mermaid_shape(lab: &Lab, id: IfaceId) -> (&'static str, &'static str) {
    match lab.iface(id).kind.kind() {
        Kind::Bridge => ("{{", "}}"),
        _ => ("[", "]"),
    }
}

/// "web (host)", or "bbox (host, in web's namespace)".
fn node_title(lab: &Lab, node: &crate::model::Node) -> String {
    match node.joins {
        Some(home) => {
            format!("{} ({}, in {}'s namespace)", node.name, node.role.as_str(), lab.node(home).name)
        }
        None => format!("{} ({})", node.name, node.role.as_str()),
    }
}

fn empty_text(node: &crate::model::Node) -> &'static str {
    if node.joins.is_some() { "(its namespace's interfaces)" } else { "(no interfaces)" }
}

/// Nodes that join another's namespace, and the node they join.
fn joined(lab: &Lab) -> impl Iterator<Item = (usize, crate::model::NodeId)> + '_ {
    lab.nodes.iter().enumerate().filter_map(|(n, node)| Some((n, node.joins?)))
}

/// Where a joined node's dashed line ends: the home's first interface, or its placeholder.
fn home_vertex(lab: &Lab, home: crate::model::NodeId) -> String {
    match lab.node(home).ifaces.is_empty() {
        true => format!("node{}", home.0),
        false => vertex_id(IfaceId { node: home, index: 0 }),
    }
}

fn mermaid_escape(text: &str) -> String {
    text.replace('"', "#quot;")
}

fn mermaid(graph: &LabGraph<'_>) -> String {
    let lab = graph.lab;
    let mut out = String::from("flowchart LR\n");
    for (n, node) in lab.nodes.iter().enumerate() {
        let _ = writeln!(out, "  subgraph node{n}[\"{}\"]", mermaid_escape(&node_title(lab, node)));
        if node.joins.is_some() {
            let _ = writeln!(out, "    node{n}_ns[\"{}\"]", empty_text(node));
        }
        for index in 0..node.ifaces.len() {
            let id = IfaceId { node: crate::model::NodeId(n), index };
            let label =
                iface_lines(lab, id).iter().map(|l| mermaid_escape(l)).collect::<Vec<_>>().join("<br/>");
            let (open, close) = mermaid_shape(lab, id);
            let _ = writeln!(out, "    {}{open}\"{label}\"{close}", vertex_id(id));
        }
        out.push_str("  end\n");
    }
    for (n, home) in joined(lab) {
        let _ = writeln!(out, "  node{n}_ns -.-|same namespace| {}", home_vertex(lab, home));
    }
    for edge in (&graph.graph).edge_references() {
        let (Vertex::Iface(a), Vertex::Iface(b)) = (graph.graph[edge.source()], graph.graph[edge.target()])
        else {
            continue;
        };
        let (text, tunnel) = (cable_text(lab, a, b), tunnel_text(lab, a));
        let (a, b) = (vertex_id(a), vertex_id(b));
        let _ = match edge.weight() {
            Edge::Cable if text.is_empty() => writeln!(out, "  {a} === {b}"),
            Edge::Cable => writeln!(out, "  {a} ===|\"{}\"| {b}", mermaid_escape(&text)),
            Edge::Stacked => writeln!(out, "  {a} -.->|parent| {b}"),
            Edge::Port => writeln!(out, "  {a} --- {b}"),
            Edge::Underlay => writeln!(out, "  {a} -.->|underlay| {b}"),
            Edge::Tunnel => writeln!(out, "  {a} -.-|\"{}\"| {b}", mermaid_escape(&tunnel)),
            Edge::Has => continue,
        };
    }
    mermaid_legend(&mut out);
    out
}

/// Each line style once, between two small boxes named for its ends.
fn mermaid_legend(out: &mut String) {
    let samples = [
        ("cable end", "===", "cable end"),
        ("cable end", "===|\"trunk 10,20\"|", "switch port"),
        ("cable end", "===|\"hairpin\"|", "switch port"),
        ("parent", "-.->|parent|", "child"),
        ("bridge", "---", "port"),
        ("underlay", "-.->|underlay|", "vxlan"),
        ("vxlan", "-.-|\"vxlan N\"|", "vxlan"),
        ("joined node", "-.-|same namespace|", "its home"),
    ];
    out.push_str("  subgraph legend[\"legend\"]\n");
    for (n, (a, line, b)) in samples.iter().enumerate() {
        let _ = writeln!(out, "    legend{n}a[\"{a}\"] {line} legend{n}b[\"{b}\"]");
    }
    out.push_str("  end\n");
}

#[derive(Serialize)]
struct JsonLab<'a> {
    name: &'a str,
    nodes: Vec<JsonNode<'a>>,
    cables: Vec<JsonCable>,
    order: Vec<Vec<String>>,
}

#[derive(Serialize)]
struct JsonNode<'a> {
    name: &'a str,
    role: &'a str,
    namespace: String,
    interfaces: Vec<JsonIface<'a>>,
}

#[derive(Serialize)]
struct JsonIface<'a> {
    name: &'a str,
    kind: &'static str,
    detail: String,
    parent: Option<String>,
    peer: Option<String>,
    port: Option<String>,
    addresses: Vec<String>,
    /// False for interfaces lab made itself (bridges, switch-side ports).
    declared: bool,
}

#[derive(Serialize)]
struct JsonCable {
    a: String,
    b: String,
    port: String,
}

fn json(graph: &LabGraph<'_>) -> String {
    let lab = graph.lab;
    let nodes = lab
        .nodes
        .iter()
        .enumerate()
        .map(|(n, node)| JsonNode {
            name: &node.name,
            role: node.role.as_str(),
            namespace: lab.netns_name(crate::model::NodeId(n)),
            interfaces: node
                .ifaces
                .iter()
                .map(|iface| JsonIface {
                    name: &iface.name,
                    kind: iface.kind.name(),
                    detail: iface.kind.describe(),
                    parent: iface.kind.parent().map(|p| lab.iface_label(p)),
                    peer: match iface.kind {
                        IfaceKind::Veth { peer, .. } => Some(lab.iface_label(peer)),
                        _ => None,
                    },
                    port: iface.kind.port().map(port_text),
                    addresses: iface.addresses.iter().map(|a| a.to_string()).collect(),
                    declared: iface.declared,
                })
                .collect(),
        })
        .collect();
    let cables = lab
        .cables
        .iter()
        .map(|c| JsonCable {
            a: lab.iface_label(c.a),
            b: lab.iface_label(c.b),
            port: cable_text(lab, c.a, c.b),
        })
        .collect();
    let order = graph
        .creation_stages()
        .iter()
        .map(|stage| stage.iter().map(|o| object_label(lab, *o)).collect())
        .collect();
    serde_json::to_string_pretty(&JsonLab { name: &lab.name, nodes, cables, order }).unwrap_or_default()
}

/// `namespace gw`, `link net1:eth0`.
pub fn object_label(lab: &Lab, object: Object) -> String {
    match object {
        Object::Namespace { node } => format!("namespace {}", lab.node(node).name),
        Object::Link { iface } => format!("link {}", lab.iface_label(iface)),
    }
}
