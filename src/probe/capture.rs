//! Captures on an interface while probes run, to see the 802.1Q/802.1ad tags their frames
//! carry. The kernel takes a tag off a frame before a packet socket sees it and reports it
//! in PACKET_AUXDATA; in-band tags (frames the kernel left tagged) are read too. Only frames
//! of this run's echoes count.

use super::socket::{BATCH, Socket, wait_any};
use pnet::packet::Packet;
use pnet::packet::ethernet::EtherTypes;
use pnet::packet::ip::IpNextHeaderProtocols;
use pnet::packet::ipv4::Ipv4Packet;
use pnet::packet::ipv6::Ipv6Packet;
use std::collections::{BTreeMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a capture saw of the probes it watched.
#[derive(Clone, Debug, Default)]
pub struct Tags {
    /// Frames of the watched echoes, by ICMP identifier: the tags each carried.
    pub frames: BTreeMap<u16, Vec<Vec<u16>>>,
}

impl Tags {
    /// The tags seen on frames of one echo (empty list = untagged frame).
    pub fn of(&self, id: u16) -> &[Vec<u16>] {
        self.frames.get(&id).map_or(&[], Vec::as_slice)
    }
}

/// Opens the capture (call on a thread inside the interface's node). Frames are read by
/// `run` until `stop` is set, or `until` at the latest.
pub fn open(ifindex: u32) -> io::Result<Socket> {
    Socket::packet(ifindex, true)
}

pub fn run(socket: &Socket, ids: &HashSet<u16>, stop: &AtomicBool, until: Instant) -> io::Result<Tags> {
    let mut tags = Tags::default();
    let mut buffer = vec![0u8; 65536];
    loop {
        let stopping = stop.load(Ordering::SeqCst) || Instant::now() >= until;
        wait_any(&[socket], Duration::from_millis(20))?;
        for _ in 0..BATCH {
            let Some(received) = socket.recv(&mut buffer)? else { break };
            let frame = &buffer[..received.len];
            let (mut carried, payload_type, offset) = in_band_tags(frame);
            if let Some((vid, _)) = received.vlan {
                carried.insert(0, vid);
            }
            if let Some(id) = echo_id(frame, payload_type, offset).filter(|id| ids.contains(id)) {
                tags.frames.entry(id).or_default().push(carried);
            }
        }
        if stopping {
            return Ok(tags);
        }
    }
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

/// The identifier of an ICMP echo (request or reply) in a frame, if it is one.
fn echo_id(frame: &[u8], ethertype: u16, offset: usize) -> Option<u16> {
    let payload = frame.get(offset..)?;
    let icmp = if ethertype == EtherTypes::Ipv4.0 {
        let ip = Ipv4Packet::new(payload)?;
        (ip.get_next_level_protocol() == IpNextHeaderProtocols::Icmp).then(|| ip.payload().to_vec())?
    } else if ethertype == EtherTypes::Ipv6.0 {
        let ip = Ipv6Packet::new(payload)?;
        (ip.get_next_header() == IpNextHeaderProtocols::Icmpv6).then(|| ip.payload().to_vec())?
    } else {
        return None;
    };
    let echo = matches!(icmp.first(), Some(0 | 8 | 128 | 129));
    (echo && icmp.len() >= 8).then(|| u16::from_be_bytes([icmp[4], icmp[5]]))
}
