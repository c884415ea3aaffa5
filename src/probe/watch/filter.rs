//! What the path watcher's socket in one namespace lets through, as a classic BPF program
//! the kernel runs on every frame: so that a flood over a big switch does not bring every
//! copy to user space. A switch's namespace passes the frames arriving on its ports (where
//! they go next is worked out, not watched); any other namespace passes what it sends, and
//! of what it receives the ICMP, ARP and ND that concern it: answers, and questions about
//! its own addresses (or its children's). Builds bytes; attaching is `Socket`'s.

use std::net::IpAddr;

/// One instruction of classic BPF (struct sock_filter).
pub type Instruction = libc::sock_filter;

const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const RET_K: u16 = 0x06;
/// The ancillary load of the packet type (PACKET_HOST, PACKET_OUTGOING, ...).
const PKTTYPE: u32 = (libc::SKF_AD_OFF + libc::SKF_AD_PKTTYPE) as u32;
const PACKET_OUTGOING: u32 = 4;
const ACCEPT: u32 = u32::MAX;

/// Frame offsets, without in-band VLAN tags (the kernel takes most off before sockets see
/// them; a frame that still has one is let through whole).
const ETHERTYPE: u32 = 12;
const ARP_OPERATION: u32 = 20;
const ARP_TARGET: u32 = 38;
const IPV4_PROTOCOL: u32 = 23;
const IPV6_NEXT_HEADER: u32 = 20;
const ICMP6_TYPE: u32 = 54;
const ND_TARGET: u32 = 62;

/// A program with jumps to labels, resolved at the end.
#[derive(Default)]
struct Program {
    code: Vec<(u16, Jump, Jump, u32)>,
    labels: Vec<Option<usize>>,
}

#[derive(Clone, Copy)]
enum Jump {
    Next,
    To(usize),
}

impl Program {
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn here(&mut self, label: usize) {
        self.labels[label] = Some(self.code.len());
    }

    fn load(&mut self, op: u16, k: u32) {
        self.code.push((op, Jump::Next, Jump::Next, k));
    }

    /// If the accumulator equals `k`, go to `label`.
    fn jump_if(&mut self, k: u32, label: usize) {
        self.code.push((JEQ_K, Jump::To(label), Jump::Next, k));
    }

    fn jump_if_above(&mut self, k: u32, label: usize) {
        self.code.push((JGT_K, Jump::To(label), Jump::Next, k));
    }

    fn ret(&mut self, k: u32) {
        self.code.push((RET_K, Jump::Next, Jump::Next, k));
    }

    fn build(self) -> Vec<Instruction> {
        let target = |from: usize, jump: Jump| match jump {
            Jump::Next => 0,
            Jump::To(label) => {
                let to = self.labels[label].expect("every label is placed");
                u8::try_from(to - from - 1).expect("programs are small enough for 8-bit jumps")
            }
        };
        self.code
            .iter()
            .enumerate()
            .map(|(i, (code, jt, jf, k))| Instruction {
                code: *code,
                jt: target(i, *jt),
                jf: target(i, *jf),
                k: *k,
            })
            .collect()
    }
}

/// The most addresses compared by one program: its jumps are 8-bit, so it stays short. A
/// node with more lets every ARP and ND frame through.
const MOST_ADDRESSES: usize = 16;

/// The program of a switch's namespace: every frame but those it sends.
pub fn for_switch() -> Vec<Instruction> {
    let mut p = Program::default();
    let drop = p.label();
    p.load(LD_W_ABS, PKTTYPE);
    p.jump_if(PACKET_OUTGOING, drop);
    p.ret(ACCEPT);
    p.here(drop);
    p.ret(0);
    p.build()
}

