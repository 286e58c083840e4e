//! The subprocess backend against a real interpreter: descriptor-level output, output
//! written after a call returned, timeouts, crashes, protocol violations, lifecycle,
//! leaks over many restarts, and the isolation options (working directory,
//! environment, memory and CPU limits).
//!
//! Every session here is a `Backend::Subprocess` session running
//! `common::test_python()`, whatever `PYSESSION_TEST_BACKEND` says.
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use pysession::{Backend, Error, ExecutionResult, Session, SessionBuilder, Status};

/// A subprocess builder with the test defaults (short grace period, 30 s timeout).
fn sub() -> SessionBuilder {
    builder()
        .backend(Backend::Subprocess)
        .python_executable(test_python())
}

/// A started subprocess session with the test defaults.
fn sub_session() -> Session {
    sub().start().expect("subprocess session should start")
}

/// A started subprocess session whose startup code sets `boot = 'yes'`.
fn booted_session() -> Session {
    sub()
        .startup_code("boot = 'yes'")
        .start()
        .expect("subprocess session should start")
}

fn timed(s: &Session, code: &str, timeout: Duration) -> (ExecutionResult, Duration) {
    let begun = Instant::now();
    let r = s.execute_with_timeout(code, timeout).expect("execute");
    (r, begun.elapsed())
}

/// The pid of the session's current child process.
#[track_caller]
fn child_pid(s: &Session) -> u32 {
    value(s, "import os\nos.getpid()")
        .expect("a pid")
        .parse()
        .expect("a numeric pid")
}

/// The message of a result's error, which must be there.
#[track_caller]
fn message(r: &ExecutionResult) -> &str {
    &r.error.as_ref().expect("the result says why").message
}

/// Asserts `r` is a restart and returns its message.
#[track_caller]
fn assert_restarted(r: &ExecutionResult) -> &str {
    assert_eq!(r.status, Status::Restarted, "{r:#?}");
    assert!(!r.success());
    let e = r.error.as_ref().expect("a restart says why");
    assert_eq!(e.type_name, "SessionRestarted", "{r:#?}");
    &e.message
}

/// After a crash: the session works in a fresh process whose startup code ran.
#[track_caller]
fn assert_fresh_after_crash(s: &Session, old_pid: u32) {
    assert_alive(s);
    assert_eq!(value(s, "boot").as_deref(), Some("'yes'"));
    raises(s, "before_crash", "NameError");
    let pid = child_pid(s);
    assert_ne!(pid, old_pid, "a fresh process runs the session");
    assert!(
        !Path::new(&format!("/proc/{old_pid}")).exists(),
        "the crashed child {old_pid} was reaped"
    );
}

/// Processes whose parent is this process, with their state letters.
fn our_children() -> Vec<(u32, char)> {
    children_of(std::process::id())
        .into_iter()
        .filter_map(|p| proc_stat(p).map(|(state, _)| (p, state)))
        .collect()
}

/// Running (not a zombie, not gone).
fn process_running(pid: u32) -> bool {
    match proc_stat(pid) {
        None => false,
        Some((state, _)) => state != 'Z' && state != 'X',
    }
}

// ---------------------------------------------------------------------------------
// 1. Descriptor-level output
// ---------------------------------------------------------------------------------

#[test]
fn os_write_to_fd1_is_stdout_of_its_execute() {
    let s = sub_session();
    let r = ok(&s, "import os\nos.write(1, b'fd-out\\n')");
    assert_eq!(r.stdout, "fd-out\n", "{r:#?}");
    assert_eq!(r.stderr, "", "{r:#?}");
    assert_alive(&s);
}

#[test]
fn os_write_to_fd2_is_stderr_of_its_execute() {
    let s = sub_session();
    let r = ok(&s, "import os\n_ = os.write(2, b'fd-err\\n')");
    assert_eq!(r.stderr, "fd-err\n", "{r:#?}");
    assert_eq!(r.stdout, "", "{r:#?}");
    assert_alive(&s);
}

