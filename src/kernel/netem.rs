//! netem as netlink: the `TCA_OPTIONS` of a netem queueing discipline, built here (neither
//! rtnetlink nor netlink-packet-route knows netem). netem's options are a fixed
//! `struct tc_netem_qopt` followed by attributes (include/uapi/linux/pkt_sched.h): delays go
//! in nanoseconds as LATENCY64/JITTER64, which the kernel prefers to the struct's ticks.

use crate::impair::Impairment;

const TCA_NETEM_CORR: u16 = 1;
const TCA_NETEM_REORDER: u16 = 3;
const TCA_NETEM_CORRUPT: u16 = 4;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
/// `TCA_OPTIONS`, the attribute that carries a qdisc's own settings.
pub const TCA_OPTIONS: u16 = 2;
/// psched ticks are 64 ns (`PSCHED_SHIFT`).
const PSCHED_SHIFT: u32 = 6;

/// A percentage as netem's probability: a fraction of `u32::MAX`.
fn probability(percent: f64) -> u32 {
    ((percent / 100.0).clamp(0.0, 1.0) * f64::from(u32::MAX)).round() as u32
}

fn ticks(duration: std::time::Duration) -> u32 {
    u32::try_from(duration.as_nanos() >> PSCHED_SHIFT).unwrap_or(u32::MAX)
}

fn attribute(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (len.next_multiple_of(4) - len), 0);
}

fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

/// The value of netem's `TCA_OPTIONS` for an impairment.
pub fn options(impairment: &Impairment) -> Vec<u8> {
    // tc sets a gap of 1 whenever it reorders: every other frame may jump the queue.
    let gap = u32::from(impairment.reorder > 0.0);
    let mut out = words(&[
        ticks(impairment.delay),
        impairment.limit.max(1),
        probability(impairment.loss),
        gap,
        probability(impairment.duplicate),
        ticks(impairment.jitter),
    ]);
    let nanos = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX).to_ne_bytes();
    attribute(&mut out, TCA_NETEM_LATENCY64, &nanos(impairment.delay));
    attribute(&mut out, TCA_NETEM_JITTER64, &nanos(impairment.jitter));
    // netem keeps what a change leaves out: every setting is sent, zero when unset.
    attribute(&mut out, TCA_NETEM_CORR, &words(&[0, 0, 0]));
    attribute(&mut out, TCA_NETEM_REORDER, &words(&[probability(impairment.reorder), 0]));
    attribute(&mut out, TCA_NETEM_CORRUPT, &words(&[probability(impairment.corrupt), 0]));
    let bytes = impairment.rate.map_or(0, |bits| (bits / 8).max(1));
    let small = u32::try_from(bytes).unwrap_or(u32::MAX);
    // struct tc_netem_rate: rate, packet_overhead, cell_size, cell_overhead.
    attribute(&mut out, TCA_NETEM_RATE, &words(&[small, 0, 0, 0]));
    if small == u32::MAX {
        attribute(&mut out, TCA_NETEM_RATE64, &bytes.to_ne_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn options_start_with_the_fixed_struct_then_aligned_attributes() {
        let impairment = Impairment {
            delay: Duration::from_millis(50),
            loss: 10.0,
            rate: Some(1_000_000),
            ..Impairment::default()
        };
        let bytes = options(&impairment);
        let word = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!(word(0), 50_000_000 >> 6);
        assert_eq!(word(4), 1000);
        assert_eq!(word(8), (f64::from(u32::MAX) * 0.1).round() as u32);
        // LATENCY64: length 12, kind 10, 50 ms in ns.
        assert_eq!(u16::from_ne_bytes([bytes[24], bytes[25]]), 12);
        assert_eq!(u16::from_ne_bytes([bytes[26], bytes[27]]), TCA_NETEM_LATENCY64);
        assert_eq!(i64::from_ne_bytes(bytes[28..36].try_into().unwrap()), 50_000_000);
        // JITTER64, CORR, REORDER and CORRUPT (zeros), then RATE with 125000 bytes a second.
        assert_eq!(u16::from_ne_bytes([bytes[50], bytes[51]]), TCA_NETEM_CORR);
        assert_eq!(word(68), 0, "no reordering");
        assert_eq!(u16::from_ne_bytes([bytes[90], bytes[91]]), TCA_NETEM_RATE);
        assert_eq!(word(92), 125_000);
        assert_eq!(bytes.len() % 4, 0);
    }
}
