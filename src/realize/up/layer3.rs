//! Layer 3 of `up`: sysctls about devices, addresses, routes and NAT rules, written once the
//! links of a node exist, and what the kernel's refusals of them mean. Must not make or
//! move links.

use super::Realizer;
use crate::kernel::{netns, nftables};
use crate::model::{Destination, Sysctl};
use crate::nat::Ruleset;
use crate::realize::{Cause, Error};
use ipnet::IpNet;
use std::net::IpAddr;

impl Realizer<'_> {
    pub(super) async fn write_sysctls(&self, ns: &str, node: &str, sysctls: &[Sysctl]) -> Result<(), Error> {
        let sysctls = sysctls.to_vec();
        let file = self.namespace(ns)?.file.try_clone().map_err(|e| Error::io("opening a namespace", e))?;
        let node = node.to_string();
        tokio::task::spawn_blocking(move || {
            netns::run_in(&file, || {
                for s in &sysctls {
                    if let Err(e) = std::fs::write(s.proc_path(), &s.value) {
                        return Ok(Err(sysctl_error(&node, s, e)));
                    }
                }
                Ok(Ok(()))
            })
            .unwrap_or_else(|e| Err(Error::io(format!("entering node {node}"), e)))
        })
        .await
        .map_err(|e| Error::new("writing sysctls", e))?
    }

    /// Installs a node's NAT from a thread inside its namespace, where the nf_tables
    /// socket must be opened.
    pub(super) async fn install_nat(&self, doing: &str, ns: &str, ruleset: &Ruleset) -> Result<(), Error> {
        let file = self.namespace(ns)?.file.try_clone().map_err(|e| Error::io("opening a namespace", e))?;
        let ruleset = ruleset.clone();
        let installed =
            tokio::task::spawn_blocking(move || netns::run_in(&file, || Ok(nftables::install(&ruleset))))
                .await
                .map_err(|e| Error::new(doing, e))?
                .map_err(|e| Error::io(format!("{doing}: entering its namespace"), e))?;
        installed.map_err(|e| nat_error(doing, e))
    }

    pub(super) async fn add_address(
        &self,
        doing: &str,
        ns: &str,
        dev: &str,
        address: IpNet,
    ) -> Result<(), Error> {
        let index = self.index(ns, dev).await?;
        let done = self.netlink(ns)?.add_address(index, address).await;
        done.map_err(|e| {
            Error::kernel(doing, e, |errno| match errno {
                libc::EADDRINUSE => {
                    Some("another ipvlan child of the same parent already has this address".into())
                }
                libc::EACCES if address.addr().is_ipv6() => {
                    Some("IPv6 is disabled on this interface (disable_ipv6)".into())
                }
                _ => None,
            })
        })
    }

    pub(super) async fn add_route(
        &self,
        doing: &str,
        ns: &str,
        to: Destination,
        via: Option<IpAddr>,
        dev: Option<&str>,
    ) -> Result<(), Error> {
        let dev = match dev {
            Some(dev) => Some(self.index(ns, dev).await?),
            None => None,
        };
        let (to, v6) = match to {
            Destination::Default { v6 } => (None, v6),
            Destination::Net(net) => (Some(net), matches!(net, IpNet::V6(_))),
        };
        let done = self.netlink(ns)?.add_route(to, v6, via, dev).await;
        done.map_err(|e| {
            Error::kernel(doing, e, |errno| match errno {
                libc::ENETUNREACH => Some("the next hop is on no connected subnet of this node".into()),
                libc::ENETDOWN => Some("the route's device is down (`up = false`?)".into()),
                _ => None,
            })
        })
    }
}

pub(super) fn sysctl_error(node: &str, sysctl: &Sysctl, error: std::io::Error) -> Error {
    let kind = error.kind();
    let e = Error::io(format!("writing sysctl {}={} in {node}", sysctl.key, sysctl.value), error);
    match kind {
        std::io::ErrorKind::NotFound => e.hint("this kernel has no such key in a network namespace"),
        std::io::ErrorKind::InvalidInput => e.hint("the kernel refused the value"),
        _ => e,
    }
}

/// A refusal of the NAT batch, with what to do about it.
fn nat_error(doing: &str, error: nftables::Error) -> Error {
    match error {
        nftables::Error::Refused { doing: request, errno } => {
            Error { doing: format!("{doing}: {request}"), cause: Cause::Refused(errno), hint: None }
        }
        nftables::Error::Unsupported => Error::new(doing, nftables::Error::Unsupported).hint(
            "run NAT labs natively, on a kernel with nf_tables for IPv4; the sandbox's kernel has none",
        ),
        other => Error::new(doing, other),
    }
}