#[test]
fn child_process_output_is_captured_per_stream() {
    let s = sub_session();
    let r = ok(
        &s,
        "import subprocess\n_ = subprocess.run(['echo', 'from-child'])",
    );
    assert_eq!(r.stdout, "from-child\n", "{r:#?}");
    assert_eq!(r.stderr, "", "{r:#?}");
    let r = ok(
        &s,
        "import subprocess\n_ = subprocess.run(['sh', '-c', 'echo child-err >&2'])",
    );
    assert_eq!(r.stderr, "child-err\n", "{r:#?}");
    assert_eq!(r.stdout, "", "{r:#?}");
    assert_alive(&s);
}

#[test]
fn c_level_printf_is_captured() {
    let s = sub_session();
    let r = ok(
        &s,
        "import ctypes\n_ = ctypes.CDLL(None).printf(b'from-c\\n')\n_ = ctypes.CDLL(None).fflush(None)",
    );
    assert_eq!(r.stdout, "from-c\n", "{r:#?}");
    assert_eq!(r.stderr, "", "{r:#?}");
    assert_alive(&s);
}

#[test]
fn descriptor_output_is_in_order_with_python_prints() {
    let s = sub_session();
    let r = ok(
        &s,
        "import os\nprint('a'); os.write(1, b'b\\n'); print('c')",
    );
    assert_eq!(r.stdout, "a\nb\nc\n", "{r:#?}");

    let r = ok(
        &s,
        "import subprocess, sys\n\
         print('one')\n\
         subprocess.run(['echo', 'two'])\n\
         print('three')",
    );
    assert_eq!(r.stdout, "one\ntwo\nthree\n", "{r:#?}");

    let r = ok(
        &s,
        "import ctypes\n\
         libc = ctypes.CDLL(None)\n\
         print('x')\n\
         libc.printf(b'y\\n'); libc.fflush(None)\n\
         print('z')",
    );
    assert_eq!(r.stdout, "x\ny\nz\n", "{r:#?}");

    let r = ok(
        &s,
        "import os, sys\n\
         print('e1', file=sys.stderr)\n\
         os.write(2, b'e2\\n')\n\
         print('e3', file=sys.stderr)\n\
         print('o1')",
    );
    assert_eq!(r.stderr, "e1\ne2\ne3\n", "{r:#?}");
    assert_eq!(r.stdout, "o1\n", "{r:#?}");
    assert_alive(&s);
}

#[test]
fn descriptor_output_stays_with_the_execute_that_wrote_it() {
    let s = sub_session();
    let first = ok(&s, "import os\n_ = os.write(1, b'first\\n')");
    let second = ok(&s, "_ = os.write(1, b'second\\n')");
    let third = ok(&s, "x = 1");
    assert_eq!(first.stdout, "first\n", "{first:#?}");
    assert_eq!(second.stdout, "second\n", "{second:#?}");
    assert_eq!(third.stdout, "", "{third:#?}");
    for r in [&first, &second, &third] {
        assert_eq!(r.background_stdout, "", "{r:#?}");
    }
    assert_alive(&s);
}

// ---------------------------------------------------------------------------------
// 2. Output written after an execute returned
// ---------------------------------------------------------------------------------

#[test]
fn late_descriptor_output_goes_to_background_of_next_call() {
    let s = sub_session();
    let r = ok(
        &s,
        "import os, threading, time\n\
         def late():\n\
         \x20   time.sleep(0.2)\n\
         \x20   os.write(1, b'late-out\\n')\n\
         \x20   os.write(2, b'late-err\\n')\n\
         threading.Thread(target=late).start()",
    );
    assert_eq!(r.stdout, "", "{r:#?}");
    std::thread::sleep(Duration::from_millis(500));
    let next = ok(&s, "print('next')");
    assert_eq!(next.stdout, "next\n", "{next:#?}");
    assert_eq!(next.background_stdout, "late-out\n", "{next:#?}");
    assert_eq!(next.background_stderr, "late-err\n", "{next:#?}");
    assert_eq!(next.stderr, "", "{next:#?}");
    // Delivered once.
    let after = ok(&s, "1");
    assert_eq!(after.background_stdout, "", "{after:#?}");
    assert_eq!(after.background_stderr, "", "{after:#?}");
    assert_alive(&s);
}

