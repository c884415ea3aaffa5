//! The lab drawn as SVG, laid out here (no Graphviz at run time). Nodes go in layers by role
//! (routers, switches, hosts), a node whose interfaces are made on another node's one layer
//! below that node; each layer is ordered after the neighbours above it and wrapped in rows.
//! A node is a box of its interfaces, each interface in a row below those of its node it is
//! stacked on or is a port of. Every element names what it draws in data attributes
//! (`data-node`, `data-iface`, `data-from`/`data-to`/`data-kind`) for tests and the HTML
//! report's script. With a verification, the parts of each expectation's walked path are
//! coloured by its verdict, a failure's red winning over a pass's green.

use super::render::{cable_text, tunnel_text};
use super::{Edge, LabGraph, Vertex};
use crate::explain::{Hop, Walk};
use crate::model::{IfaceId, IfaceKind, Lab, NodeId, Role};
use crate::probe::{Outcome, Verification};
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Write;

/// Width of a character of an interface's name (11px monospace), and of its smaller lines.
const CHAR_W: i32 = 7;
const SMALL_CHAR_W: i32 = 6;
const TITLE_CHAR_W: i32 = 8;
const PORT_H: i32 = 40;
const PORT_GAP: i32 = 12;
const HAIRPIN_W: i32 = 16;
/// Between rows of interfaces in a node.
const ROW_GAP: i32 = 26;
const PAD: i32 = 10;
const TITLE_H: i32 = 40;
const EMPTY_H: i32 = 22;
/// Between nodes in a row, and between the rows of a layer.
const NODE_GAP: i32 = 40;
const LAYER_GAP: i32 = 80;
const MARGIN: i32 = 20;
const HEADING_H: i32 = 30;
/// Rows of nodes wrap at this width.
const MAX_ROW: i32 = 1600;
const LEGEND_COLUMNS: i32 = 3;
const LEGEND_CELL_W: i32 = 250;
const LEGEND_CELL_H: i32 = 24;
/// Two hops of a walk further apart than this many lines are not joined in the drawing.
const MAX_LINK: usize = 6;

