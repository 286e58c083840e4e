//! How fast CPU-bound Python runs in each place this crate can run it: an embedded
//! session, the same interpreter driven through `pysession::pyo3` on the calling thread
//! with no session (the in-process limit), a subprocess session, and the plain
//! interpreter (`python -c`). The time is taken inside Python (`time.perf_counter_ns`
//! around each call), so the hand-off to the session is not in it: this compares
//! interpreters, not round trips.
//!
//! `cargo run --release --example cpu_speed [REPS] [PYTHON]`: REPS (default 100) timed
//! calls of each piece of code per case and round, over 10 rounds run in turn so that a
//! busy machine slows every case alike; PYTHON (default `/usr/bin/python3`) is what the
//! subprocess session and the plain interpreter run. One line per case: the median over
//! all calls, the lowest and highest round median, the median's ratio to the fastest
//! case's, and the same ratio for the best rounds (the figure least disturbed by other
//! work on the machine).
//!
//! An embedded interpreter runs the shared `libpython` the crate was built against
//! (`PYO3_PYTHON`), which need not be built like the `python` executable of the same
//! version: Debian's `/usr/bin/python3.11` has its own optimised copy linked in, and the
//! gap between the first two lines and the last two shows it.
use std::error::Error;
use std::process::Command;
use std::time::Duration;

use pysession::pyo3::prelude::*;
use pysession::pyo3::types::PyDict;
use pysession::{Backend, Session};

const DEFAULT_PYTHON: &str = "/usr/bin/python3";
const DEFAULT_REPS: usize = 100;
const ROUNDS: usize = 10;
/// Untimed calls before each case's timed ones in a round.
const WARMUP: usize = 10;

/// The code measured, the same text in every case. `_cs_time(name)` runs one piece
/// once and returns how long it took, in nanoseconds.
const SETUP: &str = r#"
import time

def _cs_loop():
    return sum(range(20000))

def _cs_dict():
    d = {}
    for i in range(1500):
        d['k%d' % (i % 500)] = d.get('k%d' % (i % 300), 0) + i
    return sum(d.values())

def _cs_str():
    words = ('alpha', 'beta', 'gamma', 'delta')
    out = []
    for i in range(800):
        w = words[i & 3]
        out.append(w.upper() + str(i) + w[::-1])
    return len('-'.join(out).split('-'))

_CS = {'loop': _cs_loop, 'dict': _cs_dict, 'str': _cs_str}

def _cs_time(name):
    f = _CS[name]
    t = time.perf_counter_ns()
    f()
    return time.perf_counter_ns() - t
"#;

/// What `python -c` runs after [`SETUP`]: every piece, warmed up, then timed
/// `sys.argv[1]` times, one line per piece.
const PLAIN_DRIVER: &str = r#"
import sys
_n = int(sys.argv[1])
for _name in _CS:
    for _ in range(int(sys.argv[2])):
        _cs_time(_name)
    print(_name, *[_cs_time(_name) for _ in range(_n)])
"#;

const BENCHES: [(&str, &str); 3] = [
    ("loop", "sum(range(20000))"),
    ("dict", "dict get/set, 1500 keys"),
    ("str", "str build, join, split"),
];

const CASES: [&str; 4] = [
    "(a) embedded session",
    "(b) pyo3 on this thread, no session",
    "(c) subprocess session",
    "(d) plain `python -c`",
];

