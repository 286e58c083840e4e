//! The POSIX calls std does not offer: descriptor set-up and resource limits in the
//! child, signals, poll, waitid. Through rustix, but for the one place that must be
//! unsafe: the set-up that runs between fork and exec.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, Resource, Rlimit, Signal, WaitId, WaitIdOptions};

use crate::config::ProcessLimits;

/// The most descriptors [`prepare_child`] places.
const PLACED: usize = 4;

/// Makes the child find `fds` at descriptors 3, 4, ... (requests, replies, the
/// [`StopSlot`] and, for a fork server, its control socket), and applies `limits`,
/// between fork and exec.
pub(crate) fn prepare_child(cmd: &mut Command, fds: &[RawFd], limits: ProcessLimits) {
    let count = fds.len().min(PLACED);
    let mut placed = [-1; PLACED];
    placed[..count].copy_from_slice(&fds[..count]);
    let setup = move || -> io::Result<()> {
        // SAFETY: this runs in the forked child before exec, where only
        // async-signal-safe calls are allowed: fcntl, dup2 and close are (and rustix's
        // setrlimit is the bare system call).
        // The descriptors were open in the parent at fork time and are the child's
        // copies. Copying them all above 9 first means no dup2 can overwrite another's
        // source, and dup2 gives fresh descriptors without close-on-exec.
        unsafe {
            let mut copies = [-1; PLACED];
            for (copy, &fd) in copies.iter_mut().zip(&placed[..count]) {
                *copy = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
            }
            for (&copy, target) in copies[..count].iter().zip(3..) {
                if copy < 0 || libc::dup2(copy, target) < 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::close(copy);
            }
        }
        if let Some(bytes) = limits.memory {
            set_limit(Resource::As, bytes, bytes)?;
        }
        if let Some(seconds) = limits.cpu_seconds {
            // A hard limit above the soft one makes the kernel send SIGXCPU (which says
            // why) at the soft limit, keeping SIGKILL as the backstop.
            set_limit(Resource::Cpu, seconds, seconds + 1)?;
        }
        Ok(())
    };
    // SAFETY: the closure only makes async-signal-safe calls (see above) and touches
    // no memory shared with the parent; it allocates nothing.
    unsafe {
        cmd.pre_exec(setup);
    }
}

fn set_limit(resource: Resource, soft: u64, hard: u64) -> io::Result<()> {
    let limit = Rlimit {
        current: Some(soft),
        maximum: Some(hard),
    };
    Ok(rustix::process::setrlimit(resource, limit)?)
}

/// Sends `signal` to process `pid`; `group` sends it to the process group `pid` leads.
/// The pid is a child we spawned and have not reaped yet (callers check with
/// [`has_exited`], which does not reap), so neither it nor its group id can have been
/// reused by another process.
pub(crate) fn signal(pid: u32, group: bool, signal: Signal) {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    let _ = if group {
        rustix::process::kill_process_group(pid, signal)
    } else {
        rustix::process::kill_process(pid, signal)
    };
}

/// Which of `fds` are readable (or closed), waiting at most `timeout` (`None`: until
/// one is). `None` descriptors are skipped.
pub(crate) fn poll_readable<const N: usize>(
    fds: [Option<BorrowedFd<'_>>; N],
    timeout: Option<Duration>,
) -> io::Result<[bool; N]> {
    let (index, mut polled): (Vec<usize>, Vec<PollFd<'_>>) = fds
        .iter()
        .enumerate()
        .filter_map(|(i, fd)| fd.map(|fd| (i, PollFd::from_borrowed_fd(fd, PollFlags::IN))))
        .unzip();
    let mut ready = [false; N];
    if poll(&mut polled, timeout)? {
        for (i, p) in index.into_iter().zip(&polled) {
            ready[i] = !p.revents().is_empty();
        }
    }
    Ok(ready)
}

/// Waits until `fd` can be written to, at most `timeout`; false when it cannot.
pub(crate) fn poll_writable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut polled = [PollFd::from_borrowed_fd(fd, PollFlags::OUT)];
    Ok(poll(&mut polled, Some(timeout))? && !polled[0].revents().is_empty())
}

/// `poll`: false when it timed out or a signal cut it short.
fn poll(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> io::Result<bool> {
    let timeout = timeout.map(|t| {
        Timespec::try_from(t).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        })
    });
    match rustix::event::poll(fds, timeout.as_ref()) {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// True once child `pid` has ended, without reaping it: until it is reaped its pid (and
/// so its process group's id) cannot be reused, which keeps later signals to the group
/// safe.
pub(crate) fn has_exited(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return true;
    };
    // WNOWAIT leaves the child waitable; WNOHANG makes the call return at once, with
    // nothing while the child runs. An error (no such child) counts as ended.
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    !matches!(rustix::process::waitid(WaitId::Pid(pid), options), Ok(None))
}

/// A connected pair of Unix seqpacket sockets (close-on-exec): each send is one message
/// to the other end, read whole by one receive.
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Sends `message`, with copies of `fds` (`SCM_RIGHTS`), as one message on `socket`.
pub(crate) fn send_message(
    socket: BorrowedFd<'_>,
    message: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("too many descriptors for one message"));
    }
    let iov = [io::IoSlice::new(message)];
    let sent = rustix::net::sendmsg(socket, &iov, &mut control, SendFlags::NOSIGNAL)?;
    if sent == message.len() {
        Ok(())
    } else {
        Err(io::Error::other("a message sent in part"))
    }
}

