//! One captured frame as a reader of the capture file wants it: the bytes as they were on
//! the wire, with the 802.1Q/802.1ad tag the kernel took off put back (as libpcap does:
//! VLAN offload strips the outer tag into the packet's side data), and what the frame
//! carries, for filters and one-line summaries. Pure: works on bytes.

use pnet::packet::Packet;
use pnet::packet::arp::ArpPacket;
use pnet::packet::ethernet::EthernetPacket;
use pnet::packet::icmp::IcmpPacket;
use pnet::packet::icmpv6::Icmpv6Packet;
use pnet::packet::ip::{IpNextHeaderProtocol, IpNextHeaderProtocols};
use pnet::packet::ipv4::Ipv4Packet;
use pnet::packet::ipv6::Ipv6Packet;
use pnet::packet::tcp::TcpPacket;
use pnet::packet::udp::UdpPacket;
use pnet::util::MacAddr;
use std::net::IpAddr;

/// The frame with the stripped tag `(tpid, tci)` put back after the two MAC addresses.
pub fn with_tag(bytes: &[u8], tag: Option<(u16, u16)>) -> Vec<u8> {
    let Some((tpid, tci)) = tag.filter(|_| bytes.len() >= 12) else { return bytes.to_vec() };
    let mut frame = Vec::with_capacity(bytes.len() + 4);
    frame.extend_from_slice(&bytes[..12]);
    frame.extend_from_slice(&tpid.to_be_bytes());
    frame.extend_from_slice(&tci.to_be_bytes());
    frame.extend_from_slice(&bytes[12..]);
    frame
}

/// What a frame carries, outermost first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    pub source_mac: Option<MacAddr>,
    pub destination_mac: Option<MacAddr>,
    /// The VLAN ids of its tags, outer first.
    pub tags: Vec<u16>,
    /// The ethertype after the tags.
    pub ethertype: u16,
    pub source: Option<IpAddr>,
    pub destination: Option<IpAddr>,
    /// The IP protocol (ICMP is 1, ICMPv6 58, TCP 6, UDP 17).
    pub protocol: Option<u8>,
    pub ports: Option<(u16, u16)>,
    /// ICMP's or ICMPv6's type, or the ARP operation.
    pub message: Option<u8>,
}

pub const ARP: u16 = 0x0806;
pub const IPV4: u16 = 0x0800;
pub const IPV6: u16 = 0x86dd;
const TAG_TYPES: [u16; 2] = [0x8100, 0x88a8];

/// Reads what a frame (tags back in place) carries; what cannot be read stays empty.
pub fn contents(frame: &[u8]) -> Contents {
    let mut contents = Contents::default();
    let Some(ethernet) = EthernetPacket::new(frame) else { return contents };
    contents.source_mac = Some(ethernet.get_source());
    contents.destination_mac = Some(ethernet.get_destination());
    let mut offset = 12;
    let mut ethertype = ethernet.get_ethertype().0;
    while TAG_TYPES.contains(&ethertype) {
        let (Some(tci), Some(next)) = (two_bytes(frame, offset + 2), two_bytes(frame, offset + 4)) else {
            return contents;
        };
        contents.tags.push(tci & 0x0fff);
        ethertype = next;
        offset += 4;
    }
    contents.ethertype = ethertype;
    read_payload(&mut contents, frame.get(offset + 2..).unwrap_or_default());
    contents
}

