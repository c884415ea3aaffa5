//! Impairments: what netem does to the frames an interface sends (delay, jitter, loss,
//! duplication, corruption, reordering, a rate, a queue limit). Parsed from an interface's
//! `impair` table and from `impair` actions by one parser, printed as `tc ... netem`
//! arguments; the netlink message is `kernel::netem`'s.

use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// netem's own default queue, in packets; lab never sets 0, which would drop everything.
pub const DEFAULT_LIMIT: u32 = 1000;
/// The longest delay or jitter lab sets: beyond it a lab looks dead rather than slow.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// One interface's impairment; percentages run from 0 to 100.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Impairment {
    #[serde(with = "micros")]
    pub delay: Duration,
    #[serde(with = "micros")]
    pub jitter: Duration,
    pub loss: f64,
    pub duplicate: f64,
    pub corrupt: f64,
    /// Percentage of frames sent at once, ahead of the delayed ones (needs a delay).
    pub reorder: f64,
    /// Bits per second, when the rate is shaped.
    pub rate: Option<u64>,
    /// Packets netem holds at most.
    pub limit: u32,
}

/// Every percentage is a number from 0 to 100, never NaN.
impl Eq for Impairment {}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            corrupt: 0.0,
            reorder: 0.0,
            rate: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

mod micros {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_micros() as u64)
    }
}

/// The keys an impairment takes, in the order `tc` prints them.
pub const KEYS: &[&str] = &["delay", "jitter", "loss", "duplicate", "corrupt", "reorder", "rate", "limit"];

impl Impairment {
    /// Sets one key from its written value; the error says what the value must be.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "delay" => self.delay = delay(value)?,
            "jitter" => self.jitter = delay(value)?,
            "loss" => self.loss = percent(value)?,
            "duplicate" => self.duplicate = percent(value)?,
            "corrupt" => self.corrupt = percent(value)?,
            "reorder" => self.reorder = percent(value)?,
            "rate" => self.rate = Some(rate(value)?),
            "limit" => self.limit = limit(value)?,
            _ => {
                return Err(format!(
                    "`{key}` is not an impairment; use {}",
                    crate::topology::validate::one_of(KEYS)
                ));
            }
        }
        Ok(())
    }

    /// What the keys cannot mean together, as netem would refuse or ignore it.
    pub fn conflict(&self) -> Option<&'static str> {
        if self.reorder > 0.0 && self.delay.is_zero() {
            return Some("reordering sends some frames ahead of delayed ones: give a `delay` too");
        }
        if !self.jitter.is_zero() && self.delay.is_zero() {
            return Some("jitter varies a delay: give a `delay` too");
        }
        None
    }
}

fn delay(value: &str) -> Result<Duration, String> {
    let d: Duration = humantime::parse_duration(value)
        .map_err(|e| format!("{e}: write a duration, like \"50ms\" or \"1s\""))?;
    if d > MAX_DELAY {
        return Err(format!(
            "{value} is longer than the {} lab sets at most",
            humantime::format_duration(MAX_DELAY)
        ));
    }
    Ok(d)
}

/// "10%", "0.5%" or "10": a percentage from 0 to 100.
pub fn percent(value: &str) -> Result<f64, String> {
    let number = value.trim().strip_suffix('%').unwrap_or(value.trim());
    match number.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        Ok(_) => Err(format!("{value} is not a percentage from 0 to 100")),
        Err(_) => Err(format!("`{value}` is not a percentage: write e.g. \"10%\" or \"0.5%\"")),
    }
}

/// Rates as `tc` writes them: bit, kbit, mbit, gbit (powers of 1000) and bps, kbps, mbps,
/// gbps (bytes per second).
const RATE_UNITS: &[(&str, u64)] = &[
    ("kbit", 1_000),
    ("mbit", 1_000_000),
    ("gbit", 1_000_000_000),
    ("bit", 1),
    ("kbps", 8_000),
    ("mbps", 8_000_000),
    ("gbps", 8_000_000_000),
    ("bps", 8),
];

