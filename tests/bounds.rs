//! What code cannot make a session hold without bound: long exception texts, output
//! nobody reads, memory that grows with every execute. After each, the session works
//! and keeps its state.
mod common;

use common::*;

#[test]
fn an_enormous_exception_text_is_cut_like_output_and_state_is_kept() {
    let s = builder().output_limit(1000).start().expect("start");
    ok(&s, "kept = 'yes'");
    let r = raises(&s, "raise ValueError('x' * 50_000_000)", "ValueError");
    let e = r.error.as_ref().unwrap();
    for (what, text) in [("message", &e.message), ("traceback", &e.traceback)] {
        assert!(text.len() < 3000, "{what} is {} bytes long", text.len());
        assert!(text.contains("cut here"), "{what}: {text}");
    }
    assert!(e.message.starts_with("xxx"), "{}", &e.message[..100]);
    assert!(
        e.traceback.ends_with("xxx\n") || e.traceback.ends_with("xxx"),
        "{}",
        e.traceback
    );
    assert_eq!(value(&s, "kept").as_deref(), Some("'yes'"));
    assert_alive(&s);
}

#[test]
fn output_nobody_reads_is_counted_not_queued_and_the_result_is_whole() {
    let s = builder()
        .output_limit(1000)
        .display_limit(1000)
        .start()
        .expect("start");
    ok(&s, "kept = 'yes'");
    let total = 10_000 * 1000;
    let execution = s
        .submit("import sys\nfor _ in range(10_000):\n    sys.stdout.write('x' * 1000)")
        .expect("submit");
    // Runs in its turn, after the submitted code: when it returns, that code is done and
    // every event it made has been sent or counted, unread.
    assert_alive(&s);
    let (mut sent, mut skipped, mut result) = (0, 0, None);
    for event in execution {
        match event {
            pysession::Event::Stdout(t) => sent += t.len(),
            pysession::Event::Skipped { bytes, displays } => {
                skipped += bytes as usize;
                assert_eq!(displays, 0);
            }
            pysession::Event::Finished(r) => result = Some(r.expect("result")),
            other => panic!("unexpected {other:?}"),
        }
    }
    // Unread events hold at most what the result may: 2 x 1000 + 1000 bytes, and one
    // chunk that came in under the bound.
    assert!(sent <= 3000 + 64 * 1024, "{sent} bytes were queued");
    assert_eq!(sent + skipped, total, "every byte is sent or counted");
    let r = result.expect("the last event is the result");
    assert_eq!(
        r.stdout_truncated_bytes as usize + r.stdout.len() - marker_len(&r.stdout),
        total
    );
    assert_eq!(value(&s, "kept").as_deref(), Some("'yes'"));
    assert_alive(&s);
}

/// The length of the cut marker in `text` (0 if it has none).
fn marker_len(text: &str) -> usize {
    match (text.find("\n[..."), text.find("...]\n")) {
        (Some(a), Some(b)) => b + 5 - a,
        _ => 0,
    }
}

#[test]
fn dropping_a_session_interrupts_submitted_code_instead_of_waiting_for_it() {
    let s = session();
    let running = s
        .submit("import time\nprint('started', flush=True)\ntime.sleep(30)")
        .expect("submit");
    let queued = s.submit("never = 1").expect("submit");
    let mut events = running.into_iter();
    assert!(
        matches!(events.next(), Some(pysession::Event::Stdout(t)) if t.starts_with("started")),
        "the code runs"
    );
    let begun = std::time::Instant::now();
    drop(s);
    let took = begun.elapsed();
    assert!(took < GRACE + SLACK, "drop waited {took:?}");
    let finished = events.find_map(|e| match e {
        pysession::Event::Finished(r) => Some(r),
        _ => None,
    });
    let r = finished
        .expect("a result")
        .expect("the running code ends with a result");
    assert_eq!(r.status, pysession::Status::Interrupted, "{r:#?}");
    // Queued behind it, it never ran.
    assert!(matches!(queued.wait(), Err(pysession::Error::NotRunning)));
    assert_alive(&session());
}

#[test]
fn an_interpreter_that_never_answers_fails_the_start_in_time_and_leaves_nothing_running() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("mute");
    let script = dir.join("python3");
    // A stand-in that never answers, with a child of its own.
    std::fs::write(&script, "#!/bin/sh\nsleep 7777\nexit 0\n").expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let timeout = std::time::Duration::from_millis(500);
    let begun = std::time::Instant::now();
    let started = builder()
        .python_executable(&script)
        .timeout(timeout)
        .warm_spare(false)
        .start();
    let took = begun.elapsed();
    let e = started.expect_err("it cannot start");
    assert!(took < timeout + GRACE + SLACK, "start took {took:?}: {e}");
    assert!(
        matches!(e, pysession::Error::Config(_) | pysession::Error::Busy(_)),
        "{e:?}"
    );
    let sleeping = || {
        std::fs::read_dir("/proc")
            .expect("read /proc")
            .flatten()
            .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
            .any(|c| c == b"sleep\x007777\x00")
    };
    let begun = std::time::Instant::now();
    while sleeping() && begun.elapsed() < std::time::Duration::from_secs(3) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!sleeping(), "the stand-in's child is still running");
    assert_alive(&session());
}
