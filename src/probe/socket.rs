//! The prober's sockets: raw ICMP for echo (IPv4 with its header, so the TTL shows; IPv6
//! with the hop limit as ancillary data) and AF_PACKET for ARP/ND and for captures. pnet
//! builds and parses the packets; these sockets add what pnet's channels do not expose:
//! the packet type (own frames) and PACKET_AUXDATA, where the kernel reports 802.1Q tags it
//! stripped. Sockets belong to the namespace of the thread that opens them.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const ETH_P_ALL: u16 = 0x0003;
const PACKET_BROADCAST: u8 = 1;
const PACKET_MULTICAST: u8 = 2;
const PACKET_OUTGOING: u8 = 4;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

/// Packets read per wake before a worker looks at its clock and flags again, so that
/// continuous traffic cannot keep it from its deadline.
pub const BATCH: usize = 256;

/// The receive buffer asked for each socket (the kernel doubles it): room for thousands of
/// answers, so that a node probing many targets at once loses none.
const RECEIVE_BUFFER: libc::c_int = 8 << 20;

/// The path watcher's receive buffer in each namespace.
const WATCH_BUFFER: libc::c_int = 32 << 20;

/// ICMP types a prober listens to; the rest (echo requests to this node, above all) never
/// reach its socket. IPv4: echo reply, destination unreachable, redirect, time exceeded.
const ICMP4_HEARD: [u8; 4] = [0, 3, 5, 11];
/// IPv6: destination unreachable, time exceeded, echo reply, redirect.
const ICMP6_HEARD: [u8; 4] = [1, 3, 129, 137];
const ICMP_FILTER: libc::c_int = 1;
const ICMP6_FILTER: libc::c_int = 1;

pub struct Socket(OwnedFd);

/// What `recv` learned about a packet besides its bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Received {
    pub len: usize,
    pub source: Option<IpAddr>,
    pub hop_limit: Option<u8>,
    /// A tag the kernel took off the frame: (VLAN id, TPID).
    pub vlan: Option<(u16, u16)>,
    /// That tag's whole TCI (priority and drop eligibility with the VLAN id).
    pub tci: u16,
    /// A frame this host sent (AF_PACKET sees both directions).
    pub outgoing: bool,
    /// The interface a packet socket bound to every interface saw the frame on.
    pub ifindex: i32,
    /// The frame was for everyone (broadcast or multicast).
    pub to_many: bool,
    /// How many packets the socket has dropped since it was opened, for want of room.
    pub dropped: Option<u32>,
    /// When the kernel saw the packet (since the epoch), where the socket asked for it.
    pub stamp: Option<Duration>,
}

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 { Err(io::Error::last_os_error()) } else { Ok(result) }
}

fn open(domain: libc::c_int, protocol: libc::c_int) -> io::Result<Socket> {
    // SAFETY: socket(2) with constant arguments; the fd is owned right away.
    let fd = check(unsafe {
        libc::socket(domain, libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, protocol)
    })?;
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(Socket(unsafe { OwnedFd::from_raw_fd(fd) }))
}

