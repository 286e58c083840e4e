//! `Backend::Subinterpreter`: sessions in interpreters of their own, in this process.
//! Run by CI on Python 3.12 and 3.13 with `--features subinterpreter`.
#![cfg(feature = "subinterpreter")]
mod common;

use std::time::Duration;

use pysession::{Backend, Session, Status};

fn sub() -> Session {
    Session::builder()
        .backend(Backend::Subinterpreter)
        .grace_period(Duration::from_secs(2))
        .start()
        .expect("a sub-interpreter session starts")
}

fn value(s: &Session, code: &str) -> Option<String> {
    let r = s.execute(code).expect("execute");
    assert_eq!(r.status, Status::Ok, "{code}: {r:#?}");
    r.value
}

fn alive(s: &Session) {
    assert_eq!(value(s, "1 + 1").as_deref(), Some("2"));
}

#[test]
fn state_values_errors_and_output_are_a_sessions() {
    let s = sub();
    let r = s
        .execute("x = 40\nprint('out')\nimport sys\nprint('err', file=sys.stderr)\nx + 2")
        .unwrap();
    assert_eq!(
        (r.status, r.value.as_deref()),
        (Status::Ok, Some("42")),
        "{r:#?}"
    );
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("out\n", "err\n"));
    let r = s.execute("def f():\n    return 1 / 0\nf()").unwrap();
    assert_eq!(r.status, Status::Error);
    let e = r.error.unwrap();
    assert_eq!(e.type_name, "ZeroDivisionError");
    assert!(
        e.traceback.contains("<cell") && e.traceback.contains("in f"),
        "{}",
        e.traceback
    );
    assert_eq!(value(&s, "x").as_deref(), Some("40"));
    s.set("y", &[1, 2, 3]).unwrap();
    assert_eq!(s.get::<Vec<i32>>("y").unwrap(), vec![1, 2, 3]);
    alive(&s);
}

#[test]
fn modules_builtins_path_and_switch_interval_are_each_sessions_own() {
    let (a, b) = (sub(), sub());
    let embedded = Session::builder().start().unwrap();
    value(
        &a,
        "import json, sys, builtins\njson.dumps = None\nsys.path.append('/nowhere')\nbuiltins.marker = 1\n\
         sys.setswitchinterval(0.5)\nsys.modules['only_in_a'] = json",
    );
    for other in [&b, &embedded] {
        assert_eq!(
            value(
                other,
                "import json, sys, builtins\n(json.dumps([1]), '/nowhere' in sys.path, hasattr(builtins, 'marker'), \
                 'only_in_a' in sys.modules)"
            )
            .as_deref(),
            Some("('[1]', False, False, False)")
        );
    }
    assert_eq!(
        value(&b, "import sys\nsys.getswitchinterval()").as_deref(),
        Some("0.005")
    );
    assert_eq!(value(&a, "sys.getswitchinterval()").as_deref(), Some("0.5"));
    alive(&a);
    alive(&b);
}

#[test]
fn a_timeout_stops_a_loop_and_the_state_is_kept() {
    let s = sub();
    value(&s, "kept = 7");
    let r = s
        .execute_with_timeout("while True: pass", Duration::from_millis(200))
        .unwrap();
    assert_eq!(r.status, Status::Timeout, "{r:#?}");
    let r = s
        .execute_with_timeout("import time\ntime.sleep(60)", Duration::from_millis(200))
        .unwrap();
    assert_eq!(r.status, Status::Timeout, "{r:#?}");
    assert_eq!(value(&s, "kept").as_deref(), Some("7"));
    alive(&s);
}

