//! ICMP echo from inside one node: every echo of that node goes out on one raw socket per
//! family, resent every timeout while a positive expectation waits for its deadline. A reply
//! counts only with the probe's identifier, the run's cookie and the probe's index, from
//! whichever address answers (an anycast target answers from a unicast address, as `ping`
//! shows); redirects and unreachables are matched through the original echo they quote.

use super::settle::Settle;
use super::socket::{BATCH, Received, Socket, wait_any};
use pnet::packet::Packet;
use pnet::packet::icmp::echo_request::MutableEchoRequestPacket;
use pnet::packet::icmp::{IcmpPacket, IcmpTypes, checksum};
use pnet::packet::icmpv6::Icmpv6Types;
use pnet::packet::icmpv6::echo_request::MutableEchoRequestPacket as Echo6;
use pnet::packet::ipv4::Ipv4Packet;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// A router rate-limits redirects per sender (20 ms, then twice as long after each), so a
/// probe that waits for one keeps echoing at this pace once answered.
const REDIRECT_RETRY: Duration = Duration::from_millis(100);

/// One echo to send.
#[derive(Clone, Debug)]
pub struct Echo {
    pub target: IpAddr,
    /// A positive probe is resent until it is answered or its deadline passes; a negative one
    /// is sent once and waits one timeout.
    pub positive: bool,
    pub timeout: Duration,
    pub deadline: Duration,
    /// ICMP identifier, unique in this run (captures watch for it).
    pub id: u16,
    /// Keep echoing after the reply, until an ICMP redirect comes.
    pub wants_redirect: bool,
}

#[derive(Clone, Debug)]
pub struct Reply {
    /// TTL or hop limit the reply arrived with.
    pub ttl: Option<u8>,
    pub rtt: Duration,
    /// Who answered.
    pub from: IpAddr,
}

/// What happened to one echo.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub reply: Option<Reply>,
    /// (new next hop, router that said so)
    pub redirect: Option<(IpAddr, IpAddr)>,
    /// What the network said instead of a reply: "host unreachable, reported by 10.0.0.1",
    /// or "no route to it".
    pub error: Option<String>,
    /// Why the probe could not be made at all; its expectation then fails, whichever way.
    pub failed: Option<String>,
    /// Why the absence of a reply proves nothing: the network never went quiet.
    pub undecided: Option<String>,
    pub sent: u32,
}

/// Positive probes awaiting their answer at once, per node: their answers always fit the
/// socket, and the machine's backlogs are not flooded.
const WINDOW: usize = 256;
/// How long a probe waits, after its last send, for the network to go quiet.
pub const SETTLE_CAP: Duration = Duration::from_secs(30);
/// How often a probe that waits for the network to go quiet looks again.
pub const QUIET_POLL: Duration = Duration::from_millis(5);

struct Probe<'a> {
    echo: &'a Echo,
    seen: Seen,
    sent_at: Vec<Instant>,
    next_send: Instant,
    /// The first send: the deadline runs from here.
    started: Option<Instant>,
    answered_at: Option<Instant>,
    done: bool,
}

impl Probe<'_> {
    /// Still sending: a negative probe until its one send, a positive one until it is
    /// answered (and, when it waits for a redirect, until that comes) or its deadline.
    fn sending(&self, now: Instant) -> bool {
        let Some(started) = self.started else { return true };
        let waits_more = self.answered_at.is_none() || self.echo.wants_redirect;
        self.echo.positive && waits_more && now < started + self.echo.deadline
    }

    /// Settles the probe once the way it ends is known: answered as wanted; for a negative
    /// probe a reply (it fails) or an error; or, the sending over, once the network has been
    /// quiet for a timeout (or could not go quiet in `SETTLE_CAP`).
    fn settle(&mut self, now: Instant, quiet: &Settle) {
        let answered =
            self.answered_at.is_some() && (!self.echo.wants_redirect || self.seen.redirect.is_some());
        let refuted = !self.echo.positive && (self.seen.reply.is_some() || self.seen.error.is_some());
        if answered || refuted || self.seen.failed.is_some() {
            self.done = true;
            return;
        }
        let Some(last) = self.sent_at.last().copied() else { return };
        if self.sending(now) {
            return;
        }
        if quiet.quiet_for(self.echo.timeout) {
            self.done = true;
        } else if now >= last + self.echo.timeout + SETTLE_CAP {
            self.seen.undecided =
                Some(format!("the network did not go quiet within {} s", SETTLE_CAP.as_secs()));
            self.done = true;
        }
    }

    fn sends_now(&self, now: Instant) -> bool {
        !self.done && self.sending(now) && now >= self.next_send
    }

    /// When the probe next needs looking at.
    fn next_event(&self, now: Instant) -> Instant {
        if self.sending(now) {
            let ends = self.started.map_or(self.next_send, |s| s + self.echo.deadline);
            self.next_send.min(ends)
        } else {
            now + QUIET_POLL
        }
    }
}

