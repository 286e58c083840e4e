//! What `/proc` says of processes (their state, parent, start and CPU time, this
//! one's descriptors), and waiting for it to change.

use std::time::{Duration, Instant};

/// The fields of `/proc/<pid>/stat` after the command name, which may hold spaces and
/// parentheses: the state letter first, then the parent pid, ...
fn stat_fields(pid: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// The state letter in `/proc/<pid>/stat` and the parent pid, if the process exists.
pub fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let fields = stat_fields(&pid.to_string())?;
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    Some((state, ppid))
}

/// A process as it is known for its life: its pid and its start time (field 22 of
/// `/proc/<pid>/stat`, in clock ticks since boot). A pid may be reused by a later
/// process, of another test say; the pair is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lifetime {
    pub pid: u32,
    started: u64,
}

impl Lifetime {
    /// The process `pid` is now, if it exists.
    pub fn of(pid: u32) -> Option<Lifetime> {
        let started = stat_fields(&pid.to_string())?.get(19)?.parse().ok()?;
        Some(Lifetime { pid, started })
    }

    /// True while this very process runs (not a zombie, not gone, not a reused pid).
    pub fn running(&self) -> bool {
        Lifetime::of(self.pid) == Some(*self)
            && proc_stat(self.pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
    }
}

/// Every process's pid.
pub fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect()
}

/// The processes whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|&p| proc_stat(p).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

/// The processes below `ancestor`: its children, theirs, and so on (a forked
/// subprocess session's process is a child of its fork server, a child of this one).
pub fn descendants_of(ancestor: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = pids()
        .into_iter()
        .filter_map(|p| proc_stat(p).map(|(_, ppid)| (p, ppid)))
        .collect();
    let mut found = vec![ancestor];
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

/// The CPU time (user and system) `pid` has used; `"self"` is this process.
pub fn cpu_time_of(pid: &str) -> Option<Duration> {
    let fields = stat_fields(pid)?;
    // utime and stime, fields 14 and 15 of stat: 12 and 13 after the command name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The CPU time this process and its descendants (a subprocess session's process, its
/// fork server) have used.
pub fn cpu_time_with_children() -> Duration {
    let own = cpu_time_of("self").unwrap_or_default();
    descendants_of(std::process::id())
        .into_iter()
        .filter_map(|p| cpu_time_of(&p.to_string()))
        .fold(own, |total, t| total + t)
}

/// How many descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Waits up to `limit` for `cond`, looking every 20 ms; returns whether it became true.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let begun = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if begun.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
