//! SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal went away) while a lab is being made or
//! probed: once watched, none of them ends the process by itself; each is remembered, so the
//! work in progress can be undone, and `stop_watching` gives them back their default action.
//! Owns the process's handlers for these three signals; nothing else installs them.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Notify;

static ARRIVED: AtomicBool = AtomicBool::new(false);
static NOTIFY: OnceLock<Notify> = OnceLock::new();
static WATCHING: OnceLock<()> = OnceLock::new();

const WATCHED: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Starts catching the three signals, from now on (the handlers are in place when this
/// returns); must be called inside a tokio runtime. Calling it again changes nothing. The
/// handler itself records the arrival, so `arrived` is true as soon as a signal has been
/// delivered, whatever the runtime is doing.
pub fn watch() -> std::io::Result<()> {
    if WATCHING.get().is_some() {
        return Ok(());
    }
    for watched in WATCHED {
        // SAFETY: the action only stores to an atomic, which is async-signal-safe.
        unsafe { signal_hook_registry::register(watched, || ARRIVED.store(true, Ordering::SeqCst)) }?;
    }
    let streams = [SignalKind::interrupt(), SignalKind::terminate(), SignalKind::hangup()]
        .map(signal)
        .into_iter()
        .collect::<std::io::Result<Vec<Signal>>>()?;
    let _ = WATCHING.set(());
    for mut stream in streams {
        tokio::spawn(async move {
            if stream.recv().await.is_some() {
                notify().notify_waiters();
            }
        });
    }
    Ok(())
}

fn notify() -> &'static Notify {
    NOTIFY.get_or_init(Notify::new)
}

/// Whether one of the signals has arrived since `watch`.
pub fn arrived() -> bool {
    ARRIVED.load(Ordering::SeqCst)
}

/// Resolves once one of the signals has arrived (at once if one has).
pub async fn arrival() {
    loop {
        let notified = notify().notified();
        if arrived() {
            return;
        }
        notified.await;
    }
}

/// Gives the three signals their default action back: from here on one ends the process at
/// once. Check `arrived` after this call, for a signal that came just before it.
pub fn stop_watching() {
    for signal in WATCHED {
        // SAFETY: restoring the default disposition of a signal has no preconditions.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
        }
    }
}
