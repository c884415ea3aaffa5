//! Link-layer resolution from inside one node: "who has ADDRESS?" asked by ARP (IPv4) or
//! neighbour solicitation (IPv6) out of the interface the node's routes pick, with every
//! answer collected, so that two devices answering for one address (ARP flux) show.

use super::icmp::SETTLE_CAP;
use super::settle::Settle;
use super::socket::{BATCH, Socket, wait_any};
use crate::kernel::{Netlink, with_netlink};
use crate::model::Mac;
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

/// After the first answer, how long the network must be quiet before no other answer can
/// come (ARP flux: two devices answering for one address).
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
    /// Why the absence of (more) answers proves nothing: the network never went quiet.
    pub undecided: Option<String>,
}

/// Where to ask from: the interface toward the target, its MAC and an address of ours.
struct Egress {
    ifindex: u32,
    name: String,
    mac: [u8; 6],
    source: IpAddr,
}

/// One question on its way, on the socket of its egress interface.
struct Question<'a> {
    /// Which of the asks it is.
    index: usize,
    ask: &'a Ask,
    frame: Vec<u8>,
    /// The socket it is asked on (index into the sockets).
    socket: usize,
    answers: Answers,
    started: Instant,
    /// Sent at least once.
    asked: bool,
    next_ask: Instant,
    first_answer: Option<Instant>,
    done: bool,
}

impl Question<'_> {
    /// Asking again every timeout until answered or, for a positive question, its deadline;
    /// a negative question asks once.
    fn asking(&self, now: Instant) -> bool {
        self.first_answer.is_none() && self.ask.positive && now < self.started + self.ask.deadline
    }

    /// Done once answered and the network quiet long enough for any other answer to have
    /// come; or, when not answered, once the asking is over and the network was quiet for
    /// a timeout (a negative question with an answer is done at once: it fails).
    fn settle(&mut self, now: Instant, quiet: &Settle) {
        if self.first_answer.is_some() && !self.ask.positive {
            self.done = true;
            return;
        }
        if self.first_answer.is_none() && self.asking(now) {
            return;
        }
        let window = if self.first_answer.is_some() { MORE_ANSWERS } else { self.ask.timeout };
        if quiet.quiet_for(window) {
            self.done = true;
        } else if now >= self.next_ask + SETTLE_CAP {
            self.answers.undecided =
                Some(format!("the network did not go quiet within {} s", SETTLE_CAP.as_secs()));
            self.done = true;
        }
    }
}

/// Asks every question: one packet socket per interface asked on, every question at once;
/// runs on a thread inside the asking node.
pub fn run(asks: &[Ask], quiet: &Settle) -> io::Result<Vec<Answers>> {
    let egresses = with_netlink(|netlink| async move {
        let mut egresses = Vec::with_capacity(asks.len());
        for ask in asks {
            egresses.push(egress(&netlink, ask.target).await);
        }
        Ok(egresses)
    })?;
    let mut sockets: Vec<(u32, Socket)> = Vec::new();
    let mut questions: Vec<Question> = Vec::new();
    let mut answers: Vec<Answers> = vec![Answers::default(); asks.len()];
    let start = Instant::now();
    for (i, (ask, egress)) in asks.iter().zip(egresses).enumerate() {
        let question = egress.and_then(|egress| {
            let frame = question_frame(ask.target, &egress)?;
            let socket = match sockets.iter().position(|(index, _)| *index == egress.ifindex) {
                Some(at) => at,
                None => {
                    let socket = Socket::packet(egress.ifindex, false).map_err(|e| e.to_string())?;
                    sockets.push((egress.ifindex, socket));
                    sockets.len() - 1
                }
            };
            let answers = Answers { on: Some(egress.name.clone()), ..Default::default() };
            Ok(Question {
                index: i,
                ask,
                frame,
                socket,
                answers,
                started: start,
                asked: false,
                next_ask: start,
                first_answer: None,
                done: false,
            })
        });
        match question {
            Ok(question) => questions.push(question),
            Err(error) => answers[i].error = Some(error),
        }
    }
    ask_all(&mut questions, &sockets, quiet)?;
    for question in questions {
        answers[question.index] = question.answers;
    }
    Ok(answers)
}

fn ask_all(questions: &mut [Question<'_>], sockets: &[(u32, Socket)], quiet: &Settle) -> io::Result<()> {
    let mut buffer = vec![0u8; 65536];
    loop {
        let now = Instant::now();
        for question in questions.iter_mut().filter(|q| !q.done) {
            if now >= question.next_ask && (!question.asked || question.asking(now)) {
                sockets[question.socket].1.send_frame(&question.frame)?;
                quiet.activity();
                question.asked = true;
                question.next_ask = now + question.ask.timeout;
            }
        }
        for question in questions.iter_mut().filter(|q| !q.done) {
            question.settle(now, quiet);
        }
        if questions.iter().all(|q| q.done) {
            return Ok(());
        }
        let wake = questions
            .iter()
            .filter(|q| !q.done)
            .map(|q| if q.asking(now) { q.next_ask } else { now + QUIET_POLL })
            .min()
            .unwrap_or(now);
        let all: Vec<&Socket> = sockets.iter().map(|(_, s)| s).collect();
        wait_any(&all, wake.saturating_duration_since(now))?;
        for (s, (_, socket)) in sockets.iter().enumerate() {
            for _ in 0..BATCH {
                let Some(received) = socket.recv(&mut buffer)? else { break };
                if received.outgoing {
                    continue;
                }
                hear(&buffer[..received.len], s, questions);
            }
        }
    }
}

/// Files an answer under every question it answers.
fn hear(frame: &[u8], socket: usize, questions: &mut [Question<'_>]) {
    for question in questions.iter_mut().filter(|q| q.socket == socket && !q.done) {
        let ours = <[u8; 6]>::try_from(&question.frame[6..12]).unwrap_or_default();
        if let Some(mac) = answer(frame, question.ask.target, ours) {
            if !question.answers.macs.contains(&mac) {
                question.answers.macs.push(mac);
            }
            question.first_answer.get_or_insert(Instant::now());
        }
    }
}

/// How often a question that waits for the network to go quiet looks again.
const QUIET_POLL: Duration = Duration::from_millis(5);

async fn egress(netlink: &Netlink, target: IpAddr) -> Result<Egress, String> {
    let route = netlink.route_to(target).await.map_err(|_| format!("no route to {target}"))?;
    let link =
        netlink.link_by_index(route.oif).await.map_err(|e| format!("reading the egress interface: {e}"))?;
    let mac = link.mac.ok_or_else(|| format!("{} has no MAC to ask from", link.name))?.0;
    let source = route.source.ok_or_else(|| format!("{} has no address to ask from", link.name))?;
    Ok(Egress { ifindex: route.oif, name: link.name, mac, source })
}

/// The ARP request or neighbour solicitation for `target`, from `egress`.
fn question_frame(target: IpAddr, egress: &Egress) -> Result<Vec<u8>, String> {
    match (target, egress.source) {
        (IpAddr::V4(target), IpAddr::V4(source)) => Ok(arp_request(egress.mac, source, target)),
        (IpAddr::V6(target), IpAddr::V6(source)) => Ok(neighbour_solicitation(egress.mac, source, target)),
        _ => Err("the route's source address is of the other family".into()),
    }
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
