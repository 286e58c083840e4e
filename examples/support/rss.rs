//! Memory of this process and of every process below it (a subprocess session's
//! process and warm spare, a fork server and the sessions forked from it), read from
//! `/proc`, for the examples that print it.
//!
//! Resident memory (RSS) counts each shared page in full in every process that maps it;
//! proportional memory (PSS) splits it between them. The processes forked from one fork
//! server share most of their pages, so only PSS says what they cost in all.

// Each example that includes this file uses part of it, and of the tests' readers.
#![allow(dead_code)]

/// What a set of processes holds in memory, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// How many processes were read.
    pub processes: usize,
    /// The sum of their resident memory (`Rss:`).
    pub rss_kib: u64,
    /// The sum of their proportional memory (`Pss:`).
    pub pss_kib: u64,
}

impl Memory {
    /// This one and `other` together.
    pub fn plus(self, other: Memory) -> Memory {
        Memory {
            processes: self.processes + other.processes,
            rss_kib: self.rss_kib + other.rss_kib,
            pss_kib: self.pss_kib + other.pss_kib,
        }
    }
}

/// This process's resident memory plus that of every process below it, in KiB.
pub fn total_rss_kib() -> i64 {
    tree_memory().rss_kib as i64
}

/// The memory of this process and of every process below it.
pub fn tree_memory() -> Memory {
    let me = std::process::id();
    std::iter::once(me)
        .chain(descendants_of(me))
        .map(memory_of)
        .fold(Memory::default(), Memory::plus)
}

/// The memory of one process; nothing when it has ended (or was never there).
pub fn memory_of(pid: u32) -> Memory {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
        return Memory::default();
    };
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        processes: 1,
        rss_kib: field("Rss:"),
        pss_kib: field("Pss:"),
    }
}

/// The tests' readers of `/proc` (the processes below one, their state).
#[path = "../../tests/common/procfs.rs"]
mod procfs;
pub use procfs::descendants_of;
