//! What one node's kernel says about a packet passing through it, asked from a thread in
//! the node's namespace: the route lookup as the kernel does it for that input interface
//! and source (`ip route get DST from SRC iif IIF`, forwarding and the reverse-path filter
//! included), whether forwarding is on, the output link's admin state and carrier, and the
//! next hop's neighbour entry. Reads only.

use crate::kernel::netlink::{Netlink, errno};
use crate::kernel::{netns, with_netlink};
use std::fs::File;
use std::io;
use std::net::IpAddr;

/// A packet to `dst`, from `src`, that came in by `iif` (`None`: the node sends it).
#[derive(Clone, Debug)]
pub struct Question {
    pub dst: IpAddr,
    pub src: Option<IpAddr>,
    pub iif: Option<String>,
}

/// The kernel's answers.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Whether the kernel forwards what comes in by the input interface: by
    /// `net.ipv4.conf.IIF.forwarding` for IPv4, by `net.ipv6.conf.all.forwarding` for IPv6;
    /// true when the node sends the packet itself.
    pub forwarding: bool,
    /// `net.ipv4.ip_forward` (`net.ipv6.conf.all.forwarding`), to name the right key.
    pub forwarding_all: bool,
    /// The stricter of `net.ipv4.conf.all.rp_filter` and the input interface's.
    pub rp_filter: u8,
    /// The route, or the errno the kernel's lookup answered with.
    pub route: Result<Route, i32>,
    /// When the lookup failed: the node's links, and whether each is up (a connected route
    /// goes with its link).
    pub links: Vec<(String, bool)>,
}

/// Where the kernel sends the packet.
#[derive(Clone, Debug)]
pub struct Route {
    /// The address is the node's own.
    pub local: bool,
    /// The output interface's name.
    pub oif: String,
    pub oif_up: bool,
    pub carrier: bool,
    pub gateway: Option<IpAddr>,
    /// The source address the node would pick.
    pub source: Option<IpAddr>,
    /// The next hop's neighbour entry: resolved, failed (or still asking), or absent.
    pub neighbour: Option<bool>,
}

impl Route {
    /// The next hop: the gateway, or the destination itself on a link.
    pub fn next_hop(&self, dst: IpAddr) -> IpAddr {
        self.gateway.unwrap_or(dst)
    }
}

/// Asks the kernel of the namespace `namespace`.
pub fn ask(namespace: &File, question: &Question) -> io::Result<Answer> {
    netns::run_in(namespace, || {
        let (forwarding, forwarding_all, rp_filter) = sysctls(question);
        with_netlink(|netlink| async move {
            let route = route(&netlink, question).await?;
            let links = match route {
                Ok(_) => Vec::new(),
                Err(_) => netlink.links().await?.into_iter().map(|l| (l.name, l.up)).collect(),
            };
            Ok(Answer { forwarding, forwarding_all, rp_filter, route, links })
        })
    })
}

async fn route(netlink: &Netlink, question: &Question) -> io::Result<Result<Route, i32>> {
    let iif = match &question.iif {
        Some(name) => Some(netlink.link(name).await?.index),
        None => None,
    };
    let found = match netlink.route_get(question.dst, question.src, iif).await {
        Ok(found) => found,
        Err(e) => return errno(&e).map(Err).ok_or_else(|| e.into()),
    };
    let oif = netlink.link_by_index(found.oif).await?;
    let next_hop = found.gateway.unwrap_or(question.dst);
    let neighbour = if found.local { None } else { netlink.neighbour_resolved(next_hop).await? };
    Ok(Ok(Route {
        local: found.local,
        oif: oif.name,
        oif_up: oif.up,
        carrier: oif.carrier,
        gateway: found.gateway,
        source: found.source,
        neighbour,
    }))
}

/// Forwarding (on the input interface, and for all) and rp_filter, read in the namespace.
fn sysctls(question: &Question) -> (bool, bool, u8) {
    let Some(iif) = &question.iif else { return (true, true, 0) };
    let family = if question.dst.is_ipv4() { "ipv4" } else { "ipv6" };
    let read = |key: String| -> u8 {
        std::fs::read_to_string(format!("/proc/sys/net/{family}/{key}"))
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let forwarding_all = read("conf/all/forwarding".into()) != 0;
    // IPv4 forwards by the input interface's key; IPv6 by `all` alone (a device's own key
    // only makes it act as a router or a host: router advertisements, the NA router flag).
    let forwarding = match question.dst.is_ipv4() {
        true => read(format!("conf/{iif}/forwarding")) != 0,
        false => forwarding_all,
    };
    let rp_filter = if question.dst.is_ipv4() {
        read("conf/all/rp_filter".into()).max(read(format!("conf/{iif}/rp_filter")))
    } else {
        0
    };
    (forwarding, forwarding_all, rp_filter)
}
