//! Throughput: one TCP stream from a node to an address, as fast as the path lets it, for a
//! while; the receiving side counts what arrives. The rate is taken after the stream's
//! first quarter (slow start) up to when the sender stops. Runs on its own, after the waves.

use crate::kernel::netns;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

pub struct Stream {
    pub target: IpAddr,
    pub duration: Duration,
    /// How long connecting, and reading after the sender stops, may take at most.
    pub timeout: Duration,
}

/// What the receiver counted.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// Bits per second over the measured part of the stream.
    pub rate: Option<f64>,
    pub bytes: u64,
    pub measured_for: Duration,
    pub failed: Option<String>,
}

/// Runs the stream between two namespaces: `receiver` holds the target address.
pub fn run(stream: &Stream, sender: &File, receiver: &File) -> Measured {
    let listener = match netns::run_in(receiver, || TcpListener::bind(SocketAddr::new(stream.target, 0))) {
        Ok(listener) => listener,
        Err(e) => return failed(format!("listening at {} failed: {e}", stream.target)),
    };
    let address = match listener.local_addr() {
        Ok(address) => address,
        Err(e) => return failed(format!("reading the listener's port: {e}")),
    };
    std::thread::scope(|scope| {
        let receiving = scope.spawn(|| receive(&listener, stream));
        let sending = netns::spawn_in(scope, sender, || send(address, stream));
        let sent = sending.join().unwrap_or_else(|_| Err(io::Error::other("the sender panicked")));
        let received = receiving.join().unwrap_or_else(|_| Err(io::Error::other("the receiver panicked")));
        match (sent, received) {
            (Err(e), _) => failed(format!("sending the stream failed: {e}")),
            (_, Err(e)) => failed(format!("receiving the stream failed: {e}")),
            (Ok(()), Ok(measured)) => measured,
        }
    })
}

fn failed(why: String) -> Measured {
    Measured { failed: Some(why), ..Measured::default() }
}

/// Writes as fast as the socket takes it for the stream's duration, then closes.
fn send(to: SocketAddr, stream: &Stream) -> io::Result<()> {
    let mut socket = TcpStream::connect_timeout(&to, stream.timeout)?;
    socket.set_write_timeout(Some(Duration::from_millis(100)))?;
    let chunk = vec![0x5au8; 64 * 1024];
    let until = Instant::now() + stream.duration;
    while Instant::now() < until {
        match socket.write(&chunk) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            // The receiver has counted what it needs and closed: the stream is over.
            Err(e) if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Accepts the one stream and counts its bytes after the first quarter of the duration.
fn receive(listener: &TcpListener, stream: &Stream) -> io::Result<Measured> {
    listener.set_nonblocking(true)?;
    let waited = Instant::now();
    let (mut socket, _) = loop {
        match listener.accept() {
            Ok(accepted) => break accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && waited.elapsed() < stream.timeout => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e),
        }
    };
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
    let started = Instant::now();
    let from = started + stream.duration / 4;
    let until = started + stream.duration;
    let mut counted = 0u64;
    let mut buffer = vec![0u8; 256 * 1024];
    while Instant::now() < until {
        match socket.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) if Instant::now() >= from => counted += n as u64,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
    let measured_for = Instant::now().saturating_duration_since(from);
    let rate = (!measured_for.is_zero()).then(|| counted as f64 * 8.0 / measured_for.as_secs_f64());
    Ok(Measured { rate, bytes: counted, measured_for, failed: None })
}
