//! Instructions per execute, counted by valgrind: the deterministic figure behind the
//! round-trip times of `cargo bench --bench sessions` (a timer on a shared machine moves
//! by tens of percent; an instruction count moves by a fraction of one).
//!
//! `cargo run --release --example execute_cost` runs this binary under
//! `valgrind --tool=cachegrind --cache-sim=no` twice per case, with a few and with many
//! calls, and prints the difference per call: what one more call costs, start-up and
//! interpreter set-up left out. It counts every thread of the process (the caller and
//! the session's worker), polls included. The cases: an embedded session's `execute`
//! of `x = 1`, of `1 + 1` (with its value) and of 1,000 prints, and the limits they are
//! compared with: the same code compiled and run on the calling thread through PyO3,
//! with no session, and the prints written into an `io.StringIO`.
//!
//! `execute_cost CASE COUNT` (what valgrind runs) makes COUNT calls of one case.
use std::error::Error;
use std::process::Command;

use pysession::pyo3::prelude::*;
use pysession::pyo3::types::PyDict;
use pysession::Session;

type Res<T> = Result<T, Box<dyn Error>>;

/// The cases: a name, the code, and whether it runs in a session (else on the calling
/// thread: run as a module, or for case 4 evaluated and its value's `repr` taken).
const CASES: [(&str, &str, bool); 6] = [
    ("execute(\"x = 1\")", "x = 1", true),
    ("execute(\"1 + 1\"), with its value", "1 + 1", true),
    ("execute: 1,000 prints", "for i in range(1000): print(i)", true),
    ("limit: exec(\"x = 1\") on this thread", "x = 1", false),
    ("limit: eval(\"1 + 1\") and its repr", "1 + 1", false),
    (
        "limit: 1,000 prints into a StringIO",
        "import io, contextlib\nwith contextlib.redirect_stdout(io.StringIO()):\n    for i in range(1000): print(i)",
        false,
    ),
];

/// Calls in the short and the long run of a case; the difference is what is counted.
const FEW: usize = 200;
const MANY: usize = 2200;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [case, count] = args.as_slice() {
        return run(case.parse()?, count.parse()?);
    }
    let me = std::env::current_exe()?;
    println!("instructions per call (valgrind cachegrind, {MANY} calls less {FEW})");
    for (i, (name, _, _)) in CASES.iter().enumerate() {
        let few = instructions(&me, i, FEW)?;
        let many = instructions(&me, i, MANY)?;
        let per_call = many.saturating_sub(few) as f64 / (MANY - FEW) as f64;
        println!("  {name:<44} {per_call:>12.0}");
    }
    Ok(())
}

/// Runs `count` calls of case `case`.
fn run(case: usize, count: usize) -> Res<()> {
    let (_, code, in_session) = *CASES.get(case).ok_or("no such case")?;
    if in_session {
        let session = Session::builder().start()?;
        for _ in 0..count {
            let r = session.execute(code)?;
            if !r.success() {
                return Err(format!("{code:?} failed: {:?}", r.error).into());
            }
        }
        return Ok(());
    }
    // A session brings the interpreter up, as in a program that has one; it stays idle.
    let _session = Session::builder().start()?;
    let code = std::ffi::CString::new(code)?;
    Python::attach(|py| -> PyResult<()> {
        let globals = PyDict::new(py);
        for _ in 0..count {
            if case == 4 {
                py.eval(&code, Some(&globals), None)?.repr()?;
            } else {
                py.run(&code, Some(&globals), None)?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// Instructions valgrind counted for `count` calls of case `case`, all threads.
fn instructions(me: &std::path::Path, case: usize, count: usize) -> Res<u64> {
    let out = Command::new("valgrind")
        .args(["--tool=cachegrind", "--cache-sim=no"])
        .arg("--cachegrind-out-file=/dev/null")
        .arg(me)
        .args([case.to_string(), count.to_string()])
        .output()
        .map_err(|e| {
            format!("valgrind cannot be run ({e}): install it (apt-get install valgrind)")
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("case {case} failed under valgrind:\n{stderr}").into());
    }
    // "==123== I   refs:      1,234,567"
    let line = stderr
        .lines()
        .find(|l| l.contains("I") && l.contains("refs:"))
        .ok_or_else(|| format!("no instruction count in valgrind's output:\n{stderr}"))?;
    let digits: String = line
        .rsplit(':')
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    Ok(digits.parse()?)
}
