//! The lab as a petgraph graph: nodes and interfaces are vertices; membership, cables,
//! stacking (parent -> child, underlay -> vxlan), bridge ports and VXLAN tunnels are edges.
//! From it comes the realization order; `render` draws it, and `svg` lays it out and draws
//! it as SVG, with a verification's paths coloured. Reads the model only; never touches the
//! kernel.

mod render;
mod svg;

pub use render::{Format, render};
pub use svg::{Path, PathNames, Verdict, Wiring, svg, xml_escape};

use crate::model::{IfaceId, Lab, NodeId};
use petgraph::algo::toposort;
use petgraph::graphmap::DiGraphMap;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vertex {
    Node(NodeId),
    Iface(IfaceId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// A node owns an interface.
    Has,
    /// A veth pair, from the end created first to its peer.
    Cable,
    /// A sub-interface or child stacked on its parent.
    Stacked,
    /// A bridge and one of its ports.
    Port,
    /// A vxlan's underlay and the vxlan.
    Underlay,
    /// Two vxlans that carry each other's frames (`kind::vxlan::tunnels`).
    Tunnel,
}

/// Something realization creates: a namespace, or a link (a cable is created once, as
/// the end listed first, with its peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "create", rename_all = "lowercase")]
pub enum Object {
    Namespace { node: NodeId },
    Link { iface: IfaceId },
}

pub struct LabGraph<'l> {
    pub lab: &'l Lab,
    pub graph: StableDiGraph<Vertex, Edge>,
    vertices: HashMap<IfaceId, NodeIndex>,
}

impl<'l> LabGraph<'l> {
    pub fn new(lab: &'l Lab) -> Self {
        let mut graph = StableDiGraph::new();
        let mut vertices = HashMap::new();
        for (n, node) in lab.nodes.iter().enumerate() {
            let node_vertex = graph.add_node(Vertex::Node(NodeId(n)));
            for index in 0..node.ifaces.len() {
                let id = IfaceId { node: NodeId(n), index };
                let v = graph.add_node(Vertex::Iface(id));
                graph.add_edge(node_vertex, v, Edge::Has);
                vertices.insert(id, v);
            }
        }
        for cable in &lab.cables {
            graph.add_edge(vertices[&cable.a], vertices[&cable.b], Edge::Cable);
        }
        for id in lab.iface_ids() {
            let kind = &lab.iface(id).kind;
            if let Some(parent) = kind.parent() {
                graph.add_edge(vertices[&parent], vertices[&id], Edge::Stacked);
            }
            if let Some(underlay) = kind.made_on().filter(|_| kind.parent().is_none()) {
                graph.add_edge(vertices[&underlay], vertices[&id], Edge::Underlay);
            }
            if let Some(master) = kind.port().and_then(|p| p.master) {
                graph.add_edge(vertices[&master], vertices[&id], Edge::Port);
            }
        }
        for (a, b) in crate::kind::vxlan::tunnels(lab) {
            graph.add_edge(vertices[&a], vertices[&b], Edge::Tunnel);
        }
        LabGraph { lab, graph, vertices }
    }

    pub fn vertex(&self, iface: IfaceId) -> NodeIndex {
        self.vertices[&iface]
    }

    /// The object whose creation makes an interface exist: a cable's second end is made
    /// together with its first.
    pub fn creator(&self, iface: IfaceId) -> Object {
        let cable_from = self
            .graph
            .edges_directed(self.vertex(iface), petgraph::Direction::Incoming)
            .find(|e| *e.weight() == Edge::Cable)
            .map(|e| self.graph[petgraph::visit::EdgeRef::source(&e)]);
        match cable_from {
            Some(Vertex::Iface(a)) => Object::Link { iface: a },
            _ => Object::Link { iface },
        }
    }

    /// What must exist before an interface can be created.
    fn needs(&self, iface: IfaceId) -> Vec<Object> {
        let mut needs = vec![Object::Namespace { node: iface.node }];
        let kind = &self.lab.iface(iface).kind;
        if let Some(lower) = kind.made_on() {
            needs.push(self.creator(lower));
        }
        if let Some(master) = kind.port().and_then(|p| p.master) {
            needs.push(self.creator(master));
        }
        needs
    }

    /// Realization in stages: every object of a stage can be made at once, once the
    /// stages before it are done. Namespaces come first, then bridges (and point-to-point
    /// cables), then the cables into a switch, then sub-interfaces and the children stacked
    /// on those, each after its parent.
    pub fn creation_stages(&self) -> Vec<Vec<Object>> {
        let mut deps: DiGraphMap<Object, ()> = DiGraphMap::new();
        // A node that joins another's namespace has none to make.
        for n in (0..self.lab.nodes.len()).filter(|n| self.lab.nodes[*n].joins.is_none()) {
            deps.add_node(Object::Namespace { node: NodeId(n) });
        }
        for id in self.lab.iface_ids() {
            let object = self.creator(id);
            deps.add_node(object);
            for need in self.needs(id) {
                if need != object {
                    deps.add_edge(need, object, ());
                }
            }
        }
        let order = toposort(&deps, None).expect("validation refuses parent cycles, so an order exists");
        let mut stage: HashMap<Object, usize> = HashMap::new();
        for object in &order {
            let s = deps
                .neighbors_directed(*object, petgraph::Direction::Incoming)
                .map(|need| stage[&need] + 1)
                .max()
                .unwrap_or(0);
            stage.insert(*object, s);
        }
        let depth = stage.values().copied().max().map_or(0, |m| m + 1);
        let mut stages = vec![Vec::new(); depth];
        for (object, s) in stage {
            stages[s].push(object);
        }
        for s in &mut stages {
            s.sort();
        }
        stages
    }
}
