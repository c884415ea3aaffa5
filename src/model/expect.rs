//! Expectations: one observation each, with the reason shown when it fails.

use super::{IfaceId, L4, Mac, NodeId};
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;

/// How long probes wait. Negative expectations wait `timeout`; positive ones resend
/// every `timeout` until `deadline` has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Verify {
    #[serde(with = "millis")]
    pub timeout: Duration,
    #[serde(with = "millis")]
    pub deadline: Duration,
}

impl Default for Verify {
    fn default() -> Self {
        Verify { timeout: Duration::from_secs(1), deadline: Duration::from_secs(5) }
    }
}

mod millis {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Expectation {
    /// Position among the file's `[[expect]]` entries, from 1.
    pub number: usize,
    /// Line of the entry in the topology file.
    pub line: usize,
    pub check: Check,
    pub why: Option<String>,
    /// Per-expectation override of `Verify::timeout`.
    #[serde(skip)]
    pub timeout: Option<Duration>,
}

/// An address to probe, and the interface it belongs to when the lab has it.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    pub addr: IpAddr,
    pub iface: Option<IfaceId>,
    /// As written in the file (`namespace1`, `net1:eth0`, `172.16.10.5`).
    pub written: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// ICMP echo (ping).
    Icmp,
    /// Link-layer resolution only: ARP for IPv4, neighbour solicitation for IPv6.
    Arp,
}

/// A trunk to watch while a probe runs, and the tags its frames must carry: each frame one
/// of `vlans` (at any depth), and each of `vlans` on some frame (a routed probe crosses one
/// trunk in two VLANs).
#[derive(Clone, Debug, Serialize)]
pub struct TaggedOn {
    pub on: IfaceId,
    pub vlans: Vec<u16>,
}

impl TaggedOn {
    /// Whether the frames seen on the trunk are as expected.
    pub fn met_by(&self, frames: &[Vec<u16>]) -> bool {
        let one_of_them = |tags: &Vec<u16>| self.vlans.iter().any(|v| tags.contains(v));
        let seen = |vlan: &u16| frames.iter().any(|tags| tags.contains(vlan));
        !frames.is_empty() && frames.iter().all(one_of_them) && self.vlans.iter().all(seen)
    }

    /// What is wrong with the frames seen, in words: "VLAN 20 was on no frame".
    pub fn unmet(&self, frames: &[Vec<u16>]) -> Option<String> {
        if frames.is_empty() {
            return Some("no frame of the probe was seen there".into());
        }
        if let Some(other) = frames.iter().find(|tags| !self.vlans.iter().any(|v| tags.contains(v))) {
            let tags = match other.as_slice() {
                [] => "an untagged frame".to_string(),
                tags => format!(
                    "a frame tagged {}",
                    tags.iter().map(u16::to_string).collect::<Vec<_>>().join("+")
                ),
            };
            return Some(format!("{tags}, in none of the expected VLANs"));
        }
        let missing: Vec<String> = self
            .vlans
            .iter()
            .filter(|v| !frames.iter().any(|tags| tags.contains(v)))
            .map(u16::to_string)
            .collect();
        (!missing.is_empty()).then(|| format!("VLAN {} on no frame", missing.join(", ")))
    }
}

/// An underlay to watch while a probe runs, and the VXLAN its frames must be carried in:
/// UDP to `port` with VNI `vni`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EncapOn {
    pub on: IfaceId,
    pub vni: u32,
    pub port: u16,
}