// ---------------------------------------------------------------------------------
// 3. Timeouts
// ---------------------------------------------------------------------------------

#[test]
fn timeout_interrupts_sleep_and_keeps_state() {
    let s = sub_session();
    ok(&s, "kept = 'yes'");
    let pid = child_pid(&s);
    let timeout = Duration::from_millis(300);
    let (r, took) = timed(&s, "import time\nprint('before')\ntime.sleep(100)", timeout);
    assert_eq!(r.status, Status::Timeout, "{r:#?}");
    assert!(took < timeout + GRACE + SLACK, "{took:?}");
    assert!(message(&r).contains("timeout"), "{r:#?}");
    assert_eq!(r.stdout, "before\n", "{r:#?}");
    assert_eq!(value(&s, "kept").as_deref(), Some("'yes'"));
    assert_eq!(child_pid(&s), pid, "same process: state kept");
    assert_alive(&s);
}

#[test]
fn timeout_interrupts_blocking_pipe_read_and_keeps_state() {
    let s = sub_session();
    ok(&s, "kept = 'yes'");
    let pid = child_pid(&s);
    let timeout = Duration::from_millis(300);
    let (r, took) = timed(&s, "import os\nr, w = os.pipe()\nos.read(r, 1)", timeout);
    assert_eq!(r.status, Status::Timeout, "{r:#?}");
    assert!(took < timeout + GRACE + SLACK, "{took:?}");
    assert_eq!(value(&s, "kept").as_deref(), Some("'yes'"));
    // The pipe made before the read is still there: the code ran up to the read.
    assert_eq!(value(&s, "isinstance(r, int)").as_deref(), Some("True"));
    assert_eq!(child_pid(&s), pid, "same process: state kept");
    assert_alive(&s);
}

#[test]
fn code_ignoring_sigint_is_killed_and_session_restarts() {
    let s = booted_session();
    ok(&s, "before_crash = 1");
    let pid = child_pid(&s);
    let timeout = Duration::from_millis(300);
    let (r, took) = timed(
        &s,
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('spinning')\nwhile True: pass",
        timeout,
    );
    let msg = assert_restarted(&r);
    assert!(msg.contains("grace"), "{r:#?}");
    assert_eq!(r.stdout, "spinning\n", "output so far is kept: {r:#?}");
    assert!(took < timeout + GRACE + SLACK, "{took:?}");
    assert!(s.is_running());
    assert_fresh_after_crash(&s, pid);
}

// ---------------------------------------------------------------------------------
// 4. Crashes
// ---------------------------------------------------------------------------------

#[test]
fn os_exit_restarts_the_session() {
    let s = booted_session();
    ok(&s, "before_crash = 1\nboot = 'changed'");
    let pid = child_pid(&s);
    let r = run(&s, "import os\nprint('last words')\nos._exit(1)");
    let msg = assert_restarted(&r);
    assert!(msg.contains("exit status 1"), "{r:#?}");
    assert_eq!(r.stdout, "last words\n", "{r:#?}");
    assert_fresh_after_crash(&s, pid);
}

#[test]
fn segfault_restarts_the_session() {
    let s = booted_session();
    ok(&s, "before_crash = 1\nboot = 'changed'");
    let pid = child_pid(&s);
    let r = run(&s, "import ctypes\nctypes.string_at(0)");
    let msg = assert_restarted(&r);
    assert!(msg.contains("SIGSEGV"), "{r:#?}");
    assert_fresh_after_crash(&s, pid);
}

#[test]
fn child_killed_from_outside_restarts_the_session() {
    let s = std::sync::Arc::new(booted_session());
    ok(&s, "before_crash = 1\nboot = 'changed'");
    let pid = child_pid(&s);
    let dir = temp_dir("sigkill");
    let flag = dir.join("sleeping");
    let code = format!(
        "import time\nopen({}, 'w').close()\ntime.sleep(10)",
        py_str(flag.to_str().expect("utf-8 path"))
    );
    let runner = {
        let s = s.clone();
        std::thread::spawn(move || {
            let begun = Instant::now();
            let r = s
                .execute_with_timeout(&code, Duration::from_secs(30))
                .expect("execute");
            (r, begun.elapsed())
        })
    };
    assert!(
        wait_for(Duration::from_secs(10), || flag.exists()),
        "the code started sleeping"
    );
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let (r, took) = runner.join().expect("runner thread");
    let msg = assert_restarted(&r);
    assert!(msg.contains("SIGKILL"), "{r:#?}");
    // It returned because the process died, not at the end of the sleep.
    assert!(took < Duration::from_secs(9), "{took:?}");
    assert_fresh_after_crash(&s, pid);
}

