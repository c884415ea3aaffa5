//! The plan printed as the `ip` and `bridge` commands that build the same lab, for
//! `lab up --dry-run` and for people learning what each key does.

use super::{Plan, Step};
use crate::model::{Destination, IfaceId, IfaceKind, Lab, Mac, NodeId, Sysctl};
use std::fmt::Write;

pub fn render(plan: &Plan, lab: &Lab) -> String {
    let mut out = String::new();
    for (i, stage) in plan.stages.iter().enumerate() {
        let _ = writeln!(out, "# stage {}: {}", i + 1, stage.title);
        for step in &stage.steps {
            for line in step_commands(lab, step) {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

fn ns(lab: &Lab, node: NodeId) -> String {
    quote(&lab.netns_name(node))
}

fn step_commands(lab: &Lab, step: &Step) -> Vec<String> {
    match *step {
        Step::CreateNamespace { node } => {
            let mut lines = vec![format!("ip netns add {}", ns(lab, node))];
            // `-e`: like lab, skip baseline keys this kernel lacks.
            let baseline = super::baseline_sysctls(lab.node(node).role);
            lines.extend(
                baseline
                    .iter()
                    .map(|s| format!("ip netns exec {} sysctl -e -w {}", ns(lab, node), sysctl_arg(s))),
            );
            let own = super::namespace_sysctls(lab, node);
            lines.extend(
                own.iter().map(|s| format!("ip netns exec {} sysctl -w {}", ns(lab, node), sysctl_arg(s))),
            );
            lines.push(format!("ip -n {} link set lo up alias lab={}", ns(lab, node), lab.name));
            lines
        }
        Step::CreateLink { iface } => vec![link_command(lab, iface)],
        Step::ConfigurePort { port } => port_commands(lab, port),
        Step::EnablePort { port } => {
            vec![format!("ip -n {} link set dev {} up", ns(lab, port.node), lab.iface(port).name)]
        }
        Step::WriteSysctls { node } => super::device_sysctls(lab, node)
            .into_iter()
            .map(|s| format!("ip netns exec {} sysctl -w {}", ns(lab, node), sysctl_arg(s)))
            .collect(),
        Step::AddAddresses { node } => {
            let n = lab.node(node);
            n.ifaces
                .iter()
                .flat_map(|i| {
                    i.addresses.iter().map(move |a| {
                        let nodad = if a.addr().is_ipv6() { " nodad" } else { "" };
                        format!("ip -n {} address add {a} dev {}{nodad}", ns(lab, node), i.name)
                    })
                })
                .collect()
        }
        Step::AddRoutes { node } => lab
            .node(node)
            .routes
            .iter()
            .map(|r| {
                let family = match r.to {
                    Destination::Default { v6: true } => " -6",
                    _ => "",
                };
                let to = match r.to {
                    Destination::Default { .. } => "default".to_string(),
                    Destination::Net(net) => net.to_string(),
                };
                let via = r.via.map(|v| format!(" via {v}")).unwrap_or_default();
                let dev =
                    r.dev.map(|d| format!(" dev {}", lab.node(node).ifaces[d].name)).unwrap_or_default();
                format!("ip{family} -n {} route add {to}{via}{dev}", ns(lab, node))
            })
            .collect(),
    }
}

/// Address and MTU of a new link.
fn settings(lab: &Lab, id: IfaceId) -> String {
    let iface = lab.iface(id);
    let mut s = String::new();
    if let Some(mac) = iface.mac {
        let _ = write!(s, " address {mac}");
    }
    if let Some(mtu) = iface.mtu {
        let _ = write!(s, " mtu {mtu}");
    }
    s
}

/// Settings every created link carries: address, MTU, and up (switch ports come up last).
fn common(lab: &Lab, id: IfaceId) -> String {
    let mut s = settings(lab, id);
    if super::up_when_made(lab, id) {
        s.push_str(" up");
    }
    s
}

/// `KEY=VALUE` for sysctl(8), quoted for the shell; a device name with dots is written in
/// the `/` form, which sysctl(8) does not split (`net/ipv4/conf/eth1.19/rp_filter`).
fn sysctl_arg(sysctl: &Sysctl) -> String {
    let arg = match sysctl.device() {
        Some(device) if device.contains('.') => {
            let path = sysctl.proc_path();
            let relative = path.strip_prefix("/proc/sys").unwrap_or(&path);
            format!("{}={}", relative.display(), sysctl.value)
        }
        _ => format!("{}={}", sysctl.key, sysctl.value),
    };
    quote(&arg)
}

/// A word for sh: as it is when it holds nothing the shell would read, else single-quoted.
pub fn quote(word: &str) -> String {
    let plain =
        !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "_-.,:/=@+%".contains(c));
    if plain { word.to_string() } else { format!("'{}'", word.replace('\'', "'\\''")) }
}

fn link_command(lab: &Lab, id: IfaceId) -> String {
    let iface = lab.iface(id);
    let here = ns(lab, id.node);
    match &iface.kind {
        IfaceKind::Bridge { vlan_filtering } => {
            format!(
                "ip -n {here} link add name {} up type bridge vlan_filtering {}",
                iface.name,
                u8::from(*vlan_filtering)
            )
        }
        IfaceKind::Veth { peer, port } => {
            let master =
                port.as_ref().and_then(|p| p.master).map(|m| format!(" master {}", lab.iface(m).name));
            let peer_iface = lab.iface(*peer);
            // The peer is made down (the kernel cannot open it before the pair is joined)
            // and brought up from its own namespace.
            let mut command = format!(
                "ip -n {here} link add name {}{}{} type veth peer name {}{} netns {}",
                iface.name,
                master.unwrap_or_default(),
                common(lab, id),
                peer_iface.name,
                settings(lab, *peer),
                ns(lab, peer.node)
            );
            if super::up_when_made(lab, *peer) {
                command += &format!("\nip -n {} link set dev {} up", ns(lab, peer.node), peer_iface.name);
            }
            command
        }
        IfaceKind::Vlan { parent, id: vid, protocol } => {
            child_command(lab, id, *parent, &format!("vlan protocol {} id {vid}", protocol.as_str()))
        }
        IfaceKind::Macvlan { parent, mode, source_macs } => {
            let macs: Vec<String> = source_macs.iter().map(Mac::to_string).collect();
            let macs =
                if macs.is_empty() { String::new() } else { format!(" macaddr set {}", macs.join(" ")) };
            child_command(lab, id, *parent, &format!("macvlan mode {}{macs}", mode.as_str()))
        }
        IfaceKind::Ipvlan { parent, mode, flag } => {
            child_command(lab, id, *parent, &format!("ipvlan mode {} {}", mode.as_str(), flag.as_str()))
        }
        IfaceKind::Dummy => {
            format!("ip -n {here} link add name {}{} type dummy", iface.name, common(lab, id))
        }
    }
}

/// `ip -n PARENT-NS link add link PARENT name NAME [netns NS] ... type KIND...`: a child is made
/// from its parent's namespace and put straight into its own, under a temporary name when its
/// own is taken beside the parent.
fn child_command(lab: &Lab, id: IfaceId, parent: IfaceId, kind: &str) -> String {
    let into = if parent.node == id.node { String::new() } else { format!(" netns {}", ns(lab, id.node)) };
    let iface = lab.iface(id);
    let (made_as, settings, rename) = match super::temporary_name(lab, id) {
        Some(temporary) => {
            let up = if iface.up { " up" } else { "" };
            let rename =
                format!("\nip -n {} link set dev {temporary} name {}{up}", ns(lab, id.node), iface.name);
            (temporary, settings(lab, id), rename)
        }
        None => (iface.name.clone(), common(lab, id), String::new()),
    };
    format!(
        "ip -n {} link add link {} name {made_as}{into}{settings} type {kind}{rename}",
        ns(lab, parent.node),
        lab.iface(parent).name,
    )
}

fn port_commands(lab: &Lab, id: IfaceId) -> Vec<String> {
    let here = ns(lab, id.node);
    let name = &lab.iface(id).name;
    let Some(work) = super::port_work(lab, id) else { return Vec::new() };
    let mut lines = Vec::new();
    if let Some(master) = work.join {
        lines.push(format!("ip -n {here} link set dev {name} master {}", lab.iface(master).name));
    }
    if let Some(vlans) = work.vlans {
        if let Some(access) = vlans.access {
            lines.push(format!("bridge -n {here} vlan add dev {name} vid {access} pvid untagged"));
        }
        for vid in &vlans.trunk {
            lines.push(format!("bridge -n {here} vlan add dev {name} vid {vid}"));
        }
        if !vlans.keeps_default_vlan() {
            lines.push(format!("bridge -n {here} vlan del dev {name} vid 1"));
        }
    }
    if work.hairpin {
        lines.push(format!("bridge -n {here} link set dev {name} hairpin on"));
    }
    lines
}
