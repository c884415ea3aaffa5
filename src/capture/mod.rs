//! Capturing: the frames of chosen interfaces of a lab that is up, all at once, as they
//! were on the wire (tags the kernel stripped put back), filtered, for `lab capture` and
//! `lab verify --pcap`. One thread per namespace reads a packet socket per interface;
//! frames reach the caller in one stream, to be written as pcapng (`pcapng`) or printed.
//! Reads frames only; never changes the lab.

mod filter;
mod frame;
mod pcapng;

pub use filter::{Filter, FilterError};
pub use frame::Contents;
pub use pcapng::Writer;

use crate::kernel::netns;
use crate::model::{IfaceId, Lab};
use crate::probe::socket::{BATCH, Socket, wait_any};
use crate::state::State;
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// An interface to capture on: its name in the lab, its namespace, its name there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    pub label: String,
    netns: String,
    name: String,
}

impl Point {
    pub fn of(lab: &Lab, state: &State, id: IfaceId) -> Point {
        let node = lab.home(id.node);
        let netns = state
            .node(&lab.node(node).name)
            .map(|n| n.netns.clone())
            .unwrap_or_else(|| lab.netns_name(id.node));
        Point { label: lab.iface_label(id), netns, name: lab.iface(id).name.clone() }
    }
}

/// One frame, as seen on `points[point]`.
#[derive(Clone, Debug)]
pub struct Packet {
    pub point: usize,
    /// When the kernel saw it, since the epoch.
    pub stamp: Duration,
    pub outgoing: bool,
    /// The frame, tags back in place.
    pub bytes: Vec<u8>,
    pub contents: Contents,
}

enum Message {
    Frame(Packet),
    /// The kernel dropped frames a socket had no room for (its count so far).
    Dropped {
        point: usize,
        count: u32,
    },
}

/// A capture running on its threads until dropped.
pub struct Capture {
    frames: mpsc::Receiver<Message>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    dropped: BTreeMap<usize, u32>,
}

impl Capture {
    /// Opens a socket on every point and returns once all are open: no frame sent from then
    /// on is missed.
    pub fn start(points: &[Point], filter: &Filter) -> io::Result<Capture> {
        let mut by_namespace: BTreeMap<&str, Vec<(usize, &Point)>> = BTreeMap::new();
        for (i, point) in points.iter().enumerate() {
            by_namespace.entry(&point.netns).or_default().push((i, point));
        }
        let (sender, frames) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let mut capture = Capture { frames, stop, threads: Vec::new(), dropped: BTreeMap::new() };
        let (ready, opened) = mpsc::channel();
        for (name, points) in by_namespace {
            let namespace = netns::open(name)
                .map_err(|e| io::Error::new(e.kind(), format!("opening namespace {name}: {e}")))?;
            let points: Vec<(usize, Point)> = points.into_iter().map(|(i, p)| (i, p.clone())).collect();
            let reader =
                Reader { points, filter: filter.clone(), frames: sender.clone(), stop: capture.stop.clone() };
            let ready = ready.clone();
            capture.threads.push(std::thread::spawn(move || reader.run(namespace, ready)));
        }
        drop(ready);
        for result in opened {
            result?;
        }
        Ok(capture)
    }

    /// The next frame, waiting at most `timeout`; `None` when none came.
    pub fn next(&mut self, timeout: Duration) -> Option<Packet> {
        loop {
            match self.frames.recv_timeout(timeout).ok()? {
                Message::Frame(packet) => return Some(packet),
                Message::Dropped { point, count } => {
                    self.dropped.insert(point, count);
                }
            }
        }
    }

    /// Stops reading; returns the frames read but not yet taken, and how many frames the
    /// kernel dropped, on all the capture's sockets, for want of room.
    pub fn finish(mut self) -> (Vec<Packet>, u32) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in std::mem::take(&mut self.threads) {
            let _ = thread.join();
        }
        let mut rest = Vec::new();
        while let Some(packet) = self.next(Duration::ZERO) {
            rest.push(packet);
        }
        (rest, self.dropped.values().sum())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The work of one namespace's thread.
struct Reader {
    points: Vec<(usize, Point)>,
    filter: Filter,
    frames: mpsc::Sender<Message>,
    stop: Arc<AtomicBool>,
}

/// How often a reader looks whether it should stop.
const POLL: Duration = Duration::from_millis(50);

impl Reader {
    fn run(self, namespace: std::fs::File, ready: mpsc::Sender<io::Result<()>>) {
        let sockets = match self.open(&namespace) {
            Ok(sockets) => {
                let _ = ready.send(Ok(()));
                sockets
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        drop(ready);
        let _ = self.read(&sockets);
    }

    fn open(&self, namespace: &std::fs::File) -> io::Result<Vec<Socket>> {
        netns::enter_thread(namespace)?;
        self.points
            .iter()
            .map(|(_, point)| {
                let index = nix::net::if_::if_nametoindex(point.name.as_str()).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!(
                            "{} is not up: namespace {} has no interface {}",
                            point.label, point.netns, point.name
                        ),
                    )
                })?;
                Socket::capture(index)
            })
            .collect()
    }

    fn read(&self, sockets: &[Socket]) -> io::Result<()> {
        let mut buffer = vec![0u8; pcapng::SNAPLEN as usize];
        let all: Vec<&Socket> = sockets.iter().collect();
        loop {
            let stopping = self.stop.load(Ordering::SeqCst);
            wait_any(&all, POLL)?;
            for (socket, (point, _)) in sockets.iter().zip(&self.points) {
                self.drain(socket, *point, &mut buffer)?;
            }
            if stopping {
                return Ok(());
            }
        }
    }

    /// Reads what one socket holds, up to a batch, and passes on what the filter takes.
    fn drain(&self, socket: &Socket, point: usize, buffer: &mut [u8]) -> io::Result<()> {
        for _ in 0..BATCH {
            let Some(received) = socket.recv(buffer)? else { return Ok(()) };
            if let Some(count) = received.dropped.filter(|c| *c > 0) {
                let _ = self.frames.send(Message::Dropped { point, count });
            }
            let tag = received.vlan.map(|(_, tpid)| (tpid, received.tci));
            let bytes = frame::with_tag(&buffer[..received.len], tag);
            let contents = frame::contents(&bytes);
            if !self.filter.takes(&contents) {
                continue;
            }
            let stamp = received.stamp.unwrap_or_else(since_epoch);
            let packet = Packet { point, stamp, outgoing: received.outgoing, bytes, contents };
            if self.frames.send(Message::Frame(packet)).is_err() {
                return Ok(());
            }
        }
        Ok(())
    }
}

fn since_epoch() -> Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
}
