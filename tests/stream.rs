//! Streaming: submitted code's output arrives while it runs, on either backend.
mod common;

use std::time::{Duration, Instant};

use common::*;
use pysession::{Event, Status};

#[test]
fn output_arrives_while_the_code_runs() {
    let s = session();
    let begun = Instant::now();
    let execution = s
        .submit("import time\nprint('first')\ntime.sleep(0.5)\nprint('second')")
        .expect("submit");
    let mut seen = Vec::new();
    let mut result = None;
    for event in execution {
        match event {
            Event::Stdout(text) => seen.push((text, begun.elapsed())),
            Event::Finished(r) => result = Some(r.expect("result")),
            other => panic!("unexpected {other:?}"),
        }
    }
    let text: String = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(text, "first\nsecond\n");
    let first_at = seen
        .iter()
        .find(|(t, _)| t.contains("first"))
        .map(|(_, at)| *at);
    let second_at = seen
        .iter()
        .find(|(t, _)| t.contains("second"))
        .map(|(_, at)| *at);
    let (first_at, second_at) = (first_at.expect("first"), second_at.expect("second"));
    // "first" came while the code was still sleeping, well before "second".
    assert!(
        second_at >= first_at + Duration::from_millis(300),
        "{seen:?}"
    );
    let r = result.expect("a Finished event");
    assert_eq!(r.status, Status::Ok);
    assert_eq!(
        r.stdout, "first\nsecond\n",
        "the result still has all output"
    );
    assert_alive(&s);
}

#[test]
fn stderr_and_stdout_chunks_come_in_the_order_written() {
    let s = session();
    let execution = s
        .submit("import sys, time\nprint('out 1')\ntime.sleep(0.1)\nprint('err 1', file=sys.stderr)\ntime.sleep(0.1)\nprint('out 2')")
        .expect("submit");
    let mut order = Vec::new();
    for event in execution {
        match event {
            Event::Stdout(t) => order.push(format!("o:{}", t.trim_end())),
            Event::Stderr(t) => order.push(format!("e:{}", t.trim_end())),
            Event::Finished(r) => assert_eq!(r.expect("result").status, Status::Ok),
            other => panic!("unexpected {other:?}"),
        }
    }
    let order: Vec<String> = order.into_iter().filter(|t| t.len() > 2).collect();
    assert_eq!(order, ["o:out 1", "e:err 1", "o:out 2"]);
}

#[test]
fn wait_gives_the_same_result_as_execute() {
    let s = session();
    ok(&s, "x = 20");
    let r = s
        .submit("print(x); x * 2")
        .expect("submit")
        .wait()
        .expect("result");
    assert_eq!(r.stdout, "20\n");
    assert_eq!(r.value.as_deref(), Some("40"));
    let r = s.submit("1 / 0").expect("submit").wait().expect("result");
    assert_eq!(r.status, Status::Error);
    assert_alive(&s);
}

#[test]
fn a_submitted_execution_can_be_interrupted_and_keeps_state() {
    let s = session();
    let execution = s
        .submit("import time\nkept = 1\nprint('started')\ntime.sleep(100)")
        .expect("submit");
    let handle = execution.interrupt_handle();
    let mut execution = execution;
    let mut out = String::new();
    while !out.ends_with('\n') {
        match execution.next() {
            Some(Event::Stdout(t)) => out.push_str(&t),
            other => panic!("expected the first output, got {other:?}"),
        }
    }
    assert_eq!(out, "started\n");
    assert!(handle.interrupt());
    let r = execution.wait().expect("result");
    assert_eq!(r.status, Status::Interrupted, "{r:#?}");
    assert_eq!(value(&s, "kept").as_deref(), Some("1"));
    assert_alive(&s);
}

#[test]
fn a_dropped_execution_runs_to_its_end_and_later_calls_wait_their_turn() {
    let s = session();
    drop(
        s.submit("import time\ntime.sleep(0.2)\ndone = True")
            .expect("submit"),
    );
    // The next call runs after the submitted one.
    assert_eq!(value(&s, "done").as_deref(), Some("True"));
    assert_alive(&s);
}

#[test]
fn submit_on_a_stopped_session_is_not_running() {
    let s = session();
    s.stop().expect("stop");
    let e = s.submit("1").expect_err("stopped");
    assert!(e.to_string().contains("not running"), "{e}");
}
