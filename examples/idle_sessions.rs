//! What idle sessions cost: starts COUNT sessions one after another (each with a
//! variable defined by one execute), then prints how long that took and the memory
//! they added, resident (RSS) and proportional (PSS, which splits shared pages between
//! the processes that share them), summed over this process and every process below
//! it: fork servers, the sessions' processes, their warm spares.
//!
//! `cargo run --release --example idle_sessions [COUNT] [embedded|subprocess|subinterpreter] [MODE]`
//!
//! - COUNT: how many sessions (default 1,000).
//! - The backend (default embedded; `subinterpreter` with the feature of that name).
//! - MODE, for subprocess sessions: `fork` (the default: each session's process is a
//!   fork of its configuration's fork server), `spawn` (`fork_server(false)`: each
//!   session spawns its process, and keeps a warm spare, a second one), `nospare`
//!   (spawned, with no spare). Embedded sessions have no MODE.
//!
//! Environment: `IDLE_PYTHON`, the interpreter of subprocess sessions (default
//! `/usr/bin/python3`; `target/test-venv/bin/python` has numpy and pandas);
//! `IDLE_STARTUP`, the sessions' startup code (default none), e.g.
//! `IDLE_STARTUP='import numpy, pandas'`.
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pysession::{Backend, ProcessOrigin, Session};

#[path = "support/rss.rs"]
mod rss;
use rss::{descendants_of, memory_of, tree_memory, Memory};

/// How subprocess sessions get their processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fork,
    Spawn,
    NoSpare,
}

fn main() -> Result<(), pysession::Error> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let backend = match args.next().as_deref() {
        Some("subprocess") => Backend::Subprocess,
        #[cfg(feature = "subinterpreter")]
        Some("subinterpreter") => Backend::Subinterpreter,
        _ => Backend::Embedded,
    };
    let mode = match args.next().as_deref() {
        None | Some("fork") => Mode::Fork,
        Some("spawn") => Mode::Spawn,
        Some("nospare") => Mode::NoSpare,
        Some(other) => {
            eprintln!("unknown mode {other:?}: fork, spawn or nospare");
            std::process::exit(2);
        }
    };
    let python = std::env::var("IDLE_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let startup = std::env::var("IDLE_STARTUP").unwrap_or_default();
    let start = || {
        let b = Session::builder()
            .backend(backend)
            .startup_code(startup.as_str());
        match backend {
            Backend::Subprocess => b
                .python_executable(python.as_str())
                .fork_server(mode == Mode::Fork)
                .warm_spare(mode == Mode::Spawn)
                .start(),
            _ => b.start(),
        }
    };
    match backend {
        Backend::Subprocess => println!(
            "{count} idle subprocess sessions, {}, {python}, startup code {startup:?}",
            match mode {
                Mode::Fork => "forked from a fork server",
                Mode::Spawn => "spawned, each with a warm spare",
                Mode::NoSpare => "spawned, no warm spare",
            }
        ),
        _ => println!("{count} idle {backend:?} sessions, startup code {startup:?}"),
    }

    // The interpreter itself is paid once per process; measure sessions on top of it.
    let first = Session::new()?;
    first.execute("import threading, time")?;
    let before = tree_memory();
    let started = Instant::now();
    let mut sessions = Vec::with_capacity(count);
    for i in 0..count {
        let s = start()?;
        s.execute(&format!("session_number = {i}"))?;
        sessions.push(s);
    }
    let elapsed = started.elapsed();
    // Every session is still alive and its own.
    for (i, s) in sessions.iter().enumerate().step_by(97) {
        assert_eq!(s.execute("session_number")?.value, Some(i.to_string()));
    }
    let roles = Roles::of(&sessions)?;
    if backend == Backend::Subprocess {
        roles.check(mode, count);
    }
    // Warm spares start in the background: let them finish before measuring.
    let after = settled();
    println!(
        "created in {:.1} ms ({:.1} µs per session, with one execute each)",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / count as f64
    );
    println!(
        "processes: {} before, {} after",
        before.processes, after.processes
    );
    print_added("RSS", before.rss_kib, after.rss_kib, count);
    print_added("PSS", before.pss_kib, after.pss_kib, count);
    if backend == Backend::Subprocess {
        roles.print();
    }
    let stop = Instant::now();
    drop(sessions);
    println!("dropped in {:.1} ms", stop.elapsed().as_secs_f64() * 1e3);
    Ok(())
}

/// The memory of the process tree once it has stopped changing: the same number of
/// processes and RSS within 0.5 % twice in a row, half a second apart (at most a
/// minute).
fn settled() -> Memory {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = tree_memory();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = tree_memory();
        let steady = now.processes == last.processes
            && now.rss_kib.abs_diff(last.rss_kib) * 200 <= now.rss_kib;
        if steady || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

fn print_added(what: &str, before: u64, after: u64, count: usize) {
    let added = after as f64 - before as f64;
    println!(
        "{what}: {:.1} MiB before, {:.1} MiB after: {:.1} MiB added in all, {:.1} KiB per session",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        added / 1024.0,
        added / count as f64
    );
}

/// The processes of the sessions and of their fork servers, as the sessions report
/// them; anything else below this process is a warm spare.
struct Roles {
    sessions: BTreeSet<u32>,
    servers: BTreeSet<u32>,
    forked: usize,
    spawned: usize,
}

impl Roles {
    fn of(sessions: &[Session]) -> Result<Roles, pysession::Error> {
        let mut roles = Roles {
            sessions: BTreeSet::new(),
            servers: BTreeSet::new(),
            forked: 0,
            spawned: 0,
        };
        for s in sessions {
            let info = s.python_info()?;
            match info.process {
                ProcessOrigin::Forked { fork_server_pid } => {
                    roles.forked += 1;
                    roles.servers.insert(fork_server_pid);
                }
                ProcessOrigin::Spawned { .. } => roles.spawned += 1,
                _ => continue,
            }
            roles.sessions.insert(info.pid);
        }
        Ok(roles)
    }

    /// Fails loudly when the sessions were not made as `mode` says.
    fn check(&self, mode: Mode, count: usize) {
        match mode {
            Mode::Fork => assert_eq!(
                self.forked, count,
                "{} of {count} sessions were not forked",
                self.spawned
            ),
            Mode::Spawn | Mode::NoSpare => assert_eq!(self.spawned, count, "not all spawned"),
        }
        assert_eq!(self.sessions.len(), count, "sessions share a process");
    }

    fn print(&self) {
        let me = std::process::id();
        let sum = |pids: &mut dyn Iterator<Item = u32>| {
            pids.map(memory_of).fold(Memory::default(), Memory::plus)
        };
        let others: Vec<u32> = descendants_of(me)
            .into_iter()
            .filter(|p| !self.sessions.contains(p) && !self.servers.contains(p))
            .collect();
        println!("after, by process:");
        let parts = [
            ("this process", sum(&mut std::iter::once(me))),
            ("fork servers", sum(&mut self.servers.iter().copied())),
            ("session processes", sum(&mut self.sessions.iter().copied())),
            ("others (warm spares)", sum(&mut others.into_iter())),
        ];
        for (name, m) in parts {
            if m.processes == 0 {
                continue;
            }
            println!(
                "  {name}: {} process(es), RSS {:.1} MiB, PSS {:.1} MiB ({:.1} KiB PSS each)",
                m.processes,
                m.rss_kib as f64 / 1024.0,
                m.pss_kib as f64 / 1024.0,
                m.pss_kib as f64 / m.processes as f64
            );
        }
    }
}
