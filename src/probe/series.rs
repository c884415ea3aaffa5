//! Quality series: echoes from one node at a steady pace, every reply stamped by the kernel
//! as it arrived, for round-trip times, loss, duplicates and reordering. Runs on its own,
//! after the waves, so that no other probe shares the path while it measures.

use super::icmp::{self, Heard};
use super::socket::{BATCH, Socket, wait_any};
use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One series to send.
pub struct Series {
    pub target: IpAddr,
    pub probes: u32,
    pub interval: Duration,
    /// How long the last probe's reply is waited for, at least.
    pub timeout: Duration,
}

/// What came back.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub sent: u32,
    /// The round-trip time of each probe answered, by the kernel's stamps, in probe order.
    pub rtts: Vec<Duration>,
    /// Probes answered more than once.
    pub duplicated: u32,
    /// Replies that came after a reply to a later probe.
    pub reordered: u32,
    /// Why the series could not be sent; its expectation fails.
    pub failed: Option<String>,
    /// Why the counts prove nothing: our own socket dropped replies.
    pub undecided: Option<String>,
}

impl Measured {
    pub fn lost(&self) -> u32 {
        self.sent.saturating_sub(self.rtts.len() as u32)
    }
}

/// Sends the series from the calling thread's namespace and collects the replies.
pub fn run(series: &Series, id: u16, cookie: [u8; 8]) -> io::Result<Measured> {
    let socket = if series.target.is_ipv4() { Socket::icmp4()? } else { Socket::icmp6()? }.stamped()?;
    let echo = icmp::Echo {
        target: series.target,
        positive: true,
        timeout: series.timeout,
        deadline: series.timeout,
        id,
        wants_redirect: false,
    };
    let n = series.probes as usize;
    let mut sent_at: Vec<Option<Duration>> = vec![None; n];
    let mut answers: Vec<Option<Duration>> = vec![None; n];
    let mut measured = Measured::default();
    let mut latest_answered: Option<usize> = None;
    let mut buffer = vec![0u8; 65536];
    let start = Instant::now();
    let mut next = 0usize;
    let mut dropped = 0;
    loop {
        let now = Instant::now();
        while next < n && now >= start + series.interval * next as u32 {
            let message = icmp::echo_request(&echo, next as u16, 0, cookie);
            sent_at[next] = Some(since_epoch());
            if let Err(e) = socket.send_to(&message, series.target) {
                measured.failed = Some(format!("sending echo {} failed: {e}", next + 1));
                return Ok(measured);
            }
            measured.sent += 1;
            next += 1;
        }
        let all_answered = next == n && answers.iter().all(Option::is_some);
        let longest = answers.iter().flatten().max().copied().unwrap_or_default();
        let last_sent = start + series.interval * (n.saturating_sub(1)) as u32;
        let give_up = last_sent + series.timeout.max(longest * 4);
        if all_answered || (next == n && now >= give_up) {
            break;
        }
        let wake = if next < n { start + series.interval * next as u32 } else { give_up };
        wait_any(&[&socket], wake.saturating_duration_since(now).max(Duration::from_millis(1)))?;
        for _ in 0..BATCH {
            let Some(received) = socket.recv(&mut buffer)? else { break };
            if let Some(count) = received.dropped.filter(|d| *d > dropped) {
                dropped = count;
                measured.undecided = Some("the series' own socket dropped replies".into());
            }
            let packet = &buffer[..received.len];
            let heard = if series.target.is_ipv6() {
                icmp::hear_v6(packet, &received)
            } else {
                icmp::hear_v4(packet)
            };
            let Some(Heard::Reply { id: got, sequence, data, .. }) = heard else { continue };
            let seq = usize::from(sequence);
            let ours = got == id && data.len() >= 8 && data[..8] == cookie && seq < n;
            let Some(sent) = sent_at.get(seq).copied().flatten().filter(|_| ours) else { continue };
            if answers[seq].is_some() {
                measured.duplicated += 1;
                continue;
            }
            let arrived = received.stamp.unwrap_or_else(since_epoch);
            answers[seq] = Some(arrived.saturating_sub(sent));
            match latest_answered {
                Some(latest) if seq < latest => measured.reordered += 1,
                _ => latest_answered = Some(seq),
            }
        }
    }
    measured.rtts = answers.into_iter().flatten().collect();
    Ok(measured)
}

fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}
