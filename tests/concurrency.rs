//! Many sessions at once, and many callers on one session.
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;
use pysession::Status;

#[test]
fn sessions_have_their_own_namespaces() {
    let sessions: Vec<_> = (0..5).map(|_| session()).collect();
    for (i, s) in sessions.iter().enumerate() {
        ok(s, &format!("x = {i}\nonly_in_{i} = True"));
    }
    for (i, s) in sessions.iter().enumerate() {
        assert_eq!(value(s, "x").as_deref(), Some(i.to_string().as_str()));
        for j in 0..5 {
            if j != i {
                raises(s, &format!("only_in_{j}"), "NameError");
            }
        }
        assert_alive(s);
    }
}

#[test]
fn hundred_sessions_printing_concurrently_get_only_their_own_output() {
    const SESSIONS: usize = 100;
    const COUNT: usize = 2000;
    let barrier = Arc::new(Barrier::new(SESSIONS));
    let handles: Vec<_> = (0..SESSIONS)
        .map(|n| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let s = session();
                barrier.wait();
                let r = run(&s, &format!("for i in range({COUNT}): print('S{n}')"));
                assert_eq!(r.status, Status::Ok, "session {n}: {r:#?}");
                let expected = format!("S{n}\n").repeat(COUNT);
                assert!(
                    r.stdout == expected,
                    "session {n} got {} bytes, expected {}; first line {:?}",
                    r.stdout.len(),
                    expected.len(),
                    r.stdout.lines().find(|l| *l != format!("S{n}"))
                );
                assert_eq!(r.stderr, "");
                assert_eq!(r.background_stdout, "");
                assert_alive(&s);
            })
        })
        .collect();
    for (n, h) in handles.into_iter().enumerate() {
        h.join()
            .unwrap_or_else(|_| panic!("thread of session {n} panicked"));
    }
}

#[test]
fn two_threads_on_one_session_run_one_after_another() {
    let s = session();
    ok(&s, "log = []");
    std::thread::scope(|scope| {
        let a = scope.spawn(|| {
            run(
                &s,
                "import time\nlog.append('a start')\ntime.sleep(0.2)\nlog.append('a end')\n'a'",
            )
        });
        let b = scope.spawn(|| {
            run(
                &s,
                "import time\nlog.append('b start')\ntime.sleep(0.2)\nlog.append('b end')\n'b'",
            )
        });
        let ra = a.join().unwrap();
        let rb = b.join().unwrap();
        assert_eq!(ra.status, Status::Ok, "{ra:#?}");
        assert_eq!(rb.status, Status::Ok, "{rb:#?}");
        assert_eq!(ra.value.as_deref(), Some("'a'"));
        assert_eq!(rb.value.as_deref(), Some("'b'"));
    });
    let log = value(&s, "log").unwrap();
    assert!(
        log == "['a start', 'a end', 'b start', 'b end']"
            || log == "['b start', 'b end', 'a start', 'a end']",
        "calls overlapped: {log}"
    );
    assert_alive(&s);
}

#[test]
fn calls_from_many_threads_all_complete_in_turn() {
    let s = Arc::new(session());
    ok(&s, "items = []");
    let handles: Vec<_> = (0..8)
        .map(|n| {
            let s = s.clone();
            std::thread::spawn(move || {
                for k in 0..10 {
                    ok(&s, &format!("items.append(({n}, {k}))"));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(value(&s, "len(items)").as_deref(), Some("80"));
    // Each thread's own calls ran in the order it made them.
    assert_eq!(
        value(
            &s,
            "all([k for (m, k) in items if m == n] == list(range(10)) for n in range(8))"
        )
        .as_deref(),
        Some("True")
    );
    assert_alive(&s);
}

fn other_session_works_while(stuck_code: &str) {
    let stuck = session();
    let other = session();
    ok(&other, "counter = 0");
    let done = AtomicBool::new(false);
    let timeout = Duration::from_secs(3);
    std::thread::scope(|scope| {
        let h = scope.spawn(|| {
            let begun = Instant::now();
            let r = stuck
                .execute_with_timeout(stuck_code, timeout)
                .expect("execute");
            done.store(true, Ordering::SeqCst);
            (r, begun.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..5 {
            ok(&other, "counter += 1");
        }
        let r = ok(&other, "print(counter)\ncounter");
        assert_eq!(r.stdout, "5\n");
        assert!(
            !done.load(Ordering::SeqCst),
            "the other session should have finished while the stuck one still ran"
        );
        let (r, took) = h.join().unwrap();
        assert_eq!(r.status, Status::Timeout, "{r:#?}");
        assert!(took < timeout + GRACE + SLACK, "{took:?}");
    });
    assert_alive(&stuck);
    assert_alive(&other);
}

#[test]
fn busy_loop_in_one_session_does_not_stop_another() {
    other_session_works_while("while True: pass");
}

#[test]
fn sleep_in_one_session_does_not_stop_another() {
    other_session_works_while("import time\ntime.sleep(100)");
}
