//! Netlink, in methods named for what they do. One `Netlink` per namespace: its socket was
//! opened inside that namespace, so every request acts there. Requests on one socket are
//! pipelined, at most `IN_FLIGHT` at a time so that their answers always fit the socket's
//! receive buffer (a full buffer drops answers, and a request whose answer was dropped would
//! wait forever); and no request waits longer than `ANSWER_TIMEOUT`.

use crate::model::Mac;
use futures::{StreamExt, TryStreamExt};
use ipnet::IpNet;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
use rtnetlink::packet_route::link::{BridgeVlanInfoFlags, LinkAttribute, LinkMessage};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteScope};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::AsyncSocket;
use rtnetlink::{
    Handle, LinkBridgePort, LinkBridgeVlan, LinkMessageBuilder, LinkUnspec, RouteMessageBuilder,
};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Gives a socket room for `IN_FLIGHT` answers and more: as root past the system's
/// rmem_max (SO_RCVBUFFORCE), else as far as it allows.
fn size_receive_buffer(socket: &rtnetlink::sys::Socket) {
    let size = RECEIVE_BUFFER;
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: an int option, passed with its size, on a socket this process owns.
        let done = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if done == 0 {
            return;
        }
    }
}

/// Requests in flight on one socket, at most.
const IN_FLIGHT: usize = 64;
/// The receive buffer asked for each socket; the kernel doubles it.
const RECEIVE_BUFFER: libc::c_int = 4 << 20;
/// The kernel answers a request while it is being sent: an answer this late was lost.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Netlink(#[from] rtnetlink::Error),
    #[error("the kernel's answer never came (waited {} s): it was lost", ANSWER_TIMEOUT.as_secs())]
    NoAnswer,
}

/// As an I/O error: a kernel refusal as its errno, anything else kept as the source.
impl From<Error> for io::Error {
    fn from(error: Error) -> io::Error {
        match errno(&error) {
            Some(errno) => io::Error::from_raw_os_error(errno),
            None => io::Error::other(error),
        }
    }
}

