//! Captures on an interface while probes run, to see the 802.1Q/802.1ad tags their frames
//! carry and the VXLAN they travel in. The kernel takes a tag off a frame before a packet
//! socket sees it and reports it in PACKET_AUXDATA; in-band tags (frames the kernel left
//! tagged) are read too. A VXLAN packet (UDP whose payload has the VXLAN header) is opened
//! and its inner frame read. Only frames of this run's echoes count.

use super::socket::{BATCH, Socket, wait_any};
use pnet::packet::ethernet::EtherTypes;
use pnet::packet::ip::IpNextHeaderProtocols;
use pnet::packet::ipv4::Ipv4Packet;
use pnet::packet::ipv6::Ipv6Packet;
use std::collections::{BTreeMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One frame of a watched echo: the 802.1Q/802.1ad tags it carried (the outer frame's, then
/// those of a frame inside VXLAN), and the VXLAN it was carried in, as (UDP port, VNI).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    pub tags: Vec<u16>,
    pub vxlan: Option<(u16, u32)>,
}

/// What a capture saw of the probes it watched.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    /// Frames of the watched echoes, by ICMP identifier.
    pub frames: BTreeMap<u16, Vec<Frame>>,
}

impl Captured {
    /// The frames seen of one echo.
    pub fn of(&self, id: u16) -> &[Frame] {
        self.frames.get(&id).map_or(&[], Vec::as_slice)
    }
}

/// Opens the capture (call on a thread inside the interface's node). Frames are read by
/// `run` until `stop` is set, or `until` at the latest.
pub fn open(ifindex: u32) -> io::Result<Socket> {
    Socket::packet(ifindex, true)
}

pub fn run(socket: &Socket, ids: &HashSet<u16>, stop: &AtomicBool, until: Instant) -> io::Result<Captured> {
    let mut captured = Captured::default();
    let mut buffer = vec![0u8; 65536];
    loop {
        let stopping = stop.load(Ordering::SeqCst) || Instant::now() >= until;
        wait_any(&[socket], Duration::from_millis(20))?;
        for _ in 0..BATCH {
            let Some(received) = socket.recv(&mut buffer)? else { break };
            let Some((id, mut frame)) = echo_of(&buffer[..received.len]) else { continue };
            if let Some((vid, _)) = received.vlan {
                frame.tags.insert(0, vid);
            }
            if ids.contains(&id) {
                captured.frames.entry(id).or_default().push(frame);
            }
        }
        if stopping {
            return Ok(captured);
        }
    }
}

/// The echo a frame carries, directly or in VXLAN (one level: a tunnel inside a tunnel is
/// not opened), with the frame's tags and tunnel.
fn echo_of(frame: &[u8]) -> Option<(u16, Frame)> {
    let (tags, ethertype, offset) = in_band_tags(frame);
    let (protocol, payload) = ip_payload(ethertype, frame.get(offset..)?)?;
    if let Some(id) = echo_id(protocol, payload) {
        return Some((id, Frame { tags, vxlan: None }));
    }
    let (port, vni, inner) = vxlan_of(protocol, payload)?;
    let (inner_tags, inner_type, inner_offset) = in_band_tags(inner);
    let (protocol, payload) = ip_payload(inner_type, inner.get(inner_offset..)?)?;
    let id = echo_id(protocol, payload)?;
    Some((id, Frame { tags: [tags, inner_tags].concat(), vxlan: Some((port, vni)) }))
}

/// Tags still in the frame, the ethertype after them, and where the payload starts.
fn in_band_tags(frame: &[u8]) -> (Vec<u16>, u16, usize) {
    let mut tags = Vec::new();
    let mut offset = 12;
    loop {
        let Some(bytes) = frame.get(offset..offset + 2) else { return (tags, 0, offset) };
        let ethertype = u16::from_be_bytes([bytes[0], bytes[1]]);
        if ethertype != 0x8100 && ethertype != 0x88a8 {
            return (tags, ethertype, offset + 2);
        }
        let Some(tci) = frame.get(offset + 2..offset + 4) else { return (tags, 0, offset) };
        tags.push(u16::from_be_bytes([tci[0], tci[1]]) & 0x0fff);
        offset += 4;
    }
}

/// The protocol and payload of an IPv4 or IPv6 packet (IPv6 extension headers are not
/// followed).
fn ip_payload(ethertype: u16, packet: &[u8]) -> Option<(u8, &[u8])> {
    let (protocol, start, end) = if ethertype == EtherTypes::Ipv4.0 {
        let ip = Ipv4Packet::new(packet)?;
        (
            ip.get_next_level_protocol(),
            usize::from(ip.get_header_length()) * 4,
            usize::from(ip.get_total_length()),
        )
    } else if ethertype == EtherTypes::Ipv6.0 {
        let ip = Ipv6Packet::new(packet)?;
        (ip.get_next_header(), 40, 40 + usize::from(ip.get_payload_length()))
    } else {
        return None;
    };
    Some((protocol.0, packet.get(start..end.min(packet.len()))?))
}

/// The identifier of an ICMP echo (request or reply), if the payload is one.
fn echo_id(protocol: u8, icmp: &[u8]) -> Option<u16> {
    let icmp_protocol = [IpNextHeaderProtocols::Icmp.0, IpNextHeaderProtocols::Icmpv6.0];
    let echo = icmp_protocol.contains(&protocol) && matches!(icmp.first(), Some(0 | 8 | 128 | 129));
    (echo && icmp.len() >= 8).then(|| u16::from_be_bytes([icmp[4], icmp[5]]))
}

/// The UDP destination port, VNI and inner frame of a VXLAN packet (RFC 7348: 8 bytes of
/// UDP, then flags with the I bit (0x08), 3 reserved bytes, the 24-bit VNI, 1 reserved).
fn vxlan_of(protocol: u8, udp: &[u8]) -> Option<(u16, u32, &[u8])> {
    if protocol != IpNextHeaderProtocols::Udp.0 {
        return None;
    }
    let port = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    let header = udp.get(8..16)?;
    if header[0] & 0x08 == 0 {
        return None;
    }
    let vni = u32::from_be_bytes([0, header[4], header[5], header[6]]);
    Some((port, vni, udp.get(16..)?))
}
