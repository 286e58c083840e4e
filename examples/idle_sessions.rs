//! What idle sessions cost: starts COUNT sessions (each with a variable defined), then
//! prints the resident memory they added, the host's and their child processes' (the
//! subprocess backend's children include each session's warm spare), and how long they
//! took to create.
//!
//! `cargo run --release --example idle_sessions [COUNT] [embedded|subprocess] [nospare]`
use std::time::Instant;

use pysession::{Backend, Session};

#[path = "support/rss.rs"]
mod rss;
use rss::total_rss_kib;

fn main() -> Result<(), pysession::Error> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let backend = match args.next().as_deref() {
        Some("subprocess") => Backend::Subprocess,
        _ => Backend::Embedded,
    };
    let spare = args.next().as_deref() != Some("nospare");
    let start = || {
        let b = Session::builder().backend(backend).warm_spare(spare);
        match backend {
            Backend::Subprocess => b.python_executable("/usr/bin/python3").start(),
            _ => b.start(),
        }
    };
    // The interpreter itself is paid once per process; measure sessions on top of it.
    let first = Session::new()?;
    first.execute("import threading, time")?;
    let before = total_rss_kib();
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
    // Let warm spares finish starting before measuring.
    std::thread::sleep(std::time::Duration::from_secs(
        if backend == Backend::Subprocess { 3 } else { 0 },
    ));
    let after = total_rss_kib();
    let added = (after - before) as f64;
    println!(
        "{count} idle {backend:?} sessions: {:.1} MiB RSS in all, {:.1} KiB each",
        added / 1024.0,
        added / count as f64
    );
    println!(
        "created in {:.1} ms ({:.1} µs per session, with one execute each)",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / count as f64
    );
    let stop = Instant::now();
    drop(sessions);
    println!("dropped in {:.1} ms", stop.elapsed().as_secs_f64() * 1e3);
    Ok(())
}