/// The next message on `socket`, waiting at most `timeout`; `UnexpectedEof` when the
/// other end has closed, `TimedOut` when nothing came.
pub(crate) fn receive_message(socket: BorrowedFd<'_>, timeout: Duration) -> io::Result<Vec<u8>> {
    let begun = std::time::Instant::now();
    loop {
        let left = timeout.saturating_sub(begun.elapsed());
        let [ready] = poll_readable([Some(socket)], Some(left))?;
        if ready {
            break;
        }
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    let n = rustix::io::read(socket, &mut buf)?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    buf.truncate(n);
    Ok(buf)
}

/// A pidfd for process `pid`: it reads as ready once the process has ended, whoever
/// reaps it. Opened while the process cannot have been reaped (a fork server reaps its
/// children only when asked), it refers to that process and no other.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::other("not a pid"))?;
    Ok(rustix::process::pidfd_open(
        pid,
        rustix::process::PidfdFlags::empty(),
    )?)
}

/// Sends `signal` to the process of `pidfd`: that process, even once its pid has been
/// reaped and reused.
pub(crate) fn pidfd_signal(pidfd: BorrowedFd<'_>, signal: Signal) {
    let _ = rustix::process::pidfd_send_signal(pidfd, signal);
}

/// True once process `pid`, not necessarily a child of this one, is a zombie or gone.
pub(crate) fn ended_by_proc(pid: u32) -> bool {
    stat_field(pid, 0).is_none_or(|s| s == "Z" || s == "X")
}

/// True while process `pid` is a zombie: ended, not yet reaped.
pub(crate) fn is_zombie(pid: u32) -> bool {
    stat_field(pid, 0).is_some_and(|s| s == "Z")
}

/// True once the process of `pidfd` has ended (it need not have been reaped).
pub(crate) fn pidfd_ended(pidfd: BorrowedFd<'_>) -> bool {
    !matches!(
        poll_readable([Some(pidfd)], Some(Duration::ZERO)),
        Ok([false])
    )
}

/// Waits until the process of `pidfd` has ended, at most `timeout`; whether it has.
pub(crate) fn pidfd_wait(pidfd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let begun = std::time::Instant::now();
    loop {
        let left = timeout.saturating_sub(begun.elapsed());
        match poll_readable([Some(pidfd)], Some(left)) {
            Ok([true]) | Err(_) => return true,
            Ok([false]) if left.is_zero() => return false,
            Ok([false]) => {}
        }
    }
}

/// Makes writes to `fd` return `WouldBlock` instead of waiting.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    Ok(rustix::fs::fcntl_setfl(
        fd,
        flags | rustix::fs::OFlags::NONBLOCK,
    )?)
}

/// Kills every live descendant of `pid` (children, their children, ...), found through
/// the lists of children in `/proc` (or, without them, every process's parent id):
/// those that left `pid`'s process group or session (`os.setsid()`) included. A
/// process whose parent ended before the scan was handed to init and is not found.
pub(crate) fn kill_descendants(pid: u32) {
    for descendant in descendants(pid) {
        signal(descendant, false, Signal::KILL);
    }
}

fn descendants(pid: u32) -> Vec<u32> {
    static LISTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*LISTS.get_or_init(|| std::path::Path::new("/proc/thread-self/children").exists()) {
        // This kernel keeps no lists of children (CONFIG_PROC_CHILDREN).
        return descendants_by_parents(pid);
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        found.extend(children_of(found[i]));
        i += 1;
    }
    found.remove(0);
    found
}

/// The children of `pid`, from the lists its threads keep
/// (`/proc/<pid>/task/<tid>/children`): a read per thread instead of a scan of every
/// process, which with a thousand sessions alive made each stop cost milliseconds. A
/// process or thread that has ended meanwhile has none: its children belong to init.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The descendants of `pid` found by the parent id of every process in `/proc`.
fn descendants_by_parents(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parents = Vec::new();
    for entry in entries.flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = parent_of(p) {
            parents.push((p, ppid));
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|&&(_, pp)| pp == parent)
                .map(|&(p, _)| p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// The parent id in `/proc/<pid>/stat` ("pid (comm) S ppid ..."; comm may hold spaces
/// and parentheses).
fn parent_of(pid: u32) -> Option<u32> {
    stat_field(pid, 1)?.parse().ok()
}

/// Field `n` after the command name of `/proc/<pid>/stat` (0: the state letter).
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(n).map(str::to_owned)
}

/// Where the host writes the id of the request it wants stopped, before it sends
/// SIGINT: eight bytes (little-endian) at the start of an in-memory file that the child
/// reads at descriptor 5. A SIGINT that arrives before its request began is kept for
/// it, and one meant for an earlier request is known for what it is.
#[derive(Debug)]
pub(crate) struct StopSlot(OwnedFd);

impl StopSlot {
    pub(crate) fn new() -> io::Result<StopSlot> {
        let fd = rustix::fs::memfd_create("pysession-stop", rustix::fs::MemfdFlags::CLOEXEC)?;
        let slot = StopSlot(fd);
        slot.set(0)?;
        Ok(slot)
    }

    /// Asks for request `id` to be stopped.
    pub(crate) fn set(&self, id: u64) -> io::Result<()> {
        let written = rustix::io::pwrite(&self.0, &id.to_le_bytes(), 0)?;
        if written == 8 {
            Ok(())
        } else {
            Err(io::Error::other("short write to the stop slot"))
        }
    }

    pub(crate) fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.0.as_fd()
    }
}