/// Sends every echo and waits for what comes back, and for the network to go quiet where
/// silence is the answer; runs on a thread inside the source node.
pub fn run(echoes: &[Echo], cookie: [u8; 8], quiet: &Settle) -> io::Result<Vec<Seen>> {
    let start = Instant::now();
    let v4 = if echoes.iter().any(|e| e.target.is_ipv4()) { Some(Socket::icmp4()?) } else { None };
    let v6 = if echoes.iter().any(|e| e.target.is_ipv6()) { Some(Socket::icmp6()?) } else { None };
    let mut probes: Vec<Probe> = echoes
        .iter()
        .map(|echo| Probe {
            echo,
            seen: Seen::default(),
            sent_at: Vec::new(),
            next_send: start,
            started: None,
            answered_at: None,
            done: false,
        })
        .collect();
    let by_id: HashMap<u16, usize> = echoes.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    let mut buffer = vec![0u8; 65536];
    let mut dropped = 0;
    loop {
        let now = Instant::now();
        let mut awaiting = probes.iter().filter(|p| p.started.is_some() && !p.done && p.sending(now)).count();
        for (index, probe) in probes.iter_mut().enumerate() {
            let first = probe.started.is_none();
            if !probe.sends_now(now) || (first && probe.echo.positive && awaiting >= WINDOW) {
                continue;
            }
            let socket = if probe.echo.target.is_ipv4() { v4.as_ref() } else { v6.as_ref() };
            send(socket, probe, index, cookie);
            quiet.activity();
            if first {
                probe.started = Some(now);
                awaiting += usize::from(probe.echo.positive);
            }
            let pace = if probe.answered_at.is_some() { REDIRECT_RETRY } else { probe.echo.timeout };
            probe.next_send = now + pace;
        }
        let now = Instant::now();
        for probe in probes.iter_mut().filter(|p| !p.done) {
            probe.settle(now, quiet);
        }
        let Some(wake) = probes.iter().filter(|p| !p.done).map(|p| p.next_event(now)).min() else { break };
        let sockets: Vec<&Socket> = v4.iter().chain(v6.iter()).collect();
        wait_any(&sockets, wake.saturating_duration_since(now))?;
        for (socket, is_v6) in [(v4.as_ref(), false), (v6.as_ref(), true)] {
            let Some(socket) = socket else { continue };
            for _ in 0..BATCH {
                let Some(received) = socket.recv(&mut buffer)? else { break };
                if let Some(count) = received.dropped.filter(|d| *d > dropped) {
                    dropped = count;
                    quiet.lost("a probe's socket overflowed".into());
                }
                let packet = &buffer[..received.len];
                let heard = if is_v6 { hear_v6(packet, &received) } else { hear_v4(packet) };
                if let Some(heard) = heard {
                    record(&mut probes, &by_id, heard, cookie);
                }
            }
        }
    }
    Ok(probes.into_iter().map(|p| p.seen).collect())
}

