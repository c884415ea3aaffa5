//! What this kernel can make: each link kind tried once in a throwaway namespace, so that
//! `up` can refuse, before making anything, a lab the kernel cannot realize, and the tests
//! can choose between this kernel and the full one.

use super::netlink::{LinkSettings, Netlink, errno};
use super::netns;
use crate::model::{IfaceKind, IpvlanFlag, IpvlanMode, KernelFeature, MacvlanMode, VlanProtocol};

/// Which of `features` the running kernel offers.
pub fn probe(features: &[KernelFeature]) -> std::io::Result<Vec<(KernelFeature, bool)>> {
    let features = features.to_vec();
    netns::run_in_throwaway(move || {
        super::with_netlink(|netlink| async move {
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

/// The module to load for a link kind.
pub fn module_for(kind: &IfaceKind) -> &'static str {
    KernelFeature::of(kind).module()
}