/// "1mbit", "512kbit", "10mbps": bits per second, at least 8 (one byte a second).
pub fn rate(value: &str) -> Result<u64, String> {
    let text = value.trim().to_ascii_lowercase();
    let help = || format!("`{value}` is not a rate: write e.g. \"1mbit\", \"512kbit\" or \"10mbps\" (bytes)");
    let (number, unit) =
        RATE_UNITS.iter().find_map(|(u, m)| text.strip_suffix(u).map(|n| (n, *m))).ok_or_else(help)?;
    let number: f64 = number.trim().parse().map_err(|_| help())?;
    let bits = number * unit as f64;
    if !(8.0..=1e15).contains(&bits) {
        return Err(format!("{value} is outside what lab shapes: from 8bit to 1000000gbit"));
    }
    Ok(bits.round() as u64)
}

fn limit(value: &str) -> Result<u32, String> {
    match value.trim().parse::<u32>() {
        Ok(0) => Err("a queue of 0 packets drops everything: give at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{value}` is not a number of packets from 1 to {}", u32::MAX)),
    }
}

/// `tc` units, exact: "1.5mbit", "800kbit", "1234567bit".
pub fn format_rate(bits: u64) -> String {
    let exact = [(1_000_000_000, "gbit"), (1_000_000, "mbit"), (1_000, "kbit")]
        .into_iter()
        .find(|(scale, _)| bits >= *scale && bits % (scale / 1000) == 0);
    match exact {
        Some((scale, unit)) => format!("{}{unit}", trim_float(bits as f64 / scale as f64)),
        None => format!("{bits}bit"),
    }
}

/// A measured rate, to three figures: "933kbit", "1.99gbit".
pub fn format_measured_rate(bits: f64) -> String {
    let (scale, unit) = [(1e9, "gbit"), (1e6, "mbit"), (1e3, "kbit")]
        .into_iter()
        .find(|(scale, _)| bits >= *scale)
        .unwrap_or((1.0, "bit"));
    let value = bits / scale;
    let shown = if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    format!("{shown}{unit}")
}

fn trim_float(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}us", d.as_micros())
    }
}

/// The `tc qdisc ... netem` arguments: `limit N delay D [J] loss P% ...`, zeros left out.
impl fmt::Display for Impairment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "limit {}", self.limit)?;
        if !self.delay.is_zero() {
            write!(f, " delay {}", format_duration(self.delay))?;
            if !self.jitter.is_zero() {
                write!(f, " {}", format_duration(self.jitter))?;
            }
        }
        for (word, p) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("corrupt", self.corrupt),
            ("reorder", self.reorder),
        ] {
            if p > 0.0 {
                write!(f, " {word} {}%", trim_float(p))?;
            }
        }
        if let Some(rate) = self.rate {
            write!(f, " rate {}", format_rate(rate))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(pairs: &[(&str, &str)]) -> Result<Impairment, String> {
        let mut i = Impairment::default();
        for (k, v) in pairs {
            i.set(k, v)?;
        }
        Ok(i)
    }

    #[test]
    fn values_read_as_tc_writes_them() {
        let i = parsed(&[("delay", "50ms"), ("jitter", "5ms"), ("loss", "10%"), ("rate", "1mbit")]).unwrap();
        assert_eq!(i.to_string(), "limit 1000 delay 50ms 5ms loss 10% rate 1mbit");
        assert_eq!(rate("10mbps").unwrap(), 80_000_000);
        assert_eq!(rate("512kbit").unwrap(), 512_000);
        assert_eq!(percent("0.5").unwrap(), 0.5);
    }

    #[test]
    fn impossible_values_are_refused() {
        assert!(parsed(&[("limit", "0")]).unwrap_err().contains("drops everything"));
        assert!(parsed(&[("loss", "120%")]).is_err());
        assert!(parsed(&[("rate", "fast")]).is_err());
        assert!(parsed(&[("delay", "2h")]).is_err());
        assert!(parsed(&[("speed", "1")]).is_err());
        assert!(parsed(&[("reorder", "25%")]).unwrap().conflict().is_some());
    }
}
