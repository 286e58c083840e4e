//! Interrupt handles: stopping running code from another thread, on either backend.
mod common;

use std::time::{Duration, Instant};

use common::*;
use pysession::{InterruptHandle, Status};

fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

#[test]
fn interrupt_handle_is_send_sync_and_clone() {
    assert_send_sync_clone::<InterruptHandle>();
}

/// Runs `code` while another thread interrupts it after `after`.
fn interrupted(
    s: &pysession::Session,
    code: &str,
    after: Duration,
) -> (pysession::ExecutionResult, Duration) {
    let handle = s.interrupt_handle();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            std::thread::sleep(after);
            // Retry until the execute has registered (the call may not have begun).
            let begun = Instant::now();
            while !handle.interrupt() && begun.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let begun = Instant::now();
        let r = s
            .execute_with_timeout(code, Duration::from_secs(60))
            .expect("execute");
        (r, begun.elapsed())
    })
}

#[test]
fn interrupt_stops_a_busy_loop_and_keeps_state() {
    let s = session();
    let (r, took) = interrupted(
        &s,
        "a = 0\nwhile True:\n    a += 1",
        Duration::from_millis(200),
    );
    assert_eq!(r.status, Status::Interrupted, "{r:#?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let e = r.error.as_ref().expect("says why");
    assert_eq!(e.type_name, "Interrupted", "{e:?}");
    assert!(e.traceback.contains("<cell"), "{e:?}");
    assert!(!e.traceback.contains("pysession_runtime"), "{e:?}");
    assert_eq!(value(&s, "a > 0").as_deref(), Some("True"));
    assert_alive(&s);
}

#[test]
fn interrupt_stops_a_sleep_and_keeps_state() {
    let s = session();
    ok(&s, "kept = 'yes'");
    let (r, took) = interrupted(
        &s,
        "import time\ntime.sleep(100)",
        Duration::from_millis(200),
    );
    assert_eq!(r.status, Status::Interrupted, "{r:#?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(value(&s, "kept").as_deref(), Some("'yes'"));
    assert_alive(&s);
}

#[test]
fn interrupt_stops_code_that_catches_it() {
    let s = session();
    let (r, took) = interrupted(
        &s,
        "import time\nn = 0\nwhile True:\n    try:\n        time.sleep(0.01)\n    except BaseException:\n        n += 1",
        Duration::from_millis(200),
    );
    assert_eq!(r.status, Status::Interrupted, "{r:#?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_alive(&s);
}

#[test]
fn interrupt_while_nothing_runs_does_nothing() {
    let s = session();
    let handle = s.interrupt_handle();
    assert!(!handle.interrupt());
    assert!(!handle.interrupt());
    // The next execute runs to the end, untouched.
    let r = ok(&s, "import time\ntime.sleep(0.3)\n'finished'");
    assert_eq!(r.value.as_deref(), Some("'finished'"));
    assert_alive(&s);
}

#[test]
fn an_execute_that_finished_is_not_interrupted_late() {
    let s = session();
    let handle = s.interrupt_handle();
    ok(&s, "x = 1");
    assert!(
        !handle.interrupt(),
        "nothing runs after the execute returned"
    );
    assert_eq!(value(&s, "x").as_deref(), Some("1"));
}

#[test]
fn interrupts_racing_with_executes_restarts_and_stops_are_safe() {
    let s = session();
    let handle = s.interrupt_handle();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            let handle = handle.clone();
            let stop = &stop;
            scope.spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    handle.interrupt();
                    std::thread::yield_now();
                }
            });
        }
        let begun = Instant::now();
        let mut rounds = 0;
        while begun.elapsed() < Duration::from_secs(3) {
            rounds += 1;
            let r = s
                .execute_with_timeout("import time\ntime.sleep(0.001)\n1", Duration::from_secs(10))
                .expect("execute");
            assert!(
                matches!(r.status, Status::Ok | Status::Interrupted),
                "{r:#?}"
            );
            if rounds % 10 == 0 {
                s.restart().expect("restart");
            }
            if rounds % 25 == 0 {
                s.stop().expect("stop");
                s.start().expect("start");
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_alive(&s);
    // The handle still works after all of that.
    let (r, _) = interrupted(
        &s,
        "import time\ntime.sleep(100)",
        Duration::from_millis(100),
    );
    assert_eq!(r.status, Status::Interrupted, "{r:#?}");
    assert_alive(&s);
}