impl Socket {
    fn set_option(&self, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
        // SAFETY: the option value is a c_int on the stack, passed with its size.
        check(unsafe {
            libc::setsockopt(
                self.0.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        })?;
        Ok(())
    }

    /// A large receive buffer (past rmem_max as root), and a count of what still overflows.
    fn roomy(self) -> io::Result<Socket> {
        if self.set_option(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RECEIVE_BUFFER).is_err() {
            self.set_option(libc::SOL_SOCKET, libc::SO_RCVBUF, RECEIVE_BUFFER)?;
        }
        self.set_option(libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)?;
        Ok(self)
    }

    fn set_bytes(&self, level: libc::c_int, name: libc::c_int, value: &[u8]) -> io::Result<()> {
        // SAFETY: the option value is a byte buffer passed with its length.
        check(unsafe {
            libc::setsockopt(
                self.0.as_raw_fd(),
                level,
                name,
                value.as_ptr().cast(),
                value.len() as libc::socklen_t,
            )
        })?;
        Ok(())
    }

    /// Raw ICMP over IPv4: receives the ICMP answers of the namespace (`ICMP4_HEARD`), IP
    /// header included.
    pub fn icmp4() -> io::Result<Socket> {
        let socket = open(libc::AF_INET, libc::IPPROTO_ICMP)?.roomy()?;
        // The filter's set bits are the types to drop.
        let blocked = ICMP4_HEARD.iter().fold(u32::MAX, |mask, t| mask & !(1u32 << t));
        socket.set_bytes(libc::SOL_RAW, ICMP_FILTER, &blocked.to_ne_bytes())?;
        Ok(socket)
    }

    /// The same socket, each packet it receives stamped with when the kernel got it.
    pub fn stamped(self) -> io::Result<Socket> {
        self.set_option(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
        Ok(self)
    }

    /// Raw ICMPv6: the kernel fills in the checksum; the hop limit comes as ancillary data.
    pub fn icmp6() -> io::Result<Socket> {
        let socket = open(libc::AF_INET6, libc::IPPROTO_ICMPV6)?.roomy()?;
        socket.set_option(libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
        // struct icmp6_filter: 256 bits, set for the types to drop.
        let mut blocked = [u32::MAX; 8];
        for t in ICMP6_HEARD {
            blocked[usize::from(t) / 32] &= !(1u32 << (t % 32));
        }
        let bytes: Vec<u8> = blocked.iter().flat_map(|w| w.to_ne_bytes()).collect();
        socket.set_bytes(libc::IPPROTO_ICMPV6, ICMP6_FILTER, &bytes)?;
        Ok(socket)
    }

    /// Every frame of every interface of the namespace, both directions, with the stripped
    /// VLAN tags and the interface each was seen on: what the path watcher reads.
    pub fn packet_everywhere() -> io::Result<Socket> {
        let socket = Socket::packet(0, true)?.roomy()?;
        // A flood over a big switch brings its namespace's socket one copy per port.
        let _ = socket.set_option(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, WATCH_BUFFER);
        socket.set_option(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
        Ok(socket)
    }

    /// Every frame of one interface (all of them for index 0), both directions; with
    /// `auxdata`, the stripped VLAN tags.
    pub fn packet(ifindex: u32, auxdata: bool) -> io::Result<Socket> {
        // Protocol 0 receives nothing until bound, so no frame of another interface slips in.
        let socket = open(libc::AF_PACKET, 0)?;
        socket.bind_packet(ifindex, ETH_P_ALL)?;
        if auxdata {
            socket.set_option(libc::SOL_PACKET, libc::PACKET_AUXDATA, 1)?;
        }
        Ok(socket)
    }

    /// Every frame of one interface, both directions, with the stripped VLAN tags, each
    /// stamped with when the kernel saw it: what `lab capture` reads.
    pub fn capture(ifindex: u32) -> io::Result<Socket> {
        let socket = Socket::packet(ifindex, true)?.roomy()?;
        socket.set_option(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
        Ok(socket)
    }

    /// Binds a packet socket to an interface (0: all) and a protocol (0: none, so that the
    /// socket receives nothing until bound again).
    fn bind_packet(&self, ifindex: u32, protocol: u16) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; zeroed then filled.
        let mut address: libc::sockaddr_ll = unsafe { zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = protocol.to_be();
        address.sll_ifindex = ifindex as i32;
        // SAFETY: bind with a sockaddr_ll and its size.
        check(unsafe {
            libc::bind(
                self.0.as_raw_fd(),
                (&address as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        Ok(())
    }

    /// Lets through only the frames `program` (classic BPF) accepts.
    pub fn attach_filter(&self, program: &[libc::sock_filter]) -> io::Result<()> {
        let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr().cast_mut() };
        // SAFETY: the program outlives the call; the kernel copies it.
        check(unsafe {
            libc::setsockopt(
                self.0.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&fprog as *const libc::sock_fprog).cast(),
                size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        })?;
        Ok(())
    }

    /// Starts (`true`) or stops receiving every frame of every interface, on a socket made
    /// by `packet_everywhere`; stopping leaves what was received to be read.
    pub fn listen_everywhere(&self, on: bool) -> io::Result<()> {
        self.bind_packet(0, if on { ETH_P_ALL } else { 0 })
    }

    /// Sends an ICMP message to an address; the kernel adds the IP header and routes it.
    pub fn send_to(&self, message: &[u8], to: IpAddr) -> io::Result<()> {
        // SAFETY: sockaddr_storage is plain data, large enough for either family.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match to {
            IpAddr::V4(a) => {
                // SAFETY: storage is large enough and suitably aligned for sockaddr_in.
                let sin = unsafe {
                    &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
                };
                sin.sin_family = libc::AF_INET as u16;
                sin.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
                size_of::<libc::sockaddr_in>()
            }
            IpAddr::V6(a) => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 = unsafe {
                    &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
                };
                sin6.sin6_family = libc::AF_INET6 as u16;
                sin6.sin6_addr.s6_addr = a.octets();
                size_of::<libc::sockaddr_in6>()
            }
        };
        // SAFETY: the buffer and address are valid for the lengths given.
        check(unsafe {
            libc::sendto(
                self.0.as_raw_fd(),
                message.as_ptr().cast(),
                message.len(),
                0,
                (&storage as *const libc::sockaddr_storage).cast(),
                len as libc::socklen_t,
            ) as libc::c_int
        })?;
        Ok(())
    }

    /// Sends a whole Ethernet frame out of the bound interface.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: the buffer is valid for its length.
        check(unsafe {
            libc::send(self.0.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) as libc::c_int
        })?;
        Ok(())
    }

    /// Reads one packet if there is one.
    pub fn recv(&self, buffer: &mut [u8]) -> io::Result<Option<Received>> {
        // SAFETY: all structures are plain data, zeroed, and point into live buffers below.
        let mut name: libc::sockaddr_storage = unsafe { zeroed() };
        let mut control = [0u64; 32];
        let mut iov = libc::iovec { iov_base: buffer.as_mut_ptr().cast(), iov_len: buffer.len() };
        let mut header: libc::msghdr = unsafe { zeroed() };
        header.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        header.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        header.msg_iov = &mut iov;
        header.msg_iovlen = 1;
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = size_of::<[u64; 32]>();
        // SAFETY: msghdr points to the buffers above, which outlive the call.
        let len = unsafe { libc::recvmsg(self.0.as_raw_fd(), &mut header, 0) };
        if len < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock { Ok(None) } else { Err(e) };
        }
        let mut received = Received { len: len as usize, ..Received::default() };
        read_name(&name, &mut received);
        // SAFETY: the kernel filled msg_control; the CMSG macros walk it within msg_controllen.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&header);
            while !cmsg.is_null() {
                read_control(&*cmsg, &mut received);
                cmsg = libc::CMSG_NXTHDR(&header, cmsg);
            }
        }
        Ok(Some(received))
    }
}

fn read_name(name: &libc::sockaddr_storage, received: &mut Received) {
    let pointer = (name as *const libc::sockaddr_storage).cast::<u8>();
    match name.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*pointer.cast::<libc::sockaddr_in>() };
            received.source = Some(IpAddr::V4(Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes())));
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*pointer.cast::<libc::sockaddr_in6>() };
            received.source = Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
        }
        libc::AF_PACKET => {
            // SAFETY: the family says the storage holds a sockaddr_ll.
            let sll = unsafe { &*pointer.cast::<libc::sockaddr_ll>() };
            received.outgoing = sll.sll_pkttype == PACKET_OUTGOING;
            received.to_many = matches!(sll.sll_pkttype, PACKET_BROADCAST | PACKET_MULTICAST);
            received.ifindex = sll.sll_ifindex;
        }
        _ => {}
    }
}

