//! `execute_python` of `x = 1` through a real MCP round trip, as a Rust MCP client
//! (rmcp) sees it: over stdio and over streamable HTTP, with each backend. Prints p50,
//! p99 and the mean per case.
//!
//! `cargo run --release -p pysession-mcp --example mcp_latency [CALLS]` (builds and uses
//! `target/release/pysession-mcp`; default 2000 calls per case after 200 of warm-up).

use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::ServiceExt;

type Client = RunningService<RoleClient, ClientConfig>;

fn server_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the example's path");
    // target/release/examples/mcp_latency -> target/release/pysession-mcp
    exe.parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("pysession-mcp"))
        .expect("the target directory")
}

fn info() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("mcp-latency", env!("CARGO_PKG_VERSION")),
    )
}

async fn call(client: &Client, code: &str) -> Duration {
    let params = if code.is_empty() {
        // The floor: a tool that runs no Python (the MCP round trip alone).
        CallToolRequestParams::new("list_sessions")
    } else {
        let args = serde_json::json!({ "code": code });
        CallToolRequestParams::new("execute_python")
            .with_arguments(args.as_object().cloned().unwrap_or_default())
    };
    let begun = Instant::now();
    let r = client.call_tool(params).await.expect("the call succeeds");
    let took = begun.elapsed();
    assert_eq!(r.is_error, Some(false), "{r:?}");
    took
}

async fn measure(name: &str, client: &Client, calls: usize) {
    measure_code(&format!("{name} [x = 1]"), client, calls, "x = 1").await;
    measure_code(&format!("{name} [no Python]"), client, calls, "").await;
}

async fn measure_code(name: &str, client: &Client, calls: usize, code: &str) {
    for _ in 0..200 {
        call(client, code).await;
    }
    let mut times: Vec<Duration> = Vec::with_capacity(calls);
    for _ in 0..calls {
        times.push(call(client, code).await);
    }
    times.sort();
    let pick = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "{name:<34} p50 {:>8.1} µs   p99 {:>8.1} µs   mean {:>8.1} µs   ({calls} calls)",
        pick(0.50).as_secs_f64() * 1e6,
        pick(0.99).as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6,
    );
}

#[tokio::main]
async fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let bin = server_binary();
    for backend in ["embedded", "subprocess"] {
        let mut cmd = tokio::process::Command::new(&bin);
        cmd.args(["--backend", backend]).stderr(Stdio::null());
        let transport = TokioChildProcess::new(cmd).expect("start the server");
        let client = info()
            .serve(transport)
            .await
            .expect("initialize over stdio");
        measure(&format!("stdio {backend}"), &client, calls).await;
        let _ = client.cancel().await;
    }
    for (backend, port) in [("embedded", 18731u16), ("subprocess", 18732)] {
        let addr = format!("127.0.0.1:{port}");
        let mut server = std::process::Command::new(&bin)
            .args(["--backend", backend, "--http", &addr])
            .stderr(Stdio::null())
            .spawn()
            .expect("start the HTTP server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "the HTTP server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        let transport = StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"));
        let client = info().serve(transport).await.expect("connect over HTTP");
        measure(&format!("http {backend}"), &client, calls).await;
        let _ = client.cancel().await;
        let _ = server.kill();
        let _ = server.wait();
    }
}
