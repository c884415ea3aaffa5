//! Quality expectations: round-trip times, loss, duplicates and reordering of a series of
//! echoes, and the throughput of a TCP stream. Measured one at a time after the waves, each
//! alone on the lab, and judged against its bounds with the figures in the verdict.

use super::{Observed, series, stream};
use crate::kernel::netns;
use crate::model::{Bounds, Check, Expectation, Lab, QualityBounds, Stat};
use std::fs::File;
use std::time::Duration;

/// How long a stream's connection may take at least.
const STREAM_CONNECT: Duration = Duration::from_secs(10);

/// Whether an expectation is measured here rather than in the waves.
pub fn is_measured(expectation: &Expectation) -> bool {
    matches!(expectation.check, Check::Quality { .. } | Check::Throughput { .. })
}

/// Measures every quality expectation of the lab in turn.
pub(super) fn measure(lab: &Lab, files: &[File], timeout: Duration, observed: &mut Observed) {
    for (index, expectation) in lab.expectations.iter().enumerate() {
        match &expectation.check {
            Check::Quality { from, to, probes, interval, .. } => {
                let plan = series::Series {
                    target: to.addr,
                    probes: *probes,
                    interval: *interval,
                    timeout: expectation.timeout.unwrap_or(timeout),
                };
                let cookie = super::workers::random();
                let id = u16::from_be_bytes([cookie[0], cookie[1]]);
                let measured =
                    netns::run_in(&files[from.0], || series::run(&plan, id, cookie)).unwrap_or_else(|e| {
                        series::Measured { failed: Some(e.to_string()), ..Default::default() }
                    });
                observed.series.insert(index, measured);
            }
            Check::Throughput { from, to, duration, .. } => {
                let Some(receiver) = to.iface.map(|i| lab.home(i.node)) else { continue };
                let plan = stream::Stream {
                    target: to.addr,
                    duration: *duration,
                    // A shaped queue may still hold the last stream: the handshake waits behind it.
                    timeout: expectation.timeout.unwrap_or(timeout).max(STREAM_CONNECT),
                };
                observed.streams.insert(index, stream::run(&plan, &files[from.0], &files[receiver.0]));
            }
            _ => {}
        }
    }
}

/// (expected, observed, passed, decided) of a series.
pub(super) fn judge_series(
    probes: u32,
    bounds: &QualityBounds,
    seen: Option<&series::Measured>,
) -> (String, String, bool, bool) {
    let expected = expected_series(bounds);
    let Some(seen) = seen else { return (expected, "not measured".into(), false, true) };
    if let Some(failed) = &seen.failed {
        return (expected, format!("could not measure: {failed}"), false, true);
    }
    let mut passed = true;
    let mut observed = vec![format!("{} of {probes} echoes answered", seen.rtts.len())];
    if let Some(rtt) = &bounds.rtt {
        match statistic(&seen.rtts, rtt.stat) {
            Some(value) => {
                passed &= rtt.within.holds(value);
                observed.push(format!("RTT {}", rtt_summary(&seen.rtts)));
            }
            None => {
                passed = false;
                observed.push("no RTT: nothing answered".into());
            }
        }
    }
    let sent = f64::from(seen.sent.max(1));
    let shares = [
        ("lost", bounds.loss, f64::from(seen.lost()), sent),
        ("duplicated", bounds.duplicate, f64::from(seen.duplicated), sent),
        ("reordered", bounds.reorder, f64::from(seen.reordered), (seen.rtts.len().max(1)) as f64),
    ];
    for (word, bound, count, of) in shares {
        let Some(bound) = bound else { continue };
        let share = 100.0 * count / of;
        passed &= bound.holds(share);
        observed.push(format!("{word} {count} ({share:.1}%)"));
    }
    (expected, observed.join(", "), passed && seen.undecided.is_none(), seen.undecided.is_none())
}

fn expected_series(bounds: &QualityBounds) -> String {
    let mut parts = Vec::new();
    if let Some(rtt) = &bounds.rtt {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        parts.push(format!("{} RTT {}", rtt.stat.as_str(), within(&rtt.within, ms)));
    }
    let percent = |p: f64| format!("{p}%");
    for (word, bound) in
        [("loss", bounds.loss), ("duplicates", bounds.duplicate), ("reordering", bounds.reorder)]
    {
        if let Some(bound) = bound {
            parts.push(format!("{word} {}", within(&bound, percent)));
        }
    }
    parts.join(", ")
}

/// "above 40 ms and below 60 ms"
fn within<T: Copy>(bounds: &Bounds<T>, show: impl Fn(T) -> String) -> String {
    match (bounds.above, bounds.below) {
        (Some(a), Some(b)) => format!("above {} and below {}", show(a), show(b)),
        (Some(a), None) => format!("above {}", show(a)),
        (None, Some(b)) => format!("below {}", show(b)),
        (None, None) => "anything".into(),
    }
}

pub fn statistic(rtts: &[Duration], stat: Stat) -> Option<Duration> {
    let mut sorted = rtts.to_vec();
    sorted.sort();
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    Some(match stat {
        Stat::Min => sorted[0],
        Stat::Max => sorted[n - 1],
        Stat::Median if n % 2 == 1 => sorted[n / 2],
        Stat::Median => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
        Stat::Mean => sorted.iter().sum::<Duration>() / n as u32,
    })
}

/// "min 100.1 / median 100.9 / max 103.2 ms"
fn rtt_summary(rtts: &[Duration]) -> String {
    let ms = |stat| statistic(rtts, stat).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    format!("min {:.1} / median {:.1} / max {:.1} ms", ms(Stat::Min), ms(Stat::Median), ms(Stat::Max))
}

/// (expected, observed, passed) of a stream.
pub(super) fn judge_stream(rate: &Bounds<u64>, seen: Option<&stream::Measured>) -> (String, String, bool) {
    let expected = format!("a TCP stream {}", within(rate, crate::impair::format_rate));
    let Some(seen) = seen else { return (expected, "not measured".into(), false) };
    if let Some(failed) = &seen.failed {
        return (expected, format!("could not measure: {failed}"), false);
    }
    match seen.rate {
        Some(bits) => {
            let bounds = Bounds { above: rate.above.map(|a| a as f64), below: rate.below.map(|b| b as f64) };
            let observed = format!(
                "{} ({} bytes in {:.1} s)",
                crate::impair::format_measured_rate(bits),
                seen.bytes,
                seen.measured_for.as_secs_f64()
            );
            (expected, observed, bounds.holds(bits))
        }
        None => (expected, "nothing came through".into(), false),
    }
}
