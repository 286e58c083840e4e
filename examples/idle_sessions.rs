//! What idle sessions cost: starts 1,000 sessions (each with a variable defined), then
//! prints the process's resident memory before and after.
//!
//! `cargo run --release --example idle_sessions [COUNT]`
use std::time::Instant;

use pysession::Session;

fn main() -> Result<(), pysession::Error> {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    // The interpreter itself is paid once per process; measure sessions on top of it.
    let first = Session::new()?;
    first.execute("import threading, time")?;
    let before = rss_kib();
    let started = Instant::now();
    let mut sessions = Vec::with_capacity(count);
    for i in 0..count {
        let s = Session::new()?;
        s.execute(&format!("session_number = {i}"))?;
        sessions.push(s);
    }
    let elapsed = started.elapsed();
    // Every session is still alive and its own.
    for (i, s) in sessions.iter().enumerate().step_by(97) {
        assert_eq!(s.execute("session_number")?.value, Some(i.to_string()));
    }
    let after = rss_kib();
    let total_mib = (after - before) as f64 / 1024.0;
    println!(
        "{count} idle sessions: {total_mib:.1} MiB RSS in all, {:.1} KiB each",
        (after - before) as f64 / count as f64
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

/// Resident set size from /proc (Linux).
fn rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