/// The errno of a kernel refusal, if that is what the error is.
pub fn errno(error: &Error) -> Option<i32> {
    match error {
        Error::Netlink(rtnetlink::Error::NetlinkError(m)) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
    in_flight: Arc<Semaphore>,
}

/// Settings every new link may carry.
#[derive(Clone, Copy, Default)]
pub struct LinkSettings {
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
    pub up: bool,
    /// Create the link in this namespace instead of the socket's.
    pub netns: Option<RawFd>,
    /// Enslave to this bridge (an index in the socket's namespace).
    pub master: Option<u32>,
}

impl LinkSettings {
    pub fn apply<T>(&self, mut builder: LinkMessageBuilder<T>) -> LinkMessageBuilder<T> {
        if let Some(mac) = self.mac {
            builder = builder.address(mac.0.to_vec());
        }
        if let Some(mtu) = self.mtu {
            builder = builder.mtu(mtu);
        }
        if let Some(fd) = self.netns {
            builder = builder.setns_by_fd(fd);
        }
        if let Some(master) = self.master {
            builder = builder.controller(master);
        }
        if self.up {
            builder = builder.up();
        }
        builder
    }
}

/// What `ip -d link` shows of a link, as far as lab reads it.
#[derive(Clone, Debug)]
pub struct LinkState {
    pub index: u32,
    pub name: String,
    pub mac: Option<Mac>,
    pub promiscuity: u32,
    pub alias: Option<String>,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// The link has carrier (IFF_LOWER_UP): for a veth, its far end is up.
    pub carrier: bool,
}

impl Netlink {
    /// Opens a netlink socket in the calling thread's namespace; its connection runs on `rt`.
    pub fn open_here(rt: &tokio::runtime::Handle) -> io::Result<Netlink> {
        let _guard = rt.enter();
        let (mut connection, handle, _) = rtnetlink::new_connection()?;
        size_receive_buffer(connection.socket_mut().socket_ref());
        rt.spawn(connection);
        Ok(Netlink { handle, in_flight: Arc::new(Semaphore::new(IN_FLIGHT)) })
    }

    /// Sends a request once there is room for its answer, and waits for the answer at most
    /// `ANSWER_TIMEOUT`. `request` makes the request; it is called once room is found.
    async fn ask<T, F>(&self, request: impl FnOnce() -> F) -> Result<T, Error>
    where
        F: std::future::Future<Output = Result<T, rtnetlink::Error>>,
    {
        let _room = self.in_flight.acquire().await.map_err(|_| Error::NoAnswer)?;
        match tokio::time::timeout(ANSWER_TIMEOUT, request()).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(Error::NoAnswer),
        }
    }

    async fn add(&self, message: LinkMessage) -> Result<(), Error> {
        self.ask(|| self.handle.link().add(message).execute()).await
    }

    async fn set(&self, message: LinkMessage) -> Result<(), Error> {
        self.ask(|| self.handle.link().set(message).execute()).await
    }

    /// `ip link set lo up alias ALIAS`: marks a namespace as the lab's.
    pub async fn mark_loopback(&self, alias: &str) -> Result<(), Error> {
        self.set(LinkUnspec::new_with_name("lo").alias(alias).up().build()).await
    }

    pub async fn link(&self, name: &str) -> Result<LinkState, Error> {
        let message =
            self.ask(|| first(self.handle.link().get().match_name(name.to_owned()).execute())).await?;
        message.map(|m| link_state(&m)).ok_or(Error::Netlink(rtnetlink::Error::RequestFailed))
    }

    pub async fn links(&self) -> Result<Vec<LinkState>, Error> {
        let messages: Vec<LinkMessage> =
            self.ask(|| self.handle.link().get().execute().try_collect()).await?;
        Ok(messages.iter().map(link_state).collect())
    }

    /// `ip link add ...`: a new link, its message built by its kind (`kind::LinkType`).
    pub async fn add_link(&self, message: LinkMessage) -> Result<(), Error> {
        self.add(message).await
    }

    /// `ip link set NAME up`
    pub async fn set_up(&self, name: &str) -> Result<(), Error> {
        self.set(LinkUnspec::new_with_name(name).up().build()).await
    }

    /// `ip link set NAME name NEW [up]`
    pub async fn rename(&self, name: &str, new: &str, up: bool) -> Result<(), Error> {
        let mut builder = LinkUnspec::new_with_index(self.link(name).await?.index).name(new);
        if up {
            builder = builder.up();
        }
        self.set(builder.build()).await
    }

    /// `ip link set PORT master BRIDGE`
    pub async fn set_master(&self, port: u32, master: u32) -> Result<(), Error> {
        self.set(LinkUnspec::new_with_index(port).controller(master).build()).await
    }

    /// `bridge vlan add dev PORT vid ACCESS pvid untagged` and `vid TRUNK...`, then with
    /// `leave_default`, `bridge vlan del dev PORT vid 1`.
    pub async fn set_port_vlans(
        &self,
        port: u32,
        access: Option<u16>,
        trunk: &[u16],
        leave_default: bool,
    ) -> Result<(), Error> {
        let mut add = LinkBridgeVlan::new(port);
        if let Some(access) = access {
            add = add.vlan(access, BridgeVlanInfoFlags::Pvid | BridgeVlanInfoFlags::Untagged);
        }
        for vid in trunk {
            add = add.vlan(*vid, BridgeVlanInfoFlags::empty());
        }
        self.set(add.build()).await?;
        if leave_default {
            let default_vlan = LinkBridgeVlan::new(port).vlan(1, BridgeVlanInfoFlags::empty()).build();
            self.ask(|| self.handle.link().del_with_message(default_vlan).execute()).await?;
        }
        Ok(())
    }

    /// `bridge vlan add dev BRIDGE vid N self`, for each VLAN.
    pub async fn set_bridge_vlans(&self, bridge: u32, vlans: &[u16]) -> Result<(), Error> {
        let mut add = LinkBridgeVlan::new(bridge).bridge_self();
        for vid in vlans {
            add = add.vlan(*vid, BridgeVlanInfoFlags::empty());
        }
        self.set(add.build()).await
    }

    /// `bridge link set dev PORT hairpin on`
    pub async fn set_hairpin(&self, port: u32) -> Result<(), Error> {
        self.ask(|| self.handle.link().set_port(LinkBridgePort::new(port).hairpin(true).build()).execute())
            .await
    }

    /// `bridge fdb append 00:00:00:00:00:00 dev INDEX dst DST`: one more destination for the
    /// frames a VXLAN device floods. Built here: rtnetlink's neighbour requests replace the
    /// entry or refuse a second one (EXCL), and head-end replication needs one per remote.
    pub async fn append_fdb(&self, index: u32, dst: IpAddr) -> Result<(), Error> {
        let mut message = NeighbourMessage::default();
        message.header.family = AddressFamily::Bridge;
        message.header.ifindex = index;
        message.header.state = NeighbourState::Permanent;
        message.header.flags = NeighbourFlags::Own;
        message.attributes.push(NeighbourAttribute::LinkLayerAddress(vec![0; 6]));
        message.attributes.push(NeighbourAttribute::Destination(match dst {
            IpAddr::V4(v4) => NeighbourAddress::Inet(v4),
            IpAddr::V6(v6) => NeighbourAddress::Inet6(v6),
        }));
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(message));
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
        self.ask(|| acknowledged(self.handle.clone(), request)).await
    }

    /// `ip address add ADDR dev INDEX [nodad]`
    pub async fn add_address(&self, index: u32, address: IpNet) -> Result<(), Error> {
        let mut request = self.handle.address().add(index, address.addr(), address.prefix_len());
        if address.addr().is_ipv6() {
            request.message_mut().attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        self.ask(|| request.execute()).await
    }

    /// `ip route add TO [via GATEWAY] [dev INDEX]`; without a gateway the route has scope link.
    pub async fn add_route(
        &self,
        to: Option<IpNet>,
        v6: bool,
        via: Option<IpAddr>,
        dev: Option<u32>,
    ) -> Result<(), Error> {
        let message = route_message(to, v6, via, dev);
        self.ask(|| self.handle.route().add(message).execute()).await
    }
}

