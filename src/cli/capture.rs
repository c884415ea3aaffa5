//! `lab capture LAB NODE:IFACE...`: the frames of one or more interfaces of a lab that is
//! up, as pcapng (`-w FILE`, `-w -` for a pipe into tshark or wireshark) or one line each,
//! until a count, a duration, Ctrl-C, or the reader going away.

use super::verify::lab_that_is_up;
use super::{Error, Verdict, runtime, steps};
use crate::capture::{Capture, Filter, Packet, Point, Writer};
use crate::kernel::signals;
use crate::model::{IfaceId, Lab};
use crate::state::State;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Options {
    /// A lab name, or its topology file.
    lab: String,
    /// Interfaces to capture on: NODE:IFACE, or NODE for every interface of the node.
    #[arg(required = true, value_name = "NODE:IFACE")]
    at: Vec<String>,
    /// Write pcapng to this file (`-` for stdout) instead of printing a line per frame.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    write: Option<PathBuf>,
    /// Keep only the frames this filter takes, in tcpdump's words: icmp, arp, tcp, udp,
    /// vlan [ID], host ADDR, port N, ... joined by and, or, not.
    #[arg(short, long, value_name = "FILTER")]
    filter: Option<String>,
    /// Stop after this many frames.
    #[arg(short = 'c', long, value_name = "N")]
    count: Option<u64>,
    /// Stop after this long (e.g. 5s).
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
}

pub fn run(options: Options) -> Result<Verdict, Error> {
    super::sandbox::reach(&options.lab)?;
    super::need_privileges("capture")?;
    let filter = Filter::parse(options.filter.as_deref().unwrap_or_default())
        .map_err(|e| Error::Usage(format!("{e}")))?;
    let Some((base, state)) = lab_that_is_up(&options.lab)? else { return Ok(Verdict::Invalid) };
    let lab = steps::current(&base, &state)?;
    let ids = interfaces(&lab, &options.at)?;
    let points: Vec<Point> = ids.iter().map(|id| Point::of(&lab, &state, *id)).collect();
    let rt = runtime()?;
    rt.block_on(async { signals::watch() }).map_err(Error::io("watching for Ctrl-C"))?;
    let capture = Capture::start(&points, &filter).map_err(Error::io("opening the capture"))?;
    let labels: Vec<String> = points.iter().map(|p| p.label.clone()).collect();
    stderrln!("capturing on {} (Ctrl-C to stop)", labels.join(", "));
    let limits = Limits { count: options.count, until: options.duration.map(|d| Instant::now() + d) };
    let counted = match &options.write {
        Some(path) if path.as_os_str() == "-" => {
            record(capture, Sink::pcapng(std::io::stdout(), &labels)?, &limits)
        }
        Some(path) => {
            let file =
                std::fs::File::create(path).map_err(Error::io(format!("creating {}", path.display())))?;
            record(capture, Sink::pcapng(std::io::BufWriter::new(file), &labels)?, &limits)
        }
        None => record(
            capture,
            Sink::Lines { out: std::io::stdout(), labels: labels.clone(), start: None },
            &limits,
        ),
    }?;
    stderrln!("{}", tally(&labels, &counted));
    Ok(Verdict::Pass)
}

