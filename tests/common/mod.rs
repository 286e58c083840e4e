//! Shared helpers for the integration tests.
//!
//! Every test builds its sessions through [`session`] or [`builder`], so the whole suite
//! can be pointed at another backend by changing only this file (see
//! `PYSESSION_TEST_BACKEND`).
#![allow(dead_code)]

mod procfs;
// Not every test file reads /proc.
#[allow(unused_imports)]
pub use procfs::*;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use pysession::{Backend, ExecutionResult, Session, SessionBuilder, Status};

/// Grace period used by every test session: short, so stopped code is given up fast.
pub const GRACE: Duration = Duration::from_millis(300);
/// Extra time allowed on top of timeout + grace for a call to return.
pub const SLACK: Duration = Duration::from_secs(3);

/// The interpreter is process-wide, so each test needs a process of its own, which
/// cargo-nextest gives and `cargo test` does not: under `cargo test` the first test
/// that makes a session ends the run at once, with one line that says what to run.
fn require_process_per_test() {
    if std::env::var_os("NEXTEST_EXECUTION_MODE").is_some_and(|m| m == "process-per-test") {
        return;
    }
    // One line however many tests get here at once: the others wait on the lock
    // until the process is gone. Straight to the descriptor: the test harness captures
    // `eprintln!`, and the capture is lost when the process exits.
    use std::io::Write;
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _only = ONE.lock();
    let _ = writeln!(
        std::io::stderr(),
        "pysession's integration tests need a process per test: run `bash .ci/run` (installs \
         what they need, then runs everything) or `cargo nextest run`, not `cargo test`"
    );
    std::process::exit(2);
}

/// The backend the suite runs against: `PYSESSION_TEST_BACKEND`, default `embedded`;
/// `subprocess-spawn` is the subprocess backend with its fork server off.
pub fn backend() -> Backend {
    require_process_per_test();
    match std::env::var("PYSESSION_TEST_BACKEND") {
        Err(std::env::VarError::NotPresent) => Backend::Embedded,
        Ok(v) if v == "embedded" => Backend::Embedded,
        Ok(v) if v == "subprocess" || v == "subprocess-spawn" => Backend::Subprocess,
        #[cfg(feature = "subinterpreter")]
        Ok(v) if v == "subinterpreter" => Backend::Subinterpreter,
        other => panic!(
            "PYSESSION_TEST_BACKEND={other:?} is not supported by the test suite \
             (accepted: \"embedded\", \"subprocess\", \"subprocess-spawn\", and \
             \"subinterpreter\" with the feature of that name)"
        ),
    }
}

/// True when the suite runs against the sub-interpreter backend (feature
/// `subinterpreter`): in-process like the embedded backend, with an interpreter of
/// its own per session.
pub fn subinterpreter() -> bool {
    #[cfg(feature = "subinterpreter")]
    return backend() == Backend::Subinterpreter;
    #[cfg(not(feature = "subinterpreter"))]
    false
}

/// True when subprocess sessions spawn their processes (`subprocess-spawn`) rather
/// than fork them from a fork server.
pub fn spawned() -> bool {
    backend() == Backend::Subprocess
        && std::env::var("PYSESSION_TEST_BACKEND").is_ok_and(|v| v == "subprocess-spawn")
}

/// True when the suite runs against the subprocess backend.
pub fn subprocess() -> bool {
    backend() == Backend::Subprocess
}

/// The interpreter subprocess sessions run: `PYSESSION_TEST_PYTHON`, default the one
/// the crate is built against (Debian's `/usr/bin/python3` unless `PYO3_PYTHON` says
/// otherwise), so that both backends run the same Python.
pub fn test_python() -> PathBuf {
    std::env::var_os("PYSESSION_TEST_PYTHON")
        .map(PathBuf::from)
        .or(pysession::BuildPython::current().executable)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"))
}

/// A builder for the backend under test, with a short grace period.
pub fn builder() -> SessionBuilder {
    let b = Session::builder()
        .backend(backend())
        .grace_period(GRACE)
        .timeout(Duration::from_secs(30));
    if subprocess() {
        b.python_executable(test_python()).fork_server(!spawned())
    } else {
        b
    }
}

/// A started session with the test defaults.
pub fn session() -> Session {
    builder().start().expect("session should start")
}

