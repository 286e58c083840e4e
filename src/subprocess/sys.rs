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

/// Makes the child find `requests` at descriptor 3, `replies` at descriptor 4 and
/// `stops` (see [`StopSlot`]) at descriptor 5, and applies `limits`, between fork and
/// exec.
pub(crate) fn prepare_child(
    cmd: &mut Command,
    requests: RawFd,
    replies: RawFd,
    stops: RawFd,
    limits: ProcessLimits,
) {
    let setup = move || -> io::Result<()> {
        // SAFETY: this runs in the forked child before exec, where only
        // async-signal-safe calls are allowed: fcntl, dup2 and close are (and rustix's
        // setrlimit is the bare system call).
        // The descriptors were open in the parent at fork time and are the child's
        // copies. Copying all three above 9 first means no dup2 can overwrite another's
        // source, and dup2 gives fresh descriptors without close-on-exec.
        unsafe {
            let copies =
                [requests, replies, stops].map(|fd| libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10));
            for (copy, target) in copies.into_iter().zip(3..) {
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

/// Makes writes to `fd` return `WouldBlock` instead of waiting.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    Ok(rustix::fs::fcntl_setfl(
        fd,
        flags | rustix::fs::OFlags::NONBLOCK,
    )?)
}

/// Kills every live descendant of `pid` (children, their children, ...), found by
/// their parent ids in `/proc`: those that left `pid`'s process group or session
/// (`os.setsid()`) included. A process whose parent ended before the scan was handed
/// to init and is not found.
pub(crate) fn kill_descendants(pid: u32) {
    for descendant in descendants(pid) {
        signal(descendant, false, Signal::KILL);
    }
}

fn descendants(pid: u32) -> Vec<u32> {
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
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
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
}
