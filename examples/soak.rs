//! A long-lived session under steady load: runs COUNT executes of `x = x + 1` and
//! prints, every 10 %, the resident memory of this process and the session's child
//! processes, and the median and 99th-percentile latency of the last 10 %. Memory that
//! grows with every execute shows as a rising RSS column.
//!
//! `cargo run --release --example soak [COUNT] [embedded|subprocess]` (COUNT defaults to
//! 1,000,000).
use std::time::{Duration, Instant};

use pysession::{Backend, Session};

#[path = "support/rss.rs"]
mod rss;
use rss::total_rss_kib;

fn main() -> Result<(), pysession::Error> {
    let mut args = std::env::args().skip(1);
    let count: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let backend = match args.next().as_deref() {
        Some("subprocess") => Backend::Subprocess,
        _ => Backend::Embedded,
    };
    let session = Session::builder().backend(backend).start()?;
    session.execute("x = 0")?;
    let step = (count / 10).max(1);
    let mut latencies = Vec::with_capacity(step);
    println!("{backend:?} session, {count} executes of `x = x + 1`");
    println!(
        "{:>10} {:>12} {:>10} {:>10}",
        "executes", "RSS (KiB)", "p50 (µs)", "p99 (µs)"
    );
    println!("{:>10} {:>12} {:>10} {:>10}", 0, total_rss_kib(), "-", "-");
    for i in 1..=count {
        let begun = Instant::now();
        let r = session.execute("x = x + 1")?;
        latencies.push(begun.elapsed());
        assert!(r.success(), "{r:?}");
        if i % step == 0 || i == count {
            latencies.sort();
            let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
            println!(
                "{:>10} {:>12} {:>10.1} {:>10.1}",
                i,
                total_rss_kib(),
                micros(at(0.5)),
                micros(at(0.99))
            );
            latencies.clear();
        }
    }
    let x: u64 = session.get("x")?;
    assert_eq!(x, count as u64);
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