/// What a scenario changes on a live lab: links down and away, addresses and routes taken
/// off or put back, a child's mode, an interface's queueing discipline.
impl Netlink {
    /// `ip link set NAME down`
    pub async fn set_down(&self, name: &str) -> Result<(), Error> {
        self.set(LinkUnspec::new_with_name(name).down().build()).await
    }

    /// `ip link del NAME`
    pub async fn del_link(&self, name: &str) -> Result<(), Error> {
        let index = self.link(name).await?.index;
        self.ask(|| self.handle.link().del(index).execute()).await
    }

    /// `ip link set dev INDEX type KIND ...`: the kernel's changelink, with the settings the
    /// message carries (a macvlan's or ipvlan's mode).
    pub async fn change_link(&self, message: LinkMessage) -> Result<(), Error> {
        self.ask(|| self.handle.link().change(message).execute()).await
    }

    /// `ip address replace ADDR dev INDEX [nodad]`: adds it, or keeps it as it is.
    pub async fn replace_address(&self, index: u32, address: IpNet) -> Result<(), Error> {
        let mut request = self.handle.address().add(index, address.addr(), address.prefix_len()).replace();
        if address.addr().is_ipv6() {
            request.message_mut().attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        self.ask(|| request.execute()).await
    }

    /// `ip address del ADDR dev INDEX`
    pub async fn del_address(&self, index: u32, address: IpNet) -> Result<(), Error> {
        let mut request = self.handle.address().add(index, address.addr(), address.prefix_len());
        let message = request.message_mut().clone();
        self.ask(|| self.handle.address().del(message).execute()).await
    }

    /// `ip route replace TO [via GATEWAY] [dev INDEX]`: adds it, or keeps it.
    pub async fn replace_route(&self, route: RouteSpec) -> Result<(), Error> {
        let message = route.message();
        self.ask(|| self.handle.route().add(message).replace().execute()).await
    }

    /// `ip route del TO [via GATEWAY] [dev INDEX]`
    pub async fn del_route(&self, route: RouteSpec) -> Result<(), Error> {
        let message = route.message();
        self.ask(|| self.handle.route().del(message).execute()).await
    }

    /// `tc qdisc replace dev INDEX root netem ...`
    pub async fn set_netem(&self, index: u32, options: Vec<u8>) -> Result<(), Error> {
        use rtnetlink::packet_core::{DefaultNla, NLM_F_REPLACE};
        use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage};
        let mut message = TcMessage::with_index(index as i32);
        message.header.parent = TcHandle::ROOT;
        message.attributes.push(TcAttribute::Kind("netem".into()));
        message.attributes.push(TcAttribute::Other(DefaultNla::new(super::netem::TCA_OPTIONS, options)));
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewQueueDiscipline(message));
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
        self.ask(|| acknowledged(self.handle.clone(), request)).await
    }

    /// `tc qdisc del dev INDEX root`: back to the device's default queue.
    pub async fn clear_qdisc(&self, index: u32) -> Result<(), Error> {
        use rtnetlink::packet_route::tc::{TcHandle, TcMessage};
        let mut message = TcMessage::with_index(index as i32);
        message.header.parent = TcHandle::ROOT;
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::DelQueueDiscipline(message));
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        self.ask(|| acknowledged(self.handle.clone(), request)).await
    }
}

