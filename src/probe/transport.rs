//! Connect probes from inside one node: a TCP connection or a UDP datagram to an address
//! and port, and what came back, in the kernel's words: a service's line (who answered, the
//! source it saw), a refusal (a TCP reset, ICMP port unreachable), the network saying no
//! (host or network unreachable, no route), or silence. A probe that wants an answer tries
//! again every timeout until its deadline; silence is concluded only once the network has
//! been quiet for a timeout (`settle`), as for echoes. All of a node's probes run at once,
//! on non-blocking sockets made on the calling thread, which is inside the node.

use super::service::parse_banner;
use super::settle::Settle;
use crate::model::L4;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// One connection to try.
#[derive(Clone, Debug)]
pub struct Connect {
    pub target: IpAddr,
    pub port: u16,
    pub proto: L4,
    /// Tried again until answered or the deadline passes; otherwise tried once.
    pub positive: bool,
    pub timeout: Duration,
    pub deadline: Duration,
}

/// What the peer or the network said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    Answered {
        by: String,
        saw: SocketAddr,
    },
    /// Something answered that is not one of lab's services.
    Spoke(String),
    Refused,
    Unreachable(String),
    /// Nothing, the network quiet.
    Silence,
}

#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub got: Option<Got>,
    pub attempts: u32,
    pub took: Duration,
    /// Why the probe could not be made at all.
    pub failed: Option<String>,
    /// Why its silence proves nothing: the network never went quiet.
    pub undecided: Option<String>,
}

/// How long, after its last attempt, a silent probe waits for the network to go quiet.
const SETTLE_CAP: Duration = super::icmp::SETTLE_CAP;
/// How often a silent probe looks whether the network has gone quiet.
const QUIET_POLL: Duration = super::icmp::QUIET_POLL;
/// The longest line a service sends.
const LINE: usize = 512;

enum Socket {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

impl Socket {
    fn fd(&self) -> RawFd {
        match self {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Udp(s) => s.as_raw_fd(),
        }
    }
}

/// One probe at work: its current attempt's socket, and what it read so far.
struct Attempt<'a> {
    connect: &'a Connect,
    seen: Seen,
    socket: Option<Socket>,
    /// A TCP connection that is established (its line is awaited).
    connected: bool,
    read: Vec<u8>,
    started: Option<Instant>,
    last_try: Instant,
    done: bool,
}

/// Tries every connection and waits for what comes back; runs on a thread inside the
/// source node.
pub fn run(connects: &[Connect], quiet: &Settle) -> io::Result<Vec<Seen>> {
    let start = Instant::now();
    let mut attempts: Vec<Attempt> = connects
        .iter()
        .map(|connect| Attempt {
            connect,
            seen: Seen::default(),
            socket: None,
            connected: false,
            read: Vec::new(),
            started: None,
            last_try: start,
            done: false,
        })
        .collect();
    loop {
        let now = Instant::now();
        for attempt in attempts.iter_mut().filter(|a| !a.done) {
            if attempt.tries_now(now) {
                attempt.try_once(now);
                quiet.activity();
            }
            attempt.settle(now, quiet);
        }
        let open: Vec<(usize, RawFd, i16)> = attempts
            .iter()
            .enumerate()
            .filter(|(_, a)| !a.done)
            .filter_map(|(i, a)| Some((i, a.socket.as_ref()?.fd(), a.events())))
            .collect();
        if attempts.iter().all(|a| a.done) {
            break;
        }
        let mut fds: Vec<libc::pollfd> = open
            .iter()
            .map(|(_, fd, events)| libc::pollfd { fd: *fd, events: *events, revents: 0 })
            .collect();
        let wake = attempts.iter().filter(|a| !a.done).map(|a| a.next_event(now)).min().unwrap_or(now);
        let wait = wake.saturating_duration_since(Instant::now()).as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `fds` is a live array of pollfd of the length given.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait.max(1)) };
        if ready < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return Err(io::Error::last_os_error());
        }
        for ((index, _, _), fd) in open.iter().zip(&fds) {
            if fd.revents != 0 {
                attempts[*index].hear();
            }
        }
    }
    Ok(attempts.into_iter().map(|a| a.seen).collect())
}

