//! Embedded session costs: an execute round trip, session start, restart, output.
//!
//! `cargo bench --bench sessions`. Setup (interpreter start, the session) stays outside
//! the timed part.
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use pysession::Session;

fn execute(c: &mut Criterion) {
    let session = Session::new().expect("session starts");
    let mut group = c.benchmark_group("execute");
    group.bench_function("execute [x = 1]", |b| {
        b.iter(|| session.execute("x = 1").expect("execute"))
    });
    // The floor: compiling and running the same code on the calling thread, with no
    // hand-off, no capture and no value.
    group.bench_function("exec on the calling thread [x = 1]", |b| {
        use pyo3::prelude::*;
        Python::attach(|py| {
            let globals = pyo3::types::PyDict::new(py);
            b.iter(|| py.run(c"x = 1", Some(&globals), None).expect("exec"))
        })
    });
    group.bench_function("execute [1 + 1, value]", |b| {
        b.iter(|| session.execute("1 + 1").expect("execute"))
    });
    group.bench_function("execute [print 1000 lines]", |b| {
        b.iter(|| {
            session
                .execute("for i in range(1000): print(i)")
                .expect("execute")
        })
    });
    group.finish();
}

fn lifecycle(c: &mut Criterion) {
    // Bring the interpreter up first: these measure sessions, not Python's start.
    drop(Session::new().expect("session starts"));
    let mut group = c.benchmark_group("lifecycle");
    group.bench_function("session [start]", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let s = Session::new().expect("session starts");
                total += t.elapsed();
                drop(s);
            }
            total
        })
    });
    group.bench_function("session [start + first result]", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let s = Session::new().expect("session starts");
                s.execute("1 + 1").expect("execute");
                total += t.elapsed();
                drop(s);
            }
            total
        })
    });
    let session = Session::builder()
        .startup_code("import math")
        .start()
        .expect("session starts");
    session
        .execute("data = list(range(1000))")
        .expect("execute");
    group.bench_function("session [restart]", |b| {
        b.iter(|| session.restart().expect("restart"))
    });
    group.bench_function("session [stop]", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let s = Session::new().expect("session starts");
                let t = Instant::now();
                s.stop().expect("stop");
                total += t.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, execute, lifecycle);
criterion_main!(benches);