fn send(socket: Option<&Socket>, probe: &mut Probe<'_>, index: usize, cookie: [u8; 8]) {
    let Some(socket) = socket else { return };
    let sequence = probe.sent_at.len() as u16;
    let message = echo_request(probe.echo, sequence, index, cookie);
    match socket.send_to(&message, probe.echo.target) {
        Ok(()) => {
            probe.sent_at.push(Instant::now());
            probe.seen.sent += 1;
        }
        Err(e) => {
            probe.sent_at.push(Instant::now());
            match e.raw_os_error() {
                Some(libc::ENETUNREACH) => {
                    probe.seen.error = Some("no route to it (network unreachable)".into())
                }
                Some(libc::EHOSTUNREACH) => {
                    probe.seen.error = Some("no route to it (host unreachable)".into())
                }
                _ => probe.seen.failed = Some(format!("sending the echo failed: {e}")),
            }
        }
    }
}

/// An echo request: our identifier, the attempt as sequence, the cookie and probe index as data.
pub(super) fn echo_request(echo: &Echo, sequence: u16, index: usize, cookie: [u8; 8]) -> Vec<u8> {
    let mut data = cookie.to_vec();
    data.extend_from_slice(&(index as u32).to_be_bytes());
    if echo.target.is_ipv6() {
        // The kernel computes the checksum of a raw ICMPv6 socket.
        let mut buffer = vec![0u8; Echo6::minimum_packet_size() + data.len()];
        let mut packet = Echo6::new(&mut buffer).expect("the buffer fits an echo request");
        packet.set_icmpv6_type(Icmpv6Types::EchoRequest);
        packet.set_identifier(echo.id);
        packet.set_sequence_number(sequence);
        packet.set_payload(&data);
        return buffer;
    }
    let mut buffer = vec![0u8; MutableEchoRequestPacket::minimum_packet_size() + data.len()];
    let mut packet = MutableEchoRequestPacket::new(&mut buffer).expect("the buffer fits an echo request");
    packet.set_icmp_type(IcmpTypes::EchoRequest);
    packet.set_identifier(echo.id);
    packet.set_sequence_number(sequence);
    packet.set_payload(&data);
    let sum = checksum(&IcmpPacket::new(packet.packet()).expect("an ICMP packet"));
    packet.set_checksum(sum);
    buffer
}

/// What an incoming ICMP message says about our probes.
pub(super) enum Heard {
    Reply { id: u16, sequence: u16, from: IpAddr, ttl: Option<u8>, data: Vec<u8> },
    Error { id: u16, text: String },
    Redirect { destination: Option<IpAddr>, id: Option<u16>, gateway: IpAddr, from: IpAddr },
}

pub(super) fn hear_v4(packet: &[u8]) -> Option<Heard> {
    let ip = Ipv4Packet::new(packet)?;
    let from = IpAddr::V4(ip.get_source());
    let icmp = ip.payload();
    if icmp.len() < 8 {
        return None;
    }
    let (kind, code) = (icmp[0], icmp[1]);
    match kind {
        0 => Some(Heard::Reply {
            id: u16::from_be_bytes([icmp[4], icmp[5]]),
            sequence: u16::from_be_bytes([icmp[6], icmp[7]]),
            from,
            ttl: Some(ip.get_ttl()),
            data: icmp[8..].to_vec(),
        }),
        3 | 11 => Some(Heard::Error {
            id: quoted_v4_echo(&icmp[8..])?,
            text: format!("{}, reported by {from}", v4_error(kind, code)),
        }),
        5 => Some(Heard::Redirect {
            destination: Ipv4Packet::new(&icmp[8..]).map(|quoted| IpAddr::V4(quoted.get_destination())),
            id: quoted_v4_echo(&icmp[8..]),
            gateway: IpAddr::V4(Ipv4Addr::new(icmp[4], icmp[5], icmp[6], icmp[7])),
            from,
        }),
        _ => None,
    }
}