// ---------------------------------------------------------------------------------
// 5. Protocol violations
// ---------------------------------------------------------------------------------

/// User code writes `garbage` to the reply descriptor: the call ends as a protocol
/// violation and the next one runs in a fresh process.
fn assert_protocol_violation(garbage: &str) {
    let s = booted_session();
    ok(&s, "before_crash = 1");
    let pid = child_pid(&s);
    let timeout = Duration::from_secs(5);
    let (r, took) = timed(&s, &format!("import os\nos.write(4, {garbage})"), timeout);
    let msg = assert_restarted(&r);
    assert!(msg.contains("protocol"), "{r:#?}");
    assert!(took < timeout + GRACE + SLACK, "{took:?}");
    assert_fresh_after_crash(&s, pid);
}

#[test]
fn oversized_reply_frame_is_a_protocol_violation() {
    assert_protocol_violation("b'\\xff\\xff\\xff\\x7fgarbage'");
}

#[test]
fn invalid_json_reply_is_a_protocol_violation() {
    assert_protocol_violation("(7).to_bytes(4, 'little') + b'garbage'");
}

#[test]
fn truncated_reply_frame_never_hangs_the_call() {
    // A frame header promising more than is ever written: the real reply that follows
    // is swallowed into it. The call must see the broken protocol (not wait out its
    // timeout), and the session must work afterwards.
    let s = booted_session();
    ok(&s, "before_crash = 1");
    let timeout = Duration::from_secs(20);
    let (r, took) = timed(
        &s,
        "import os\nos.write(4, (100000).to_bytes(4, 'little') + b'{\"id\":')",
        timeout,
    );
    let msg = assert_restarted(&r);
    assert!(msg.contains("protocol"), "{r:#?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_alive(&s);
    assert_eq!(value(&s, "boot").as_deref(), Some("'yes'"));
    raises(&s, "before_crash", "NameError");
}

// ---------------------------------------------------------------------------------
// 6. Lifecycle
// ---------------------------------------------------------------------------------

/// Makes the session's process ignore SIGINT and SIGTERM, with a non-daemon thread
/// that never ends (so the interpreter cannot exit by itself) and a grandchild
/// process. Returns (child pid, grandchild pid).
fn make_stubborn(s: &Session) -> (u32, u32) {
    let pid = child_pid(s);
    ok(
        s,
        "import signal, subprocess, threading, time\n\
         signal.signal(signal.SIGINT, signal.SIG_IGN)\n\
         signal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
         def spin():\n\
         \x20   while True:\n\
         \x20       time.sleep(0.01)\n\
         threading.Thread(target=spin).start()\n\
         grandchild = subprocess.Popen(['sleep', '1000'])",
    );
    let grandchild: u32 = value(s, "grandchild.pid")
        .expect("a pid")
        .parse()
        .expect("numeric pid");
    assert!(process_running(pid));
    assert!(process_running(grandchild));
    (pid, grandchild)
}

#[test]
fn stop_ends_and_reaps_a_stubborn_child_in_bounded_time() {
    let s = sub_session();
    let (pid, grandchild) = make_stubborn(&s);
    let begun = Instant::now();
    s.stop().expect("stop");
    let took = begun.elapsed();
    assert!(took < GRACE + Duration::from_secs(2), "{took:?}");
    assert!(!s.is_running());
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the child {pid} is gone and reaped after stop: {:?}",
        proc_stat(pid)
    );
    assert!(
        wait_for(Duration::from_secs(2), || !process_running(grandchild)),
        "the grandchild {grandchild} of the session was killed with its group"
    );
    assert!(matches!(s.execute("1"), Err(Error::NotRunning)));
    // And it may start again.
    s.start().expect("start again");
    assert_alive(&s);
}

