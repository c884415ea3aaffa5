//! What this kernel can make: each link kind tried once in a throwaway namespace (and NAT
//! rules installed in one, a netem queue set in one), so that
//! `up` can refuse, before making anything, a lab the kernel cannot realize, and the tests
//! can choose between this kernel and the full one.

use super::netlink::{LinkSettings, Netlink, errno};
use super::netns;
use crate::kind::{KernelFeature, Kind, LinkType, Resolved, veth};

/// Which of `features` the running kernel offers.
pub fn probe(features: &[KernelFeature]) -> std::io::Result<Vec<(KernelFeature, bool)>> {
    let (links, others): (Vec<KernelFeature>, Vec<KernelFeature>) =
        features.iter().partition(|f| f.sample().is_some());
    let mut found = netns::run_in_throwaway(move || {
        super::with_netlink(|netlink| async move {
            let mut found = Vec::new();
            for feature in links {
                found.push((feature, try_feature(&netlink, feature).await?));
            }
            Ok(found)
        })
    })?;
    if others.contains(&KernelFeature::Nat) {
        found.push((KernelFeature::Nat, super::nftables::supported()?));
    }
    if others.contains(&KernelFeature::Netem) {
        found.push((KernelFeature::Netem, netem_supported()?));
    }
    Ok(found)
}

/// Features the kernel lacks, among those given.
pub fn missing(features: &[KernelFeature]) -> std::io::Result<Vec<KernelFeature>> {
    Ok(probe(features)?.into_iter().filter(|(_, have)| !*have).map(|(f, _)| f).collect())
}

/// Makes the feature's sample link, on a veth parent when the sample is a child.
async fn try_feature(netlink: &Netlink, feature: KernelFeature) -> std::io::Result<bool> {
    let Some(sample) = feature.sample() else { return Ok(false) };
    let parent =
        if sample.kind().stacked() { Some(sample_parent(netlink, sample.kind()).await?) } else { None };
    let resolved = Resolved { parent, settings: LinkSettings::default(), peer_netns: None };
    let name = format!("probe{}", feature as usize);
    match netlink.add_link(sample.message(&name, &resolved)).await {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(libc::EOPNOTSUPP) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A veth end to stack a sample child on; ipvlan gets one of its own (a parent serves
/// macvlan or ipvlan, not both).
async fn sample_parent(netlink: &Netlink, kind: Kind) -> std::io::Result<u32> {
    let parent = if kind == Kind::Ipvlan { "probeip0" } else { "probemv0" };
    if let Ok(link) = netlink.link(parent).await {
        return Ok(link.index);
    }
    let veth = LinkType::Veth(veth::Link { peer: format!("{parent}p"), netns: None, mac: None, mtu: None });
    let resolved = Resolved { parent: None, settings: LinkSettings::default(), peer_netns: None };
    netlink.add_link(veth.message(parent, &resolved)).await?;
    Ok(netlink.link(parent).await?.index)
}

/// Whether a netem queue can be set, on a throwaway namespace's `lo`.
fn netem_supported() -> std::io::Result<bool> {
    netns::run_in_throwaway(|| {
        super::with_netlink(|netlink| async move {
            let lo = netlink.link("lo").await?.index;
            let options = super::netem::options(&crate::impair::Impairment::default());
            match netlink.set_netem(lo, options).await {
                Ok(()) => Ok(true),
                Err(e) if matches!(errno(&e), Some(libc::ENOENT | libc::EOPNOTSUPP)) => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
    })
}
