//! Starting, stopping, restarting and dropping sessions; configuration errors.
mod common;

use std::time::{Duration, Instant};

use common::*;
use pysession::{Error, Session, Status};

#[test]
fn session_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Session>();
}

#[test]
fn started_session_runs_and_stop_ends_it() {
    let s = builder().start().expect("start");
    assert!(s.is_running());
    assert_eq!(value(&s, "x = 1\nx").as_deref(), Some("1"));
    s.stop().expect("stop");
    assert!(!s.is_running());
}

#[test]
fn start_after_stop_runs_again_with_fresh_state() {
    let s = session();
    ok(&s, "leftover = 123");
    s.stop().expect("stop");
    assert!(!s.is_running());
    s.start().expect("start again");
    assert!(s.is_running());
    let r = raises(&s, "leftover", "NameError");
    assert!(r.error.unwrap().message.contains("leftover"));
    assert_alive(&s);
}

#[test]
fn start_on_running_session_is_already_running() {
    let s = session();
    ok(&s, "keep = 7");
    match s.start() {
        Err(Error::AlreadyRunning) => {}
        other => panic!("expected Err(AlreadyRunning), got {other:?}"),
    }
    // The running session was not disturbed.
    assert!(s.is_running());
    assert_eq!(value(&s, "keep").as_deref(), Some("7"));
    assert_alive(&s);
}

#[test]
fn restart_forgets_names_defined_before() {
    let s = session();
    ok(&s, "forgotten = 'here'\ndef helper():\n    return 1");
    s.restart().expect("restart");
    assert!(s.is_running());
    let r = raises(&s, "forgotten", "NameError");
    assert_eq!(r.status, Status::Error);
    raises(&s, "helper()", "NameError");
    assert_alive(&s);
}

#[test]
fn startup_code_runs_at_start_and_after_every_restart() {
    let s = builder().startup_code("x = 10").start().expect("start");
    assert_eq!(value(&s, "x").as_deref(), Some("10"));
    ok(&s, "x = 999");
    assert_eq!(value(&s, "x").as_deref(), Some("999"));
    s.restart().expect("restart");
    assert_eq!(value(&s, "x").as_deref(), Some("10"));
    ok(&s, "x = 999");
    s.restart().expect("second restart");
    assert_eq!(value(&s, "x").as_deref(), Some("10"));
    assert_alive(&s);
}

#[test]
fn startup_code_runs_again_after_stop_and_start() {
    let s = builder().startup_code("x = 10").start().expect("start");
    ok(&s, "x = 999");
    s.stop().expect("stop");
    s.start().expect("start");
    assert_eq!(value(&s, "x").as_deref(), Some("10"));
}

#[test]
fn startup_code_output_is_not_in_later_results() {
    let s = builder()
        .startup_code("import sys\nprint('startup out')\nprint('startup err', file=sys.stderr)")
        .start()
        .expect("start");
    let r = ok(&s, "print('mine')");
    assert_eq!(r.stdout, "mine\n");
    assert_eq!(r.stderr, "");
    assert_eq!(r.background_stdout, "");
    assert_eq!(r.background_stderr, "");
}

#[test]
fn startup_code_that_raises_fails_start_with_the_exception() {
    let code = "a = 1\nraise ValueError('broken startup 42')\n";
    let err = builder()
        .startup_code(code)
        .start()
        .expect_err("start must fail when the startup code raises");
    let text = err.to_string();
    match &err {
        Error::Startup(e) => {
            assert_eq!(e.type_name, "ValueError", "{e:?}");
            assert_eq!(e.message, "broken startup 42", "{e:?}");
            assert!(!e.traceback.is_empty(), "{e:?}");
            assert!(e.traceback.contains("line 2"), "traceback: {}", e.traceback);
            assert!(
                e.traceback
                    .contains("raise ValueError('broken startup 42')"),
                "traceback should show the source line: {}",
                e.traceback
            );
            assert!(
                !e.traceback.contains("pysession-runtime"),
                "{}",
                e.traceback
            );
            assert!(
                !e.traceback.contains("pysession_runtime"),
                "{}",
                e.traceback
            );
        }
        other => panic!("expected Error::Startup, got {other:?}"),
    }
    assert!(text.contains("broken startup 42"), "{text}");
    assert!(text.contains("ValueError"), "{text}");
}

