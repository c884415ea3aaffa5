//! Services: the `[[host.listen]]` listeners lab serves while it verifies. Each socket is
//! opened on a thread inside its node's namespace (a socket keeps the namespace it was made
//! in), in file order, so that of two services on one port of one namespace the first is
//! the one the kernel lets listen; then one thread answers them all. Every TCP connection
//! and every UDP datagram gets one line, `lab NODE saw IP:PORT`: who answered, and the
//! source address it saw (what NAT did to the peer); a datagram is answered from the address
//! it was sent to.

use crate::kernel::netns;
use crate::model::{L4, Lab, NodeId};
use nix::sys::socket::{self, ControlMessage, ControlMessageOwned, MsgFlags, sockopt};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long the serving thread sleeps in poll(2) before looking at its stop flag.
const POLL: Duration = Duration::from_millis(20);

/// A service and what opening it gave: its socket, or the kernel's refusal.
pub type Bound = BTreeMap<(NodeId, L4, u16), Result<(), String>>;

enum Open {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Open {
    fn fd(&self) -> RawFd {
        match self {
            Open::Tcp(s) => s.as_raw_fd(),
            Open::Udp(s) => s.as_raw_fd(),
        }
    }
}

/// The lab's services, open.
pub struct Services {
    open: Vec<(String, Open)>,
    pub bound: Bound,
}

impl Services {
    /// Opens every service of the lab in its node's namespace, in file order.
    pub fn open(lab: &Lab, namespaces: &[File]) -> io::Result<Services> {
        let mut services = Services { open: Vec::new(), bound: BTreeMap::new() };
        for (n, node) in lab.nodes.iter().enumerate() {
            for listener in &node.listeners {
                let (proto, port, addr) = (listener.proto, listener.port, listener.addr);
                let opened = netns::run_in(&namespaces[n], move || Ok(bind(proto, addr, port)))?;
                let result = match opened {
                    Ok(open) => {
                        services.open.push((node.name.clone(), open));
                        Ok(())
                    }
                    Err(e) => Err(format!("{} {}: {e}", proto.as_str(), shown(addr, port))),
                };
                services.bound.insert((NodeId(n), proto, port), result);
            }
        }
        Ok(services)
    }

    /// Answers every connection and datagram until `stop`.
    pub fn serve(&self, stop: &AtomicBool) {
        if self.open.is_empty() {
            return;
        }
        let mut fds: Vec<libc::pollfd> = self
            .open
            .iter()
            .map(|(_, o)| libc::pollfd { fd: o.fd(), events: libc::POLLIN, revents: 0 })
            .collect();
        let mut buffer = [0u8; 2048];
        while !stop.load(Ordering::SeqCst) {
            // SAFETY: `fds` is a live array of pollfd of the length given.
            let ready =
                unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, POLL.as_millis() as i32) };
            if ready <= 0 {
                continue;
            }
            for (fd, (node, open)) in fds.iter_mut().zip(&self.open) {
                if fd.revents != 0 {
                    fd.revents = 0;
                    answer(node, open, &mut buffer);
                }
            }
        }
    }
}

/// Answers what is waiting on one socket; what fails (a peer gone) is that peer's loss.
fn answer(node: &str, open: &Open, buffer: &mut [u8]) {
    match open {
        Open::Tcp(listener) => {
            while let Ok((mut stream, peer)) = listener.accept() {
                let _ = stream.write_all(banner(node, peer).as_bytes());
            }
        }
        Open::Udp(socket) => while answer_datagram(node, socket, buffer).is_ok() {},
    }
}

/// Answers one datagram from the address it was sent to (IP_PKTINFO): a node with several
/// addresses would otherwise answer from the one its route prefers, which the peer's
/// connected socket drops.
fn answer_datagram(node: &str, socket: &UdpSocket, buffer: &mut [u8]) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let mut space = nix::cmsg_space!(libc::in6_pktinfo);
    let mut iov = [std::io::IoSliceMut::new(buffer)];
    let received =
        socket::recvmsg::<socket::SockaddrStorage>(fd, &mut iov, Some(&mut space), MsgFlags::empty())?;
    let Some(peer) = received.address.and_then(socket_addr) else { return Ok(()) };
    let destination = received.cmsgs()?.find_map(|c| match c {
        ControlMessageOwned::Ipv4PacketInfo(info) => Some(Destination::V4(info)),
        ControlMessageOwned::Ipv6PacketInfo(info) => Some(Destination::V6(info)),
        _ => None,
    });
    let line = banner(node, peer);
    let out = [std::io::IoSlice::new(line.as_bytes())];
    let to = socket::SockaddrStorage::from(peer);
    let from_v4 = destination.as_ref().and_then(Destination::v4_source);
    let from_v6 = destination.as_ref().and_then(Destination::v6_source);
    let cmsgs: Vec<ControlMessage> = match (&from_v4, &from_v6) {
        (Some(v4), _) => vec![ControlMessage::Ipv4PacketInfo(v4)],
        (_, Some(v6)) => vec![ControlMessage::Ipv6PacketInfo(v6)],
        _ => Vec::new(),
    };
    socket::sendmsg(fd, &out, &cmsgs, MsgFlags::empty(), Some(&to))?;
    Ok(())
}