type Res<T> = Result<T, Box<dyn Error>>;

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let reps = match args.next() {
        Some(n) => n
            .parse()
            .map_err(|e| format!("REPS must be a number, not {n:?}: {e}"))?,
        None => DEFAULT_REPS,
    };
    let python = args.next().unwrap_or_else(|| DEFAULT_PYTHON.to_string());

    let embedded = Session::builder()
        .timeout(Duration::from_secs(60))
        .start()?;
    let subprocess = Session::builder()
        .backend(Backend::Subprocess)
        .python_executable(&python)
        .timeout(Duration::from_secs(60))
        .start()?;
    for s in [&embedded, &subprocess] {
        expect_ok(s, SETUP)?;
    }
    let direct = Python::attach(|py| -> PyResult<Py<PyAny>> {
        let globals = PyDict::new(py);
        let setup = std::ffi::CString::new(SETUP)?;
        py.run(&setup, Some(&globals), None)?;
        Ok(globals
            .get_item("_cs_time")?
            .ok_or_else(|| pyo3_err("the setup code did not define _cs_time"))?
            .unbind())
    })?;

    let info = embedded.python_info()?;
    let sub_info = subprocess.python_info()?;
    println!(
        "embedded: Python {} from {}",
        info.version,
        info.libpython
            .as_deref()
            .map_or("the executable".into(), |p| p.display().to_string())
    );
    println!(
        "subprocess and plain: Python {} from {}",
        sub_info.version,
        sub_info.executable.display()
    );
    println!("{reps} calls per case and round, {ROUNDS} rounds; times in µs\n");

    // samples[case][bench]: every timed call; round_medians[case][bench]: each round's median.
    let mut samples = vec![vec![Vec::<u64>::new(); BENCHES.len()]; CASES.len()];
    let mut round_medians = vec![vec![Vec::<f64>::new(); BENCHES.len()]; CASES.len()];
    for _ in 0..ROUNDS {
        for case in 0..CASES.len() {
            let times = match case {
                0 => in_session(&embedded, reps)?,
                1 => in_process(&direct, reps)?,
                2 => in_session(&subprocess, reps)?,
                _ => in_plain_python(&python, reps)?,
            };
            for (b, t) in times.into_iter().enumerate() {
                round_medians[case][b].push(median(&t));
                samples[case][b].extend(t);
            }
        }
    }

    println!(
        "{:<40} {:>8}  {:>18}  {:>6}  {:>6}",
        "", "median", "[round medians]", "ratio", "best"
    );
    for (b, (_, title)) in BENCHES.iter().enumerate() {
        println!("{title}");
        let medians: Vec<f64> = (0..CASES.len()).map(|c| median(&samples[c][b])).collect();
        let best: Vec<f64> = (0..CASES.len())
            .map(|c| {
                round_medians[c][b]
                    .iter()
                    .copied()
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        let fastest = medians.iter().copied().fold(f64::INFINITY, f64::min);
        let fastest_best = best.iter().copied().fold(f64::INFINITY, f64::min);
        for (c, name) in CASES.iter().enumerate() {
            let hi = round_medians[c][b].iter().copied().fold(0.0, f64::max);
            println!(
                "  {name:<38} {:>8.1}  [{:>7.1} .. {hi:>7.1}]  {:>5.2}x  {:>5.2}x",
                medians[c],
                best[c],
                medians[c] / fastest,
                best[c] / fastest_best
            );
        }
        println!();
    }
    Ok(())
}

/// Each piece `reps` times through a session, one execute per call, as a user's cell
/// would run it.
fn in_session(session: &Session, reps: usize) -> Res<Vec<Vec<u64>>> {
    let mut out = Vec::new();
    for (name, _) in BENCHES {
        let code = format!("_cs_time('{name}')");
        for _ in 0..WARMUP {
            expect_ok(session, &code)?;
        }
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let value = expect_ok(session, &code)?;
            times.push(
                value
                    .parse()
                    .map_err(|e| format!("{code} gave {value:?}, not a number: {e}"))?,
            );
        }
        out.push(times);
    }
    Ok(out)
}

/// Each piece `reps` times, called from this thread with the interpreter attached.
fn in_process(time_fn: &Py<PyAny>, reps: usize) -> Res<Vec<Vec<u64>>> {
    Python::attach(|py| -> PyResult<Vec<Vec<u64>>> {
        let f = time_fn.bind(py);
        let mut out = Vec::new();
        for (name, _) in BENCHES {
            for _ in 0..WARMUP {
                f.call1((name,))?;
            }
            let mut times = Vec::with_capacity(reps);
            for _ in 0..reps {
                times.push(f.call1((name,))?.extract()?);
            }
            out.push(times);
        }
        Ok(out)
    })
    .map_err(Into::into)
}

/// Each piece `reps` times in a fresh `python -c`.
fn in_plain_python(python: &str, reps: usize) -> Res<Vec<Vec<u64>>> {
    let output = Command::new(python)
        .arg("-c")
        .arg(format!("{SETUP}{PLAIN_DRIVER}"))
        .arg(reps.to_string())
        .arg(WARMUP.to_string())
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{python} -c failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut out = Vec::new();
    for (name, _) in BENCHES {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .ok_or_else(|| format!("{python} printed no line for {name}: {stdout}"))?;
        let times = line
            .split_whitespace()
            .skip(1)
            .map(str::parse)
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|e| format!("{python} printed {line:?}: {e}"))?;
        out.push(times);
    }
    Ok(out)
}

/// Runs `code`, which must succeed, and returns its value (empty when it has none).
fn expect_ok(session: &Session, code: &str) -> Res<String> {
    let r = session.execute(code)?;
    match (&r.error, r.success()) {
        (_, true) => Ok(r.value.unwrap_or_default()),
        (Some(e), false) => Err(format!("{code}: {}: {}", e.type_name, e.message).into()),
        (None, false) => Err(format!("{code}: status {}", r.status).into()),
    }
}

fn pyo3_err(message: &str) -> PyErr {
    pysession::pyo3::exceptions::PyRuntimeError::new_err(message.to_string())
}

/// The median, in µs, of times in ns.
fn median(values: &[u64]) -> f64 {
    let mut v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let m = if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    };
    m / 1000.0
}
