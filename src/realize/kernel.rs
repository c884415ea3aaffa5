//! What this kernel can make: each link kind tried once in a throwaway namespace, so that
//! `up` can refuse, before making anything, a lab the kernel cannot realize, and the tests
//! can choose between this kernel and the full one.

use super::netlink::{LinkSettings, Netlink, errno};
use super::{Error, netns};
use crate::model::{IfaceKind, IpvlanFlag, IpvlanMode, KernelFeature, Lab, MacvlanMode, VlanProtocol};

/// Which of `features` the running kernel offers.
pub fn probe(features: &[KernelFeature]) -> std::io::Result<Vec<(KernelFeature, bool)>> {
    let features = features.to_vec();
    netns::run_in_throwaway(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let netlink = Netlink::open_here(rt.handle())?;
        rt.block_on(async {
            let mut found = Vec::new();
            for feature in features {
                found.push((feature, try_feature(&netlink, feature).await?));
            }
            Ok(found)
        })
    })
}

/// Features the kernel lacks, among those given.
pub fn missing(features: &[KernelFeature]) -> std::io::Result<Vec<KernelFeature>> {
    Ok(probe(features)?.into_iter().filter(|(_, have)| !*have).map(|(f, _)| f).collect())
}

async fn try_feature(netlink: &Netlink, feature: KernelFeature) -> std::io::Result<bool> {
    let up = LinkSettings::default();
    let result = match feature {
        KernelFeature::Veth => netlink.add_veth("probe0", up, "probe1", up).await,
        KernelFeature::Bridge => netlink.add_bridge("probebr0", false, up).await,
        KernelFeature::BridgeVlanFiltering => netlink.add_bridge("probebr1", true, up).await,
        KernelFeature::Dummy => netlink.add_dummy("probedummy", up).await,
        KernelFeature::Vlan | KernelFeature::Macvlan | KernelFeature::Ipvlan => {
            let parent = match feature {
                KernelFeature::Ipvlan => "probeip0",
                _ => "probemv0",
            };
            let parent_index = match netlink.link(parent).await {
                Ok(link) => link.index,
                Err(_) => {
                    netlink.add_veth(parent, up, &format!("{parent}p"), up).await.map_err(to_io)?;
                    netlink.link(parent).await.map_err(to_io)?.index
                }
            };
            match feature {
                KernelFeature::Vlan => {
                    netlink.add_vlan("probevlan", parent_index, 5, VlanProtocol::Dot1Q, up).await
                }
                KernelFeature::Macvlan => {
                    netlink.add_macvlan("probemv", parent_index, MacvlanMode::Bridge, &[], up).await
                }
                _ => {
                    netlink
                        .add_ipvlan("probeipvlan", parent_index, IpvlanMode::L2, IpvlanFlag::Bridge, up)
                        .await
                }
            }
        }
    };
    match result {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(libc::EOPNOTSUPP) => Ok(false),
        Err(e) => Err(to_io(e)),
    }
}

fn to_io(e: super::netlink::Error) -> std::io::Error {
    match errno(&e) {
        Some(n) => std::io::Error::from_raw_os_error(n),
        None => std::io::Error::other(e.to_string()),
    }
}

/// Refuses a lab whose link kinds this kernel cannot make, naming what needs each of them.
pub fn check(lab: &Lab) -> Result<(), Error> {
    let doing = format!("checking that this kernel can make lab `{}`", lab.name);
    let missing = missing(&lab.kernel_needs()).map_err(|e| Error::io(&doing, &e))?;
    if missing.is_empty() {
        return Ok(());
    }
    let lacks: Vec<String> = missing
        .iter()
        .map(|feature| format!("{} (needed by {})", feature.describe(), users_of(lab, *feature)))
        .collect();
    let mut modules: Vec<&str> = missing.iter().map(|f| f.module()).collect();
    modules.dedup();
    Err(Error::new(doing, format!("this kernel has no {}", lacks.join("; no "))).hint(format!(
        "load it (modprobe {}) or run the lab in the full kernel: lab run --sandbox FILE",
        modules.join(" ")
    )))
}

/// Up to three of the lab's interfaces that need `feature`: switches by node name, the
/// rest as `node:iface`.
fn users_of(lab: &Lab, feature: KernelFeature) -> String {
    let users: Vec<String> = lab
        .iface_ids()
        .filter(|id| KernelFeature::of(&lab.iface(*id).kind) == feature)
        .map(|id| match lab.iface(id).kind {
            IfaceKind::Bridge { .. } => lab.node(id.node).name.clone(),
            _ => lab.iface_label(id),
        })
        .collect();
    match users.len() {
        0..=3 => users.join(", "),
        n => format!("{} and {} more", users[..3].join(", "), n - 3),
    }
}

/// The module to load for a link kind.
pub fn module_for(kind: &IfaceKind) -> &'static str {
    KernelFeature::of(kind).module()
}
