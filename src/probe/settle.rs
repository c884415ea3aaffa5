//! When a wave's network has gone quiet, so that silence is evidence and not impatience. A
//! frame handed from one device to another (a veth's peer, a macvlan or ipvlan sibling,
//! loopback) waits in a CPU's receive backlog until that CPU gets to it, which on a busy
//! machine can take far longer than any timeout; so a probe may conclude "no answer" only
//! once every frame of the wave has had its turn:
//!
//! - every CPU has been seen with an empty backlog (/proc/net/softnet_stat), and every
//!   queueing discipline of the lab that can hold frames empty (`queues`), after the wave's
//!   last activity (a send, or a frame the watcher saw), so nothing sent before it is still
//!   waiting;
//! - no frame the watcher saw leave is still expected to arrive somewhere (`set_in_flight`);
//! - and the probe's own timeout has passed since that last activity.
//!
//! It also notices what makes silence worthless: the machine's neighbour tables full (our
//! entries may have been refused), or a socket of ours overflowing; such a wave is lossy, and
//! its silences are asked again. (The kernel's count of frames dropped from full backlogs is
//! not used: it is the machine's, and grows with whatever else runs, a lab being torn down
//! above all; the path watcher sees the frames of a wave that were lost.) Reads /proc only;
//! changes nothing.

use super::queues::Queues;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often the backlogs are read.
const POLL: Duration = Duration::from_millis(2);

/// The wave's shared clock of activity and quiet.
pub struct Settle {
    start: Instant,
    /// Nanoseconds from `start` to the last send or sighting.
    last_activity: AtomicU64,
    /// Nanoseconds from `start` to the latest moment before which every queued frame has
    /// been processed.
    clear_until: AtomicU64,
    /// Frames seen leaving that have not yet been seen arriving where they must.
    outstanding: AtomicUsize,
    /// Why the wave is lossy, first reason first.
    losses: std::sync::Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl Settle {
    pub fn new() -> Settle {
        Settle {
            start: Instant::now(),
            last_activity: AtomicU64::new(0),
            clear_until: AtomicU64::new(0),
            outstanding: AtomicUsize::new(0),
            losses: std::sync::Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_nanos() as u64
    }

    /// Something happened on the wave's network: a frame was sent or seen.
    pub fn activity(&self) {
        self.last_activity.fetch_max(self.nanos(Instant::now()), Ordering::SeqCst);
    }

    /// How many frames the watcher saw leave that have not yet arrived where they must.
    pub fn set_in_flight(&self, frames: usize) {
        self.outstanding.store(frames, Ordering::SeqCst);
    }

    /// The latest moment before which every queued frame has been taken from its backlog or
    /// queue (all were seen empty at it).
    pub fn clear(&self) -> Instant {
        self.start + Duration::from_nanos(self.clear_until.load(Ordering::SeqCst))
    }

    /// Whether the network has been quiet for `window`: nothing queued from before the last
    /// activity, nothing still on its way, and `window` passed since.
    pub fn quiet_for(&self, window: Duration) -> bool {
        let last = self.last_activity.load(Ordering::SeqCst);
        let now = self.nanos(Instant::now());
        now.saturating_sub(last) >= window.as_nanos() as u64
            && self.clear_until.load(Ordering::SeqCst) > last
            && self.outstanding.load(Ordering::SeqCst) == 0
    }

    /// Marks the wave as one whose silences prove nothing.
    pub fn lost(&self, why: String) {
        if let Ok(mut losses) = self.losses.lock() {
            if !losses.contains(&why) {
                losses.push(why);
            }
        }
    }

    pub fn losses(&self) -> Vec<String> {
        self.losses.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Ends `watch_kernel`.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Reads the kernel's backlogs, the lab's queues and the drop counters until `stop`; run
    /// on a thread of its own (any namespace: the counters are the machine's).
    pub fn watch_kernel(&self, queues: &Queues<'_>) {
        let at_start = Counters::read();
        let mut last_empty: Vec<u64> = vec![0; at_start.backlogs.len()];
        let mut queues_empty = 0;
        while !self.stop.load(Ordering::SeqCst) {
            let sampled = self.nanos(Instant::now());
            let now = Counters::read();
            for (cpu, backlog) in now.backlogs.iter().enumerate() {
                if *backlog == 0 {
                    if let Some(slot) = last_empty.get_mut(cpu) {
                        *slot = sampled;
                    }
                }
            }
            if queues.empty() {
                queues_empty = sampled;
            }
            let clear = last_empty.iter().copied().min().unwrap_or(sampled).min(queues_empty);
            self.clear_until.fetch_max(clear, Ordering::SeqCst);
            for why in now.losses_since(&at_start) {
                self.lost(why);
            }
            std::thread::sleep(POLL);
        }
    }
}

/// What the kernel counts that tells whether frames wait or were refused.
#[derive(Default)]
struct Counters {
    /// Frames waiting in each CPU's receive backlog.
    backlogs: Vec<u64>,
    /// Neighbour entries refused because the ARP or ND table was full.
    arp_table_fulls: u64,
    nd_table_fulls: u64,
}

impl Counters {
    fn read() -> Counters {
        let mut counters = Counters::default();
        // Each line is one CPU, in hex: processed, dropped, ..., and (since Linux 5.10) the
        // backlog's length in the twelfth column.
        if let Ok(text) = std::fs::read_to_string("/proc/net/softnet_stat") {
            for line in text.lines() {
                let backlog = line.split_whitespace().nth(11).and_then(|c| u64::from_str_radix(c, 16).ok());
                counters.backlogs.push(backlog.unwrap_or(0));
            }
        }
        counters.arp_table_fulls = table_fulls("arp_cache");
        counters.nd_table_fulls = table_fulls("ndisc_cache");
        counters
    }

    fn losses_since(&self, before: &Counters) -> Vec<String> {
        let mut losses = Vec::new();
        if self.arp_table_fulls > before.arp_table_fulls || self.nd_table_fulls > before.nd_table_fulls {
            losses.push("the machine's neighbour table was full (gc_thresh3)".to_string());
        }
        losses
    }
}

/// The `table_fulls` column of /proc/net/stat/<table>, summed over its per-CPU lines.
fn table_fulls(table: &str) -> u64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/net/stat/{table}")) else { return 0 };
    let mut lines = text.lines();
    let Some(column) = lines.next().and_then(|h| h.split_whitespace().position(|c| c == "table_fulls"))
    else {
        return 0;
    };
    lines
        .filter_map(|l| l.split_whitespace().nth(column))
        .filter_map(|v| u64::from_str_radix(v, 16).ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_needs_the_window_the_backlogs_and_nothing_in_flight() {
        let settle = Settle::new();
        settle.activity();
        assert!(!settle.quiet_for(Duration::ZERO), "the backlogs were not read since");
        let queues = Queues::none();
        std::thread::scope(|scope| {
            scope.spawn(|| settle.watch_kernel(&queues));
            let waited = Instant::now();
            while !settle.quiet_for(Duration::from_millis(20)) {
                assert!(waited.elapsed() < Duration::from_secs(60), "an idle machine goes quiet");
                std::thread::sleep(Duration::from_millis(1));
            }
            settle.set_in_flight(1);
            assert!(!settle.quiet_for(Duration::ZERO), "a frame on its way keeps it busy");
            settle.set_in_flight(0);
            assert!(settle.quiet_for(Duration::ZERO));
            settle.activity();
            assert!(!settle.quiet_for(Duration::from_secs(3600)), "the window starts again");
            settle.stop();
        });
    }
}