/// The lab's interfaces the arguments name, in order, each once.
fn interfaces(lab: &Lab, at: &[String]) -> Result<Vec<IfaceId>, Error> {
    let mut ids: Vec<IfaceId> = Vec::new();
    for text in at {
        for id in named(lab, text)? {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

fn named(lab: &Lab, text: &str) -> Result<Vec<IfaceId>, Error> {
    let (node_name, iface) = match text.split_once(':') {
        Some((node, iface)) => (node, Some(iface)),
        None => (text, None),
    };
    let Some(node) = lab.node_id(node_name) else {
        let nodes: Vec<&str> = lab.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(format!(
            "lab `{}` has no node `{node_name}`; its nodes are: {}",
            lab.name,
            nodes.join(", ")
        )
        .into());
    };
    let all = || (0..lab.node(node).ifaces.len()).map(|index| IfaceId { node, index });
    match iface {
        None => Ok(all().collect()),
        Some(name) => match lab.iface_id(node, name) {
            Some(id) => Ok(vec![id]),
            None => {
                let names: Vec<&str> = lab.node(node).ifaces.iter().map(|i| i.name.as_str()).collect();
                Err(format!(
                    "node `{node_name}` has no interface `{name}`; its interfaces are: {}",
                    names.join(", ")
                )
                .into())
            }
        },
    }
}

struct Limits {
    count: Option<u64>,
    until: Option<Instant>,
}

/// Where frames go: a pcapng stream, or a line each.
enum Sink<W: Write> {
    Pcapng(Writer<W>),
    Lines { out: W, labels: Vec<String>, start: Option<Duration> },
}

impl<W: Write> Sink<W> {
    fn pcapng(out: W, labels: &[String]) -> Result<Sink<W>, Error> {
        Ok(Sink::Pcapng(Writer::new(out, labels).map_err(Error::io("writing the capture"))?))
    }

    fn put(&mut self, packet: &Packet) -> std::io::Result<()> {
        match self {
            Sink::Pcapng(writer) => writer.write(packet),
            Sink::Lines { out, labels, start } => {
                let start = *start.get_or_insert(packet.stamp);
                let at = packet.stamp.saturating_sub(start).as_secs_f64();
                let way = if packet.outgoing { "out" } else { "in " };
                writeln!(out, "{at:10.6} {} {way} {}", labels[packet.point], packet.contents.summary())?;
                out.flush()
            }
        }
    }
}

/// Writes frames until a limit, a signal, or the reader going away; how many per point, and
/// how many the kernel dropped.
fn record<W: Write>(
    mut capture: Capture,
    mut sink: Sink<W>,
    limits: &Limits,
) -> Result<(Vec<u64>, u32), Error> {
    let mut counted: Vec<u64> = Vec::new();
    let mut total = 0;
    let full = |total: u64| limits.count.is_some_and(|c| total >= c);
    while !full(total) && !signals::arrived() && limits.until.is_none_or(|t| Instant::now() < t) {
        let Some(packet) = capture.next(Duration::from_millis(50)) else { continue };
        if !put(&mut sink, &packet, &mut counted)? {
            return Ok((counted, capture.finish().1));
        }
        total += 1;
    }
    let (rest, dropped) = capture.finish();
    for packet in rest.iter().take(limits.count.map_or(usize::MAX, |c| (c - total.min(c)) as usize)) {
        if !put(&mut sink, packet, &mut counted)? {
            break;
        }
    }
    Ok((counted, dropped))
}

/// Puts one frame; false when the reader has gone away (a closed pipe ends a capture well).
fn put<W: Write>(sink: &mut Sink<W>, packet: &Packet, counted: &mut Vec<u64>) -> Result<bool, Error> {
    match sink.put(packet) {
        Ok(()) => {
            if counted.len() <= packet.point {
                counted.resize(packet.point + 1, 0);
            }
            counted[packet.point] += 1;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::io("writing the capture")(e)),
    }
}

/// "12 frames: 8 on docker1:eth1, 4 on web1:eth0", and what the kernel dropped.
fn tally(labels: &[String], (counted, dropped): &(Vec<u64>, u32)) -> String {
    let total: u64 = counted.iter().sum();
    let each: Vec<String> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| format!("{} on {label}", counted.get(i).copied().unwrap_or(0)))
        .collect();
    let lost = match dropped {
        0 => String::new(),
        n => format!(" (the kernel dropped {n} more for want of room)"),
    };
    format!("{total} frame{}: {}{lost}", if total == 1 { "" } else { "s" }, each.join(", "))
}

/// The most frames `lab verify --pcap` keeps of one expectation.
const MOST_KEPT: u64 = 100_000;

/// Captures every interface of `lab` while `work` runs, writing what is seen to `path` as
/// it comes (up to `MOST_KEPT` frames); returns what `work` returned, the frames kept, and
/// those the kernel dropped.
pub fn around<T>(
    lab: &Lab,
    state: &State,
    path: &std::path::Path,
    work: impl FnOnce() -> T,
) -> Result<(T, u64, u32), Error> {
    let points: Vec<Point> = lab.iface_ids().map(|id| Point::of(lab, state, id)).collect();
    let labels: Vec<String> = points.iter().map(|p| p.label.clone()).collect();
    let writing = |e| Error::io(format!("writing {}", path.display()))(e);
    let file = std::fs::File::create(path).map_err(Error::io(format!("creating {}", path.display())))?;
    let mut writer = Writer::new(std::io::BufWriter::new(file), &labels).map_err(writing)?;
    let mut capture =
        Capture::start(&points, &Filter::default()).map_err(Error::io("opening the capture"))?;
    let done = std::sync::atomic::AtomicBool::new(false);
    let (result, written) = std::thread::scope(|scope| {
        let keeper = scope.spawn(|| {
            let mut kept = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if let Some(packet) = capture.next(Duration::from_millis(50)) {
                    kept += keep(&mut writer, &packet, kept)?;
                }
            }
            let (rest, dropped) = capture.finish();
            for packet in rest {
                kept += keep(&mut writer, &packet, kept)?;
            }
            Ok::<(u64, u32), std::io::Error>((kept, dropped))
        });
        let result = work();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (result, keeper.join())
    });
    let (kept, dropped) =
        written.map_err(|_| Error::Usage("the capture's writer panicked".into()))?.map_err(writing)?;
    Ok((result, kept, dropped))
}

/// Writes a frame unless `MOST_KEPT` were; how many it wrote.
fn keep<W: Write>(writer: &mut Writer<W>, packet: &Packet, kept: u64) -> std::io::Result<u64> {
    if kept >= MOST_KEPT {
        return Ok(0);
    }
    writer.write(packet)?;
    Ok(1)
}
