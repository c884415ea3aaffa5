//! Layer 3 of `up`: sysctls about devices, addresses and routes, written once the links of
//! a node exist. Must not make or move links.

use super::Realizer;
use crate::model::{Destination, IfaceId, NodeId, Sysctl};
use crate::plan;
use crate::kernel::netns;
use crate::realize::Error;
use futures::future::join_all;

impl Realizer<'_> {
    pub(super) async fn write_sysctls(&self, node: NodeId) -> Result<(), Error> {
        let lab = self.lab;
        let sysctls: Vec<Sysctl> = plan::device_sysctls(lab, node).into_iter().cloned().collect();
        let file = self.namespace(node).file.try_clone().map_err(|e| Error::io("opening a namespace", &e))?;
        let node_name = lab.node(node).name.clone();
        tokio::task::spawn_blocking(move || {
            netns::run_in(&file, || {
                for s in &sysctls {
                    if let Err(e) = std::fs::write(s.proc_path(), &s.value) {
                        return Ok(Err(sysctl_error(&node_name, s, &e)));
                    }
                }
                Ok(Ok(()))
            })
            .unwrap_or_else(|e| Err(Error::io(format!("entering node {node_name}"), &e)))
        })
        .await
        .map_err(|e| Error::new("writing sysctls", e))?
    }

    pub(super) async fn add_addresses(&self, node: NodeId) -> Result<(), Error> {
        let lab = self.lab;
        let netlink = &self.namespace(node).netlink;
        let mut requests = Vec::new();
        for (index, iface) in lab.node(node).ifaces.iter().enumerate() {
            let id = IfaceId { node, index };
            if iface.addresses.is_empty() {
                continue;
            }
            let kernel_index = self.index(id).await?;
            for address in &iface.addresses {
                let doing = format!("adding address {address} to {}", lab.iface_label(id));
                requests.push(async move {
                    netlink.add_address(kernel_index, *address).await.map_err(|e| {
                        Error::kernel(doing, &e, |errno| match errno {
                            libc::EADDRINUSE => Some(
                                "another ipvlan child of the same parent already has this address".into(),
                            ),
                            libc::EACCES if address.addr().is_ipv6() => {
                                Some("IPv6 is disabled on this interface (disable_ipv6)".into())
                            }
                            _ => None,
                        })
                    })
                });
            }
        }
        join_all(requests).await.into_iter().collect()
    }

    pub(super) async fn add_routes(&self, node: NodeId) -> Result<(), Error> {
        let lab = self.lab;
        let netlink = &self.namespace(node).netlink;
        for route in &lab.node(node).routes {
            let dev = match route.dev {
                Some(index) => Some(self.index(IfaceId { node, index }).await?),
                None => None,
            };
            let (to, v6) = match route.to {
                Destination::Default { v6 } => (None, v6),
                Destination::Net(net) => (Some(net), matches!(net, ipnet::IpNet::V6(_))),
            };
            let shown = match route.via {
                Some(via) => format!("{} via {via}", route.to),
                None => format!(
                    "{} dev {}",
                    route.to,
                    route.dev.map_or("?", |d| lab.node(node).ifaces[d].name.as_str())
                ),
            };
            netlink.add_route(to, v6, route.via, dev).await.map_err(|e| {
                Error::kernel(format!("adding route {shown} in {}", lab.node(node).name), &e, |errno| {
                    match errno {
                        libc::ENETUNREACH => {
                            Some("the next hop is on no connected subnet of this node".into())
                        }
                        libc::ENETDOWN => Some("the route's device is down (`up = false`?)".into()),
                        _ => None,
                    }
                })
            })?;
        }
        Ok(())
    }
}

pub(super) fn sysctl_error(node: &str, sysctl: &crate::model::Sysctl, error: &std::io::Error) -> Error {
    let e = Error::io(format!("writing sysctl {}={} in {node}", sysctl.key, sysctl.value), error);
    match error.kind() {
        std::io::ErrorKind::NotFound => e.hint("this kernel has no such key in a network namespace"),
        std::io::ErrorKind::InvalidInput => e.hint("the kernel refused the value"),
        _ => e,
    }
}
