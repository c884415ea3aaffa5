//! Interface state and routes, read through netlink inside a node: promiscuity, MAC, and
//! whether a route to a prefix leaves by a given interface.

use crate::kernel::{LinkState, with_netlink};
use ipnet::IpNet;
use std::io;

#[derive(Clone)]
pub struct Look {
    pub iface: String,
    /// A route to look for out of `iface`.
    pub route: Option<IpNet>,
}

#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub link: Option<LinkState>,
    /// Interfaces the route to the prefix leaves by (empty: no such route).
    pub route_devices: Vec<String>,
    pub error: Option<String>,
}

/// Runs on a thread inside the node.
pub fn run(looks: &[Look]) -> io::Result<Vec<Seen>> {
    with_netlink(|netlink| async move {
        let links = netlink.links().await?;
        let mut seen = Vec::new();
        for look in looks {
            let mut s =
                Seen { link: links.iter().find(|l| l.name == look.iface).cloned(), ..Seen::default() };
            if s.link.is_none() {
                s.error = Some(format!("no interface {}", look.iface));
            }
            if let Some(prefix) = look.route {
                match netlink.routes(matches!(prefix, IpNet::V6(_))).await {
                    Ok(routes) => {
                        s.route_devices = routes
                            .iter()
                            .filter(|r| r.destination == prefix)
                            .filter_map(|r| {
                                links.iter().find(|l| Some(l.index) == r.oif).map(|l| l.name.clone())
                            })
                            .collect();
                    }
                    Err(e) => s.error = Some(format!("reading routes: {e}")),
                }
            }
            seen.push(s);
        }
        Ok(seen)
    })
}

/// Why a probe went unanswered, as the node sees it: its route and the next hop's
/// neighbour entry. Runs on a thread inside the node.
pub fn diagnose(targets: &[std::net::IpAddr]) -> io::Result<Vec<Option<String>>> {
    with_netlink(|netlink| async move {
        let mut notes = Vec::new();
        for target in targets {
            let note = match netlink.route_to(*target).await {
                Err(_) => Some(format!("no route to {target}")),
                Ok(route) => {
                    let hop = route.gateway.unwrap_or(*target);
                    let device = netlink.link_by_index(route.oif).await.map(|l| l.name).unwrap_or_default();
                    match netlink.neighbour_resolved(hop).await.ok().flatten() {
                        Some(false) => Some(format!("no ARP/ND answer for {hop} on {device}")),
                        Some(true) if route.gateway.is_some() => {
                            Some(format!("sent to the next hop {hop} on {device}"))
                        }
                        _ => None,
                    }
                }
            };
            notes.push(note);
        }
        Ok(notes)
    })
}