impl Attempt<'_> {
    /// Tries first at once; a positive probe tries again every timeout until answered or
    /// its deadline.
    fn tries_now(&self, now: Instant) -> bool {
        match self.started {
            None => true,
            Some(started) => {
                self.connect.positive
                    && self.seen.got.is_none()
                    && now >= self.last_try + self.connect.timeout
                    && now < started + self.connect.deadline
            }
        }
    }

    fn try_once(&mut self, now: Instant) {
        self.started.get_or_insert(now);
        self.last_try = now;
        self.seen.attempts += 1;
        self.connected = false;
        self.read.clear();
        let peer = SocketAddr::new(self.connect.target, self.connect.port);
        let opened = match self.connect.proto {
            L4::Tcp => connect_tcp(peer).map(Socket::Tcp),
            L4::Udp => send_udp(peer).map(Socket::Udp),
        };
        match opened {
            Ok(socket) => self.socket = Some(socket),
            Err(e) => self.heard_error(e),
        }
    }

    fn events(&self) -> i16 {
        match (&self.socket, self.connected) {
            (Some(Socket::Tcp(_)), false) => libc::POLLOUT,
            _ => libc::POLLIN,
        }
    }

    /// Reads what the socket has: the connection's outcome, the service's line, an error.
    fn hear(&mut self) {
        let Some(socket) = &self.socket else { return };
        if let Ok(Some(error)) = socket_error(socket.fd()) {
            return self.heard_error(error);
        }
        let mut buffer = [0u8; LINE];
        let read = match socket {
            Socket::Tcp(_) if !self.connected => {
                self.connected = true;
                return;
            }
            Socket::Tcp(stream) => io::Read::read(&mut &*stream, &mut buffer),
            Socket::Udp(udp) => udp.recv(&mut buffer),
        };
        match read {
            Ok(n) => {
                self.read.extend_from_slice(&buffer[..n]);
                let udp = matches!(socket, Socket::Udp(_));
                if n == 0 || udp || self.read.contains(&b'\n') || self.read.len() >= LINE {
                    self.heard_line();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => self.heard_error(e),
        }
    }

    fn heard_line(&mut self) {
        let text = String::from_utf8_lossy(&self.read).into_owned();
        self.seen.got = Some(match parse_banner(&text) {
            Some((by, saw)) => Got::Answered { by, saw },
            None => Got::Spoke(text.trim().chars().take(80).collect()),
        });
        self.finish();
    }

    fn heard_error(&mut self, error: io::Error) {
        let got = match error.raw_os_error() {
            Some(libc::ECONNREFUSED) => Got::Refused,
            Some(
                libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN | libc::ENETDOWN | libc::EACCES,
            ) => Got::Unreachable(crate::kernel::OsError(error).to_string()),
            // The kernel gave up on its own retries: silence, which `settle` must confirm.
            Some(libc::ETIMEDOUT) => {
                self.socket = None;
                return;
            }
            _ => {
                self.seen.failed = Some(error.to_string());
                self.finish();
                return;
            }
        };
        self.seen.got = Some(got);
        self.finish();
    }

    fn finish(&mut self) {
        self.socket = None;
        self.done = true;
        if let Some(started) = self.started {
            self.seen.took = started.elapsed();
        }
    }

    /// Ends a probe that got nothing: once its tries are over and the network has been
    /// quiet for a timeout since (or could not go quiet in `SETTLE_CAP`).
    fn settle(&mut self, now: Instant, quiet: &Settle) {
        if self.done || self.seen.got.is_some() || self.tries_now(now) {
            return;
        }
        let Some(started) = self.started else { return };
        let tries_over = !self.connect.positive || now >= started + self.connect.deadline;
        if !tries_over || now < self.last_try + self.connect.timeout {
            return;
        }
        if quiet.quiet_for(self.connect.timeout) {
            self.seen.got = Some(Got::Silence);
            self.finish();
        } else if now >= self.last_try + self.connect.timeout + SETTLE_CAP {
            self.seen.undecided =
                Some(format!("the network did not go quiet within {} s", SETTLE_CAP.as_secs()));
            self.finish();
        }
    }

    fn next_event(&self, now: Instant) -> Instant {
        match self.started {
            None => now,
            Some(_) if self.tries_now(now) => now,
            Some(started) => {
                let next_try = self.last_try + self.connect.timeout;
                let end = started + self.connect.deadline;
                if self.connect.positive && now < end { next_try.min(end) } else { now + QUIET_POLL }
            }
        }
    }
}

/// A non-blocking TCP connect: the outcome comes later, through poll and SO_ERROR.
fn connect_tcp(peer: SocketAddr) -> io::Result<TcpStream> {
    let family = if peer.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: socket(2) with constant arguments; the fd is owned by the stream below.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh socket this function owns from here on.
    let stream = unsafe { <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let address = nix::sys::socket::SockaddrStorage::from(peer);
    match nix::sys::socket::connect(fd, &address) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => Ok(stream),
        Err(e) => Err(e.into()),
    }
}

/// A connected UDP socket, its one datagram sent: a refusal comes back as ECONNREFUSED.
fn send_udp(peer: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr =
        if peer.is_ipv4() { "0.0.0.0:0".parse() } else { "[::]:0".parse() }.map_err(io::Error::other)?;
    let socket = UdpSocket::bind(any)?;
    socket.set_nonblocking(true)?;
    socket.connect(peer)?;
    socket.send(b"lab probe\n")?;
    Ok(socket)
}

/// The socket's pending error (SO_ERROR), if any.
fn socket_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let mut error: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: an int option read into an int of the size given.
    let done = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut error as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((error != 0).then(|| io::Error::from_raw_os_error(error)))
}
