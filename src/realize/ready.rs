//! What `up` checks before it makes anything: that the lab is not up already, that its
//! namespace names are free, and that this kernel can make every link kind it uses.

use super::Error;
use crate::kernel::{features, netns};
use crate::model::{IfaceKind, KernelFeature, Lab, NodeId};
use crate::state::State;

pub fn refuse_if_up(lab: &Lab) -> Result<(), Error> {
    let doing = format!("bringing up lab `{}`", lab.name);
    if State::load(&lab.name).map_err(|e| Error::io(&doing, e))?.is_some() {
        return Err(
            Error::new(doing, "it is already up").hint(format!("bring it down first: lab down {}", lab.name))
        );
    }
    let taken: Vec<String> = (0..lab.nodes.len())
        .map(|n| lab.netns_name(NodeId(n)))
        .filter(|name| netns::path_of(name).exists())
        .collect();
    if let Some(name) = taken.first() {
        return Err(Error::new(doing, format!("{} exists already", netns::path_of(name).display())).hint(format!(
            "if it is left from an earlier run of this lab, `lab down {}` removes it; otherwise rename the lab",
            lab.name
        )));
    }
    Ok(())
}

/// Refuses a lab whose link kinds this kernel cannot make, naming what needs each of them.
pub fn kernel_can_make(lab: &Lab) -> Result<(), Error> {
    let doing = format!("checking that this kernel can make lab `{}`", lab.name);
    let missing = features::missing(&lab.kernel_needs()).map_err(|e| Error::io(&doing, e))?;
    if missing.is_empty() {
        return Ok(());
    }
    let lacks: Vec<String> = missing
        .iter()
        .map(|feature| format!("{} (needed by {})", feature.describe(), users_of(lab, *feature)))
        .collect();
    let mut modules: Vec<&str> = missing.iter().map(|f| f.module()).collect();
    modules.dedup();
    // The sandbox's kernel has every link kind, but no nf_tables for IPv4.
    let elsewhere = if missing.contains(&KernelFeature::Nat) {
        "run NAT labs on a kernel built with CONFIG_NF_TABLES_IPV4 and CONFIG_NFT_NAT (the sandbox's has neither)"
    } else {
        "run the lab in the full kernel: lab run --sandbox FILE"
    };
    Err(Error::new(doing, format!("this kernel has no {}", lacks.join("; no ")))
        .hint(format!("load it (modprobe {}) or {elsewhere}", modules.join(" "))))
}

/// Up to three of the lab's interfaces that need `feature`: switches by node name, the
/// rest as `node:iface`.
fn users_of(lab: &Lab, feature: KernelFeature) -> String {
    if feature == KernelFeature::Netem {
        let mut labs = vec![lab];
        labs.extend(lab.steps.iter().map(|s| &s.lab));
        let mut users: Vec<String> = labs
            .iter()
            .flat_map(|l| {
                l.iface_ids().filter(|id| l.iface(*id).impair.is_some()).map(|id| l.iface_label(id))
            })
            .collect();
        users.sort();
        users.dedup();
        users.truncate(3);
        return format!("the impairment of {}", users.join(", "));
    }
    if feature == KernelFeature::Nat {
        let nodes: Vec<&str> =
            lab.nodes.iter().filter(|n| n.nat.is_some()).map(|n| n.name.as_str()).collect();
        return nodes.join(", ");
    }
    let states = std::iter::once(lab).chain(lab.steps.iter().map(|s| &s.lab));
    let mut users: Vec<String> = states
        .flat_map(|l| {
            l.iface_ids().filter(|id| l.iface(*id).kind.feature() == feature).map(|id| {
                match l.iface(id).kind {
                    IfaceKind::Bridge { .. } => l.node(id.node).name.clone(),
                    _ => l.iface_label(id),
                }
            })
        })
        .collect();
    users.dedup();
    match users.len() {
        0..=3 => users.join(", "),
        n => format!("{} and {} more", users[..3].join(", "), n - 3),
    }
}