/// # Safety
/// `cmsg` must be a control message header filled by the kernel, with its data behind it.
unsafe fn read_control(cmsg: &libc::cmsghdr, received: &mut Received) {
    // SAFETY: CMSG_DATA points at the data of this message, which the kernel wrote.
    let data = unsafe { libc::CMSG_DATA(cmsg) };
    match (cmsg.cmsg_level, cmsg.cmsg_type) {
        (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
            // SAFETY: IPV6_HOPLIMIT carries a c_int.
            received.hop_limit = Some(unsafe { data.cast::<libc::c_int>().read_unaligned() } as u8);
        }
        (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
            // SAFETY: SCM_TIMESTAMPNS carries a timespec.
            let time = unsafe { data.cast::<libc::timespec>().read_unaligned() };
            received.stamp = Some(Duration::new(time.tv_sec as u64, time.tv_nsec as u32));
        }
        (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) => {
            // SAFETY: SO_RXQ_OVFL carries a u32, the socket's drop count.
            received.dropped = Some(unsafe { data.cast::<u32>().read_unaligned() });
        }
        (libc::SOL_PACKET, libc::PACKET_AUXDATA) => {
            // SAFETY: PACKET_AUXDATA carries a tpacket_auxdata.
            let aux = unsafe { data.cast::<libc::tpacket_auxdata>().read_unaligned() };
            if aux.tp_status & TP_STATUS_VLAN_VALID != 0 {
                let tpid =
                    if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 { aux.tp_vlan_tpid } else { 0x8100 };
                received.vlan = Some((aux.tp_vlan_tci & 0x0fff, tpid));
                received.tci = aux.tp_vlan_tci;
            }
        }
        _ => {}
    }
}

/// Waits until any of the sockets can be read, or `timeout` passes.
pub fn wait_any(sockets: &[&Socket], timeout: Duration) -> io::Result<()> {
    let mut fds: Vec<libc::pollfd> = sockets
        .iter()
        .map(|s| libc::pollfd { fd: s.0.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    let millis = timeout.as_millis().clamp(0, i32::MAX as u128) as libc::c_int;
    // SAFETY: the pollfd array is valid for the call.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
    if ready < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}
