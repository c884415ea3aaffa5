//! Network namespaces: the only module that calls unshare(2), setns(2) or mount(2).
//! Named namespaces are bind mounts under /run/netns, exactly as `ip netns` makes them.
//! Work inside a namespace runs on threads made for it, never on the caller's or a runtime's
//! (a thread that entered a namespace stays there until it ends).

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const NETNS_DIR: &str = "/run/netns";
/// statfs f_type of an nsfs file: a bind-mounted namespace.
const NSFS_MAGIC: i64 = 0x6e73_6673;

pub fn path_of(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Makes /run/netns exist and be a shared mount, as iproute2 does, so that removing a name
/// in one mount namespace removes it everywhere and the namespace can die.
pub fn prepare_dir() -> io::Result<()> {
    std::fs::create_dir_all(NETNS_DIR)?;
    let shared =
        || mount(None::<&str>, NETNS_DIR, Some("none"), MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>);
    match shared() {
        Ok(()) => Ok(()),
        Err(nix::Error::EINVAL) => {
            mount(
                Some(NETNS_DIR),
                NETNS_DIR,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )?;
            Ok(shared()?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates namespaces on `workers` threads. For each name: a new namespace, `setup` run
/// inside it while it has no name yet, then the name bound to it. A failure leaves that
/// name unmade. Results come back in the order of `names`.
pub fn create_named<T: Send>(
    names: &[String],
    workers: usize,
    setup: impl Fn(usize) -> io::Result<T> + Sync,
) -> Vec<io::Result<(File, T)>> {
    on_workers(names.len(), workers, |i| create_one(&names[i], || setup(i)))
}

/// Runs `job(0..count)` on `workers` threads, each taking the next job when done; results
/// in job order. A worker may change its own namespace: the threads end with the jobs.
fn on_workers<T: Send>(
    count: usize,
    workers: usize,
    job: impl Fn(usize) -> io::Result<T> + Sync,
) -> Vec<io::Result<T>> {
    let next = AtomicUsize::new(0);
    let (done, results) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, count.max(1)) {
            let done = done.clone();
            let (next, job) = (&next, &job);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let _ = done.send((i, job(i)));
                }
            });
        }
    });
    drop(done);
    let mut out: Vec<Option<io::Result<T>>> = (0..count).map(|_| None).collect();
    for (i, result) in results {
        out[i] = Some(result);
    }
    out.into_iter().map(|r| r.unwrap_or_else(|| Err(io::Error::other("a worker thread stopped")))).collect()
}

/// On the calling (worker) thread: a new namespace, set up, then named.
fn create_one<T>(name: &str, setup: impl FnOnce() -> io::Result<T>) -> io::Result<(File, T)> {
    unshare(CloneFlags::CLONE_NEWNET)?;
    let value = setup()?;
    let namespace = File::open("/proc/thread-self/ns/net")?;
    let path = path_of(name);
    std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            io::Error::new(e.kind(), format!("{} already exists", path.display()))
        } else {
            e
        }
    })?;
    if let Err(e) =
        mount(Some("/proc/thread-self/ns/net"), &path, Some("none"), MsFlags::MS_BIND, None::<&str>)
    {
        let _ = std::fs::remove_file(&path);
        return Err(e.into());
    }
    Ok((namespace, value))
}

/// Opens a named namespace, checking that the name really is a namespace.
pub fn open(name: &str) -> io::Result<File> {
    let path = path_of(name);
    if !is_mounted_namespace(&path) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not a network namespace", path.display()),
        ));
    }
    File::open(path)
}

pub fn is_mounted_namespace(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type().0 == NSFS_MAGIC)
}

/// Removes a name: the namespace itself goes once nothing else holds it.
pub fn remove_named(name: &str) -> io::Result<()> {
    let path = path_of(name);
    match umount2(&path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The names in /run/netns.
pub fn list_names() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else { return Vec::new() };
    let mut names: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    names.sort();
    names
}

/// Runs `work` on a new thread inside the namespace, and waits for it.
pub fn run_in<T: Send>(namespace: &File, work: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                setns(namespace.as_fd(), CloneFlags::CLONE_NEWNET)?;
                work()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("a thread inside a namespace panicked")))
    })
}

/// Spawns a scoped thread that enters `namespace`, then runs `work`: for work that must
/// run alongside other work (probes, captures).
pub fn spawn_in<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    namespace: &'scope File,
    work: impl FnOnce() -> io::Result<T> + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, io::Result<T>> {
    scope.spawn(move || {
        setns(namespace.as_fd(), CloneFlags::CLONE_NEWNET)?;
        work()
    })
}

/// Moves the calling process into a namespace for `lab exec`, the way `ip netns exec` does:
/// its own mount namespace with /sys remounted, so that /sys/class/net shows the node.
/// Call only from a single-threaded process, just before exec.
pub fn enter_for_exec(namespace: &File) -> io::Result<()> {
    setns(namespace.as_fd(), CloneFlags::CLONE_NEWNET)?;
    unshare(CloneFlags::CLONE_NEWNS)?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)?;
    let _ = umount2("/sys", MntFlags::MNT_DETACH);
    mount(Some("sysfs"), "/sys", Some("sysfs"), MsFlags::empty(), None::<&str>)?;
    Ok(())
}

/// Runs `work(i)` inside each namespace `files[i]`, on `workers` threads that enter one
/// namespace after another. Results come back in the order of `files`.
pub fn run_in_each<T: Send>(
    files: &[File],
    workers: usize,
    work: impl Fn(usize) -> io::Result<T> + Sync,
) -> Vec<io::Result<T>> {
    on_workers(files.len(), workers, |i| {
        setns(files[i].as_fd(), CloneFlags::CLONE_NEWNET)?;
        work(i)
    })
}

/// Runs `work` on a new thread inside a new, unnamed namespace that dies with the thread.
pub fn run_in_throwaway<T: Send>(work: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                unshare(CloneFlags::CLONE_NEWNET)?;
                work()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("a thread inside a namespace panicked")))
    })
}
