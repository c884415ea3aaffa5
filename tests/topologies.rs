//! Every topology in topologies/ validates, and Graphviz accepts its drawing.

mod common;
use lab::graph::{Format, LabGraph, Object, render};

#[test]
fn every_topology_validates() {
    let files = common::topology_files();
    assert!(files.len() >= 25, "E1-E9, D1-D9 and the 004 models, with staged files");
    for file in files {
        let checked = lab::topology::load(&file).unwrap();
        let errors: Vec<_> =
            checked.diagnostics.iter().filter(|d| d.is_error()).map(|d| &d.message).collect();
        assert!(checked.lab.is_some(), "{}: {errors:?}", file.display());
    }
}

#[test]
fn every_expectation_of_the_topologies_has_a_why() {
    for file in common::topology_files() {
        let lab = lab::topology::load(&file).unwrap().lab.unwrap();
        assert!(!lab.expectations.is_empty(), "{} has no expectation", file.display());
        let states =
            std::iter::once(("initial", &lab)).chain(lab.steps.iter().map(|s| (s.name.as_str(), &s.lab)));
        for (step, state) in states {
            for e in &state.expectations {
                assert!(
                    e.why.as_ref().is_some_and(|w| w.len() >= 60),
                    "{}: expectation {} of step `{step}` needs a why that explains the mechanism",
                    file.display(),
                    e.number
                );
            }
        }
    }
}

#[test]
fn graphviz_accepts_the_dot_of_every_topology() {
    for file in common::topology_files() {
        let lab = lab::topology::load(&file).unwrap().lab.unwrap();
        let dot = render(&LabGraph::new(&lab), Format::Dot);
        let out = common::piped_through("dot", &["-Tsvg"], &dot, "apt-get install graphviz");
        assert!(
            out.status.success(),
            "{}: dot refused it: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"), "{}: no SVG", file.display());
    }
}

#[test]
fn mermaid_and_json_drawings_name_every_interface() {
    let lab =
        lab::topology::load(std::path::Path::new("topologies/e9-vlan-tagging.toml")).unwrap().lab.unwrap();
    let graph = LabGraph::new(&lab);
    let mermaid = render(&graph, Format::Mermaid);
    assert!(mermaid.starts_with("flowchart LR"));
    assert!(mermaid.contains("eth1.19<br/>vlan 802.1Q id 19"), "{mermaid}");
    assert!(mermaid.contains("|\"trunk 19,20\"|"), "{mermaid}");
    let json: serde_json::Value = serde_json::from_str(&render(&graph, Format::Json)).unwrap();
    let docker1 = json["nodes"].as_array().unwrap().iter().find(|n| n["name"] == "docker1").unwrap();
    let names: Vec<&str> =
        docker1["interfaces"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["eth0", "eth1", "eth1.19", "eth1.20"]);
    assert_eq!(docker1["namespace"], "e9-vlan-tagging-docker1");
}

/// Realization order: namespaces, then bridges, then cables, then sub-interfaces, then the
/// children stacked on them; a cable's far end is made with it.
#[test]
fn creation_stages_put_parents_before_children() {
    let lab =
        lab::topology::load(std::path::Path::new("topologies/e9-vlan-tagging.toml")).unwrap().lab.unwrap();
    let graph = LabGraph::new(&lab);
    let stages = graph.creation_stages();
    let stage_of = |label: &str| {
        let (node, iface) = label.split_once(':').unwrap();
        let id = lab.iface_id(lab.node_id(node).unwrap(), iface).unwrap();
        let creator = graph.creator(id);
        stages.iter().position(|s| s.contains(&creator)).unwrap()
    };
    assert!(stages[0].iter().all(|o| matches!(o, Object::Namespace { .. })));
    assert_eq!(stages[0].len(), lab.nodes.len());
    assert_eq!(stage_of("sw1:br0"), 1);
    assert_eq!(stage_of("docker1:eth1"), 2, "a cable after the bridge its port joins");
    assert_eq!(stage_of("docker1:eth1"), stage_of("sw1:docker1-eth1"), "both ends of a cable at once");
    assert_eq!(stage_of("docker1:eth1.19"), 3);
    assert_eq!(stage_of("web1:eth0"), 4, "a macvlan on a VLAN sub-interface comes last");
}

/// A vxlan hangs on its underlay (made after it), and two vxlans that send to each other
/// are drawn joined by their tunnel; a vxlan of another VNI is not.
#[test]
fn a_vxlan_tunnel_is_drawn_between_its_ends() {
    let lab =
        lab::topology::load(std::path::Path::new("topologies/overlay-vxlan.toml")).unwrap().lab.unwrap();
    let graph = LabGraph::new(&lab);
    let dot = render(&graph, Format::Dot);
    assert!(
        dot.contains("\"n1_1\" -> \"n2_1\" [dir=none, style=dashed, color=blue, label=\"vxlan 42\"]"),
        "{dot}"
    );
    assert_eq!(dot.matches("label=\"vxlan 4").count(), 1, "h3's VNI 43 has no other end: {dot}");
    let mermaid = render(&graph, Format::Mermaid);
    assert!(mermaid.contains("n1_1 -.-|\"vxlan 42\"| n2_1"), "{mermaid}");
    assert!(mermaid.contains("n1_0 -.->|underlay| n1_1"), "{mermaid}");
    let stages = graph.creation_stages();
    let h1 = lab.node_id("h1").unwrap();
    let stage_of = |iface: &str| {
        let creator = graph.creator(lab.iface_id(h1, iface).unwrap());
        stages.iter().position(|s| s.contains(&creator)).unwrap()
    };
    assert!(stage_of("eth0") < stage_of("vx0"), "the underlay first");
}

/// Bridges inside hosts, shared namespaces and tunnels are drawn unlike cables and hosts.
#[test]
fn graphs_draw_bridges_in_hosts_shared_namespaces_and_tunnels_distinctly() {
    let load = |file: &str| lab::topology::load(std::path::Path::new(file)).unwrap().lab.unwrap();
    let container = load("topologies/m-container.toml");
    let dot = render(&LabGraph::new(&container), Format::Dot);
    assert!(dot.contains("[label=\"docker0\\nbridge\\n172.17.0.1/16\", shape=component"), "{dot}");
    assert!(dot.contains("label=\"bbox (host, in web's namespace)\";\n    style=dashed;"), "{dot}");
    assert!(
        dot.contains("\"node2\" -> \"n1_0\" [style=dashed, dir=none, label=\"same namespace\"]"),
        "{dot}"
    );
    let mermaid = render(&LabGraph::new(&container), Format::Mermaid);
    assert!(mermaid.contains("n0_0{{\"docker0<br/>bridge<br/>172.17.0.1/16\"}}"), "{mermaid}");
    assert!(mermaid.contains("node2_ns -.-|same namespace| n1_0"), "{mermaid}");
    let overlay = render(&LabGraph::new(&load("topologies/m-overlay.toml")), Format::Dot);
    assert!(overlay.contains("vxlan 42"), "{overlay}");
}
