//! The frames of a probe, read from raw Ethernet: ICMP echo requests and replies (and the
//! errors that quote them), and ARP/ND questions and answers. Pure: parses bytes.

use super::Frame;
use std::net::IpAddr;

pub enum Parsed<'f> {
    Echo { frame: Frame, id: u16, data: &'f [u8] },
    Resolution { answer: bool, sender: IpAddr, target: IpAddr },
}

/// The probe-related content of an Ethernet frame: an ICMP echo or error, or ARP/ND.
pub fn parse(frame: &[u8]) -> Option<Parsed<'_>> {
    let mut offset = 12;
    let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        offset += 4;
        ethertype = u16::from_be_bytes([*frame.get(offset)?, *frame.get(offset + 1)?]);
    }
    let payload = frame.get(offset + 2..)?;
    match ethertype {
        0x0806 => arp(payload),
        0x0800 => {
            let header = usize::from(payload.first()? & 0x0f) * 4;
            (*payload.get(9)? == 1).then_some(())?;
            icmp4(payload.get(header..)?)
        }
        0x86dd => {
            (*payload.get(6)? == 58).then_some(())?;
            let source: [u8; 16] = payload.get(8..24)?.try_into().ok()?;
            icmp6(payload.get(40..)?, IpAddr::from(source))
        }
        _ => None,
    }
}

fn arp(body: &[u8]) -> Option<Parsed<'_>> {
    let op = u16::from_be_bytes([*body.get(6)?, *body.get(7)?]);
    let sender: [u8; 4] = body.get(14..18)?.try_into().ok()?;
    let target: [u8; 4] = body.get(24..28)?.try_into().ok()?;
    Some(Parsed::Resolution { answer: op == 2, sender: IpAddr::from(sender), target: IpAddr::from(target) })
}

fn icmp4(icmp: &[u8]) -> Option<Parsed<'_>> {
    let id = |bytes: &[u8]| Some(u16::from_be_bytes([*bytes.get(4)?, *bytes.get(5)?]));
    match *icmp.first()? {
        8 => Some(Parsed::Echo { frame: Frame::Request, id: id(icmp)?, data: icmp.get(8..)? }),
        0 => Some(Parsed::Echo { frame: Frame::Reply, id: id(icmp)?, data: icmp.get(8..)? }),
        3 | 11 => {
            let quoted = icmp.get(8..)?;
            let header = usize::from(quoted.first()? & 0x0f) * 4;
            let inner = quoted.get(header..)?;
            (*inner.first()? == 8).then_some(())?;
            Some(Parsed::Echo { frame: Frame::Error, id: id(inner)?, data: &[] })
        }
        _ => None,
    }
}

fn icmp6(icmp: &[u8], source: IpAddr) -> Option<Parsed<'_>> {
    let id = |bytes: &[u8]| Some(u16::from_be_bytes([*bytes.get(4)?, *bytes.get(5)?]));
    let address = |range: std::ops::Range<usize>| -> Option<IpAddr> {
        let octets: [u8; 16] = icmp.get(range)?.try_into().ok()?;
        Some(IpAddr::from(octets))
    };
    match *icmp.first()? {
        128 => Some(Parsed::Echo { frame: Frame::Request, id: id(icmp)?, data: icmp.get(8..)? }),
        129 => Some(Parsed::Echo { frame: Frame::Reply, id: id(icmp)?, data: icmp.get(8..)? }),
        1 | 3 => {
            let inner = icmp.get(48..)?;
            (*inner.first()? == 128).then_some(())?;
            Some(Parsed::Echo { frame: Frame::Error, id: id(inner)?, data: &[] })
        }
        // Neighbour solicitation and advertisement: the target is the address asked about.
        135 => Some(Parsed::Resolution { answer: false, sender: source, target: address(8..24)? }),
        136 => Some(Parsed::Resolution { answer: true, sender: address(8..24)?, target: address(8..24)? }),
        _ => None,
    }
}
