//! Link-layer resolution from inside one node: "who has ADDRESS?" asked by ARP (IPv4) or
//! neighbour solicitation (IPv6) out of the interface the node's routes pick, with every
//! answer collected, so that two devices answering for one address (ARP flux) show.

use super::socket::{BATCH, Socket, wait_any};
use crate::model::Mac;
use crate::realize::Netlink;
use pnet::packet::Packet;
use pnet::packet::arp::{ArpHardwareTypes, ArpOperations, ArpPacket, MutableArpPacket};
use pnet::packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet::packet::icmpv6::ndp::{MutableNeighborSolicitPacket, NdpOptionTypes, NeighborAdvertPacket};
use pnet::packet::icmpv6::{Icmpv6Packet, Icmpv6Types};
use pnet::packet::ip::IpNextHeaderProtocols;
use pnet::packet::ipv6::{Ipv6Packet, MutableIpv6Packet};
use pnet::util::MacAddr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// After the first answer, how long to keep listening for others.
const MORE_ANSWERS: Duration = Duration::from_millis(150);

#[derive(Clone, Debug)]
pub struct Ask {
    pub target: IpAddr,
    pub positive: bool,
    pub timeout: Duration,
    pub deadline: Duration,
}

#[derive(Clone, Debug, Default)]
pub struct Answers {
    /// Every MAC that answered, first answer first.
    pub macs: Vec<Mac>,
    /// The interface asked on.
    pub on: Option<String>,
    pub error: Option<String>,
}

/// Where to ask from: the interface toward the target, its MAC and an address of ours.
struct Egress {
    ifindex: u32,
    name: String,
    mac: [u8; 6],
    source: IpAddr,
}

/// Asks every question; runs on a thread inside the asking node.
pub fn run(asks: &[Ask]) -> io::Result<Vec<Answers>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let netlink = Netlink::open_here(rt.handle())?;
    std::thread::scope(|scope| {
        let handles: Vec<_> = asks
            .iter()
            .map(|ask| {
                let egress = rt.block_on(egress(&netlink, ask.target));
                scope.spawn(move || match egress {
                    Ok(egress) => resolve(ask, &egress)
                        .unwrap_or_else(|e| Answers { error: Some(e.to_string()), ..Default::default() }),
                    Err(error) => Answers { error: Some(error), ..Default::default() },
                })
            })
            .collect();
        Ok(handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| Answers {
                    error: Some("its thread panicked".into()),
                    ..Default::default()
                })
            })
            .collect())
    })
}

async fn egress(netlink: &Netlink, target: IpAddr) -> Result<Egress, String> {
    let route = netlink.route_to(target).await.map_err(|_| format!("no route to {target}"))?;
    let link =
        netlink.link_by_index(route.oif).await.map_err(|e| format!("reading the egress interface: {e}"))?;
    let mac = link.mac.ok_or_else(|| format!("{} has no MAC to ask from", link.name))?.0;
    let source = route.source.ok_or_else(|| format!("{} has no address to ask from", link.name))?;
    Ok(Egress { ifindex: route.oif, name: link.name, mac, source })
}

fn resolve(ask: &Ask, egress: &Egress) -> io::Result<Answers> {
    let socket = Socket::packet(egress.ifindex, false)?;
    let question = match (ask.target, egress.source) {
        (IpAddr::V4(target), IpAddr::V4(source)) => arp_request(egress.mac, source, target),
        (IpAddr::V6(target), IpAddr::V6(source)) => neighbour_solicitation(egress.mac, source, target),
        _ => {
            return Ok(Answers {
                error: Some("the route's source address is of the other family".into()),
                ..Default::default()
            });
        }
    };
    let start = Instant::now();
    let ends = start + if ask.positive { ask.deadline } else { ask.timeout };
    let mut answers = Answers { on: Some(egress.name.clone()), ..Default::default() };
    let mut next_ask = start;
    let mut first_answer: Option<Instant> = None;
    let mut buffer = vec![0u8; 65536];
    loop {
        let now = Instant::now();
        let stop = first_answer.map_or(ends, |at| ends.min(at + MORE_ANSWERS));
        if now >= stop {
            break;
        }
        if first_answer.is_none() && now >= next_ask && (ask.positive || next_ask == start) {
            socket.send_frame(&question)?;
            next_ask = now + ask.timeout;
        }
        let wake = if first_answer.is_none() && ask.positive { stop.min(next_ask) } else { stop };
        wait_any(&[&socket], wake.saturating_duration_since(now))?;
        for _ in 0..BATCH {
            let Some(received) = socket.recv(&mut buffer)? else { break };
            if received.outgoing {
                continue;
            }
            if let Some(mac) = answer(&buffer[..received.len], ask.target, egress.mac) {
                if !answers.macs.contains(&mac) {
                    answers.macs.push(mac);
                }
                first_answer.get_or_insert(Instant::now());
            }
        }
    }
    Ok(answers)
}

