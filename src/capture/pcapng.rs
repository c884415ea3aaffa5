//! Writing a capture as pcapng (through the `pcap-file` crate): one interface description
//! per captured interface, named `node:iface`, with nanosecond time stamps; one enhanced
//! packet block per frame, flagged inbound or outbound.

use super::Packet;
use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use std::borrow::Cow;
use std::io::{self, Write};

/// The most of one frame kept (as tcpdump's default snapshot length).
pub const SNAPLEN: u32 = 262_144;
/// if_tsresol: time stamps in units of 10^-9 s.
const NANOSECONDS: u8 = 9;
/// epb_flags' direction bits.
const INBOUND: u32 = 1;
const OUTBOUND: u32 = 2;

pub struct Writer<W: Write> {
    pcapng: PcapNgWriter<W>,
}

impl<W: Write> Writer<W> {
    /// Starts the file: its section header, then one interface per label, in order.
    pub fn new(out: W, labels: &[String]) -> io::Result<Writer<W>> {
        let mut pcapng = PcapNgWriter::new(out).map_err(io::Error::other)?;
        for label in labels {
            let interface = InterfaceDescriptionBlock {
                linktype: DataLink::ETHERNET,
                snaplen: SNAPLEN,
                options: vec![
                    InterfaceDescriptionOption::IfName(Cow::Owned(label.clone())),
                    InterfaceDescriptionOption::IfTsResol(NANOSECONDS),
                ],
            };
            pcapng.write_pcapng_block(interface).map_err(io::Error::other)?;
        }
        pcapng.get_mut().flush()?;
        Ok(Writer { pcapng })
    }

    /// Writes one frame, and flushes it, so that a reader at the other end of a pipe sees it.
    pub fn write(&mut self, packet: &Packet) -> io::Result<()> {
        let direction = if packet.outgoing { OUTBOUND } else { INBOUND };
        let block = EnhancedPacketBlock {
            interface_id: packet.point as u32,
            timestamp: packet.stamp,
            original_len: packet.bytes.len() as u32,
            data: Cow::Borrowed(&packet.bytes),
            options: vec![EnhancedPacketOption::Flags(direction)],
        };
        self.pcapng.write_pcapng_block(block).map_err(io::Error::other)?;
        self.pcapng.get_mut().flush()
    }
}