/// Runs `code` and returns the result, panicking if the call itself fails.
#[track_caller]
pub fn run(s: &Session, code: &str) -> ExecutionResult {
    s.execute(code)
        .unwrap_or_else(|e| panic!("execute({code:?}) failed: {e}"))
}

/// Runs `code`, asserting it succeeded; returns the result.
#[track_caller]
pub fn ok(s: &Session, code: &str) -> ExecutionResult {
    let r = run(s, code);
    assert_eq!(r.status, Status::Ok, "code {code:?} should succeed: {r:#?}");
    assert!(r.success());
    assert!(r.error.is_none(), "{r:#?}");
    r
}

/// The value (repr of the last expression) of `code`, which must succeed.
#[track_caller]
pub fn value(s: &Session, code: &str) -> Option<String> {
    ok(s, code).value
}

/// Runs `code`, asserting it raised `type_name`; returns the result.
#[track_caller]
pub fn raises(s: &Session, code: &str, type_name: &str) -> ExecutionResult {
    let r = run(s, code);
    assert_eq!(
        r.status,
        Status::Error,
        "code {code:?} should raise: {r:#?}"
    );
    assert!(!r.success());
    let e = r.error.as_ref().expect("an error result has an error");
    assert_eq!(e.type_name, type_name, "{r:#?}");
    r
}

/// The session still works: `1 + 1` gives `2`.
#[track_caller]
pub fn assert_alive(s: &Session) {
    let r = s
        .execute_with_timeout("1 + 1", Duration::from_secs(30))
        .expect("session should still accept code");
    assert_eq!(r.status, Status::Ok, "{r:#?}");
    assert_eq!(r.value.as_deref(), Some("2"), "{r:#?}");
}

/// Calls `f` until it is no longer refused with [`pysession::Error::Busy`] (the
/// interpreter held by code that was given up on), for at most `within`; panics on any
/// other error. Returns what `f` gave and how many times it was refused.
#[track_caller]
pub fn until_not_busy<T>(
    within: Duration,
    mut f: impl FnMut() -> Result<T, pysession::Error>,
) -> (T, u32) {
    let begun = std::time::Instant::now();
    let mut refused = 0;
    loop {
        match f() {
            Ok(v) => return (v, refused),
            Err(pysession::Error::Busy(m)) if begun.elapsed() < within => {
                refused += 1;
                assert!(
                    m.contains("held by"),
                    "a Busy error says who holds the interpreter: {m}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("the call failed: {e}"),
        }
    }
}

/// A fresh, empty directory under the system temp dir, unique to this process and call.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("pysession-test-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// `dir` as the session should report it from `os.getcwd()`.
pub fn canonical(dir: &std::path::Path) -> String {
    std::fs::canonicalize(dir)
        .expect("canonicalize")
        .to_str()
        .expect("utf-8 path")
        .to_owned()
}

/// A Python string literal for `s` (repr-style, single quotes).
pub fn py_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The site-packages folder of the test virtual environment.
pub fn venv_site_packages() -> String {
    let out = std::process::Command::new(venv_python())
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .expect("run the test venv's python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("a UTF-8 path")
        .trim()
        .to_owned()
}

/// The `python` of the test virtual environment (`PYSESSION_TEST_VENV`), which `.ci/run`
/// makes with tomli_w, numpy, pandas, matplotlib and pillow in it.
pub fn venv_python() -> PathBuf {
    let venv = std::env::var("PYSESSION_TEST_VENV").unwrap_or_else(|_| {
        panic!(
            "PYSESSION_TEST_VENV is not set: run the suite through .ci/run, which makes a \
             virtual environment with tomli_w, numpy, pandas, matplotlib and pillow and \
             points PYSESSION_TEST_VENV at its python"
        )
    });
    let python = PathBuf::from(venv);
    if python.is_dir() {
        python.join("bin").join("python")
    } else {
        python
    }
}

/// A session that imports the test virtual environment's packages.
pub fn venv_session() -> Session {
    let python = venv_python();
    builder()
        .python_executable(&python)
        .start()
        .unwrap_or_else(|e| panic!("start with {}: {e}", python.display()))
}

/// Width and height from a PNG's header, after checking its signature and IHDR chunk.
#[track_caller]
pub fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24, "too short for a PNG: {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    assert_eq!(&png[12..16], b"IHDR", "no IHDR chunk first");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}
