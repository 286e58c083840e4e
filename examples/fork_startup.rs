//! Subprocess sessions forked from a fork server against spawned ones
//! (`fork_server(false)`), in one run: start to first result, the same with numpy and
//! pandas imported at start-up, back-to-back restarts, the execute round trip, and a
//! thousand sessions made one after another. One line per figure, median and 90th
//! percentile over N runs.
//!
//! `cargo run --release --example fork_startup [N]`: N (default 30) starts of each kind
//! measured, and N back-to-back restarts after a first one.
//!
//! Sessions run `/usr/bin/python3`; the numpy and pandas case runs `FORK_PYTHON`
//! (default `target/test-venv/bin/python`, which CI's `.ci/run` makes) and is left out,
//! saying so, when that does not exist. The forked starts keep an anchor session of the
//! same configuration alive, as a program that starts sessions now and then has: a fork
//! server lives while a session of its configuration does. Each figure also checks the
//! sessions: the value of `x`, and that forked ones were forked and spawned ones spawned,
//! so a run in which forking silently stopped fails.
//!
//! Spawned sessions keep their default warm spare, except in the start-to-first-result
//! figures: there, one start's spare would still be starting, on the same cores, while
//! the next start is measured.
use std::path::Path;
use std::time::{Duration, Instant};

use pysession::{Backend, ProcessOrigin, Session, SessionBuilder};

const PYTHON: &str = "/usr/bin/python3";
const VENV_PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-venv/bin/python");
/// Sessions made one after another, forked.
const MANY: usize = 1000;
/// Sessions made one after another, spawned: the thousand would take a minute.
const MANY_SPAWNED: usize = 50;
const ROUND_TRIPS: usize = 2000;

/// How a session gets its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Fork,
    Spawn,
}

const WAYS: [Way; 2] = [Way::Fork, Way::Spawn];

/// A session of `way`; spawned ones with their warm spare.
fn builder(way: Way, python: &str, startup: &str) -> SessionBuilder {
    Session::builder()
        .backend(Backend::Subprocess)
        .python_executable(python)
        .startup_code(startup)
        .fork_server(way == Way::Fork)
}

/// Fails loudly when `session` did not get its process the way it was to.
fn check_origin(session: &Session, way: Way) -> Result<(), pysession::Error> {
    let origin = session.python_info()?.process;
    match (way, &origin) {
        (Way::Fork, ProcessOrigin::Forked { .. }) => Ok(()),
        (
            Way::Spawn,
            ProcessOrigin::Spawned {
                not_forked_because: None,
            },
        ) => Ok(()),
        _ => panic!("a session made by {way:?} reports its process as {origin:?}"),
    }
}

/// Fails loudly when the session's `x` is not `expected`.
fn check_x(session: &Session, expected: &str) -> Result<(), pysession::Error> {
    let r = session.execute("x")?;
    assert_eq!(r.value.as_deref(), Some(expected), "{r:?}");
    Ok(())
}

/// Median and 90th percentile.
struct Spread {
    median: Duration,
    p90: Duration,
}

impl Spread {
    fn of(mut samples: Vec<Duration>) -> Spread {
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Spread {
            median: at(0.5),
            p90: at(0.9),
        }
    }

    fn ms(&self) -> String {
        format!(
            "{:.1} ms (p90 {:.1})",
            self.median.as_secs_f64() * 1e3,
            self.p90.as_secs_f64() * 1e3
        )
    }

    fn us(&self) -> String {
        format!(
            "{:.1} µs (p90 {:.1})",
            self.median.as_secs_f64() * 1e6,
            self.p90.as_secs_f64() * 1e6
        )
    }
}

fn main() -> Result<(), pysession::Error> {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30)
        .max(1);
    println!("fork server against spawn, {runs} runs each, {PYTHON} unless said");
    start_to_first_result(runs, PYTHON, "x = 1")?;
    let venv = std::env::var("FORK_PYTHON").unwrap_or_else(|_| VENV_PYTHON.into());
    if Path::new(&venv).is_file() {
        start_to_first_result(runs, &venv, "import numpy, pandas\nx = 1")?;
    } else {
        println!(
            "start to first result [import numpy, pandas]: skipped, no {venv} (set FORK_PYTHON \
             to a python with numpy and pandas)"
        );
    }
    restarts(runs)?;
    round_trips()?;
    many()?;
    Ok(())
}