/// A route as `ip route` names it, for replacing or deleting it.
#[derive(Clone, Copy, Debug)]
pub struct RouteSpec {
    pub to: Option<IpNet>,
    pub v6: bool,
    pub via: Option<IpAddr>,
    pub dev: Option<u32>,
}

impl RouteSpec {
    fn message(&self) -> RouteMessage {
        route_message(self.to, self.v6, self.via, self.dev)
    }
}

/// A main-table route's message; without a gateway an IPv4 route has scope link.
fn route_message(to: Option<IpNet>, v6: bool, via: Option<IpAddr>, dev: Option<u32>) -> RouteMessage {
    if v6 {
        let mut b = RouteMessageBuilder::<std::net::Ipv6Addr>::new();
        if let Some(IpNet::V6(net)) = to {
            b = b.destination_prefix(net.network(), net.prefix_len());
        }
        if let Some(IpAddr::V6(gw)) = via {
            b = b.gateway(gw);
        }
        if let Some(dev) = dev {
            b = b.output_interface(dev);
        }
        b.build()
    } else {
        let mut b = RouteMessageBuilder::<std::net::Ipv4Addr>::new();
        if let Some(IpNet::V4(net)) = to {
            b = b.destination_prefix(net.network(), net.prefix_len());
        }
        if let Some(IpAddr::V4(gw)) = via {
            b = b.gateway(gw);
        }
        if let Some(dev) = dev {
            b = b.output_interface(dev);
            if via.is_none() {
                b = b.scope(RouteScope::Link);
            }
        }
        b.build()
    }
}

/// Where the kernel would send a packet for an address (`ip route get`).
#[derive(Clone, Debug)]
pub struct RouteTo {
    pub oif: u32,
    pub source: Option<IpAddr>,
    pub gateway: Option<IpAddr>,
    /// The address is the node's own (`local` in `ip route get`).
    pub local: bool,
}

/// One route of the main table (`ip route show`).
#[derive(Clone, Debug)]
pub struct RouteEntry {
    pub destination: IpNet,
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
}

impl Netlink {
    pub async fn link_by_index(&self, index: u32) -> Result<LinkState, Error> {
        let message = self.ask(|| first(self.handle.link().get().match_index(index).execute())).await?;
        message.map(|m| link_state(&m)).ok_or(Error::Netlink(rtnetlink::Error::RequestFailed))
    }

