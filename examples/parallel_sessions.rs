//! CPU-bound code in several sessions at once: how the work of 1, 2 and 4 sessions
//! scales in each backend. Embedded sessions share the one interpreter and its lock,
//! so their code takes turns; subprocess sessions each have an interpreter, in a
//! process, of their own.
//!
//! With `--features subinterpreter` (and a Python 3.12+ build) sub-interpreter sessions
//! too, which have an interpreter and a lock each in this process.
//!
//! `cargo run --release --example parallel_sessions [ROUNDS]`: each session runs the
//! same loop (`sum(i * i for i in range(N))`, about 0.1 s alone), all sessions at
//! once from threads of their own; a case is timed ROUNDS times (default 3, in turns
//! with the other cases) and its median kept. Throughput is sessions' loops per second,
//! and "scaling" is against one session of the same backend.
use std::error::Error;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use pysession::{Backend, Session};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const CELL: &str = "sum(i * i for i in range(1_500_000))";
const COUNTS: [usize; 3] = [1, 2, 4];

fn main() -> Res<()> {
    let rounds: usize = match std::env::args().nth(1) {
        Some(n) => n
            .parse()
            .map_err(|e| format!("ROUNDS must be a number: {e}"))?,
        None => 3,
    };
    #[allow(unused_mut)]
    let mut backends = vec![
        ("embedded", Backend::Embedded),
        ("subprocess", Backend::Subprocess),
    ];
    // Built with `--features subinterpreter` for Python 3.12+: a lock per session.
    #[cfg(feature = "subinterpreter")]
    backends.push(("subinterpreter", Backend::Subinterpreter));
    // Sessions are started once, up front: only the loops are timed.
    let mut sessions = Vec::new();
    for &(_, backend) in &backends {
        let mut of_backend = Vec::new();
        for _ in 0..COUNTS[COUNTS.len() - 1] {
            of_backend.push(Arc::new(Session::builder().backend(backend).start()?));
        }
        sessions.push(of_backend);
    }
    let mut times = vec![vec![Vec::new(); COUNTS.len()]; backends.len()];
    for _ in 0..rounds {
        for (b, of_backend) in sessions.iter().enumerate() {
            for (c, &count) in COUNTS.iter().enumerate() {
                times[b][c].push(run_at_once(&of_backend[..count])?);
            }
        }
    }
    println!(
        "{} cores; each session runs `{CELL}`; median of {rounds}",
        std::thread::available_parallelism()?.get()
    );
    println!("  backend      sessions   wall ms   loops/s   scaling");
    for (b, (name, _)) in backends.iter().enumerate() {
        let one = COUNTS[0] as f64 / median(&mut times[b][0]);
        for (c, &count) in COUNTS.iter().enumerate() {
            let wall = median(&mut times[b][c]);
            let rate = count as f64 / wall;
            println!(
                "  {name:<12} {count:>8} {:>9.0} {rate:>9.2} {:>8.2}x",
                wall * 1e3,
                rate / one
            );
        }
    }
    Ok(())
}

/// Runs the loop in every session at once; the wall time in seconds.
fn run_at_once(sessions: &[Arc<Session>]) -> Res<f64> {
    let start = Arc::new(Barrier::new(sessions.len() + 1));
    let threads: Vec<_> = sessions
        .iter()
        .map(|s| {
            let (s, start) = (s.clone(), start.clone());
            std::thread::spawn(move || -> Res<()> {
                start.wait();
                let r = s.execute(CELL)?;
                if !r.success() {
                    return Err(format!("the loop failed: {:?}", r.error).into());
                }
                Ok(())
            })
        })
        .collect();
    start.wait();
    let begun = Instant::now();
    for t in threads {
        t.join().map_err(|_| "a session thread panicked")??;
    }
    Ok(begun.elapsed().as_secs_f64())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
