//! Many sessions at once from one Tokio runtime: each session runs its own little
//! computation many times; prints the throughput.
//!
//! `cargo run --release --example many_sessions [SESSIONS] [EXECUTES_EACH]`
use std::sync::Arc;
use std::time::Instant;

use pysession::Session;

#[tokio::main]
async fn main() -> Result<(), pysession::Error> {
    let mut args = std::env::args().skip(1);
    let sessions: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let each: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);

    let started = Instant::now();
    let mut all = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let s = Session::builder()
            .startup_code(format!("me = {i}\ntotal = 0"))
            .start()?;
        all.push(Arc::new(s));
    }
    println!(
        "{sessions} sessions started in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    let begun = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for s in &all {
        let s = s.clone();
        tasks.spawn(async move {
            for step in 0..each {
                let r = s
                    .execute_async(&format!("total += me * {step}\ntotal"))
                    .await?;
                assert!(r.success(), "{r:?}");
            }
            s.execute_async("total").await
        });
    }
    let mut checked = 0;
    while let Some(joined) = tasks.join_next().await {
        let result = joined.expect("task")?;
        assert!(result.value.is_some());
        checked += 1;
    }
    let elapsed = begun.elapsed().as_secs_f64();
    let executes = sessions * (each + 1);
    println!(
        "{executes} executes on {checked} sessions in {:.1} ms: {:.0} executes/s",
        elapsed * 1e3,
        executes as f64 / elapsed
    );
    Ok(())
}