    /// `ip route get ADDRESS`
    pub async fn route_to(&self, address: IpAddr) -> Result<RouteTo, Error> {
        self.route_get(address, None, None).await
    }

    /// `ip route get DST [from SRC] [iif IIF]`: the kernel's own lookup, for a packet it
    /// sends (no `iif`) or one that came in by `iif` from `src` (forwarding and the reverse
    /// path filter included). An error is the kernel's answer: ENETUNREACH, EHOSTUNREACH,
    /// EINVAL (a martian source) ...
    pub async fn route_get(
        &self,
        dst: IpAddr,
        src: Option<IpAddr>,
        iif: Option<u32>,
    ) -> Result<RouteTo, Error> {
        let mut message = match dst {
            IpAddr::V4(a) => {
                RouteMessageBuilder::<std::net::Ipv4Addr>::new().destination_prefix(a, 32).build()
            }
            IpAddr::V6(a) => {
                RouteMessageBuilder::<std::net::Ipv6Addr>::new().destination_prefix(a, 128).build()
            }
        };
        if let Some(src) = src {
            message.header.source_prefix_length = if src.is_ipv4() { 32 } else { 128 };
            message.attributes.push(RouteAttribute::Source(match src {
                IpAddr::V4(a) => RouteAddress::Inet(a),
                IpAddr::V6(a) => RouteAddress::Inet6(a),
            }));
        }
        if let Some(iif) = iif {
            message.attributes.push(RouteAttribute::Iif(iif));
        }
        let route = self
            .ask(|| first(self.handle.route().get(message).execute()))
            .await?
            .ok_or(Error::Netlink(rtnetlink::Error::RequestFailed))?;
        let local = route.header.kind == rtnetlink::packet_route::route::RouteType::Local;
        let mut found = RouteTo { oif: 0, source: None, gateway: None, local };
        for attribute in &route.attributes {
            match attribute {
                RouteAttribute::Oif(oif) => found.oif = *oif,
                RouteAttribute::PrefSource(a) => found.source = route_ip(a),
                RouteAttribute::Gateway(a) => found.gateway = route_ip(a),
                _ => {}
            }
        }
        Ok(found)
    }

    /// `ip [-6] route show`
    pub async fn routes(&self, v6: bool) -> Result<Vec<RouteEntry>, Error> {
        let message = if v6 {
            RouteMessageBuilder::<std::net::Ipv6Addr>::new().build()
        } else {
            RouteMessageBuilder::<std::net::Ipv4Addr>::new().build()
        };
        let messages: Vec<RouteMessage> =
            self.ask(|| self.handle.route().get(message).execute().try_collect()).await?;
        Ok(messages.iter().filter(|m| m.header.table == 254).filter_map(route_entry).collect())
    }

    /// Whether the neighbour table resolved an address (`ip neigh show ADDRESS`): `Some(false)`
    /// when resolution failed or is still going on, `None` when there is no entry.
    pub async fn neighbour_resolved(&self, address: IpAddr) -> Result<Option<bool>, Error> {
        let neighbours: Vec<NeighbourMessage> =
            self.ask(|| self.handle.neighbours().get().execute().try_collect()).await?;
        Ok(neighbours
            .iter()
            .find(|n| {
                n.attributes.iter().any(|a| match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => IpAddr::V4(*ip) == address,
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => {
                        IpAddr::V6(*ip) == address
                    }
                    _ => false,
                })
            })
            .map(|n| !matches!(n.header.state, NeighbourState::Failed | NeighbourState::Incomplete)))
    }
}

/// A queueing discipline and the packets it holds (`tc -s qdisc show`).
#[derive(Clone, Debug)]
pub struct Queue {
    pub kind: String,
    pub packets: u32,
}