#[test]
fn startup_code_that_raises_on_restart_stops_the_session() {
    let dir = temp_dir("startup-restart");
    let flag = dir.join("fail");
    // A forked session's restart does not run the startup code again (tests/forks.rs):
    // this is about the sessions whose restarts do.
    let s = builder()
        .fork_server(false)
        .startup_code(format!(
            "import os\nif os.path.exists({}):\n    raise RuntimeError('startup refused')\n",
            py_str(flag.to_str().unwrap())
        ))
        .start()
        .expect("start");
    std::fs::write(&flag, "").unwrap();
    match s.restart() {
        Err(Error::Startup(e)) => {
            assert_eq!(e.type_name, "RuntimeError");
            assert_eq!(e.message, "startup refused");
        }
        other => panic!("expected Err(Startup), got {other:?}"),
    }
    assert!(!s.is_running());
    let err = s.execute("1 + 1").expect_err("stopped session");
    assert!(err.to_string().contains("not running"), "{err}");
    std::fs::remove_file(&flag).unwrap();
    s.start().expect("start again once the startup code works");
    assert_alive(&s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn restart_whose_startup_code_raises_leaves_it_stopped_until_started_again() {
    // The startup code raises while a flag file exists, so the failure is deterministic
    // and goes away when the file is deleted.
    let dir = temp_dir("startup-restart-again");
    let flag = dir.join("refuse");
    // As above: the restarts that run the startup code again.
    let s = builder()
        .fork_server(false)
        .startup_code(format!(
            "import os\nstarted = 'yes'\nif os.path.exists({}):\n    raise RuntimeError('refused by flag')\n",
            py_str(flag.to_str().unwrap())
        ))
        .start()
        .expect("start");
    assert!(s.is_running());
    ok(&s, "state = 'old'");
    std::fs::write(&flag, "").unwrap();

    let err = s
        .restart()
        .expect_err("restart must fail when the startup code raises");
    match &err {
        Error::Startup(e) => {
            assert_eq!(e.type_name, "RuntimeError", "{e:?}");
            assert_eq!(e.message, "refused by flag", "{e:?}");
            assert!(e.traceback.contains("refused by flag"), "{}", e.traceback);
            assert!(
                !e.traceback.contains("pysession_runtime"),
                "{}",
                e.traceback
            );
            assert!(
                !e.traceback.contains("pysession-runtime"),
                "{}",
                e.traceback
            );
        }
        other => panic!("expected Error::Startup, got {other:?}"),
    }
    assert!(!s.is_running());
    assert!(matches!(s.execute("1 + 1"), Err(Error::NotRunning)));
    assert!(matches!(s.restart(), Err(Error::NotRunning)));
    assert!(!s.is_running());

    // Starting again while the startup code still raises fails the same way.
    match s.start() {
        Err(Error::Startup(e)) => assert_eq!(e.message, "refused by flag", "{e:?}"),
        other => panic!("expected Err(Startup), got {other:?}"),
    }
    assert!(!s.is_running());

    std::fs::remove_file(&flag).unwrap();
    s.start().expect("start again once the startup code works");
    assert!(s.is_running());
    // Fresh state, with the startup code run.
    raises(&s, "state", "NameError");
    assert_eq!(value(&s, "started").as_deref(), Some("'yes'"));
    assert_alive(&s);
    // And it restarts normally again.
    ok(&s, "state = 'new'");
    s.restart().expect("restart");
    raises(&s, "state", "NameError");
    assert_alive(&s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn calls_on_a_stopped_session_say_not_running() {
    let s = session();
    s.stop().expect("stop");
    let e = s.stop().expect_err("stop twice");
    assert!(matches!(e, Error::NotRunning), "{e:?}");
    assert!(e.to_string().contains("not running"), "{e}");
    let e = s.execute("1 + 1").expect_err("execute when stopped");
    assert!(e.to_string().contains("not running"), "{e}");
    let e = s
        .execute_with_timeout("1 + 1", Duration::from_secs(1))
        .expect_err("execute_with_timeout when stopped");
    assert!(e.to_string().contains("not running"), "{e}");
    let e = s.restart().expect_err("restart when stopped");
    assert!(e.to_string().contains("not running"), "{e}");
    assert!(!s.is_running());
    s.start().expect("start again");
    assert_alive(&s);
}

#[test]
fn missing_python_executable_is_not_found() {
    let missing = std::env::temp_dir().join("pysession-no-such-dir/bin/python3");
    let e = builder()
        .python_executable(&missing)
        .start()
        .expect_err("a missing python_executable must fail");
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("not found"), "{text}");
    assert!(text.contains("pysession-no-such-dir"), "{text}");
}

#[test]
fn missing_working_directory_is_not_found() {
    let missing = std::env::temp_dir().join("pysession-no-such-working-dir");
    let e = builder()
        .working_directory(&missing)
        .start()
        .expect_err("a missing working_directory must fail");
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("not found"), "{text}");
    assert!(text.contains("pysession-no-such-working-dir"), "{text}");
}

#[test]
fn drop_stops_the_worker_promptly() {
    let s = session();
    ok(&s, "data = list(range(1000))\nprint(len(data))");
    let begun = Instant::now();
    drop(s);
    let took = begun.elapsed();
    assert!(took < GRACE + SLACK, "drop took {took:?}");
    // The process still works: a new session runs.
    let s = session();
    assert_alive(&s);
}

#[test]
fn drop_after_a_timeout_returns_promptly() {
    let s = session();
    let r = s
        .execute_with_timeout("while True: pass", Duration::from_millis(200))
        .expect("execute");
    assert_eq!(r.status, Status::Timeout, "{r:#?}");
    assert_alive(&s);
    let begun = Instant::now();
    drop(s);
    let took = begun.elapsed();
    assert!(took < GRACE + SLACK, "drop took {took:?}");
    let s = session();
    assert_alive(&s);
}

#[test]
fn drop_of_a_stopped_session_is_fine() {
    let s = session();
    s.stop().expect("stop");
    let begun = Instant::now();
    drop(s);
    assert!(begun.elapsed() < SLACK);
}

#[test]
fn startup_code_that_cannot_be_stopped_fails_start_and_does_not_run_again() {
    // The startup code logs each run to a file, then blocks in a C wait that the stop
    // cannot interrupt, so start() gives up on it after timeout + grace.
    let dir = temp_dir("startup-stuck");
    let log = dir.join("runs.log");
    let code = format!(
        "open({}, 'a').write('run\\n')\nimport threading\nthreading.Event().wait(2)",
        py_str(log.to_str().unwrap())
    );
    let timeout = Duration::from_millis(200);
    let begun = Instant::now();
    let result = builder().startup_code(code).timeout(timeout).start();
    let took = begun.elapsed();
    let e = result.expect_err("start must fail when the startup code cannot finish");
    assert!(took < timeout + GRACE + SLACK, "start took {took:?}");
    // start() failed, so no session exists: its startup code must not be run again in
    // the background.
    std::thread::sleep(Duration::from_millis(500));
    let runs = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        runs.lines().count(),
        1,
        "startup code ran {} times after a failed start() (error: {e})",
        runs.lines().count()
    );
    let s = session();
    assert_alive(&s);
    let _ = std::fs::remove_dir_all(&dir);
}
