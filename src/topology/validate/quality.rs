//! Quality expectations: `rtt`, `loss`, `duplicate` and `reorder` bounds over a series of
//! `probes` echoes, and `throughput` bounds on a TCP stream. Bounds are read by the units
//! impairments use; a series gets enough probes for its bounds to mean something.

use super::super::diagnostic::Diagnostic;
use super::super::document::{BoundsDoc, ExpectDoc};
use super::Draft;
use crate::model::{Bounds, Check, NodeId, QualityBounds, RttBounds, Stat, Target};
use std::time::Duration;

/// Probes a series may send, and the pace they go at.
pub const MAX_PROBES: u32 = 10_000;
const INTERVAL: Duration = Duration::from_millis(10);
/// Probes a series with only a round-trip time bound sends.
const RTT_PROBES: u32 = 20;
/// The fewest probes a series with a percentage bound sends.
const SHARE_PROBES: u32 = 100;
const DEFAULT_STREAM: Duration = Duration::from_secs(3);
const MAX_STREAM: Duration = Duration::from_secs(30);

pub fn series(d: &Draft<'_>, doc: &ExpectDoc, from: Option<NodeId>, to: Option<Target>) -> Option<Check> {
    let rtt = doc.rtt.as_ref().map(|b| rtt(d, b));
    let loss = doc.loss.as_ref().map(|b| share(d, b));
    let duplicate = doc.duplicate.as_ref().map(|b| share(d, b));
    let reorder = doc.reorder.as_ref().map(|b| share(d, b));
    // Written but invalid: reported, and no check.
    let (rtt, loss, duplicate, reorder) =
        (written(rtt)?, written(loss)?, written(duplicate)?, written(reorder)?);
    if rtt.is_none() && loss.is_none() && duplicate.is_none() && reorder.is_none() {
        d.error(
            Diagnostic::error(doc.span.clone(), "`probes` alone says nothing to check")
                .label("no bound")
                .help("add `rtt = { below = \"10ms\" }` or `loss = { below = \"1%\" }`"),
        );
        return None;
    }
    let needed = [loss, duplicate, reorder].into_iter().flatten().map(probes_for).max();
    let probes = match &doc.probes {
        Some(written) => {
            let probes = match u32::try_from(*written.get_ref()) {
                Ok(n) if (1..=MAX_PROBES).contains(&n) => n,
                _ => {
                    d.error(
                        Diagnostic::error(
                            written.span(),
                            format!("{} probes cannot be sent", written.get_ref()),
                        )
                        .label(format!("from 1 to {MAX_PROBES}"))
                        .help("a series sends from 1 to 10000 echoes, one every 10 ms"),
                    );
                    return None;
                }
            };
            if let Some(needed) = needed.filter(|n| *n > probes) {
                d.error(
                    Diagnostic::warning(written.span(), format!("{probes} probes are too few for these bounds"))
                        .label(format!("{needed} or more would tell them apart"))
                        .help("with fewer, chance alone can put a share outside its bounds (three standard deviations)"),
                );
            }
            probes
        }
        None => needed.map_or(RTT_PROBES, |n| n.max(SHARE_PROBES)),
    };
    let bounds = QualityBounds { rtt, loss, duplicate, reorder };
    Some(Check::Quality { from: from?, to: to?, probes, interval: INTERVAL, bounds })
}

pub fn stream(d: &Draft<'_>, doc: &ExpectDoc, from: Option<NodeId>, to: Option<Target>) -> Option<Check> {
    let written = doc.throughput.as_ref()?;
    let rate = bounds(d, written, crate::impair::rate)?;
    let duration = match &written.duration {
        Some(duration) if duration.get_ref().is_zero() || *duration.get_ref() > MAX_STREAM => {
            d.error(
                Diagnostic::error(duration.span(), "a stream runs for more than zero and at most 30 s")
                    .label("not a usable duration")
                    .help("write e.g. \"3s\""),
            );
            return None;
        }
        Some(duration) => *duration.get_ref(),
        None => DEFAULT_STREAM,
    };
    let to = to?;
    if to.iface.is_none() {
        d.error(
            Diagnostic::error(doc.to.as_ref()?.span(), "a stream goes to an address of the lab")
                .label("no node of the lab has it")
                .help("lab receives the stream itself, in the node that has the address: name that node or address"),
        );
        return None;
    }
    Some(Check::Throughput { from: from?, to, duration, rate })
}