/// A MAC given directly, or as "the MAC of that interface" (known once the lab is up).
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MacOf {
    Iface(IfaceId),
    Literal(Mac),
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Check {
    /// `from` sends to `to`; `reach` says whether an answer must come back.
    Reach {
        from: NodeId,
        to: Target,
        reach: bool,
        proto: Proto,
        /// TTL (hop limit) the reply must arrive with.
        ttl: Option<u8>,
        tagged: Option<TaggedOn>,
        encap: Option<EncapOn>,
        /// An ICMP redirect naming this new next hop must arrive while probing.
        redirect: Option<IpAddr>,
    },
    /// Every link-layer answer for `to`, asked from `from`, carries this MAC.
    Resolves { from: NodeId, to: Target, mac: MacOf },
    /// State of an interface.
    State {
        iface: IfaceId,
        promiscuous: Option<bool>,
        /// The interface carries this MAC (IPVLAN children share their parent's).
        mac: Option<MacOf>,
    },
    /// The node of `iface` has a route to `prefix` out of `iface`.
    Route { iface: IfaceId, prefix: ipnet::IpNet },
    /// `from` connects (TCP) or sends a datagram (UDP) to `to`:`port`; what comes back.
    Connect {
        from: NodeId,
        to: Target,
        port: u16,
        proto: L4,
        want: Want,
        /// The service that must answer, and the source address it must have seen.
        answered_by: Option<NodeId>,
        peer_seen: Option<IpAddr>,
    },
    /// Whether lab could open `node`'s service on `port` (the kernel refuses a second
    /// listener on a port of one namespace: EADDRINUSE).
    Listening { node: NodeId, proto: L4, port: u16, bound: bool },
    /// A series of `probes` echoes from `from` to `to`, one every `interval`: round-trip
    /// times, loss, duplicates and reordering within bounds.
    Quality {
        from: NodeId,
        to: Target,
        probes: u32,
        #[serde(with = "millis")]
        interval: Duration,
        bounds: QualityBounds,
    },
    /// A TCP stream from `from` to `to` for `duration`: the rate it gets through, in bits per
    /// second, within bounds.
    Throughput {
        from: NodeId,
        to: Target,
        #[serde(with = "millis")]
        duration: Duration,
        rate: Bounds<u64>,
    },
}

/// What a quality series must show; a bound left out is not checked.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct QualityBounds {
    pub rtt: Option<RttBounds>,
    /// Percentages of the probes.
    pub loss: Option<Bounds<f64>>,
    pub duplicate: Option<Bounds<f64>>,
    /// Percentage of the replies that came after a reply to a later probe.
    pub reorder: Option<Bounds<f64>>,
}

/// A statistic of the round-trip times, within bounds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RttBounds {
    pub stat: Stat,
    #[serde(with = "micros_bounds")]
    pub within: Bounds<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stat {
    Min,
    Median,
    Mean,
    Max,
}

impl Stat {
    pub const ALL: [(&'static str, Stat); 4] =
        [("min", Stat::Min), ("median", Stat::Median), ("mean", Stat::Mean), ("max", Stat::Max)];

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, s)| *s == self).map_or("", |(n, _)| n)
    }
}

/// A value strictly above `above` and below `below`, where given.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Bounds<T> {
    pub above: Option<T>,
    pub below: Option<T>,
}

impl<T: PartialOrd + Copy> Bounds<T> {
    pub fn holds(&self, value: T) -> bool {
        self.above.is_none_or(|a| value > a) && self.below.is_none_or(|b| value < b)
    }
}

mod micros_bounds {
    use super::Bounds;
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(b: &Bounds<Duration>, s: S) -> Result<S::Ok, S::Error> {
        use serde::Serialize;
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        #[derive(Serialize)]
        struct Ms {
            above_ms: Option<f64>,
            below_ms: Option<f64>,
        }
        Ms { above_ms: ms(b.above), below_ms: ms(b.below) }.serialize(s)
    }
}

/// What a connect probe must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Want {
    /// A service answered (`reach = true`).
    Answered,
    /// Anything but an answer (`reach = false`).
    NoAnswer,
    /// The peer's kernel refused: a TCP reset, or ICMP port unreachable for UDP.
    Refused,
    /// The network said no: ICMP host/network unreachable, or no route.
    Unreachable,
    /// Silence: nothing came back, the network quiet.
    Timeout,
}

impl Want {
    pub fn as_str(self) -> &'static str {
        match self {
            Want::Answered => "answered",
            Want::NoAnswer => "no answer",
            Want::Refused => "refused",
            Want::Unreachable => "unreachable",
            Want::Timeout => "timeout",
        }
    }
}
