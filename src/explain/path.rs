//! The path an expectation's frames are meant to take through the lab's graph: the
//! interfaces from its source node to the node that has its target, by the fewest links
//! (cables, bridge ports, children on parents, tunnels). Pure: reads the model.

use super::{Hop, Walk, Way};
use crate::graph::{LabGraph, Vertex};
use crate::model::{Check, Expectation, IfaceId, Lab, NodeId, Target};
use petgraph::stable_graph::NodeIndex;
use std::collections::{HashMap, VecDeque};

/// The node an expectation sends from and what it sends to, when it sends something.
pub fn sent(expectation: &Expectation) -> Option<(NodeId, &Target)> {
    match &expectation.check {
        Check::Reach { from, to, .. }
        | Check::Resolves { from, to, .. }
        | Check::Connect { from, to, .. }
        | Check::Quality { from, to, .. }
        | Check::Throughput { from, to, .. } => Some((*from, to)),
        Check::State { .. } | Check::Route { .. } | Check::Listening { .. } => None,
    }
}

/// The source and target node of an expectation that sends something, when it has both.
pub fn ends(expectation: &Expectation) -> Option<(NodeId, NodeId)> {
    let (from, to) = sent(expectation)?;
    Some((from, to.iface?.node))
}

/// The walk of the path there and back, with no hop asked yet.
pub fn predicted(graph: &LabGraph, from: NodeId, to: NodeId) -> Walk {
    let there = interfaces(graph, from, to);
    let mut hops = hops_of(graph.lab, &there, Way::There);
    let back: Vec<IfaceId> = there.iter().rev().copied().collect();
    hops.extend(hops_of(graph.lab, &back, Way::Back));
    Walk { hops, stop: None, asked: false }
}

/// Each interface of the path, marked arriving when the one before is in another node.
pub fn hops_of(lab: &Lab, path: &[IfaceId], way: Way) -> Vec<Hop> {
    let mut before: Option<NodeId> = None;
    path.iter()
        .map(|id| {
            let arriving = before.is_some_and(|b| b != id.node);
            before = Some(id.node);
            Hop {
                way,
                node: lab.node(id.node).name.clone(),
                iface: lab.iface(*id).name.clone(),
                arriving,
                seen: None,
            }
        })
        .collect()
}

/// The interfaces on a shortest way from one node to another (none within one node).
fn interfaces(graph: &LabGraph, from: NodeId, to: NodeId) -> Vec<IfaceId> {
    let vertex_of = |node: NodeId| graph.graph.node_indices().find(|v| graph.graph[*v] == Vertex::Node(node));
    let (Some(start), Some(goal)) = (vertex_of(from), vertex_of(to)) else { return Vec::new() };
    let mut came_from: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(vertex) = queue.pop_front() {
        if vertex == goal {
            break;
        }
        for next in graph.graph.neighbors_undirected(vertex) {
            if next != start && !came_from.contains_key(&next) {
                came_from.insert(next, vertex);
                queue.push_back(next);
            }
        }
    }
    let mut path = Vec::new();
    let mut at = goal;
    while let Some(previous) = came_from.get(&at) {
        if let Vertex::Iface(id) = graph.graph[at] {
            path.push(id);
        }
        at = *previous;
    }
    path.reverse();
    path
}