#[test]
fn drop_ends_and_reaps_a_stubborn_child_in_bounded_time() {
    let s = sub_session();
    let (pid, grandchild) = make_stubborn(&s);
    let begun = Instant::now();
    drop(s);
    let took = begun.elapsed();
    assert!(took < GRACE + Duration::from_secs(2), "{took:?}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the child {pid} is gone and reaped after drop: {:?}",
        proc_stat(pid)
    );
    assert!(
        wait_for(Duration::from_secs(2), || !process_running(grandchild)),
        "the grandchild {grandchild} of the session was killed with its group"
    );
}

#[test]
fn restart_repeatedly_gives_fresh_state_with_startup_code() {
    let s = booted_session();
    let mut pids = BTreeSet::new();
    for i in 0..5 {
        ok(&s, &format!("x = {i}\nboot = 'changed'"));
        pids.insert(child_pid(&s));
        s.restart().expect("restart");
        assert!(s.is_running());
        raises(&s, "x", "NameError");
        assert_eq!(value(&s, "boot").as_deref(), Some("'yes'"));
        assert_alive(&s);
    }
    pids.insert(child_pid(&s));
    assert_eq!(pids.len(), 6, "each restart runs a new process: {pids:?}");
    // The old processes are gone (killed in the background: allow a moment).
    let last = child_pid(&s);
    for &pid in pids.iter().filter(|&&p| p != last) {
        assert!(
            wait_for(Duration::from_secs(2), || !Path::new(&format!(
                "/proc/{pid}"
            ))
            .exists()),
            "old child {pid} still exists: {:?}",
            proc_stat(pid)
        );
    }
}

#[test]
fn restart_after_stop_is_not_running_and_start_again_works() {
    let s = booted_session();
    s.stop().expect("stop");
    assert!(matches!(s.restart(), Err(Error::NotRunning)));
    assert!(matches!(s.stop(), Err(Error::NotRunning)));
    s.start().expect("start");
    assert!(matches!(s.start(), Err(Error::AlreadyRunning)));
    assert_eq!(value(&s, "boot").as_deref(), Some("'yes'"));
}

// ---------------------------------------------------------------------------------
// 7. No leaks after many restarts
// ---------------------------------------------------------------------------------

/// About 25 ms each on a 2-core CI machine (the warm spare is already up): about 25 s.
const RESTARTS: usize = 1000;

/// Counts this process's descriptors and children, so it needs a process of its own
/// (`cargo nextest`, as CI runs the suite).
#[test]
fn many_restarts_leak_no_descriptors_zombies_or_orphans() {
    let fds_before = open_fds();
    let children_before = our_children();
    assert!(children_before.is_empty(), "{children_before:?}");

    let s = booted_session();
    // Known by pid and start time: a pid that another test's process takes over later
    // (pids wrap at 32768 here) is not one of ours.
    let lifetime = |pid: u32| Lifetime::of(pid).expect("the session's process exists");
    let mut pids = BTreeSet::new();
    pids.insert(lifetime(child_pid(&s)));
    let begun = Instant::now();
    for i in 0..RESTARTS {
        s.restart()
            .unwrap_or_else(|e| panic!("restart {i} failed: {e}"));
        let r = run(&s, "import os\nos.getpid()");
        assert_eq!(r.status, Status::Ok, "after restart {i}: {r:#?}");
        pids.insert(lifetime(
            r.value.expect("pid").parse::<u32>().expect("numeric pid"),
        ));
    }
    let took = begun.elapsed();
    eprintln!(
        "{RESTARTS} restarts + executes took {took:?} ({:?} each)",
        took / RESTARTS as u32
    );
    assert_eq!(pids.len(), RESTARTS + 1, "each restart runs a new process");

    s.stop().expect("stop");

    // Children killed in the background (old incarnations, the warm spare) are reaped
    // within a short time.
    let settled = wait_for(Duration::from_secs(2), || our_children().is_empty());
    let remaining = our_children();
    let zombies: Vec<_> = remaining.iter().filter(|(_, st)| *st == 'Z').collect();
    assert!(zombies.is_empty(), "zombie children remain: {zombies:?}");
    assert!(settled, "children remain after stop: {remaining:?}");

    let orphans: Vec<Lifetime> = pids.iter().copied().filter(Lifetime::running).collect();
    assert!(
        orphans.is_empty(),
        "session processes still exist: {orphans:?}"
    );

    let mut fds_after = open_fds();
    wait_for(Duration::from_secs(2), || {
        fds_after = open_fds();
        fds_after <= fds_before + 5
    });
    assert!(
        fds_after <= fds_before + 5,
        "descriptors: {fds_before} before, {fds_after} after"
    );
}

