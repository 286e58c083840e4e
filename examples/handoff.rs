//! The execute round trip of an embedded session in each placement of its two threads,
//! next to the same code run on the calling thread (the limit): percentiles of
//! `execute("x = 1")` with the caller and the session's worker on two CPUs, on one CPU,
//! and where the scheduler puts them. Next to each, the floor of any design that runs a
//! session on a thread of its own: a bare round trip between two Rust threads in the
//! same placement (a message there and back over channels, each side waiting as a
//! session's threads do), with no Python at all.
//!
//! `cargo run --release --example handoff [CALLS]` (default 20,000 per case, in five
//! rounds taken in turns so that a busy machine slows every case alike). Needs two CPUs
//! for the first case. Threads are pinned from inside the session: on Linux
//! `os.sched_setaffinity` takes a thread's id (0: the worker itself).
use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use pysession::pyo3::prelude::*;
use pysession::pyo3::types::PyDict;
use pysession::Session;

type Res<T> = Result<T, Box<dyn Error>>;

const ROUNDS: usize = 5;

fn main() -> Res<()> {
    let calls: usize = match std::env::args().nth(1) {
        Some(n) => n
            .parse()
            .map_err(|e| format!("CALLS must be a number: {e}"))?,
        None => 20_000,
    };
    let all: Vec<usize> = (0..std::thread::available_parallelism()?.get()).collect();
    if all.len() < 2 {
        return Err("two CPUs are needed to place the threads apart".into());
    }
    let session = Session::builder().start()?;
    let me = own_tid()?;
    let (to_echo, echo_rx) = crossbeam_channel::bounded::<()>(1);
    let (echo_tx, from_echo) = crossbeam_channel::bounded::<()>(1);
    let (tid_tx, tid_rx) = crossbeam_channel::bounded(1);
    // Where each side of the bare round trip last ran.
    let (caller_cpu, echo_cpu) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (caller_seat, echo_seat) = (caller_cpu.clone(), echo_cpu.clone());
    std::thread::spawn(move || {
        let _ = tid_tx.send(own_tid().ok());
        while let Some(()) = wait(&echo_rx, &caller_seat) {
            echo_seat.store(sched_getcpu(), Ordering::Relaxed);
            if echo_tx.send(()).is_err() {
                break;
            }
        }
    });
    let echo = tid_rx.recv()?.ok_or("no thread id for the echo thread")?;
    let cases: [(&str, usize, usize); 3] = [
        ("caller on CPU 0, worker on CPU 1", 1, 0),
        ("both on CPU 0", 0, 0),
        ("where the scheduler puts them", usize::MAX, usize::MAX),
    ];
    let mut times = vec![Vec::new(); cases.len() + 1];
    let mut bare = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for (i, &(_, worker, caller)) in cases.iter().enumerate() {
            let cpus = |c: usize| {
                if c == usize::MAX {
                    all.clone()
                } else {
                    vec![c]
                }
            };
            // 0: the session's own thread, the worker.
            pin(&session, 0, &cpus(worker))?;
            pin(&session, me, &cpus(caller))?;
            for _ in 0..calls / ROUNDS {
                let t = Instant::now();
                session.execute("x = 1")?;
                times[i].push(t.elapsed().as_secs_f64() * 1e6);
            }
            pin(&session, echo, &cpus(worker))?;
            for _ in 0..calls / ROUNDS {
                let t = Instant::now();
                caller_cpu.store(sched_getcpu(), Ordering::Relaxed);
                to_echo.send(())?;
                wait(&from_echo, &echo_cpu).ok_or("the echo thread ended")?;
                bare[i].push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        pin(&session, me, &all)?;
        // The limit: compiling and running the same code on this thread.
        Python::attach(|py| -> PyResult<()> {
            let globals = PyDict::new(py);
            for _ in 0..calls / ROUNDS {
                let t = Instant::now();
                py.run(c"x = 1", Some(&globals), None)?;
                times[cases.len()].push(t.elapsed().as_secs_f64() * 1e6);
            }
            Ok(())
        })?;
    }
    let limit = percentile(&mut times[cases.len()], 0.5);
    println!(
        "execute(\"x = 1\"), µs: p50 p90 p99, p50 against the limit; the bare round trip's p50, \
         and the floor (the limit and the bare round trip) against the limit"
    );
    for (i, (name, _, _)) in cases.iter().enumerate() {
        let t = &mut times[i];
        let p50 = percentile(t, 0.5);
        let trip = percentile(&mut bare[i], 0.5);
        println!(
            "  {name:<36} {p50:6.1} {:6.1} {:6.1}  {:4.2}x   bare {trip:5.1}  floor {:4.2}x",
            percentile(t, 0.9),
            percentile(t, 0.99),
            p50 / limit,
            (limit + trip) / limit
        );
    }
    let t = &mut times[cases.len()];
    println!(
        "  {:<36} {limit:6.1} {:6.1} {:6.1}",
        "limit: the same code on this thread",
        percentile(t, 0.9),
        percentile(t, 0.99)
    );
    Ok(())
}

/// Waits for a message as a session's threads do: for 60 µs it looks for one, busily
/// while the sender last ran on another CPU (`sender`), else yielding the CPU between
/// looks; then it sleeps until one comes. None when the sender is gone.
fn wait(rx: &Receiver<()>, sender: &AtomicUsize) -> Option<()> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_micros(60) {
        let busy = if sender.load(Ordering::Relaxed) == sched_getcpu() {
            1
        } else {
            64
        };
        for _ in 0..busy {
            if let Ok(v) = rx.try_recv() {
                return Some(v);
            }
            std::hint::spin_loop();
        }
        std::thread::yield_now();
    }
    rx.recv().ok()
}

/// Sets the CPUs of the thread `tid` (through the session: `os.sched_setaffinity` takes
/// any thread's id).
fn pin(session: &Session, tid: u32, cpus: &[usize]) -> Res<()> {
    let r = session.execute(&format!("import os\nos.sched_setaffinity({tid}, {cpus:?})"))?;
    if !r.success() {
        return Err(format!("pinning thread {tid} failed: {:?}", r.error).into());
    }
    Ok(())
}

/// The calling thread's Linux thread id, from `/proc/thread-self` (`PID/task/TID`).
fn own_tid() -> Res<u32> {
    let link = std::fs::read_link("/proc/thread-self")?;
    let tid = link
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("no thread id")?;
    Ok(tid.parse()?)
}

/// The calling thread's CPU.
fn sched_getcpu() -> usize {
    // SAFETY: sched_getcpu takes no arguments and writes no memory of ours.
    usize::try_from(unsafe { libc::sched_getcpu() }).unwrap_or(usize::MAX)
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q) as usize]
}
