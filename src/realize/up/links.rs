//! Links of `up`: a new link's message, built by its kind from the plan's `NewLink` once its
//! parent's (or underlay's) and master's indexes and its namespaces are known, a vxlan's
//! remotes, and what the kernel's refusals mean. Must not write addresses, routes or sysctls.

use super::Realizer;
use crate::kernel::netlink::LinkSettings;
use crate::kind::{LinkType, Resolved};
use crate::plan::NewLink;
use crate::realize::Error;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

impl Realizer<'_> {
    pub(super) async fn add_link(&self, doing: &str, link: &NewLink) -> Result<(), Error> {
        let parent = match link.lower() {
            Some(lower) => Some(self.index(&link.ns, lower).await?),
            None => None,
        };
        let master = match &link.master {
            Some(master) => Some(self.index(&link.ns, master).await?),
            None => None,
        };
        let netns = |name: &Option<String>| -> Result<Option<i32>, Error> {
            match name {
                Some(ns) => Ok(Some(self.namespace(ns)?.file.as_raw_fd())),
                None => Ok(None),
            }
        };
        let peer_netns = match &link.link {
            LinkType::Veth(veth) => netns(&veth.netns)?,
            _ => None,
        };
        let settings =
            LinkSettings { mac: link.mac, mtu: link.mtu, up: link.up, netns: netns(&link.netns)?, master };
        let message = link.link.message(&link.name, &Resolved { parent, settings, peer_netns });
        let done = self.netlink(&link.ns)?.add_link(message).await;
        done.map_err(|e| Error::kernel(doing, e, |errno| creation_hint(link, errno)))
    }

    /// `bridge fdb append 00:00:00:00:00:00 dev DEV dst DST`
    pub(super) async fn append_fdb(
        &self,
        doing: &str,
        ns: &str,
        dev: &str,
        dst: IpAddr,
    ) -> Result<(), Error> {
        let index = self.index(ns, dev).await?;
        let done = self.netlink(ns)?.append_fdb(index, dst).await;
        done.map_err(|e| {
            Error::kernel(format!("{doing}: adding its remote {dst}"), e, |errno| match errno {
                libc::EAFNOSUPPORT => {
                    Some("the remote's address family is not the tunnel's (its `local`'s, else IPv4)".into())
                }
                _ => None,
            })
        })
    }
}

fn creation_hint(link: &NewLink, errno: i32) -> Option<String> {
    let kind = link.link.kind();
    match errno {
        libc::EOPNOTSUPP => Some(match &link.link {
            LinkType::Bridge(bridge) if bridge.vlan_filtering => {
                "this kernel's bridge has no VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING); run the lab in the full kernel: lab run --sandbox".into()
            }
            _ => format!(
                "this kernel has no {} module (modprobe {}); or run the lab in the full kernel: lab run --sandbox",
                kind.name(),
                kind.module()
            ),
        }),
        libc::EBUSY => Some("the parent already serves another driver (a bridge, or macvlan where ipvlan is wanted, or the reverse)".into()),
        libc::EEXIST if kind == crate::kind::Kind::Vxlan => Some(format!(
            "a device named `{}` already exists there, or a vxlan with the same VNI, port and address family",
            link.name
        )),
        libc::EEXIST => Some(format!("a device named `{}` already exists there", link.name)),
        libc::EINVAL if kind.stacked() => {
            Some("the kernel refused these settings: a child's MTU may not exceed its parent's, and passthru wants no siblings".into())
        }
        _ => None,
    }
}