/// Enough probes that a share at the bounds' middle lands between them by three standard
/// deviations: n >= 9 p (1 - p) / h², h half the width (or the distance to a single bound).
fn probes_for(bounds: Bounds<f64>) -> u32 {
    let (lo, hi) = (bounds.above.unwrap_or(0.0) / 100.0, bounds.below.unwrap_or(100.0) / 100.0);
    let (p, h) = match (bounds.above, bounds.below) {
        (Some(_), Some(_)) => ((lo + hi) / 2.0, (hi - lo) / 2.0),
        (None, Some(_)) => (hi / 2.0, hi / 2.0),
        _ => ((1.0 + lo) / 2.0, (1.0 - lo) / 2.0),
    };
    if h <= 0.0 {
        return MAX_PROBES;
    }
    ((9.0 * p * (1.0 - p) / (h * h)).ceil() as u32).clamp(1, MAX_PROBES)
}

fn rtt(d: &Draft<'_>, written: &BoundsDoc) -> Option<RttBounds> {
    let within = bounds(d, written, |text| {
        humantime::parse_duration(text).map_err(|e| format!("{e}: write a duration, like \"50ms\""))
    })?;
    let stat = match &written.stat {
        None => Stat::Median,
        Some(stat) => match Stat::ALL.iter().find(|(n, _)| n == stat.get_ref()) {
            Some((_, s)) => *s,
            None => {
                d.error(
                    Diagnostic::error(
                        stat.span(),
                        format!("`{}` is not a statistic of round-trip times", stat.get_ref()),
                    )
                    .label("unknown")
                    .help("write \"min\", \"median\", \"mean\" or \"max\""),
                );
                return None;
            }
        },
    };
    Some(RttBounds { stat, within })
}

fn share(d: &Draft<'_>, written: &BoundsDoc) -> Option<Bounds<f64>> {
    bounds(d, written, crate::impair::percent)
}

/// `above` and `below`, each read by `parse`, at least one of them, `above` below `below`.
fn bounds<T: PartialOrd + Copy>(
    d: &Draft<'_>,
    written: &BoundsDoc,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<Bounds<T>> {
    let mut ok = true;
    let mut read = |value: &Option<toml::Spanned<String>>| {
        let value = value.as_ref()?;
        match parse(value.get_ref()) {
            Ok(v) => Some(v),
            Err(problem) => {
                d.error(Diagnostic::error(value.span(), problem).label("not a usable bound"));
                ok = false;
                None
            }
        }
    };
    let (above, below) = (read(&written.above), read(&written.below));
    if !ok {
        return None;
    }
    if above.is_none() && below.is_none() {
        d.error(
            Diagnostic::error(written.span.clone(), "a bound needs `above`, `below` or both")
                .label("no bound given")
                .help("write e.g. { above = \"40ms\", below = \"60ms\" }"),
        );
        return None;
    }
    if let (Some(a), Some(b)) = (above, below) {
        if a >= b {
            d.error(
                Diagnostic::error(
                    written.span.clone(),
                    "`above` is not below `below`: nothing can be in between",
                )
                .label("empty bounds")
                .help("swap them, or widen the bounds"),
            );
            return None;
        }
    }
    Some(Bounds { above, below })
}

/// `Some(None)` when nothing was written, `None` when what was written is invalid.
fn written<T>(value: Option<Option<T>>) -> Option<Option<T>> {
    value.map_or(Some(None), |v| v.map(Some))
}