impl Netlink {
    /// `tc -s qdisc show`: every queueing discipline of the namespace and what it holds.
    pub async fn queues(&self) -> Result<Vec<Queue>, Error> {
        use rtnetlink::packet_route::tc::{TcAttribute, TcMessage, TcStats2};
        let messages: Vec<TcMessage> = self.ask(|| self.handle.qdisc().get().execute().try_collect()).await?;
        Ok(messages
            .iter()
            .map(|m| {
                let mut queue = Queue { kind: String::new(), packets: 0 };
                for attribute in &m.attributes {
                    match attribute {
                        TcAttribute::Kind(kind) => queue.kind = kind.clone(),
                        TcAttribute::Stats(stats) => queue.packets = queue.packets.max(stats.qlen),
                        TcAttribute::Stats2(stats) => {
                            for s in stats {
                                if let TcStats2::Queue(q) = s {
                                    queue.packets = queue.packets.max(q.qlen);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                queue
            })
            .collect())
    }

    /// `ip neigh flush all`, but entries someone made permanent stay. Returns how many went.
    pub async fn flush_neighbours(&self) -> Result<usize, Error> {
        let neighbours: Vec<NeighbourMessage> =
            self.ask(|| self.handle.neighbours().get().execute().try_collect()).await?;
        let learned = neighbours
            .into_iter()
            .filter(|n| !matches!(n.header.state, NeighbourState::Permanent | NeighbourState::Noarp));
        let deletions = learned.map(|n| self.ask(|| self.handle.neighbours().del(n).execute()));
        let done = futures::future::join_all(deletions).await;
        Ok(done.iter().filter(|r| r.is_ok()).count())
    }
}

/// Sends a request the kernel answers with an acknowledgement only, and waits for it.
async fn acknowledged(
    mut handle: Handle,
    request: NetlinkMessage<RouteNetlinkMessage>,
) -> Result<(), rtnetlink::Error> {
    let mut answers = handle.request(request)?;
    while let Some(answer) = answers.next().await {
        if let NetlinkPayload::Error(e) = answer.payload {
            return Err(rtnetlink::Error::NetlinkError(e));
        }
    }
    Ok(())
}

/// The first answer of a request's stream of answers.
async fn first<T>(
    answers: impl futures::Stream<Item = Result<T, rtnetlink::Error>>,
) -> Result<Option<T>, rtnetlink::Error> {
    futures::pin_mut!(answers);
    answers.try_next().await
}

fn route_ip(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

fn route_entry(message: &RouteMessage) -> Option<RouteEntry> {
    let prefix = message.header.destination_prefix_length;
    let mut entry = RouteEntry {
        destination: match message.header.address_family {
            rtnetlink::packet_route::AddressFamily::Inet6 => {
                IpNet::new(std::net::Ipv6Addr::UNSPECIFIED.into(), prefix).ok()?
            }
            _ => IpNet::new(std::net::Ipv4Addr::UNSPECIFIED.into(), prefix).ok()?,
        },
        oif: None,
        gateway: None,
    };
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Destination(a) => entry.destination = IpNet::new(route_ip(a)?, prefix).ok()?,
            RouteAttribute::Oif(oif) => entry.oif = Some(*oif),
            RouteAttribute::Gateway(a) => entry.gateway = route_ip(a),
            _ => {}
        }
    }
    Some(entry)
}

fn link_state(message: &LinkMessage) -> LinkState {
    let mut state = LinkState {
        index: message.header.index,
        name: String::new(),
        mac: None,
        promiscuity: 0,
        alias: None,
        up: message.header.flags.contains(rtnetlink::packet_route::link::LinkFlags::Up),
        carrier: message.header.flags.contains(rtnetlink::packet_route::link::LinkFlags::LowerUp),
    };
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(name) => state.name = name.clone(),
            LinkAttribute::Address(bytes) => state.mac = <[u8; 6]>::try_from(bytes.as_slice()).ok().map(Mac),
            LinkAttribute::Promiscuity(n) => state.promiscuity = *n,
            LinkAttribute::IfAlias(alias) => state.alias = Some(alias.clone()),
            _ => {}
        }
    }
    state
}
