//! The subprocess backend's only unsafe code: the POSIX calls std does not offer
//! (descriptor set-up and resource limits in the child, signals, poll).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::config::ProcessLimits;
use std::time::Duration;

/// Makes the child find `requests` at descriptor 3 and `replies` at descriptor 4, and
/// applies `limits`, between fork and exec.
pub(crate) fn prepare_child(
    cmd: &mut Command,
    requests: RawFd,
    replies: RawFd,
    limits: ProcessLimits,
) {
    let setup = move || -> io::Result<()> {
        // SAFETY: this runs in the forked child before exec, where only
        // async-signal-safe calls are allowed: fcntl, dup2, close and setrlimit are.
        // The descriptors were open in the parent at fork time and are the child's
        // copies. Copying both above 9 first means neither dup2 can overwrite the
        // other's source, and dup2 gives fresh descriptors without close-on-exec.
        unsafe {
            let req = libc::fcntl(requests, libc::F_DUPFD_CLOEXEC, 10);
            let rep = libc::fcntl(replies, libc::F_DUPFD_CLOEXEC, 10);
            if req < 0 || rep < 0 || libc::dup2(req, 3) < 0 || libc::dup2(rep, 4) < 0 {
                return Err(io::Error::last_os_error());
            }
            libc::close(req);
            libc::close(rep);
            if let Some(bytes) = limits.memory {
                set_limit(libc::RLIMIT_AS, bytes, bytes)?;
            }
            if let Some(seconds) = limits.cpu_seconds {
                // A hard limit above the soft one makes the kernel send SIGXCPU (which
                // says why) at the soft limit, keeping SIGKILL as the backstop.
                set_limit(libc::RLIMIT_CPU, seconds, seconds + 1)?;
            }
        }
        Ok(())
    };
    // SAFETY: the closure only makes async-signal-safe calls (see above) and touches
    // no memory shared with the parent; it allocates nothing.
    unsafe {
        cmd.pre_exec(setup);
    }
}

/// # Safety
/// Only async-signal-safe; callable between fork and exec.
unsafe fn set_limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: `limit` is a valid rlimit for the duration of the call.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `signal` to process `pid`; `group` sends it to the process group `pid` leads.
pub(crate) fn signal(pid: u32, group: bool, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    let target = if group { -pid } else { pid };
    // SAFETY: kill has no memory-safety preconditions. The pid is a child we spawned
    // and have not reaped yet (callers check with `has_exited`, which does not reap),
    // so neither it nor its group id can have been reused by another process.
    unsafe {
        libc::kill(target, signal);
    }
}

/// Which of `fds` are readable (or closed), waiting at most `timeout` (`None`: until
/// one is). Negative descriptors are skipped.
pub(crate) fn poll_readable<const N: usize>(
    fds: [RawFd; N],
    timeout: Option<Duration>,
) -> io::Result<[bool; N]> {
    let mut polled = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    let ms = timeout.map_or(-1, |t| {
        libc::c_int::try_from(t.as_millis()).unwrap_or(libc::c_int::MAX)
    });
    // SAFETY: `polled` is a valid array of N pollfd structs for the duration of the
    // call, and N is passed as its length.
    let n = unsafe { libc::poll(polled.as_mut_ptr(), N as libc::nfds_t, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok([false; N]);
        }
        return Err(e);
    }
    Ok(polled.map(|p| p.revents != 0))
}

/// True once child `pid` has ended, without reaping it: until it is reaped its pid (and
/// so its process group's id) cannot be reused, which keeps later signals to the group
/// safe.
pub(crate) fn has_exited(pid: u32) -> bool {
    let pid: libc::id_t = pid;
    // SAFETY: an all-zero siginfo_t is a valid value to be overwritten.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is valid for writes for the duration of the call; WNOWAIT leaves
    // the child waitable, WNOHANG makes the call return at once.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: waitid filled `info` (or left it zeroed, where si_pid reads as 0).
    rc != 0 || unsafe { info.si_pid() } != 0
}

/// Makes writes to `fd` return `WouldBlock` instead of waiting.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with flag arguments only.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Waits until `fd` can be written to, at most `timeout`; false when it cannot.
pub(crate) fn poll_writable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut polled = [libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    }];
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `polled` is a valid array of one pollfd for the duration of the call.
    let n = unsafe { libc::poll(polled.as_mut_ptr(), 1, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(n > 0)
}