// ---------------------------------------------------------------------------------
// 8. Isolation options
// ---------------------------------------------------------------------------------

#[test]
fn working_directory_is_the_process_cwd() {
    let dir = temp_dir("subcwd");
    std::fs::write(dir.join("data.txt"), "relative-content").expect("write file");
    let host_cwd = std::env::current_dir().expect("cwd");
    let s = sub().working_directory(&dir).start().expect("start");
    let want = format!("'{}'", canonical(&dir));
    assert_eq!(value(&s, "import os\nos.getcwd()"), Some(want.clone()));
    assert_eq!(
        value(&s, "os.readlink('/proc/self/cwd')"),
        Some(want.clone()),
        "the process itself is in the directory"
    );
    assert_eq!(
        value(&s, "open('data.txt').read()").as_deref(),
        Some("'relative-content'")
    );
    // A relative path in a child process of the session resolves there too.
    let r = ok(
        &s,
        "import subprocess\n_ = subprocess.run(['cat', 'data.txt'])",
    );
    assert_eq!(r.stdout, "relative-content", "{r:#?}");
    assert_eq!(std::env::current_dir().expect("cwd"), host_cwd);
    // chdir moves only the child; restart comes back.
    ok(&s, "os.chdir('/')");
    assert_eq!(std::env::current_dir().expect("cwd"), host_cwd);
    s.restart().expect("restart");
    assert_eq!(value(&s, "import os\nos.getcwd()"), Some(want));
    assert_alive(&s);
}

#[test]
fn env_adds_a_variable_to_the_child_only() {
    let s = sub()
        .env("PYSESSION_TEST_VAR", "42")
        .start()
        .expect("start");
    assert_eq!(
        value(&s, "import os\nos.environ.get('PYSESSION_TEST_VAR')").as_deref(),
        Some("'42'")
    );
    // The rest of the environment is inherited.
    if std::env::var_os("PATH").is_some() {
        assert_eq!(value(&s, "'PATH' in os.environ").as_deref(), Some("True"));
    }
    assert!(std::env::var_os("PYSESSION_TEST_VAR").is_none());
    // Kept over a restart.
    s.restart().expect("restart");
    assert_eq!(
        value(&s, "import os\nos.environ.get('PYSESSION_TEST_VAR')").as_deref(),
        Some("'42'")
    );
}

#[test]
fn env_clear_leaves_only_the_given_variables() {
    let s = sub().env_clear().env("ONLY", "1").start().expect("start");
    let keys = value(&s, "import os\nsorted(os.environ)").expect("keys");
    assert_eq!(
        value(&s, "os.environ.get('ONLY')").as_deref(),
        Some("'1'"),
        "{keys}"
    );
    assert_eq!(
        value(&s, "'PATH' in os.environ").as_deref(),
        Some("False"),
        "{keys}"
    );
    assert_eq!(
        value(&s, "'HOME' in os.environ").as_deref(),
        Some("False"),
        "{keys}"
    );
    // Nothing but ONLY and what Python itself may set for its locale.
    assert_eq!(
        value(
            &s,
            "sorted(set(os.environ) - {'ONLY', 'LC_CTYPE', 'LC_ALL', 'LANG'})"
        )
        .as_deref(),
        Some("[]"),
        "{keys}"
    );
    assert_alive(&s);
}