#[test]
fn an_interrupt_stops_a_loop_and_the_state_is_kept() {
    let s = sub();
    let handle = s.interrupt_handle();
    let r = std::thread::scope(|scope| {
        scope.spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            // Until the execute has registered (the call may not have begun).
            while !handle.interrupt() {
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        s.execute_with_timeout("a = 0\nwhile True:\n    a += 1", Duration::from_secs(60))
            .unwrap()
    });
    assert_eq!(r.status, Status::Interrupted, "{r:#?}");
    assert_eq!(value(&s, "a > 0").as_deref(), Some("True"));
    alive(&s);
}

/// A restart right after a stop: the thread that raised the stop may still be in the
/// old interpreter, which must not end under it.
#[test]
fn restarts_right_after_stopped_runs_are_safe() {
    let s = sub();
    for _ in 0..10 {
        let r = s
            .execute_with_timeout("while True: pass", Duration::from_millis(20))
            .unwrap();
        assert_eq!(r.status, Status::Timeout, "{r:#?}");
        s.restart().unwrap();
        alive(&s);
    }
}

#[test]
fn a_stuck_session_does_not_stall_another() {
    let (stuck, other) = (std::sync::Arc::new(sub()), sub());
    let spinning = {
        let stuck = stuck.clone();
        std::thread::spawn(move || {
            stuck.execute_with_timeout("while True: pass", Duration::from_secs(5))
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..20 {
        alive(&other);
    }
    let r = spinning.join().unwrap().unwrap();
    assert_eq!(r.status, Status::Timeout);
    alive(&stuck);
}

/// C code that never lets go of its interpreter's lock cannot be stopped: after the
/// grace period the session leaves that interpreter (and its thread) to it and goes on
/// in a new one, at once; other sessions never wait for it.
#[test]
fn code_stuck_in_c_is_left_its_interpreter_and_the_session_goes_on_in_a_new_one() {
    let s = Session::builder()
        .backend(Backend::Subinterpreter)
        .grace_period(Duration::from_millis(300))
        .startup_code("ready = 'yes'")
        .start()
        .unwrap();
    let other = sub();
    value(&other, "mine = 'kept'");
    value(&s, "ready = 'changed'");
    let begun = std::time::Instant::now();
    let r = s
        .execute_with_timeout(
            "import itertools\nsum(itertools.count())",
            Duration::from_millis(200),
        )
        .unwrap();
    assert_eq!(r.status, Status::Restarted, "{r:#?}");
    assert!(
        begun.elapsed() < Duration::from_secs(3),
        "{:?}",
        begun.elapsed()
    );
    let e = r.error.unwrap();
    assert_eq!(e.type_name, "SessionRestarted");
    assert!(
        e.message.contains("grace period") && e.message.contains("new interpreter"),
        "{}",
        e.message
    );
    // The new interpreter answers at once, with the startup code run again.
    let begun = std::time::Instant::now();
    assert_eq!(value(&s, "ready").as_deref(), Some("'yes'"));
    assert!(
        begun.elapsed() < Duration::from_millis(300),
        "{:?}",
        begun.elapsed()
    );
    // The other session was never held up, and keeps its state.
    assert_eq!(value(&other, "mine").as_deref(), Some("'kept'"));
    alive(&s);
    alive(&other);
}

#[test]
fn a_restart_is_a_fresh_interpreter_with_the_startup_code_run_again() {
    let s = Session::builder()
        .backend(Backend::Subinterpreter)
        .startup_code("import sys\nstarted = getattr(sys, 'starts', 0) + 1\nsys.starts = started")
        .start()
        .unwrap();
    assert_eq!(value(&s, "started").as_deref(), Some("1"));
    value(
        &s,
        "import sys\nx = 1\nsys.modules['gone_after_restart'] = sys",
    );
    s.restart().unwrap();
    assert_eq!(
        value(
            &s,
            "import sys\n('x' in globals(), 'gone_after_restart' in sys.modules)"
        )
        .as_deref(),
        Some("(False, False)")
    );
    // Run again, in a new interpreter whose `sys` never saw the first start.
    assert_eq!(value(&s, "started").as_deref(), Some("1"));
    alive(&s);
}

#[test]
fn an_extension_without_subinterpreter_support_is_a_clear_import_error() {
    let site = common::venv_site_packages();
    let s = sub();
    value(&s, &format!("import sys\nsys.path.append({site:?})"));
    let r = s.execute("import numpy").unwrap();
    assert_eq!(r.status, Status::Error);
    let e = r.error.unwrap();
    assert_eq!(e.type_name, "ImportError");
    assert!(
        e.message.contains("numpy")
            && e.message.contains("sub-interpreter")
            && e.message.contains("Backend::Embedded"),
        "{}",
        e.message
    );
    alive(&s);
}

#[test]
fn the_working_directory_is_the_sessions_and_the_host_gets_its_own_back() {
    let dir = common::temp_dir("sub-cwd");
    let host = std::env::current_dir().unwrap();
    let s = Session::builder()
        .backend(Backend::Subinterpreter)
        .working_directory(&dir)
        .start()
        .unwrap();
    let inside = value(&s, "import os\nos.getcwd()").unwrap();
    assert!(inside.contains("sub-cwd"), "{inside}");
    value(&s, "os.chdir('/')");
    assert_eq!(std::env::current_dir().unwrap(), host);
    assert_eq!(value(&s, "os.getcwd()").as_deref(), Some("'/'"));
    alive(&s);
}

/// Before Python 3.12 the backend is refused with what to use instead (CI runs this one
/// on 3.11 too); from 3.12 on it starts.
#[test]
fn before_python_3_12_a_subinterpreter_session_is_refused_with_what_to_use() {
    let version = pysession::BuildPython::current()
        .version
        .expect("the build's version");
    let minor: u32 = version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .expect("a version");
    let started = Session::builder().backend(Backend::Subinterpreter).start();
    if minor < 12 {
        let e = started.expect_err("refused before 3.12").to_string();
        assert!(e.contains("3.12") && e.contains("Backend::Embedded"), "{e}");
        let s = Session::builder().start().unwrap();
        alive(&s);
    } else {
        alive(&started.expect("starts on 3.12 and later"));
    }
}
