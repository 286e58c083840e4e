//! Session costs, embedded and subprocess side by side: an execute round trip, output,
//! start, restart and stop (subprocess sessions both forked from a fork server and
//! spawned), 100 MB of bytes in and out.
//!
//! `cargo bench --bench sessions` (with `--features subinterpreter`, built for Python
//! 3.12 or later, the sub-interpreter backend too). Setup (interpreter start, the session) stays outside
//! the timed part. Subprocess sessions run `/usr/bin/python3` (or `PYSESSION_BENCH_PYTHON`).
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pysession::{Backend, Session, SessionBuilder};

/// The backends measured side by side; with the `subinterpreter` feature (a build for
/// Python 3.12 or later), the sub-interpreter one too.
fn backends() -> Vec<(&'static str, Backend)> {
    #[allow(unused_mut)]
    let mut all = vec![
        ("embedded", Backend::Embedded),
        ("subprocess", Backend::Subprocess),
    ];
    #[cfg(feature = "subinterpreter")]
    all.push(("subinterpreter", Backend::Subinterpreter));
    all
}

fn builder(backend: Backend) -> SessionBuilder {
    let python =
        std::env::var("PYSESSION_BENCH_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let b = Session::builder().backend(backend);
    match backend {
        Backend::Subprocess => b.python_executable(python),
        _ => b,
    }
}

fn start(backend: Backend) -> Session {
    builder(backend).start().expect("session starts")
}

fn execute(c: &mut Criterion) {
    let mut group = c.benchmark_group("execute");
    for (name, backend) in backends() {
        let session = start(backend);
        group.bench_function(format!("execute [x = 1] {name}"), |b| {
            b.iter(|| session.execute("x = 1").expect("execute"))
        });
        group.bench_function(format!("execute [1 + 1, value] {name}"), |b| {
            b.iter(|| session.execute("1 + 1").expect("execute"))
        });
        group.bench_function(format!("execute [print 1000 lines] {name}"), |b| {
            b.iter(|| {
                session
                    .execute("for i in range(1000): print(i)")
                    .expect("execute")
            })
        });
    }
    // The floor: compiling and running the same code on the calling thread, with no
    // hand-off, no capture and no value.
    group.bench_function("exec on the calling thread [x = 1]", |b| {
        use pyo3::prelude::*;
        Python::attach(|py| {
            let globals = pyo3::types::PyDict::new(py);
            b.iter(|| py.run(c"x = 1", Some(&globals), None).expect("exec"))
        })
    });
    group.finish();
}

/// The sessions `lifecycle` compares: embedded; subprocess forked from a fork server,
/// with an anchor session of the same configuration alive (so that its server is up, as
/// in a program that keeps sessions); subprocess spawned (`fork_server(false)`, with its
/// warm spare).
fn kinds() -> Vec<(&'static str, Backend, bool)> {
    #[allow(unused_mut)]
    let mut all = vec![
        ("embedded", Backend::Embedded, false),
        ("subprocess fork", Backend::Subprocess, true),
        ("subprocess spawn", Backend::Subprocess, false),
    ];
    #[cfg(feature = "subinterpreter")]
    all.push(("subinterpreter", Backend::Subinterpreter, false));
    all
}

fn lifecycle(c: &mut Criterion) {
    // Bring the interpreter up first: these measure sessions, not Python's start.
    drop(start(Backend::Embedded));
    let mut group = c.benchmark_group("lifecycle");
    group.sample_size(20);
    for (name, backend, fork) in kinds() {
        let make = |startup: &str| {
            builder(backend)
                .fork_server(fork)
                .startup_code(startup)
                .start()
                .expect("session starts")
        };
        let anchor = fork.then(|| make(""));
        group.bench_function(format!("session [start + first result] {name}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let s = make("");
                    s.execute("1 + 1").expect("execute");
                    total += t.elapsed();
                    drop(s);
                }
                total
            })
        });
        let session = make("import math");
        session
            .execute("data = list(range(1000))")
            .expect("execute");
        // A restart as a program makes it, to the first result after it: some time
        // after the last one, so that the spare (a spawned session's own, or its fork
        // server's) is ready and what the last restart left to do in the background
        // (killing the old process, forking or spawning the next spare) is done.
        // Back-to-back restarts are measured by `examples/fork_startup.rs`.
        let pause = Duration::from_millis(if backend == Backend::Subprocess {
            150
        } else {
            1
        });
        group.bench_function(format!("session [restart + first result] {name}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    std::thread::sleep(pause);
                    let t = Instant::now();
                    session.restart().expect("restart");
                    session.execute("1 + 1").expect("execute");
                    total += t.elapsed();
                }
                total
            })
        });
        group.bench_function(format!("session [stop] {name}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let s = make("");
                    let t = Instant::now();
                    s.stop().expect("stop");
                    total += t.elapsed();
                }
                total
            })
        });
        drop(anchor);
    }
    group.finish();
}