fn ethernet(
    destination: [u8; 6],
    source: [u8; 6],
    ethertype: pnet::packet::ethernet::EtherType,
    payload: &[u8],
) -> Vec<u8> {
    let mut frame = vec![0u8; 14 + payload.len()];
    let mut eth = MutableEthernetPacket::new(&mut frame).expect("the buffer fits a frame");
    eth.set_destination(MacAddr::from(destination));
    eth.set_source(MacAddr::from(source));
    eth.set_ethertype(ethertype);
    eth.set_payload(payload);
    frame
}

fn arp_request(mac: [u8; 6], source: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut body = [0u8; 28];
    let mut arp = MutableArpPacket::new(&mut body).expect("the buffer fits an ARP packet");
    arp.set_hardware_type(ArpHardwareTypes::Ethernet);
    arp.set_protocol_type(EtherTypes::Ipv4);
    arp.set_hw_addr_len(6);
    arp.set_proto_addr_len(4);
    arp.set_operation(ArpOperations::Request);
    arp.set_sender_hw_addr(MacAddr::from(mac));
    arp.set_sender_proto_addr(source);
    arp.set_target_hw_addr(MacAddr::zero());
    arp.set_target_proto_addr(target);
    ethernet([0xff; 6], mac, EtherTypes::Arp, &body)
}

/// The solicited-node multicast group of an address, and its Ethernet address.
fn solicited_node(target: Ipv6Addr) -> (Ipv6Addr, [u8; 6]) {
    let o = target.octets();
    let group =
        Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00 | u16::from(o[13]), u16::from_be_bytes([o[14], o[15]]));
    (group, [0x33, 0x33, 0xff, o[13], o[14], o[15]])
}

fn neighbour_solicitation(mac: [u8; 6], source: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let (group, group_mac) = solicited_node(target);
    // 24 bytes of solicitation and an 8-byte source link-layer address option.
    let mut icmp = [0u8; 32];
    {
        let mut ns = MutableNeighborSolicitPacket::new(&mut icmp).expect("the buffer fits a solicitation");
        ns.set_icmpv6_type(Icmpv6Types::NeighborSolicit);
        ns.set_target_addr(target);
    }
    icmp[24] = NdpOptionTypes::SourceLLAddr.0;
    icmp[25] = 1;
    icmp[26..32].copy_from_slice(&mac);
    let sum =
        pnet::packet::icmpv6::checksum(&Icmpv6Packet::new(&icmp).expect("an ICMPv6 packet"), &source, &group);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut ip = vec![0u8; 40 + icmp.len()];
    {
        let mut header = MutableIpv6Packet::new(&mut ip).expect("the buffer fits an IPv6 packet");
        header.set_version(6);
        header.set_payload_length(icmp.len() as u16);
        header.set_next_header(IpNextHeaderProtocols::Icmpv6);
        header.set_hop_limit(255);
        header.set_source(source);
        header.set_destination(group);
        header.set_payload(&icmp);
    }
    ethernet(group_mac, mac, EtherTypes::Ipv6, &ip)
}

/// The MAC in an ARP reply or neighbour advertisement for `target`, sent to us.
fn answer(frame: &[u8], target: IpAddr, ours: [u8; 6]) -> Option<Mac> {
    let eth = EthernetPacket::new(frame)?;
    match (eth.get_ethertype(), target) {
        (EtherTypes::Arp, IpAddr::V4(target)) => {
            let arp = ArpPacket::new(eth.payload())?;
            let to_us = arp.get_target_hw_addr().octets() == ours;
            (arp.get_operation() == ArpOperations::Reply && arp.get_sender_proto_addr() == target && to_us)
                .then(|| Mac(arp.get_sender_hw_addr().octets()))
        }
        (EtherTypes::Ipv6, IpAddr::V6(target)) => {
            let ip = Ipv6Packet::new(eth.payload())?;
            if ip.get_next_header() != IpNextHeaderProtocols::Icmpv6 {
                return None;
            }
            let na = NeighborAdvertPacket::new(ip.payload())?;
            if na.get_icmpv6_type() != Icmpv6Types::NeighborAdvert || na.get_target_addr() != target {
                return None;
            }
            let option = na.get_options().into_iter().find(|o| o.option_type == NdpOptionTypes::TargetLLAddr);
            let mac = match option {
                Some(o) if o.data.len() >= 6 => <[u8; 6]>::try_from(&o.data[..6]).ok()?,
                _ => eth.get_source().octets(),
            };
            Some(Mac(mac))
        }
        _ => None,
    }
}
