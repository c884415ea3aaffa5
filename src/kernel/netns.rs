//! Network namespaces: the only module that calls unshare(2), setns(2) or mount(2).
//! Named namespaces are bind mounts under /run/netns, exactly as `ip netns` makes them.
//! Work inside a namespace runs on threads made for it, never on the caller's or a runtime's
//! (a thread that entered a namespace stays there until it ends).

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
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

/// Creates namespaces on `workers` threads, for lab `lab`. For each name: a new namespace,
/// `setup` run inside it while it has no name yet, then the name bound to it. A failure
/// leaves that name unmade. Results come back in the order of `names`.
pub fn create_named<T: Send>(
    lab: &str,
    names: &[String],
    workers: usize,
    setup: impl Fn(usize) -> io::Result<T> + Sync,
) -> Vec<io::Result<(File, T)>> {
    on_workers(names.len(), workers, |i| create_one(lab, &names[i], || setup(i)))
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

/// On the calling (worker) thread: a new namespace, set up, then named. The name is first
/// claimed by a placeholder file that says whose it is (written before it gets its name,
/// so that a placeholder left by a killed `up` is always recognisable), then the namespace
/// is bound over it.
fn create_one<T>(lab: &str, name: &str, setup: impl FnOnce() -> io::Result<T>) -> io::Result<(File, T)> {
    unshare(CloneFlags::CLONE_NEWNET)?;
    let value = setup()?;
    let namespace = File::open("/proc/thread-self/ns/net")?;
    let path = path_of(name);
    claim(lab, &path)?;
    if let Err(e) =
        mount(Some("/proc/thread-self/ns/net"), &path, Some("none"), MsFlags::MS_BIND, None::<&str>)
    {
        let _ = std::fs::remove_file(&path);
        return Err(e.into());
    }
    Ok((namespace, value))
}

/// What a placeholder of lab `lab` holds.
fn placeholder_text(lab: &str) -> String {
    format!("{}\n", super::marker(lab))
}

/// The largest placeholder read back: a marker is a line with a lab name.
const PLACEHOLDER_MAX: u64 = 128;

/// Creates `path` holding lab's placeholder text, atomically: the file is written unnamed
/// (O_TMPFILE) and linked to its name only if the name is free.
pub fn claim(lab: &str, path: &Path) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        std::fs::OpenOptions::new().write(true).custom_flags(libc::O_TMPFILE).mode(0o444).open(NETNS_DIR)?;
    file.write_all(placeholder_text(lab).as_bytes())?;
    let unnamed = format!("/proc/self/fd/{}", file.as_raw_fd());
    let cwd = nix::fcntl::AT_FDCWD;
    match nix::unistd::linkat(cwd, unnamed.as_str(), cwd, path, nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW) {
        Ok(()) => Ok(()),
        Err(nix::Error::EEXIST) => {
            Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} already exists", path.display())))
        }
        Err(e) => Err(e.into()),
    }
}

/// What a name under /run/netns is.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    /// A mounted network namespace: whose it is, its `lo` says.
    Namespace,
    /// A placeholder that lab made for this lab, left by an `up` killed before it could
    /// bind the namespace.
    Placeholder { lab: String },
    /// Anything else: another tool's file or mount, which lab never touches.
    Foreign,
}

/// Looks at a name under /run/netns without following links or opening devices.
pub fn inspect(name: &str) -> io::Result<Entry> {
    let path = path_of(name);
    if is_mount_point(&path)? {
        return Ok(if is_mounted_namespace(&path) { Entry::Namespace } else { Entry::Foreign });
    }
    let meta = std::fs::symlink_metadata(&path)?;
    if !meta.file_type().is_file() || meta.len() > PLACEHOLDER_MAX {
        return Ok(Entry::Foreign);
    }
    let text = read_small(&path)?;
    let lab = text.strip_suffix('\n').and_then(super::marked_for).filter(|lab| placeholder_text(lab) == text);
    Ok(match lab {
        Some(lab) => Entry::Placeholder { lab: lab.to_string() },
        None => Entry::Foreign,
    })
}

fn read_small(path: &Path) -> io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let mut text = String::new();
    file.take(PLACEHOLDER_MAX).read_to_string(&mut text)?;
    Ok(text)
}

/// Whether something is mounted on `path` (statx's STATX_ATTR_MOUNT_ROOT).
fn is_mount_point(path: &Path) -> io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: statx is plain data, zeroed, then filled by the kernel for this path.
    let mut info: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a buffer of the right type.
    let done = unsafe {
        libc::statx(libc::AT_FDCWD, c_path.as_ptr(), libc::AT_SYMLINK_NOFOLLOW, libc::STATX_TYPE, &mut info)
    };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    let known = info.stx_attributes_mask & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0;
    if known {
        return Ok(info.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0);
    }
    // Kernels before 5.8 do not say: a namespace bound here is the one mount lab makes.
    Ok(is_mounted_namespace(path))
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

/// Removes a namespace's name: the namespace itself goes once nothing else holds it.
pub fn remove_named(name: &str) -> io::Result<()> {
    let path = path_of(name);
    match umount2(&path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    remove_placeholder(name)
}

/// Removes a placeholder (or the file left under an unmounted name).
pub fn remove_placeholder(name: &str) -> io::Result<()> {
    match std::fs::remove_file(path_of(name)) {
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

/// Moves the calling thread into a namespace, for a thread that lives on there (a
/// capture's reader); the thread must not go back to other work.
pub fn enter_thread(namespace: &File) -> io::Result<()> {
    setns(namespace.as_fd(), CloneFlags::CLONE_NEWNET)?;
    Ok(())
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