fn asynchronous(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("async");
    for (name, backend) in backends() {
        let session = start(backend);
        group.bench_function(format!("execute_async [x = 1] {name}"), |b| {
            b.iter(|| {
                rt.block_on(session.execute_async("x = 1"))
                    .expect("execute")
            })
        });
    }
    // Throughput: 100 embedded sessions, one execute_async each, all at once.
    let sessions: Vec<_> = (0..100)
        .map(|_| std::sync::Arc::new(start(Backend::Embedded)))
        .collect();
    group.bench_function(
        "concurrent [100 sessions, one execute_async each] embedded",
        |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut tasks = tokio::task::JoinSet::new();
                    for s in &sessions {
                        let s = s.clone();
                        tasks.spawn(async move { s.execute_async("x = 1").await });
                    }
                    while let Some(r) = tasks.join_next().await {
                        r.expect("task").expect("execute");
                    }
                })
            })
        },
    );
    group.finish();
}

/// 100 MB of bytes into a session and out again, next to copying them in memory.
fn data(c: &mut Criterion) {
    const SIZE: usize = 100_000_000;
    let payload: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    let mut group = c.benchmark_group("data");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.bench_function("memory [copy 100 MB]", |b| {
        b.iter(|| std::hint::black_box(payload.clone()))
    });
    for (name, backend) in backends() {
        let session = start(backend);
        group.bench_function(format!("set_bytes [100 MB] {name}"), |b| {
            b.iter(|| {
                session
                    .set_bytes("blob", payload.as_slice())
                    .expect("set_bytes")
            })
        });
        group.bench_function(format!("set_bytes [100 MB, Vec handed over] {name}"), |b| {
            b.iter_batched(
                || payload.clone(),
                |owned| session.set_bytes("blob", owned).expect("set_bytes"),
                BatchSize::PerIteration,
            )
        });
        group.bench_function(format!("get_bytes [100 MB] {name}"), |b| {
            b.iter(|| session.get_bytes("blob").expect("get_bytes"))
        });
    }
    group.finish();
}

/// What the subprocess backend's default interpreter costs: the one the crate was built
/// for (here Debian's `/usr/bin/python3`) against `python3` on `PATH` (here a pyenv shim
/// that starts another Python), the default before. The sessions are spawned
/// (`fork_server(false)`): the interpreter's start is what a fork server saves.
fn interpreter(c: &mut Criterion) {
    let mut group = c.benchmark_group("interpreter");
    group.sample_size(10);
    let choices = [
        ("built-for (default)", None),
        ("python3 on PATH", Some("python3")),
    ];
    for (name, python) in choices {
        let builder = || {
            let b = Session::builder()
                .backend(Backend::Subprocess)
                .fork_server(false);
            match python {
                Some(p) => b.python_executable(p),
                None => b,
            }
        };
        group.bench_function(format!("subprocess [start + first result] {name}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let s = builder().start().expect("session starts");
                    s.execute("1 + 1").expect("execute");
                    total += t.elapsed();
                    drop(s);
                }
                total
            })
        });
        let session = builder().start().expect("session starts");
        group.bench_function(format!("subprocess [restart back to back] {name}"), |b| {
            b.iter(|| session.restart().expect("restart"))
        });
    }
    group.finish();
}

criterion_group!(benches, execute, lifecycle, asynchronous, data, interpreter);
criterion_main!(benches);