/// Where a datagram was sent: the address to answer from.
enum Destination {
    V4(libc::in_pktinfo),
    V6(libc::in6_pktinfo),
}

impl Destination {
    fn v4_source(&self) -> Option<libc::in_pktinfo> {
        match self {
            Destination::V4(info) => Some(libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: info.ipi_addr,
                ipi_addr: info.ipi_addr,
            }),
            Destination::V6(_) => None,
        }
    }

    /// The same address, and for a link-local one its interface; an IPv4 peer of a
    /// dual-stack socket is answered with the v4-mapped address, which the kernel takes.
    fn v6_source(&self) -> Option<libc::in6_pktinfo> {
        match self {
            Destination::V6(info) => {
                let mapped = Ipv6Addr::from(info.ipi6_addr.s6_addr).to_ipv4_mapped().is_some();
                let ifindex = if mapped { 0 } else { info.ipi6_ifindex };
                Some(libc::in6_pktinfo { ipi6_addr: info.ipi6_addr, ipi6_ifindex: ifindex })
            }
            Destination::V4(_) => None,
        }
    }
}

fn socket_addr(address: socket::SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    address.as_sockaddr_in6().map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}

/// `lab NODE saw IP:PORT`, the line every peer gets.
pub fn banner(node: &str, peer: SocketAddr) -> String {
    let ip = match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    format!("lab {node} saw {}\n", SocketAddr::new(ip, peer.port()))
}

/// The node and peer a banner names.
pub fn parse_banner(text: &str) -> Option<(String, SocketAddr)> {
    let rest = text.trim_end().strip_prefix("lab ")?;
    let (node, peer) = rest.split_once(" saw ")?;
    Some((node.to_owned(), peer.parse().ok()?))
}

fn bind(proto: L4, addr: Option<IpAddr>, port: u16) -> io::Result<Open> {
    let at = SocketAddr::new(addr.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)), port);
    let open = match proto {
        L4::Tcp => Open::Tcp(bind_tcp(at, addr.is_none())?),
        L4::Udp => Open::Udp(bind_udp(at, addr.is_none())?),
    };
    Ok(open)
}

/// A TCP listener; on every address it is one dual-stack socket.
fn bind_tcp(at: SocketAddr, anywhere: bool) -> io::Result<TcpListener> {
    let listener = bind_falling_back(at, anywhere, TcpListener::bind)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// A UDP socket, dual-stack on every address like the TCP listener, told the destination
/// of each datagram.
fn bind_udp(at: SocketAddr, anywhere: bool) -> io::Result<UdpSocket> {
    let socket = bind_falling_back(at, anywhere, UdpSocket::bind)?;
    match socket.local_addr()? {
        SocketAddr::V4(_) => socket::setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?,
        SocketAddr::V6(_) => socket::setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?,
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Binds `at`; on every address, falls back to IPv4 where the namespace has no IPv6.
fn bind_falling_back<T>(
    at: SocketAddr,
    anywhere: bool,
    bind: impl Fn(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    match bind(at) {
        Err(e) if anywhere && e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
            bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), at.port()))
        }
        other => other,
    }
}

fn shown(addr: Option<IpAddr>, port: u16) -> String {
    match addr {
        Some(IpAddr::V6(a)) => format!("[{a}]:{port}"),
        Some(a) => format!("{a}:{port}"),
        None => format!("port {port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_round_trip() {
        let peer: SocketAddr = "10.0.0.2:41000".parse().unwrap();
        let text = banner("c1", peer);
        assert_eq!(text, "lab c1 saw 10.0.0.2:41000\n");
        assert_eq!(parse_banner(&text), Some(("c1".to_string(), peer)));
        let v6: SocketAddr = "[2001:db8::2]:5".parse().unwrap();
        assert_eq!(parse_banner(&banner("w", v6)), Some(("w".to_string(), v6)));
        assert_eq!(parse_banner("HTTP/1.1 200 OK"), None);
        let mapped: SocketAddr = "[::ffff:10.0.0.2]:7".parse().unwrap();
        assert_eq!(banner("c1", mapped), "lab c1 saw 10.0.0.2:7\n", "a dual-stack socket's IPv4 peer");
    }
}
