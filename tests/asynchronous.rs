//! The `_async` twins and the async event stream, on either backend.
mod common;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use common::*;
use futures_core::Stream;
use pysession::{Event, Status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_twins_do_what_the_sync_methods_do() {
    let s = session();
    let r = s.execute_async("x = 41\nx + 1").await.expect("execute");
    assert_eq!(r.value.as_deref(), Some("42"));
    let r = s
        .execute_with_timeout_async("import time\ntime.sleep(10)", Duration::from_millis(200))
        .await
        .expect("execute");
    assert_eq!(r.status, Status::Timeout);
    s.restart_async().await.expect("restart");
    let r = s.execute_async("x").await.expect("execute");
    assert_eq!(r.error.map(|e| e.type_name).as_deref(), Some("NameError"));
    s.stop_async().await.expect("stop");
    assert!(!s.is_running());
    let e = s.execute_async("1").await.expect_err("stopped");
    assert!(e.to_string().contains("not running"), "{e}");
    s.start_async().await.expect("start");
    assert_eq!(
        s.execute_async("1 + 1")
            .await
            .expect("execute")
            .value
            .as_deref(),
        Some("2")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn execute_async_never_blocks_the_runtime_thread() {
    let s = session();
    // On a single-threaded runtime, a ticker only ticks if the execute leaves the
    // thread free while the code sleeps.
    let ticker = tokio::spawn(async {
        let mut ticks = 0;
        let begun = Instant::now();
        while begun.elapsed() < Duration::from_millis(450) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            ticks += 1;
        }
        ticks
    });
    let r = s
        .execute_async("import time\ntime.sleep(0.6)\n'slept'")
        .await
        .expect("execute");
    assert_eq!(r.value.as_deref(), Some("'slept'"));
    let ticks = ticker.await.expect("ticker");
    assert!(ticks >= 4, "the runtime thread was blocked: {ticks} ticks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_execute_async_calls_on_many_sessions_all_complete() {
    // A thousand in-process sessions; a subprocess session is a process of its own
    // (and a spare), so that backend runs a hundred.
    let n = if subprocess() { 100 } else { 1000 };
    let mut sessions = Vec::with_capacity(n);
    for i in 0..n {
        let s = builder()
            .warm_spare(false)
            .startup_code(format!("me = {i}"))
            .start()
            .expect("start");
        sessions.push(std::sync::Arc::new(s));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, s) in sessions.iter().enumerate() {
        let s = s.clone();
        tasks.spawn(async move {
            let r = s.execute_async("print(me); me * 2").await.expect("execute");
            (i, r)
        });
    }
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, r) = joined.expect("task");
        assert_eq!(r.status, Status::Ok, "{r:#?}");
        assert_eq!(r.stdout, format!("{i}\n"));
        assert_eq!(r.value, Some((i * 2).to_string()));
        done += 1;
    }
    assert_eq!(done, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_execute_async_runs_to_its_end_and_later_calls_wait_their_turn() {
    let s = session();
    let dropped = tokio::time::timeout(
        Duration::from_millis(100),
        s.execute_async("import time\ntime.sleep(0.4)\nfinished = True"),
    )
    .await;
    assert!(
        dropped.is_err(),
        "the future should have been dropped by the timeout"
    );
    // The code was not stopped: the next call runs after it, and sees its effect.
    let r = s.execute_async("finished").await.expect("execute");
    assert_eq!(r.value.as_deref(), Some("True"), "{r:#?}");
    assert_alive(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_is_an_async_stream_of_events() {
    let s = session();
    let mut execution = s
        .submit("import time\nprint('one')\ntime.sleep(0.3)\nprint('two')\n'end'")
        .expect("submit");
    let mut out = String::new();
    let mut finished = None;
    loop {
        let event = std::future::poll_fn(|cx| Pin::new(&mut execution).poll_next(cx)).await;
        match event {
            Some(Event::Stdout(t)) => out.push_str(&t),
            Some(Event::Finished(r)) => finished = Some(r.expect("result")),
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    assert_eq!(out, "one\ntwo\n");
    let r = finished.expect("a Finished event");
    assert_eq!(r.value.as_deref(), Some("'end'"));
    assert_alive(&s);
}

/// Wakes a parked thread.
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// The smallest executor there is: polls one future on this thread, parking between
/// polls.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[test]
fn async_methods_work_without_tokio() {
    let s = session();
    let r = block_on(s.execute_async("import time\ntime.sleep(0.2)\n6 * 7")).expect("execute");
    assert_eq!(r.value.as_deref(), Some("42"));
    block_on(s.restart_async()).expect("restart");
    let mut execution = s.submit("print('streamed')").expect("submit");
    let mut out = String::new();
    while let Some(event) = block_on(std::future::poll_fn(|cx| {
        Pin::new(&mut execution).poll_next(cx)
    })) {
        if let Event::Stdout(t) = event {
            out.push_str(&t);
        }
    }
    assert_eq!(out, "streamed\n");
    assert_alive(&s);
}
