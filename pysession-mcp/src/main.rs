//! `pysession-mcp`: persistent Python sessions as MCP tools, over stdio or streamable
//! HTTP. See `pysession-mcp --help` and the README.

mod ansys;
mod compat;
mod http;
mod ipybox;
mod options;
mod render;
mod server;
mod sessions;
mod stdio;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rmcp::ServiceExt;

use crate::options::Options;
use crate::server::PythonServer;
use crate::sessions::Store;

fn main() -> ExitCode {
    let options = Options::parse();
    let startup_code = match options.startup_code() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pysession-mcp: {e}");
            return ExitCode::from(2);
        }
    };
    // Over stdio the protocol gets descriptors of its own before anything else runs:
    // code in a session (os.write(1, ...), C printf, os.system) then writes to the
    // server's stderr, never into the JSON-RPC stream, and reads nothing of it.
    let protocol = if options.http.is_none() {
        match protocol_descriptors() {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("pysession-mcp: cannot set up the protocol's descriptors: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pysession-mcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let store = Store::new(options.clone(), startup_code);
    let served = runtime.block_on(async {
        spawn_idle_reaper(&store);
        match protocol {
            Some((input, output)) => serve_stdio(store.clone(), input, output).await,
            None => http::serve(store.clone()).await,
        }
    });
    store.close_all();
    runtime.shutdown_timeout(Duration::from_secs(5));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pysession-mcp: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Moves the protocol off descriptors 0 and 1: returns copies of them for the
/// protocol, then points 0 at /dev/null and 1 at the server's stderr.
fn protocol_descriptors() -> std::io::Result<(std::fs::File, std::fs::File)> {
    use std::os::fd::AsFd;
    let input = rustix::io::fcntl_dupfd_cloexec(std::io::stdin().as_fd(), 3)?;
    let output = rustix::io::fcntl_dupfd_cloexec(std::io::stdout().as_fd(), 3)?;
    let null = std::fs::File::open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(std::io::stderr().as_fd())?;
    Ok((std::fs::File::from(input), std::fs::File::from(output)))
}

async fn serve_stdio(
    store: Arc<Store>,
    input: std::fs::File,
    output: std::fs::File,
) -> Result<(), String> {
    let server = PythonServer::new(store.clone(), store.options().tools);
    // Pipes (what MCP clients give their servers) are read and written by the runtime's
    // reactor; anything else (a file, a terminal) through blocking threads.
    let transport = match (pipe_receiver(&input), pipe_sender(&output)) {
        (Some(rx), Some(tx)) => stdio::checked(rx, tx),
        _ => stdio::checked(
            tokio::fs::File::from_std(input),
            tokio::fs::File::from_std(output),
        ),
    };
    let running = server
        .serve(transport)
        .await
        .map_err(|e| format!("the MCP session did not start: {e}"))?;
    running
        .waiting()
        .await
        .map(|_| ())
        .map_err(|e| format!("the MCP session failed: {e}"))
}

fn pipe_receiver(file: &std::fs::File) -> Option<tokio::net::unix::pipe::Receiver> {
    let fd = file.try_clone().ok()?;
    tokio::net::unix::pipe::Receiver::from_file(fd).ok()
}

fn pipe_sender(file: &std::fs::File) -> Option<tokio::net::unix::pipe::Sender> {
    let fd = file.try_clone().ok()?;
    tokio::net::unix::pipe::Sender::from_file(fd).ok()
}

/// Closes sessions idle past `--idle-timeout`.
fn spawn_idle_reaper(store: &Arc<Store>) {
    let idle = Duration::from_secs(store.options().idle_timeout);
    if idle.is_zero() {
        return;
    }
    let every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
    let store = Arc::downgrade(store);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Some(store) = store.upgrade() else { return };
            let closing = store.clone();
            let _ = tokio::task::spawn_blocking(move || closing.close_idle(idle)).await;
        }
    });
}