/// `Max address space` of this process, from /proc/self/limits.
fn host_address_space_limit() -> String {
    std::fs::read_to_string("/proc/self/limits")
        .expect("read limits")
        .lines()
        .find(|l| l.starts_with("Max address space"))
        .expect("address space line")
        .to_owned()
}

#[test]
fn memory_limit_gives_memory_error_and_spares_the_host() {
    let host_before = host_address_space_limit();
    let limit: u64 = 512 << 20;
    let s = sub().memory_limit(limit).start().expect("start");
    assert_eq!(
        value(
            &s,
            "import resource\nresource.getrlimit(resource.RLIMIT_AS)"
        ),
        Some(format!("({limit}, {limit})"))
    );
    ok(&s, "kept = 'yes'");
    let r = run(&s, "x = bytearray(2 << 30)");
    eprintln!("bytearray(2 GiB) under a 512 MiB limit: {r:#?}");
    match r.status {
        Status::Error => {
            let e = r.error.as_ref().expect("error");
            assert_eq!(e.type_name, "MemoryError", "{r:#?}");
            assert_eq!(value(&s, "kept").as_deref(), Some("'yes'"));
        }
        Status::Restarted => {}
        other => panic!("expected MemoryError or a restart, got {other:?}: {r:#?}"),
    }
    // The host is unaffected: its own limit is unchanged and it can allocate freely.
    assert_eq!(host_address_space_limit(), host_before);
    let big = vec![1u8; 600 << 20];
    assert_eq!((big[0], big[big.len() / 2], big[big.len() - 1]), (1, 1, 1));
    drop(big);
    assert_alive(&s);
}

#[test]
fn cpu_time_limit_kills_a_busy_loop_and_restarts() {
    let s = sub()
        .startup_code("boot = 'yes'")
        .cpu_time_limit(Duration::from_secs(1))
        .start()
        .expect("start");
    ok(&s, "before_crash = 1");
    let pid = child_pid(&s);
    let timeout = Duration::from_secs(10);
    let (r, took) = timed(&s, "while True: pass", timeout);
    let msg = assert_restarted(&r);
    assert!(
        msg.contains("SIGXCPU") || msg.contains("CPU"),
        "the message should say the CPU time limit was hit: {r:#?}"
    );
    assert!(took < timeout + GRACE + SLACK, "{took:?}");
    assert_fresh_after_crash(&s, pid);
}

// ---------------------------------------------------------------------------------
// 9-10. Configuration errors
// ---------------------------------------------------------------------------------

#[test]
fn embedded_backend_refuses_subprocess_only_options() {
    let attempts: [(&str, SessionBuilder); 4] = [
        ("env", Session::builder().env("A", "1")),
        ("env_clear", Session::builder().env_clear()),
        ("memory_limit", Session::builder().memory_limit(1 << 30)),
        (
            "cpu_time_limit",
            Session::builder().cpu_time_limit(Duration::from_secs(5)),
        ),
    ];
    for (what, builder) in attempts {
        match builder.backend(Backend::Embedded).start() {
            Err(Error::Config(msg)) => {
                assert!(msg.contains("Subprocess"), "{what}: {msg}")
            }
            Err(e) => panic!("{what}: expected Error::Config, got {e:?}"),
            Ok(_) => panic!("{what}: the embedded backend accepted a subprocess-only option"),
        }
    }
}

#[test]
fn missing_python_executable_is_not_found() {
    for path in [
        "/nonexistent/dir/python3",
        "pysession-no-such-python-anywhere",
    ] {
        let e = Session::builder()
            .backend(Backend::Subprocess)
            .python_executable(path)
            .start()
            .expect_err("a missing interpreter cannot start");
        assert!(matches!(e, Error::NotFound { .. }), "{path}: {e:?}");
        let text = e.to_string();
        assert!(text.contains("not found"), "{path}: {text}");
        assert!(text.contains(path), "{path}: {text}");
    }
}