/// The style sheet of the drawing; the HTML report's script adds `on-path` and a
/// `verdict-*` class to what it highlights.
const STYLE: &str = "
.lab-graph { font-family: monospace; font-size: 11px; }
.lab-graph .heading { font-size: 14px; font-weight: bold; }
.lab-graph .box { stroke: #555; stroke-width: 1.2; }
.lab-graph .role-host > .box { fill: #f5f5f5; }
.lab-graph .role-router > .box { fill: #fff1dc; }
.lab-graph .role-switch > .box { fill: #e8efff; }
.lab-graph .icon { fill: none; stroke: #555; stroke-width: 1.2; }
.lab-graph .name { font-size: 12px; font-weight: bold; }
.lab-graph .role, .lab-graph .note { fill: #666; font-size: 10px; }
.lab-graph .iface > rect, .lab-graph .port-sample { fill: #fff; stroke: #777; }
.lab-graph .iface.kind-bridge > rect { fill: #dde8ff; }
.lab-graph .iface .detail { fill: #555; font-size: 9px; }
.lab-graph .line { fill: none; stroke: #444; stroke-width: 1.5; }
.lab-graph .kind-trunk .line { stroke-width: 4.5; }
.lab-graph .kind-child .line { stroke-dasharray: 2 3; }
.lab-graph .kind-underlay .line { stroke-dasharray: 7 3 2 3; }
.lab-graph .kind-port .line { stroke: #8899bb; stroke-width: 1; }
.lab-graph .kind-tunnel .line { stroke: #1f5fbf; stroke-dasharray: 8 4; }
.lab-graph .kind-namespace .line { stroke: #999; stroke-dasharray: 4 4; }
.lab-graph .edge-label { fill: #333; font-size: 9px; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
.lab-graph .hairpin-mark { fill: none; stroke: #b35c00; stroke-width: 1.6; }
.lab-graph .on-path .line { stroke-width: 3.5; }
.lab-graph .kind-trunk.on-path .line { stroke-width: 6; }
.lab-graph .node.on-path > .box { stroke-width: 3; }
.lab-graph .iface.on-path > rect { stroke-width: 2.5; }
.lab-graph .verdict-pass > rect, .lab-graph .verdict-pass > .line { stroke: #1a7f37; }
.lab-graph .verdict-fail > rect, .lab-graph .verdict-fail > .line { stroke: #cf222e; }
.lab-graph .verdict-undecided > rect, .lab-graph .verdict-undecided > .line { stroke: #bf8700; }
.lab-graph .node.verdict-pass > .box { fill: #e6f4ea; }
.lab-graph .node.verdict-fail > .box { fill: #fde7e9; }
.lab-graph .node.verdict-undecided > .box { fill: #fff4d6; }
.lab-graph .legend text { fill: #333; }
";

/// How an expectation ended, as the drawing colours it; a failure outranks the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Pass,
    Undecided,
    Fail,
}

impl Verdict {
    pub fn of(outcome: &Outcome) -> Verdict {
        match (outcome.passed, outcome.decided) {
            (true, _) => Verdict::Pass,
            (false, true) => Verdict::Fail,
            (false, false) => Verdict::Undecided,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Undecided => "undecided",
            Verdict::Fail => "fail",
        }
    }
}

/// Text made safe inside XML (and HTML) text and quoted attributes; control characters but
/// tab and newline, which XML cannot carry even escaped, become `?`.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// The drawing of a lab; with results, every expectation's path coloured by its verdict.
pub fn svg(graph: &LabGraph<'_>, results: Option<&Verification>) -> String {
    let lab = graph.lab;
    let layout = Layout::new(graph);
    let lines = lines(graph);
    let marks = results.map_or_else(Marks::default, |v| Marks::of(&Wiring::new(graph), v));
    let legend_rows = (legend_items(results.is_some()).len() as i32 + LEGEND_COLUMNS - 1) / LEGEND_COLUMNS;
    let width = layout.width + 2 * MARGIN;
    let height = layout.height + 24 + legend_rows * LEGEND_CELL_H + MARGIN;
    let mut out = String::new();
    let name = xml_escape(&lab.name);
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"lab-graph\" data-lab=\"{name}\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">"
    );
    let _ = writeln!(out, "<title>{name}</title>\n<style>{STYLE}</style>");
    let _ = writeln!(out, "<text class=\"heading\" x=\"{MARGIN}\" y=\"{}\">{name}</text>", MARGIN + 12);
    for (n, rect) in layout.nodes.iter().enumerate() {
        node_svg(&mut out, lab, NodeId(n), *rect, &marks.class_of_node(NodeId(n)));
    }
    for line in &lines {
        line_svg(&mut out, lab, &layout, line, &marks.class_of_edge((line.from, line.to)));
    }
    for (n, home) in lab.nodes.iter().enumerate().filter_map(|(n, node)| Some((NodeId(n), node.joins?))) {
        namespace_svg(&mut out, lab, &layout, n, home);
    }
    for id in lab.iface_ids() {
        iface_svg(&mut out, lab, id, layout.port(id), &marks.class_of_iface(id));
    }
    legend_svg(&mut out, layout.height, results.is_some());
    out.push_str("</svg>\n");
    out
}

#[derive(Clone, Copy, Debug, Default)]
struct Rect {
    x: i32,
    y: i32,
    w: i32,
    h: i32,
}

impl Rect {
    fn offset(self, (x, y): (i32, i32)) -> Rect {
        Rect { x: self.x + x, y: self.y + y, ..self }
    }

    fn top(self) -> (i32, i32) {
        (self.x + self.w / 2, self.y)
    }

    fn bottom(self) -> (i32, i32) {
        (self.x + self.w / 2, self.y + self.h)
    }

    fn is_above(self, other: Rect) -> bool {
        self.y + self.h <= other.y
    }
}

/// What a line between two interfaces stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineKind {
    Cable,
    /// A cable into a switch port that carries tagged VLANs.
    Trunk,
    /// A child (vlan, macvlan, ipvlan) and its parent.
    Child,
    /// A vxlan and the interface its packets go out of.
    Underlay,
    /// A bridge and one of its ports.
    Port,
    Tunnel,
}

impl LineKind {
    fn of(edge: Edge, lab: &Lab, a: IfaceId, b: IfaceId) -> Option<LineKind> {
        Some(match edge {
            Edge::Cable if is_trunk(lab, a) || is_trunk(lab, b) => LineKind::Trunk,
            Edge::Cable => LineKind::Cable,
            Edge::Stacked => LineKind::Child,
            Edge::Underlay => LineKind::Underlay,
            Edge::Port => LineKind::Port,
            Edge::Tunnel => LineKind::Tunnel,
            Edge::Has => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            LineKind::Cable => "cable",
            LineKind::Trunk => "trunk",
            LineKind::Child => "child",
            LineKind::Underlay => "underlay",
            LineKind::Port => "port",
            LineKind::Tunnel => "tunnel",
        }
    }
}

fn is_trunk(lab: &Lab, id: IfaceId) -> bool {
    lab.iface(id).kind.port().is_some_and(|p| !p.trunk.is_empty())
}

fn is_hairpin(lab: &Lab, id: IfaceId) -> bool {
    lab.iface(id).kind.port().is_some_and(|p| p.hairpin)
}

/// A line of the drawing, from the graph edge's source to its target.
struct Line {
    from: IfaceId,
    to: IfaceId,
    kind: LineKind,
    label: String,
}

/// Every line between two interfaces, in the graph's order.
fn lines(graph: &LabGraph<'_>) -> Vec<Line> {
    let lab = graph.lab;
    (&graph.graph)
        .edge_references()
        .filter_map(|edge| {
            let (Vertex::Iface(from), Vertex::Iface(to)) =
                (graph.graph[edge.source()], graph.graph[edge.target()])
            else {
                return None;
            };
            let kind = LineKind::of(*edge.weight(), lab, from, to)?;
            let label = match kind {
                LineKind::Cable | LineKind::Trunk => cable_text(lab, from, to),
                LineKind::Tunnel => tunnel_text(lab, from),
                LineKind::Child | LineKind::Underlay | LineKind::Port => String::new(),
            };
            Some(Line { from, to, kind, label })
        })
        .collect()
}

/// Where every node and interface is drawn.
struct Layout {
    nodes: Vec<Rect>,
    ports: Vec<Vec<Rect>>,
    /// The width of the nodes' area, and the bottom of the last row.
    width: i32,
    height: i32,
}

impl Layout {
    fn new(graph: &LabGraph<'_>) -> Layout {
        let lab = graph.lab;
        let layers = layers(lab);
        let mut layer_of = vec![0; lab.nodes.len()];
        for (l, layer) in layers.iter().enumerate() {
            layer.iter().for_each(|n| layer_of[n.0] = l);
        }
        let pulls = pulls(graph, &layer_of);
        let boxes: Vec<NodeBox> = (0..lab.nodes.len()).map(|n| node_box(lab, NodeId(n), &pulls[n])).collect();
        let neighbours = neighbours(graph);
        let width = content_width(lab, &layers, &boxes);
        let mut origins = vec![(0, 0); boxes.len()];
        let mut centres: Vec<Option<f64>> = vec![None; boxes.len()];
        let mut y = MARGIN + HEADING_H;
        for layer in &layers {
            let order = by_neighbours(layer, &neighbours, &centres);
            let widths: Vec<i32> = order.iter().map(|n| boxes[n.0].w).collect();
            for range in wrap(&widths, NODE_GAP, width) {
                let row = &order[range];
                let mut x = MARGIN + (width - row_width(row, &boxes)) / 2;
                for n in row {
                    origins[n.0] = (x, y);
                    centres[n.0] = Some(f64::from(x + boxes[n.0].w / 2));
                    x += boxes[n.0].w + NODE_GAP;
                }
                y += row.iter().map(|n| boxes[n.0].h).max().unwrap_or(0) + NODE_GAP;
            }
            y += LAYER_GAP - NODE_GAP;
        }
        let nodes = boxes
            .iter()
            .zip(&origins)
            .map(|(b, origin)| Rect { x: 0, y: 0, w: b.w, h: b.h }.offset(*origin))
            .collect();
        let ports = boxes
            .iter()
            .zip(&origins)
            .map(|(b, origin)| b.ports.iter().map(|p| p.offset(*origin)).collect())
            .collect();
        Layout { nodes, ports, width, height: (y - LAYER_GAP + NODE_GAP).max(MARGIN + HEADING_H) }
    }

    fn port(&self, id: IfaceId) -> Rect {
        self.ports[id.node.0][id.index]
    }
}

/// A node's box before it is placed: its size, and where its interfaces are in it.
struct NodeBox {
    w: i32,
    h: i32,
    ports: Vec<Rect>,
}

fn node_box(lab: &Lab, node: NodeId, pulls: &[i32]) -> NodeBox {
    let width_of = |index: &usize| port_width(lab, IfaceId { node, index: *index });
    let rows: Vec<Vec<usize>> = iface_rows(lab, node, pulls)
        .into_iter()
        .flat_map(|level| {
            let widths: Vec<i32> = level.iter().map(width_of).collect();
            let rows: Vec<Vec<usize>> =
                wrap(&widths, PORT_GAP, MAX_ROW - 2 * PAD).into_iter().map(|r| level[r].to_vec()).collect();
            rows
        })
        .collect();
    let widths: Vec<Vec<i32>> = rows.iter().map(|row| row.iter().map(width_of).collect()).collect();
    let inner = widths.iter().map(|w| spread(w, PORT_GAP)).max().unwrap_or(0);
    let w = inner.max(title_width(lab, node)) + 2 * PAD;
    let rows_h = rows.len() as i32 * (PORT_H + ROW_GAP) - ROW_GAP;
    let h = if rows.is_empty() { TITLE_H + EMPTY_H } else { TITLE_H + rows_h + PAD };
    let mut ports = vec![Rect::default(); lab.node(node).ifaces.len()];
    for (r, (row, row_widths)) in rows.iter().zip(&widths).enumerate() {
        let mut x = (w - spread(row_widths, PORT_GAP)) / 2;
        let y = TITLE_H + r as i32 * (PORT_H + ROW_GAP);
        for (index, pw) in row.iter().zip(row_widths) {
            ports[*index] = Rect { x, y, w: *pw, h: PORT_H };
            x += pw + PORT_GAP;
        }
    }
    NodeBox { w, h, ports }
}

/// The width of things side by side, `gap` apart.
fn spread(widths: &[i32], gap: i32) -> i32 {
    widths.iter().sum::<i32>() + gap * (widths.len() as i32 - 1).max(0)
}

/// Things of these widths, in order, in rows no wider than `limit` (one wider than that
/// alone in its row): the range of each row.
fn wrap(widths: &[i32], gap: i32, limit: i32) -> Vec<std::ops::Range<usize>> {
    let mut rows: Vec<std::ops::Range<usize>> = Vec::new();
    let mut used = 0;
    for (n, w) in widths.iter().enumerate() {
        match rows.last_mut() {
            Some(row) if used + gap + w <= limit => {
                row.end = n + 1;
                used += gap + w;
            }
            _ => {
                rows.push(n..n + 1);
                used = *w;
            }
        }
    }
    rows
}

/// A node's interfaces (by index) in rows, each row after those of its interfaces' anchors:
/// below them, or above them in a node whose lines to other nodes go mostly down (so that
/// they leave from its bottom row). A bridge's ports go on the side their cable leaves by.
fn iface_rows(lab: &Lab, node: NodeId, pulls: &[i32]) -> Vec<Vec<usize>> {
    let count = lab.node(node).ifaces.len();
    let growth = if pulls.iter().sum::<i32>() > 0 { -1 } else { 1 };
    let mut levels = vec![None; count];
    for index in 0..count {
        inner_level(lab, IfaceId { node, index }, growth, pulls, &mut levels);
    }
    let mut distinct: Vec<i32> = levels.iter().flatten().copied().collect();
    distinct.sort_by_key(|level| (level.abs(), *level));
    distinct.dedup();
    let mut places = vec![0.0; count];
    let mut rows: Vec<(i32, Vec<usize>)> = Vec::with_capacity(distinct.len());
    // Anchors first: the rows nearest level 0 are ordered before those further out.
    for level in distinct {
        let mut row: Vec<(f64, usize)> = (0..count)
            .filter(|index| levels[*index] == Some(level))
            .map(|index| {
                let under =
                    anchors(lab, IfaceId { node, index }).map(|a| places[a]).fold(f64::INFINITY, f64::min);
                (if under.is_finite() { under } else { 0.0 }, index)
            })
            .collect();
        row.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (k, (_, index)) in row.iter().enumerate() {
            places[*index] = (k as f64 + 0.5) / row.len() as f64;
        }
        rows.push((level, row.into_iter().map(|(_, index)| index).collect()));
    }
    rows.sort_by_key(|(level, _)| *level);
    rows.into_iter().map(|(_, row)| row).collect()
}

/// The interfaces of the same node an interface hangs under: what it is made on, its bridge.
fn anchors(lab: &Lab, id: IfaceId) -> impl Iterator<Item = usize> {
    let kind = &lab.iface(id).kind;
    [kind.made_on(), kind.port().and_then(|p| p.master)]
        .into_iter()
        .flatten()
        .filter(move |a| a.node == id.node)
        .map(|a| a.index)
}

/// An interface's row in its node, from 0: one further in `growth`'s direction (1 down, -1
/// up) than the furthest of its anchors; a bridge port one towards where its cable goes.
fn inner_level(lab: &Lab, id: IfaceId, growth: i32, pulls: &[i32], levels: &mut [Option<i32>]) -> i32 {
    if let Some(level) = levels[id.index] {
        return level;
    }
    // Validation refuses stacking loops; the provisional level ends one all the same.
    levels[id.index] = Some(0);
    let bridged = lab.iface(id).kind.port().and_then(|p| p.master).is_some_and(|m| m.node == id.node);
    let step = if bridged && pulls[id.index] != 0 { pulls[id.index] } else { growth };
    let under: Vec<usize> = anchors(lab, id).collect();
    let levels_under = under
        .into_iter()
        .map(|a| inner_level(lab, IfaceId { node: id.node, index: a }, growth, pulls, levels));
    let furthest = if step > 0 { levels_under.max() } else { levels_under.min() };
    let level = furthest.map_or(0, |l| l + step);
    levels[id.index] = Some(level);
    level
}

/// Which way each interface's lines to other nodes go, by node and index: -1 mostly up, 1
/// mostly down, 0 neither.
fn pulls(graph: &LabGraph<'_>, layer: &[usize]) -> Vec<Vec<i32>> {
    let mut pulls: Vec<Vec<i32>> = graph.lab.nodes.iter().map(|n| vec![0; n.ifaces.len()]).collect();
    for line in lines(graph) {
        let way = (layer[line.to.node.0] as i32 - layer[line.from.node.0] as i32).signum();
        pulls[line.from.node.0][line.from.index] += way;
        pulls[line.to.node.0][line.to.index] -= way;
    }
    for pull in pulls.iter_mut().flatten() {
        *pull = pull.signum();
    }
    pulls
}

/// The lines written in an interface's box: its name, its kind (but a plain cable end's),
/// its first address.
fn port_lines(lab: &Lab, id: IfaceId) -> Vec<String> {
    let iface = lab.iface(id);
    let mut lines = vec![iface.name.clone()];
    if !matches!(iface.kind, IfaceKind::Veth { .. }) {
        lines.push(iface.kind.describe());
    }
    match iface.addresses.as_slice() {
        [] => {}
        [one] => lines.push(one.to_string()),
        [first, rest @ ..] => lines.push(format!("{first} +{}", rest.len())),
    }
    lines
}

fn port_width(lab: &Lab, id: IfaceId) -> i32 {
    let lines = port_lines(lab, id);
    let name = lines[0].chars().count() as i32 * CHAR_W;
    let details = lines[1..].iter().map(|l| l.chars().count() as i32 * SMALL_CHAR_W).max().unwrap_or(0);
    let hairpin = if is_hairpin(lab, id) { HAIRPIN_W } else { 0 };
    name.max(details) + 12 + hairpin
}

/// "router", or "host in web's namespace".
fn role_text(lab: &Lab, node: NodeId) -> String {
    let n = lab.node(node);
    match n.joins {
        Some(home) => format!("{} in {}'s namespace", n.role.as_str(), lab.node(home).name),
        None => n.role.as_str().to_string(),
    }
}

fn title_width(lab: &Lab, node: NodeId) -> i32 {
    let name = lab.node(node).name.chars().count() as i32 * TITLE_CHAR_W;
    let role = role_text(lab, node).chars().count() as i32 * SMALL_CHAR_W;
    30 + name.max(role)
}

/// The nodes joined to each node by a line or a shared namespace.
fn neighbours(graph: &LabGraph<'_>) -> Vec<Vec<NodeId>> {
    let lab = graph.lab;
    let mut neighbours = vec![Vec::new(); lab.nodes.len()];
    let mut join = |a: NodeId, b: NodeId| {
        if a != b {
            neighbours[a.0].push(b);
            neighbours[b.0].push(a);
        }
    };
    for line in lines(graph) {
        join(line.from.node, line.to.node);
    }
    for (n, node) in lab.nodes.iter().enumerate() {
        if let Some(home) = node.joins {
            join(NodeId(n), home);
        }
    }
    neighbours
}

/// The nodes by layer, top first, each layer in file order.
fn layers(lab: &Lab) -> Vec<Vec<NodeId>> {
    let mut levels = vec![None; lab.nodes.len()];
    let mut layers: Vec<Vec<NodeId>> = Vec::new();
    for n in 0..lab.nodes.len() {
        let level = layer_of(lab, NodeId(n), &mut levels);
        if layers.len() <= level {
            layers.resize(level + 1, Vec::new());
        }
        layers[level].push(NodeId(n));
    }
    layers.retain(|layer| !layer.is_empty());
    layers
}

/// Routers on top, then switches, then hosts; a node with interfaces made on another
/// node's below that node, and one that joins another's namespace beside it.
fn layer_of(lab: &Lab, node: NodeId, levels: &mut [Option<usize>]) -> usize {
    if let Some(level) = levels[node.0] {
        return level;
    }
    let n = lab.node(node);
    let base = match n.role {
        Role::Router => 0,
        Role::Switch => 1,
        Role::Host => 2,
    };
    // Provisional, so that two nodes stacked on each other end the recursion.
    levels[node.0] = Some(base);
    let mut level = base;
    let hosts: Vec<NodeId> = n
        .ifaces
        .iter()
        .filter_map(|iface| iface.kind.made_on())
        .map(|on| on.node)
        .filter(|other| *other != node)
        .collect();
    for other in hosts {
        level = level.max(layer_of(lab, other, levels) + 1);
    }
    if let Some(home) = n.joins {
        level = level.max(layer_of(lab, home, levels));
    }
    levels[node.0] = Some(level);
    level
}

/// The width rows wrap at: the widest layer's, up to `MAX_ROW`, and wide enough for the
/// widest node, the heading and the legend.
fn content_width(lab: &Lab, layers: &[Vec<NodeId>], boxes: &[NodeBox]) -> i32 {
    let widest_layer = layers.iter().map(|layer| row_width(layer, boxes).min(MAX_ROW)).max().unwrap_or(0);
    let widest_node = boxes.iter().map(|b| b.w).max().unwrap_or(0);
    let heading = lab.name.chars().count() as i32 * TITLE_CHAR_W;
    widest_layer.max(widest_node).max(heading).max(LEGEND_COLUMNS * LEGEND_CELL_W)
}

fn row_width(row: &[NodeId], boxes: &[NodeBox]) -> i32 {
    spread(&row.iter().map(|n| boxes[n.0].w).collect::<Vec<_>>(), NODE_GAP)
}

/// A layer ordered by the mean position of each node's neighbours placed above it; nodes
/// without any keep their file order, after the others.
fn by_neighbours(layer: &[NodeId], neighbours: &[Vec<NodeId>], centres: &[Option<f64>]) -> Vec<NodeId> {
    let mut keyed: Vec<(f64, NodeId)> = layer
        .iter()
        .map(|n| {
            let placed: Vec<f64> = neighbours[n.0].iter().filter_map(|m| centres[m.0]).collect();
            let key = if placed.is_empty() {
                f64::INFINITY
            } else {
                placed.iter().sum::<f64>() / placed.len() as f64
            };
            (key, *n)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    keyed.into_iter().map(|(_, n)| n).collect()
}

fn node_svg(out: &mut String, lab: &Lab, id: NodeId, rect: Rect, mark: &str) {
    let node = lab.node(id);
    let role = node.role.as_str();
    let name = xml_escape(&node.name);
    let _ = writeln!(out, "<g class=\"node role-{role}{mark}\" data-node=\"{name}\" data-role=\"{role}\">");
    let corner = if node.role == Role::Host { 10 } else { 3 };
    let _ = writeln!(
        out,
        "<rect class=\"box\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{corner}\"/>",
        rect.x, rect.y, rect.w, rect.h
    );
    icon_svg(out, node.role, rect.x + 8, rect.y + 9);
    let _ = writeln!(out, "<text class=\"name\" x=\"{}\" y=\"{}\">{name}</text>", rect.x + 32, rect.y + 17);
    let role_line = xml_escape(&role_text(lab, id));
    let _ =
        writeln!(out, "<text class=\"role\" x=\"{}\" y=\"{}\">{role_line}</text>", rect.x + 32, rect.y + 30);
    if node.ifaces.is_empty() {
        let note = if node.joins.is_some() { "(its namespace's interfaces)" } else { "(no interfaces)" };
        let _ =
            writeln!(out, "<text class=\"note\" x=\"{}\" y=\"{}\">{note}</text>", rect.x + PAD, rect.y + 50);
    }
    let _ = writeln!(out, "<title>{name} ({role_line})</title>\n</g>");
}

/// A small picture of the role: a screen, a router's crossed circle, a switch's arrows.
fn icon_svg(out: &mut String, role: Role, x: i32, y: i32) {
    let _ = match role {
        Role::Host => {
            writeln!(out, "<path class=\"icon\" d=\"M{x} {y}h16v11h-16z M{} {}h6\"/>", x + 5, y + 15)
        }
        Role::Router => writeln!(
            out,
            "<path class=\"icon\" d=\"M{} {y}a8 8 0 1 0 0.01 0 M{} {}h10 M{} {}v10\"/>",
            x + 8,
            x + 3,
            y + 8,
            x + 8,
            y + 3
        ),
        Role::Switch => writeln!(
            out,
            "<path class=\"icon\" d=\"M{x} {}h16v12h-16z M{} {}h10l-2 -2 M{} {}h-10l2 2\"/>",
            y + 2,
            x + 3,
            y + 6,
            x + 13,
            y + 10
        ),
    };
}

fn iface_svg(out: &mut String, lab: &Lab, id: IfaceId, rect: Rect, mark: &str) {
    let iface = lab.iface(id);
    let hairpin = is_hairpin(lab, id);
    let label = xml_escape(&lab.iface_label(id));
    let _ = writeln!(
        out,
        "<g class=\"iface kind-{}{}{mark}\" data-iface=\"{label}\">",
        iface.kind.name(),
        if hairpin { " hairpin" } else { "" }
    );
    let _ = writeln!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\"/>",
        rect.x, rect.y, rect.w, rect.h
    );
    for (n, line) in port_lines(lab, id).iter().enumerate() {
        let (class, y) = if n == 0 { ("name-line", 14) } else { ("detail", 14 + 11 * n as i32) };
        let _ = writeln!(
            out,
            "<text class=\"{class}\" x=\"{}\" y=\"{}\">{}</text>",
            rect.x + 6,
            rect.y + y,
            xml_escape(line)
        );
    }
    if hairpin {
        hairpin_mark(out, rect.x + rect.w - 12, rect.y + 12);
    }
    let mut about = vec![iface.kind.describe()];
    about.extend(iface.addresses.iter().map(|a| a.to_string()));
    if let Some(port) = iface.kind.port().map(super::render::port_text).filter(|t| !t.is_empty()) {
        about.push(port);
    }
    let _ = writeln!(out, "<title>{label}: {}</title>\n</g>", xml_escape(&about.join(", ")));
}

/// A loop on a port's right end: frames go back out where they came in.
fn hairpin_mark(out: &mut String, x: i32, y: i32) {
    let _ = writeln!(
        out,
        "<path class=\"hairpin-mark\" d=\"M{x} {y}a6 6 0 1 1 0 12l3 -3 M{x} {}l3 3\"/>",
        y + 12
    );
}

/// The SVG path of a line between two boxes, and where its label goes: from the bottom of
/// the upper to the top of the lower; between boxes side by side, a curve below them.
fn route(a: Rect, b: Rect) -> (String, Label) {
    let ((x1, y1), (x2, y2)) = match (a.is_above(b), b.is_above(a)) {
        (true, _) => (a.bottom(), b.top()),
        (_, true) => (a.top(), b.bottom()),
        _ => {
            let ((x1, y1), (x2, y2)) = (a.bottom(), b.bottom());
            let dip = y1.max(y2) + 36;
            let path = format!("M{x1} {y1}Q{} {dip} {x2} {y2}", (x1 + x2) / 2);
            return (path, Label { x: (x1 + x2) / 2, y: (y1.max(y2) + dip) / 2 + 3, anchor: "middle" });
        }
    };
    (format!("M{x1} {y1}L{x2} {y2}"), Label { x: (x1 + x2) / 2 + 6, y: (y1 + y2) / 2 + 3, anchor: "start" })
}

/// Where a line's label goes: beside a straight line, under a curve.
struct Label {
    x: i32,
    y: i32,
    anchor: &'static str,
}

fn line_svg(out: &mut String, lab: &Lab, layout: &Layout, line: &Line, mark: &str) {
    let (from, to) = (xml_escape(&lab.iface_label(line.from)), xml_escape(&lab.iface_label(line.to)));
    let kind = line.kind.as_str();
    edge_svg(out, &from, &to, kind, mark, route(layout.port(line.from), layout.port(line.to)), &line.label);
}

/// The dashed line from a node that joins another's namespace to that node.
fn namespace_svg(out: &mut String, lab: &Lab, layout: &Layout, node: NodeId, home: NodeId) {
    let (from, to) = (xml_escape(&lab.node(node).name), xml_escape(&lab.node(home).name));
    let way = route(layout.nodes[node.0], layout.nodes[home.0]);
    edge_svg(out, &from, &to, "namespace", "", way, "same namespace");
}

fn edge_svg(
    out: &mut String,
    from: &str,
    to: &str,
    kind: &str,
    mark: &str,
    way: (String, Label),
    label: &str,
) {
    let (path, at) = way;
    let _ = writeln!(
        out,
        "<g class=\"edge kind-{kind}{mark}\" data-from=\"{from}\" data-to=\"{to}\" data-kind=\"{kind}\">"
    );
    let _ = writeln!(out, "<path class=\"line\" d=\"{path}\"/>");
    let label = xml_escape(label);
    if !label.is_empty() {
        let _ = writeln!(
            out,
            "<text class=\"edge-label\" x=\"{}\" y=\"{}\" text-anchor=\"{}\">{label}</text>",
            at.x, at.y, at.anchor
        );
    }
    let about = if label.is_empty() { String::new() } else { format!(": {label}") };
    let _ = writeln!(out, "<title>{kind} {from} – {to}{about}</title>\n</g>");
}

/// One entry of the legend: a line's kind with an example label, or a mark.
enum Sample {
    Line(&'static str, &'static str),
    Hairpin,
    Verdict(Verdict),
}

fn legend_items(results: bool) -> Vec<(Sample, &'static str)> {
    let mut items = vec![
        (Sample::Line("cable", ""), "cable (veth pair)"),
        (Sample::Line("trunk", "10,20"), "trunk: tagged VLANs"),
        (Sample::Line("child", ""), "child on its parent"),
        (Sample::Line("port", ""), "bridge and its port"),
        (Sample::Hairpin, "hairpin port"),
        (Sample::Line("tunnel", "vxlan N"), "VXLAN tunnel"),
        (Sample::Line("underlay", ""), "vxlan on its underlay"),
        (Sample::Line("namespace", ""), "same namespace"),
    ];
    if results {
        items.extend(
            [Verdict::Pass, Verdict::Fail, Verdict::Undecided].map(|v| (Sample::Verdict(v), v.as_str())),
        );
    }
    items
}

fn legend_svg(out: &mut String, top: i32, results: bool) {
    let _ = writeln!(out, "<g class=\"legend\">");
    let _ = writeln!(out, "<text class=\"name\" x=\"{MARGIN}\" y=\"{}\">legend</text>", top + 12);
    for (n, (sample, text)) in legend_items(results).iter().enumerate() {
        let (column, row) = (n as i32 % LEGEND_COLUMNS, n as i32 / LEGEND_COLUMNS);
        let (x, y) = (MARGIN + column * LEGEND_CELL_W, top + 24 + row * LEGEND_CELL_H);
        let _ = match sample {
            Sample::Line(kind, label) => {
                let _ = write!(
                    out,
                    "<g class=\"sample kind-{kind}\"><path class=\"line\" d=\"M{x} {}h56\"/>",
                    y + 8
                );
                if !label.is_empty() {
                    let _ = write!(
                        out,
                        "<text class=\"edge-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
                        x + 28,
                        y + 4
                    );
                }
                writeln!(out, "</g>")
            }
            Sample::Hairpin => {
                let _ = write!(
                    out,
                    "<g class=\"sample\">\
                     <rect class=\"port-sample\" x=\"{}\" y=\"{y}\" width=\"30\" height=\"16\" rx=\"3\"/>",
                    x + 10
                );
                hairpin_mark(out, x + 28, y + 2);
                writeln!(out, "</g>")
            }
            Sample::Verdict(verdict) => writeln!(
                out,
                "<g class=\"sample kind-cable on-path verdict-{}\">\
                 <path class=\"line\" d=\"M{x} {}h56\"/></g>",
                verdict.as_str(),
                y + 8
            ),
        };
        let _ = writeln!(out, "<text x=\"{}\" y=\"{}\">{text}</text>", x + 64, y + 12);
    }
    out.push_str("</g>\n");
}

/// The verdict each element of the drawing is coloured in: the worst of the expectations
/// whose path it is on.
#[derive(Default)]
struct Marks {
    nodes: HashMap<NodeId, Verdict>,
    ifaces: HashMap<IfaceId, Verdict>,
    edges: HashMap<Drawn, Verdict>,
}

impl Marks {
    fn of(wiring: &Wiring<'_>, verification: &Verification) -> Marks {
        let mut marks = Marks::default();
        for outcome in &verification.outcomes {
            let Some(walk) = &outcome.walk else { continue };
            let path = wiring.path(walk);
            let verdict = Verdict::of(outcome);
            path.nodes.into_iter().for_each(|n| raise(&mut marks.nodes, n, verdict));
            path.ifaces.into_iter().for_each(|i| raise(&mut marks.ifaces, i, verdict));
            path.edges.into_iter().for_each(|e| raise(&mut marks.edges, e, verdict));
        }
        marks
    }

    fn class_of_node(&self, node: NodeId) -> String {
        mark_class(self.nodes.get(&node))
    }

    fn class_of_iface(&self, iface: IfaceId) -> String {
        mark_class(self.ifaces.get(&iface))
    }

    fn class_of_edge(&self, edge: Drawn) -> String {
        mark_class(self.edges.get(&edge))
    }
}

fn raise<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Verdict>, key: K, verdict: Verdict) {
    let worst = map.entry(key).or_insert(verdict);
    *worst = (*worst).max(verdict);
}

fn mark_class(verdict: Option<&Verdict>) -> String {
    verdict.map_or_else(String::new, |v| format!(" on-path verdict-{}", v.as_str()))
}

/// The parts of the drawing a walk goes through.
#[derive(Default)]
pub struct Path {
    nodes: BTreeSet<NodeId>,
    ifaces: BTreeSet<IfaceId>,
    edges: BTreeSet<Drawn>,
}

/// A path by the names the drawing's data attributes carry.
#[derive(Serialize)]
pub struct PathNames {
    pub nodes: Vec<String>,
    pub ifaces: Vec<String>,
    /// `[data-from, data-to]` of each line.
    pub edges: Vec<[String; 2]>,
}

impl Path {
    pub fn names(&self, lab: &Lab) -> PathNames {
        PathNames {
            nodes: self.nodes.iter().map(|n| lab.node(*n).name.clone()).collect(),
            ifaces: self.ifaces.iter().map(|i| lab.iface_label(*i)).collect(),
            edges: self.edges.iter().map(|(a, b)| [lab.iface_label(*a), lab.iface_label(*b)]).collect(),
        }
    }
}

/// A line as drawn: (from, to).
type Drawn = (IfaceId, IfaceId);

/// An interface, and the line that leads to it.
type Reached = (IfaceId, Drawn);

/// Each interface's lines to others, to find the lines between two hops of a walk.
pub struct Wiring<'l> {
    lab: &'l Lab,
    next: HashMap<IfaceId, Vec<Reached>>,
}

impl<'l> Wiring<'l> {
    pub fn new(graph: &LabGraph<'l>) -> Wiring<'l> {
        let mut next: HashMap<IfaceId, Vec<Reached>> = HashMap::new();
        for line in lines(graph) {
            let drawn = (line.from, line.to);
            next.entry(line.from).or_default().push((line.to, drawn));
            next.entry(line.to).or_default().push((line.from, drawn));
        }
        Wiring { lab: graph.lab, next }
    }

    /// Every hop's interface and node, the node where the walk stopped, and the lines between
    /// each hop and the next of the same way: a cable, a child on its parent, or the ports and
    /// bridge inside a switch.
    pub fn path(&self, walk: &Walk) -> Path {
        let mut path = Path::default();
        for hop in &walk.hops {
            if let Some(node) = self.lab.node_id(&hop.node) {
                path.nodes.insert(node);
            }
            if let Some(iface) = self.iface_of(hop) {
                path.ifaces.insert(iface);
                path.nodes.insert(iface.node);
            }
        }
        // "sw1 port h2-eth0", "r1 (in eth0)", "h1": the node named first is where it stopped.
        let stopped = walk.stop.as_ref().and_then(|s| s.at.split([' ', ':']).next());
        if let Some(node) = stopped.and_then(|name| self.lab.node_id(name)) {
            path.nodes.insert(node);
        }
        for pair in walk.hops.windows(2).filter(|pair| pair[0].way == pair[1].way) {
            let (Some(a), Some(b)) = (self.iface_of(&pair[0]), self.iface_of(&pair[1])) else { continue };
            for (iface, line) in self.between(a, b) {
                path.ifaces.insert(iface);
                path.nodes.insert(iface.node);
                path.edges.insert(line);
            }
        }
        path
    }

    /// A hop's interface; a node that joins another's namespace has that node's.
    fn iface_of(&self, hop: &Hop) -> Option<IfaceId> {
        let node = self.lab.node_id(&hop.node)?;
        self.lab.iface_id(self.lab.home(node), &hop.iface)
    }

    /// The shortest run of lines from `a` to `b` (each with the interface it reaches), at
    /// most `MAX_LINK` long; two interfaces of one node are joined only inside it (else the
    /// node forwards between them). Empty when there is none.
    fn between(&self, a: IfaceId, b: IfaceId) -> Vec<Reached> {
        let inside = (a.node == b.node).then_some(a.node);
        let mut came: HashMap<IfaceId, Reached> = HashMap::new();
        let mut queue = VecDeque::from([(a, 0)]);
        while let Some((at, depth)) = queue.pop_front() {
            if at == b || depth == MAX_LINK {
                continue;
            }
            for (to, line) in self.next.get(&at).into_iter().flatten() {
                if *to == a || came.contains_key(to) || inside.is_some_and(|n| to.node != n) {
                    continue;
                }
                came.insert(*to, (at, *line));
                if *to == b {
                    return unwind(&came, a, b);
                }
                queue.push_back((*to, depth + 1));
            }
        }
        Vec::new()
    }
}

/// The run of lines that reached `b` from `a`, from `a`.
fn unwind(came: &HashMap<IfaceId, Reached>, a: IfaceId, b: IfaceId) -> Vec<Reached> {
    let mut run = Vec::new();
    let mut at = b;
    while at != a {
        let (from, line) = came[&at];
        run.push((at, line));
        at = from;
    }
    run.reverse();
    run
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::Way;

    fn lab(file: &str) -> Lab {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies").join(file);
        crate::topology::load(&path).unwrap().lab.unwrap()
    }

    fn hop(node: &str, iface: &str) -> Hop {
        Hop { way: Way::There, node: node.into(), iface: iface.into(), arriving: false, seen: None }
    }

    #[test]
    fn every_node_interface_and_line_is_drawn_with_its_names() {
        let lab = lab("e9-vlan-tagging.toml");
        let drawing = svg(&LabGraph::new(&lab), None);
        assert_eq!(drawing.matches("<g class=\"node ").count(), lab.nodes.len());
        assert_eq!(drawing.matches("data-iface=").count(), lab.iface_ids().count());
        assert!(
            drawing.contains("data-from=\"sw1:docker1-eth1\" data-to=\"docker1:eth1\" data-kind=\"trunk\"")
        );
        assert!(drawing.contains("data-from=\"docker1:eth1.19\" data-to=\"web1:eth0\" data-kind=\"child\""));
        assert!(drawing.contains("data-from=\"sw1:br0\" data-to=\"sw1:gw-eth0\" data-kind=\"port\""));
        assert!(drawing.contains(">trunk 19,20</text>"), "{drawing}");
        assert!(!drawing.contains(" on-path verdict"), "no results, no highlight");
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(xml_escape("a<b & \"c\"\u{1b}"), "a&lt;b &amp; &quot;c&quot;?");
    }

    #[test]
    fn a_walk_across_a_switch_takes_its_ports_and_bridge() {
        let lab = lab("e9-vlan-tagging.toml");
        let graph = LabGraph::new(&lab);
        let walk = Walk {
            hops: vec![
                hop("web1", "eth0"),
                hop("docker1", "eth1"),
                hop("sw1", "docker1-eth1"),
                hop("sw1", "gw-eth0"),
                hop("gw", "eth0"),
            ],
            stop: None,
            asked: false,
        };
        let names = Wiring::new(&graph).path(&walk).names(&lab);
        assert_eq!(names.nodes, ["sw1", "gw", "docker1", "web1"]);
        assert!(names.ifaces.contains(&"sw1:br0".to_string()), "{:?}", names.ifaces);
        assert!(names.ifaces.contains(&"docker1:eth1.19".to_string()), "the child's parent between");
        assert!(!names.ifaces.contains(&"sw1:docker1-eth0".to_string()));
        let edge = |a: &str, b: &str| [a.to_string(), b.to_string()];
        for line in [
            edge("docker1:eth1.19", "web1:eth0"),
            edge("docker1:eth1", "docker1:eth1.19"),
            edge("sw1:docker1-eth1", "docker1:eth1"),
            edge("sw1:br0", "sw1:docker1-eth1"),
            edge("sw1:br0", "sw1:gw-eth0"),
            edge("sw1:gw-eth0", "gw:eth0"),
        ] {
            assert!(names.edges.contains(&line), "{line:?} in {:?}", names.edges);
        }
        assert_eq!(names.edges.len(), 6);
    }

    #[test]
    fn two_interfaces_of_one_node_are_joined_inside_it() {
        let lab = lab("e9-vlan-tagging.toml");
        let graph = LabGraph::new(&lab);
        let walk = Walk { hops: vec![hop("gw", "eth0.19"), hop("gw", "eth0.20")], stop: None, asked: false };
        let names = Wiring::new(&graph).path(&walk).names(&lab);
        assert_eq!(names.edges.len(), 2, "both children of eth0, not round by the switch: {:?}", names.edges);
        assert_eq!(names.nodes, ["gw"]);
    }

    #[test]
    fn a_thousand_hosts_are_laid_out_in_wrapped_rows() {
        let mut text = String::from("name = \"big\"\n[[switch]]\nname = \"sw\"\n");
        for n in 0..1000 {
            let _ = write!(
                text,
                "[[host]]\nname = \"h{n}\"\n  [[host.iface]]\n  name = \"eth0\"\n  link = \"sw\"\n  \
                 addresses = [\"10.{}.{}.1/16\"]\n",
                n / 200,
                n % 200
            );
        }
        let lab = crate::topology::check(crate::topology::Source::new("big.toml", text)).lab.unwrap();
        let started = std::time::Instant::now();
        let drawing = svg(&LabGraph::new(&lab), None);
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
        assert_eq!(drawing.matches("<g class=\"node ").count(), 1001);
        let width: i32 =
            drawing.split("width=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
        assert!(width <= MAX_ROW + 2 * MARGIN, "{width}");
    }
}