/// (a), (b): a new session until its first result, `x`.
fn start_to_first_result(runs: usize, python: &str, startup: &str) -> Result<(), pysession::Error> {
    let mut figures = Vec::new();
    for way in WAYS {
        let make = || builder(way, python, startup).warm_spare(false).start();
        let anchor = match way {
            Way::Fork => Some(make()?),
            Way::Spawn => None,
        };
        let mut samples = Vec::with_capacity(runs);
        // One more than measured: the first pays for what is paid once.
        for run in 0..=runs {
            let begun = Instant::now();
            let s = make()?;
            let r = s.execute("x")?;
            let took = begun.elapsed();
            assert_eq!(r.value.as_deref(), Some("1"), "{r:?}");
            check_origin(&s, way)?;
            if run > 0 {
                samples.push(took);
            }
        }
        drop(anchor);
        figures.push(Spread::of(samples));
    }
    let case = startup.lines().next().unwrap_or_default();
    let which = if python == PYTHON {
        String::new()
    } else {
        format!(", {python}")
    };
    println!(
        "start to first result [{case}{which}]: fork {}, spawn (no warm spare) {}",
        figures[0].ms(),
        figures[1].ms()
    );
    Ok(())
}

/// (c): `restart()` back to back, each after the first timed; the session then has its
/// startup code's `x` and none of what ran before.
fn restarts(runs: usize) -> Result<(), pysession::Error> {
    let mut figures = Vec::new();
    for way in WAYS {
        let s = builder(way, PYTHON, "x = 1").start()?;
        s.execute("x = 2")?;
        let mut samples = Vec::with_capacity(runs);
        for run in 0..=runs {
            let begun = Instant::now();
            s.restart()?;
            if run > 0 {
                samples.push(begun.elapsed());
            }
        }
        check_x(&s, "1")?;
        check_origin(&s, way)?;
        figures.push(Spread::of(samples));
    }
    println!(
        "restart [back to back, {runs} after the first]: fork {}, spawn (warm spare on) {}",
        figures[0].ms(),
        figures[1].ms()
    );
    Ok(())
}

/// (d): the round trip of `execute("x = 1")` on a session that is already up, the two
/// sessions taking turns so that what else the machine does falls on both alike.
fn round_trips() -> Result<(), pysession::Error> {
    let sessions = WAYS
        .iter()
        .map(|&way| {
            let s = builder(way, PYTHON, "").warm_spare(false).start()?;
            check_origin(&s, way)?;
            Ok(s)
        })
        .collect::<Result<Vec<_>, pysession::Error>>()?;
    let mut samples = vec![Vec::with_capacity(ROUND_TRIPS); sessions.len()];
    // In blocks of a hundred calls, the first block not measured: it brings each
    // process's pages in.
    for block in 0..=ROUND_TRIPS / 100 {
        for (s, samples) in sessions.iter().zip(&mut samples) {
            for _ in 0..100 {
                let begun = Instant::now();
                let r = s.execute("x = 1")?;
                let took = begun.elapsed();
                assert!(r.success(), "{r:?}");
                if block > 0 {
                    samples.push(took);
                }
            }
        }
    }
    for s in &sessions {
        check_x(s, "1")?;
    }
    let figures: Vec<Spread> = samples.into_iter().map(Spread::of).collect();
    println!(
        "execute round trip [x = 1, {ROUND_TRIPS} calls, in turns]: fork {}, spawn {}",
        figures[0].us(),
        figures[1].us()
    );
    Ok(())
}

/// (e): `count` sessions made one after another and kept, then dropped; no session of
/// their configuration is alive before, so a fork server's start is part of it.
fn make_many(way: Way, count: usize) -> Result<(Duration, Duration), pysession::Error> {
    let begun = Instant::now();
    let mut sessions = Vec::with_capacity(count);
    for i in 0..count {
        let s = builder(way, PYTHON, "x = 1").start()?;
        s.execute(&format!("x = {i}"))?;
        sessions.push(s);
    }
    let made = begun.elapsed();
    for (i, s) in sessions.iter().enumerate().step_by(97) {
        check_x(s, &i.to_string())?;
        check_origin(s, way)?;
    }
    let dropping = Instant::now();
    drop(sessions);
    Ok((made, dropping.elapsed()))
}

fn many() -> Result<(), pysession::Error> {
    let (made, dropped) = make_many(Way::Fork, MANY)?;
    println!(
        "{MANY} sessions made one after another, one execute each: fork {:.2} s ({:.2} ms \
         each; dropping them took {:.2} s)",
        made.as_secs_f64(),
        made.as_secs_f64() * 1e3 / MANY as f64,
        dropped.as_secs_f64()
    );
    let (made, dropped) = make_many(Way::Spawn, MANY_SPAWNED)?;
    let each = made.as_secs_f64() / MANY_SPAWNED as f64;
    println!(
        "{MANY} sessions made one after another, one execute each: spawn {:.1} s EXTRAPOLATED \
         from {MANY_SPAWNED} made in {:.2} s ({:.1} ms each, with their warm spares; dropping \
         them took {:.2} s)",
        each * MANY as f64,
        made.as_secs_f64(),
        each * 1e3,
        dropped.as_secs_f64()
    );
    Ok(())
}