/// The program of another node's namespace, whose own addresses (and its children's) are
/// `addresses`; a node that answers for any address (proxy ARP) hears every question.
pub fn for_node(addresses: &[IpAddr], answers_any: bool) -> Vec<Instruction> {
    let v4: Vec<u32> = addresses
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(a) => Some(u32::from(*a)),
            IpAddr::V6(_) => None,
        })
        .collect();
    let v6: Vec<[u32; 4]> = addresses
        .iter()
        .filter_map(|a| match a {
            IpAddr::V6(a) => {
                let o = a.octets();
                Some([0, 4, 8, 12].map(|i| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]])))
            }
            IpAddr::V4(_) => None,
        })
        .collect();
    let every_question = answers_any || v4.len() + v6.len() > MOST_ADDRESSES;
    let mut p = Program::default();
    let (accept, solicitation, arp, ipv4, ipv6, icmp6) =
        (p.label(), p.label(), p.label(), p.label(), p.label(), p.label());
    p.load(LD_W_ABS, PKTTYPE);
    p.jump_if(PACKET_OUTGOING, accept);
    p.load(LD_H_ABS, ETHERTYPE);
    p.jump_if(0x0806, arp);
    p.jump_if(0x0800, ipv4);
    p.jump_if(0x86dd, ipv6);
    p.jump_if(0x8100, accept);
    p.jump_if(0x88a8, accept);
    p.ret(0);
    // ARP: every answer; a question about one of the node's addresses.
    p.here(arp);
    p.load(LD_H_ABS, ARP_OPERATION);
    p.jump_if(2, accept);
    if every_question {
        p.ret(ACCEPT);
    } else {
        p.load(LD_W_ABS, ARP_TARGET);
        for address in &v4 {
            p.jump_if(*address, accept);
        }
        p.ret(0);
    }
    // IPv4: ICMP only.
    p.here(ipv4);
    p.load(LD_B_ABS, IPV4_PROTOCOL);
    p.jump_if(1, accept);
    p.ret(0);
    // IPv6: ICMPv6 only; of neighbour solicitations, those about the node's addresses.
    p.here(ipv6);
    p.load(LD_B_ABS, IPV6_NEXT_HEADER);
    p.jump_if(58, icmp6);
    p.ret(0);
    p.here(icmp6);
    p.load(LD_B_ABS, ICMP6_TYPE);
    p.jump_if_above(135, accept);
    p.jump_if(135, solicitation);
    p.ret(ACCEPT);
    p.here(solicitation);
    if every_question {
        p.ret(ACCEPT);
    } else {
        for address in &v6 {
            let next = p.label();
            for (i, word) in address.iter().enumerate() {
                p.load(LD_W_ABS, ND_TARGET + 4 * i as u32);
                // On a mismatch go on with the next address; on the last word's match, accept.
                if i == 3 {
                    p.jump_if(*word, accept);
                    p.code.last_mut().expect("just pushed").2 = Jump::To(next);
                } else {
                    p.code.push((JEQ_K, Jump::Next, Jump::To(next), *word));
                }
            }
            p.here(next);
        }
        p.ret(0);
    }
    p.here(accept);
    p.ret(ACCEPT);
    p.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a program on a frame of the given packet type: what the kernel would do.
    fn run(program: &[Instruction], frame: &[u8], pkttype: u32) -> bool {
        let word = |at: u32, size: usize| -> u32 {
            let at = at as usize;
            frame.get(at..at + size).map_or(0, |b| b.iter().fold(0, |n, byte| (n << 8) | u32::from(*byte)))
        };
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let i = program[pc];
            match i.code {
                LD_W_ABS if i.k == PKTTYPE => a = pkttype,
                LD_W_ABS => a = word(i.k, 4),
                LD_H_ABS => a = word(i.k, 2),
                LD_B_ABS => a = word(i.k, 1),
                JEQ_K | JGT_K => {
                    let taken = if i.code == JEQ_K { a == i.k } else { a > i.k };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
                RET_K => return i.k != 0,
                other => panic!("unknown instruction {other:#x}"),
            }
            pc += 1;
        }
    }

    fn arp(operation: u16, target: [u8; 4]) -> Vec<u8> {
        let mut frame = vec![0xff; 6];
        frame.extend([2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4]);
        frame.extend(operation.to_be_bytes());
        frame.extend([2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        frame.extend(target);
        frame
    }

    fn solicitation(target: std::net::Ipv6Addr) -> Vec<u8> {
        let mut frame = vec![0x33, 0x33, 0xff, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0x86, 0xdd];
        let mut ip = vec![0x60, 0, 0, 0, 0, 32, 58, 255];
        ip.extend([0u8; 32]);
        frame.extend(ip);
        frame.extend([135, 0, 0, 0, 0, 0, 0, 0]);
        frame.extend(target.octets());
        frame
    }

    #[test]
    fn a_node_hears_answers_and_questions_about_itself_only() {
        let mine: IpAddr = "10.0.0.2".parse().unwrap();
        let mine6: std::net::Ipv6Addr = "2001:db8::2".parse().unwrap();
        let program = for_node(&[mine, IpAddr::V6(mine6)], false);
        assert!(run(&program, &arp(1, [10, 0, 0, 2]), 1), "a question about its address");
        assert!(!run(&program, &arp(1, [10, 0, 0, 9]), 1), "a question about another");
        assert!(run(&program, &arp(2, [10, 0, 0, 9]), 0), "any answer");
        assert!(run(&program, &arp(1, [10, 0, 0, 9]), PACKET_OUTGOING), "what it sends");
        assert!(run(&program, &solicitation(mine6), 2), "a solicitation for its IPv6 address");
        assert!(!run(&program, &solicitation("2001:db8::9".parse().unwrap()), 2), "one for another");
        let mut tcp = arp(1, [0; 4]);
        tcp[12..14].copy_from_slice(&[0x08, 0x00]);
        tcp.resize(40, 0);
        tcp[23] = 6;
        assert!(!run(&program, &tcp, 0), "no TCP");
        tcp[23] = 1;
        assert!(run(&program, &tcp, 0), "ICMP");
    }

    #[test]
    fn a_switch_hears_what_arrives_on_its_ports() {
        let program = for_switch();
        assert!(run(&program, &arp(1, [10, 0, 0, 9]), 1));
        assert!(!run(&program, &arp(1, [10, 0, 0, 9]), PACKET_OUTGOING));
    }
}