fn two_bytes(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

fn read_payload(contents: &mut Contents, payload: &[u8]) {
    match contents.ethertype {
        IPV4 => {
            let Some(ip) = Ipv4Packet::new(payload) else { return };
            contents.source = Some(ip.get_source().into());
            contents.destination = Some(ip.get_destination().into());
            let header = usize::from(ip.get_header_length()) * 4;
            read_transport(contents, ip.get_next_level_protocol(), payload.get(header..).unwrap_or_default());
        }
        IPV6 => {
            let Some(ip) = Ipv6Packet::new(payload) else { return };
            contents.source = Some(ip.get_source().into());
            contents.destination = Some(ip.get_destination().into());
            read_transport(contents, ip.get_next_header(), ip.payload());
        }
        ARP => {
            let Some(arp) = ArpPacket::new(payload) else { return };
            contents.source = Some(arp.get_sender_proto_addr().into());
            contents.destination = Some(arp.get_target_proto_addr().into());
            contents.message = Some(arp.get_operation().0 as u8);
        }
        _ => {}
    }
}

fn read_transport(contents: &mut Contents, protocol: IpNextHeaderProtocol, payload: &[u8]) {
    contents.protocol = Some(protocol.0);
    match protocol {
        IpNextHeaderProtocols::Tcp => {
            contents.ports = TcpPacket::new(payload).map(|t| (t.get_source(), t.get_destination()));
        }
        IpNextHeaderProtocols::Udp => {
            contents.ports = UdpPacket::new(payload).map(|u| (u.get_source(), u.get_destination()));
        }
        IpNextHeaderProtocols::Icmp => {
            contents.message = IcmpPacket::new(payload).map(|i| i.get_icmp_type().0);
        }
        IpNextHeaderProtocols::Icmpv6 => {
            contents.message = Icmpv6Packet::new(payload).map(|i| i.get_icmpv6_type().0);
        }
        _ => {}
    }
}

impl Contents {
    /// One line, as tcpdump would say it: "802.1Q 19, 10.0.0.1 > 10.0.0.2: ICMP echo request".
    pub fn summary(&self) -> String {
        let tags: String = self.tags.iter().map(|t| format!("802.1Q {t}, ")).collect();
        let what = match (self.ethertype, self.protocol) {
            (ARP, _) => format!("ARP {}", if self.message == Some(2) { "reply" } else { "request" }),
            (IPV4 | IPV6, Some(1 | 58)) => icmp_name(self.ethertype == IPV6, self.message),
            (IPV4 | IPV6, Some(6)) => "TCP".into(),
            (IPV4 | IPV6, Some(17)) => "UDP".into(),
            (IPV4 | IPV6, Some(p)) => format!("IP protocol {p}"),
            (other, _) => format!("ethertype {other:#06x}"),
        };
        let ends = match (self.source, self.destination, self.ports) {
            (Some(s), Some(d), Some((sp, dp))) => format!("{s}.{sp} > {d}.{dp}: "),
            (Some(s), Some(d), None) => format!("{s} > {d}: "),
            _ => match (self.source_mac, self.destination_mac) {
                (Some(s), Some(d)) => format!("{s} > {d}: "),
                _ => String::new(),
            },
        };
        format!("{tags}{ends}{what}")
    }
}

fn icmp_name(v6: bool, message: Option<u8>) -> String {
    let name = match (v6, message) {
        (false, Some(8)) | (true, Some(128)) => "echo request",
        (false, Some(0)) | (true, Some(129)) => "echo reply",
        (false, Some(3)) | (true, Some(1)) => "destination unreachable",
        (false, Some(11)) | (true, Some(3)) => "time exceeded",
        (true, Some(135)) => "neighbour solicitation",
        (true, Some(136)) => "neighbour advertisement",
        (true, Some(133)) => "router solicitation",
        (true, Some(134)) => "router advertisement",
        _ => "",
    };
    let family = if v6 { "ICMP6" } else { "ICMP" };
    match (name, message) {
        ("", Some(t)) => format!("{family} type {t}"),
        ("", None) => family.into(),
        (name, _) => format!("{family} {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ICMP echo request from 10.0.0.1 to 10.0.0.2, untagged.
    fn echo() -> Vec<u8> {
        let mut frame = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
        let ip = [
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4
            8, 0, 0, 0, 0x12, 0x34, 0, 1, // ICMP echo request
        ];
        frame.extend_from_slice(&ip);
        frame
    }

    #[test]
    fn a_stripped_tag_goes_back_after_the_macs() {
        let tagged = with_tag(&echo(), Some((0x8100, 0x2013)));
        assert_eq!(&tagged[12..16], &[0x81, 0x00, 0x20, 0x13]);
        assert_eq!(&tagged[16..18], &[0x08, 0x00]);
        let seen = contents(&tagged);
        assert_eq!(seen.tags, [19]);
        assert_eq!(seen.summary(), "802.1Q 19, 10.0.0.1 > 10.0.0.2: ICMP echo request");
        assert_eq!(with_tag(&echo(), None), echo());
    }

    #[test]
    fn both_tags_of_qinq_are_read() {
        let inner = with_tag(&echo(), Some((0x8100, 20)));
        let outer = with_tag(&inner, Some((0x88a8, 100)));
        assert_eq!(contents(&outer).tags, [100, 20]);
        assert_eq!(contents(&outer).protocol, Some(1));
    }

    #[test]
    fn a_short_frame_reads_as_little_as_it_has() {
        assert_eq!(contents(&[0; 5]), Contents::default());
        assert_eq!(contents(&echo()[..16]).ethertype, IPV4);
    }
}