#[test]
fn a_child_that_died_between_requests_is_named_so_and_the_code_did_not_run() {
    let s = booted_session();
    ok(&s, "before_crash = 1");
    let old_pid = child_pid(&s);
    ok(
        &s,
        "import os, threading\nthreading.Timer(0.1, lambda: os.kill(os.getpid(), 9)).start()",
    );
    // Until it is a zombie whose threads are all gone (the leader shows `Z` while its
    // other threads, which still hold its descriptors, finish dying): dead, and not yet
    // reaped by the session.
    let all_gone =
        || std::fs::read_dir(format!("/proc/{old_pid}/task")).map_or(0, |d| d.count()) <= 1;
    assert!(
        wait_for(Duration::from_secs(10), || proc_stat(old_pid)
            .is_some_and(|(state, _)| state == 'Z')
            && all_gone()),
        "the child {old_pid} did not die: {:?}",
        proc_stat(old_pid)
    );
    let r = run(&s, "ran = True");
    let m = assert_restarted(&r);
    assert!(m.contains("had ended before this code was sent"), "{m}");
    assert!(m.contains("SIGKILL"), "{m}");
    assert!(!m.contains("while running"), "{m}");
    raises(&s, "ran", "NameError");
    assert_fresh_after_crash(&s, old_pid);
}

/// Starts a process in a session of its own (`os.setsid()`, out of the child's
/// process group) and one more below it; returns both pids.
fn escaped_grandchildren(s: &Session) -> (u32, u32) {
    ok(
        s,
        "import subprocess\n\
         escaped = subprocess.Popen(['sh', '-c', 'sleep 1000 & wait'], start_new_session=True)",
    );
    let escaped: u32 = value(s, "escaped.pid").expect("pid").parse().expect("pid");
    let below = wait_for(Duration::from_secs(5), || !children_of(escaped).is_empty());
    assert!(below, "the escaped shell started its sleep");
    let below = children_of(escaped)[0];
    assert!(process_running(escaped) && process_running(below));
    (escaped, below)
}

#[test]
fn processes_that_left_the_session_group_end_at_restart_and_at_stop() {
    let s = booted_session();
    let (escaped, below) = escaped_grandchildren(&s);
    ok(&s, "before_restart = 1");
    s.restart().expect("restart");
    for pid in [escaped, below] {
        assert!(
            wait_for(Duration::from_secs(3), || !process_running(pid)),
            "{pid} outlived the restart: {:?}",
            proc_stat(pid)
        );
    }
    raises(&s, "before_restart", "NameError");
    let (escaped, below) = escaped_grandchildren(&s);
    s.stop().expect("stop");
    for pid in [escaped, below] {
        assert!(
            wait_for(Duration::from_secs(3), || !process_running(pid)),
            "{pid} outlived the stop: {:?}",
            proc_stat(pid)
        );
    }
    s.start().expect("start again");
    assert_alive(&s);
}

#[test]
fn a_blocked_sigint_does_not_turn_the_next_timeouts_into_restarts() {
    let s = sub_session();
    ok(
        &s,
        "import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\nkept = 1",
    );
    let (r, _) = timed(&s, "while True:\n    pass", Duration::from_millis(200));
    assert_eq!(r.status, Status::Timeout, "{r:#?}");
    assert_eq!(value(&s, "kept").as_deref(), Some("1"));
    assert_alive(&s);
}

#[test]
fn a_file_that_takes_descriptor_1_never_receives_the_hosts_markers() {
    let s = sub_session();
    let dir = temp_dir("fd1");
    let path = dir.join("mine.txt");
    ok(
        &s,
        &format!(
            "import os\nos.close(1)\nf = open({}, 'w')\nassert f.fileno() == 1",
            py_str(path.to_str().unwrap())
        ),
    );
    ok(&s, "f.write('mine')\nf.flush()");
    ok(&s, "f.close()");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read the file"),
        "mine"
    );
    assert_alive(&s);
}

#[test]
fn the_marker_token_is_not_left_where_the_users_code_looks() {
    let s = sub_session();
    let left = value(
        &s,
        "import sys\nm = sys.modules['__main__']\n\
         sorted(k for k, v in vars(m).items() if isinstance(v, (str, bytes)) and not k.startswith('__'))",
    );
    assert_eq!(left.as_deref(), Some("[]"));
    assert_alive(&s);
}