/// The identifier of our echo request quoted in an ICMP error (IPv4 header + 8 bytes);
/// `None` when the quoted packet is something else (an echo reply the kernel sent).
fn quoted_v4_echo(quoted: &[u8]) -> Option<u16> {
    let ip = Ipv4Packet::new(quoted)?;
    let inner = quoted.get(usize::from(ip.get_header_length()) * 4..)?;
    (inner.len() >= 8 && inner[0] == 8).then(|| u16::from_be_bytes([inner[4], inner[5]]))
}

fn v4_error(kind: u8, code: u8) -> String {
    match (kind, code) {
        (3, 0) => "network unreachable".into(),
        (3, 1) => "host unreachable".into(),
        (3, 3) => "port unreachable".into(),
        (3, 9 | 10 | 13) => "administratively prohibited".into(),
        (3, code) => format!("destination unreachable (code {code})"),
        (11, _) => "TTL exceeded in transit".into(),
        _ => format!("ICMP type {kind} code {code}"),
    }
}

pub(super) fn hear_v6(icmp: &[u8], received: &Received) -> Option<Heard> {
    let from = received.source?;
    if icmp.len() < 8 {
        return None;
    }
    let (kind, code) = (icmp[0], icmp[1]);
    match kind {
        129 => Some(Heard::Reply {
            id: u16::from_be_bytes([icmp[4], icmp[5]]),
            sequence: u16::from_be_bytes([icmp[6], icmp[7]]),
            from,
            ttl: received.hop_limit,
            data: icmp[8..].to_vec(),
        }),
        1 | 3 => {
            // 8 bytes of header, the original IPv6 header (40), then our echo request.
            let inner = icmp.get(48..56)?;
            let id = (inner[0] == 128).then(|| u16::from_be_bytes([inner[4], inner[5]]))?;
            Some(Heard::Error { id, text: format!("{}, reported by {from}", v6_error(kind, code)) })
        }
        137 if icmp.len() >= 40 => {
            let octets = |range: std::ops::Range<usize>| -> Option<Ipv6Addr> {
                Some(Ipv6Addr::from(<[u8; 16]>::try_from(icmp.get(range)?).ok()?))
            };
            Some(Heard::Redirect {
                destination: octets(24..40).map(IpAddr::V6),
                id: None,
                gateway: IpAddr::V6(octets(8..24)?),
                from,
            })
        }
        _ => None,
    }
}

fn v6_error(kind: u8, code: u8) -> String {
    match (kind, code) {
        (1, 0) => "no route to destination".into(),
        (1, 1) => "administratively prohibited".into(),
        (1, 3) => "address unreachable".into(),
        (1, 4) => "port unreachable".into(),
        (1, code) => format!("destination unreachable (code {code})"),
        (3, _) => "hop limit exceeded in transit".into(),
        _ => format!("ICMPv6 type {kind} code {code}"),
    }
}

fn record(probes: &mut [Probe<'_>], by_id: &HashMap<u16, usize>, heard: Heard, cookie: [u8; 8]) {
    match heard {
        Heard::Reply { id, sequence, from, ttl, data } => {
            let Some(&index) = by_id.get(&id) else { return };
            let probe = &mut probes[index];
            let ours = data.len() >= 12 && data[..8] == cookie && data[8..12] == (index as u32).to_be_bytes();
            if !ours || probe.seen.reply.is_some() {
                return;
            }
            let rtt = probe.sent_at.get(usize::from(sequence)).map_or(Duration::ZERO, |at| at.elapsed());
            probe.seen.reply = Some(Reply { ttl, rtt, from });
            let now = Instant::now();
            probe.answered_at = Some(now);
            probe.next_send = now + REDIRECT_RETRY;
        }
        Heard::Error { id, text } => {
            if let Some(&index) = by_id.get(&id) {
                probes[index].seen.error.get_or_insert(text);
            }
        }
        Heard::Redirect { destination, id, gateway, from } => {
            for probe in probes.iter_mut() {
                let about_us = match id {
                    Some(id) => id == probe.echo.id,
                    None => destination == Some(probe.echo.target),
                };
                if about_us && !probe.sent_at.is_empty() {
                    probe.seen.redirect.get_or_insert((gateway, from));
                }
            }
        }
    }
}
