//! The command line: everything a session has, and how the server is reached.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use pysession::{Backend, SessionBuilder};

/// Persistent Python sessions as MCP tools, for agents: code runs step by step and
/// variables, imports and functions survive from one call to the next.
///
/// Serves the Model Context Protocol over stdio (the default) or streamable HTTP
/// (`--http`). Each client (each stdio process, each MCP session over HTTP) gets its own
/// Python sessions.
#[derive(Debug, Clone, Parser)]
#[command(name = "pysession-mcp", version, about, long_about = None)]
#[command(after_help = "\
Examples:
  pysession-mcp                                  stdio, subprocess sessions
  pysession-mcp --backend embedded               in-process sessions: microseconds per call
  pysession-mcp --http 127.0.0.1:8765            streamable HTTP at http://127.0.0.1:8765/mcp
  pysession-mcp --tools ipybox                   ipybox's tool names and behaviour

Register with an MCP client: {\"command\": \"pysession-mcp\", \"args\": []}")]
pub struct Options {
    /// Serve streamable HTTP at ADDR (path /mcp) instead of stdio. Addresses other than
    /// loopback need --auth-token.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,

    /// Where code runs: subprocess (a child python per session: killable, crash-proof,
    /// captures output written to file descriptors) or embedded (in this process:
    /// fastest; a crash in C code takes the server down).
    #[arg(long, value_enum, default_value_t = BackendChoice::Subprocess)]
    pub backend: BackendChoice,

    /// The Python to run: the interpreter of subprocess sessions, or for embedded
    /// sessions a virtual environment's python whose packages they use. Default: the
    /// Python pysession was built for.
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Python code every session starts from: run when a session starts and after every
    /// restart, or, for subprocess sessions forked from a fork server (the default),
    /// once in the server, each session starting from the state it left.
    #[arg(long, value_name = "CODE", conflicts_with = "startup_file")]
    pub startup_code: Option<String>,

    /// A file of Python code every session starts from (as --startup-code).
    #[arg(long, value_name = "PATH")]
    pub startup_file: Option<PathBuf>,

    /// The working directory of new sessions. Default: the server's.
    #[arg(long, value_name = "DIR")]
    pub working_directory: Option<PathBuf>,

    /// Default timeout of a call, in seconds; a call may ask for another.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = positive_seconds)]
    pub timeout: f64,

    /// Default number of characters of stdout, stderr and value shown to the model per
    /// call (the head and the tail are kept, with a marker that says how much was cut).
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub max_output_chars: usize,

    /// Subprocess sessions: the most memory (address space) a session may use, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub memory_limit: Option<u64>,

    /// Subprocess sessions: the most CPU time a session may use in all, in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub cpu_time_limit: Option<u64>,

    /// Subprocess sessions: spawn each session's process (a fresh python that runs the
    /// startup code itself) instead of forking it from the fork server that ran the
    /// startup code once.
    #[arg(long)]
    pub no_fork_server: bool,

    /// The most Python sessions open at once, over all clients.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_sessions: usize,

    /// Close a Python session unused for this many seconds (never one that runs code);
    /// 0 keeps them until the client goes away. Over HTTP, an MCP session with no
    /// message for this long plus a day (the longest a call may run) is closed too.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub idle_timeout: u64,

    /// Which tools to offer: native (execute_python and session tools), ipybox
    /// (execute_ipython_cell, install_package, reset) or ansys (execute_python_code).
    #[arg(long, value_enum, default_value_t = ToolSet::Native)]
    pub tools: ToolSet,

    /// HTTP: require `Authorization: Bearer TOKEN` on every request. Required when
    /// --http binds an address other than loopback.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PYSESSION_MCP_AUTH_TOKEN",
        hide_env_values = true
    )]
    pub auth_token: Option<String>,

    /// HTTP: browser origins allowed to call the server (`Origin` header); requests
    /// from other origins are refused. Default: loopback origins only.
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,

    /// HTTP: host names (or host:port) accepted in the `Host` header besides loopback
    /// ones, such as the public name of a proxy in front of a loopback server.
    #[arg(long, value_name = "HOST")]
    pub allow_host: Vec<String>,

    /// HTTP: this server's name among several behind a proxy (lowercase letters and
    /// digits). Session handles become `ps-NAME-<id>`, so that the proxy routes each
    /// back to this server by the handle alone (see deploy/ in the repository).
    #[arg(long, value_name = "NAME", value_parser = instance_name)]
    pub instance: Option<String>,

    /// HTTP: the largest request body accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub max_request_bytes: usize,
}

/// `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// A child python per session.
    Subprocess,
    /// In this process.
    Embedded,
}

/// `--tools`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ToolSet {
    /// execute_python, restart_session, list_variables, install_package, list_sessions,
    /// close_session.
    Native,
    /// ipybox's execute_ipython_cell, install_package and reset.
    Ipybox,
    /// ansys-common-mcp's execute_python_code.
    Ansys,
}

fn instance_name(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not an instance name: 1 to 32 lowercase letters and digits"
        ))
    }
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

impl Options {
    /// Checks what clap cannot, and reads the startup file.
    pub fn startup_code(&self) -> Result<String, String> {
        if self.backend == BackendChoice::Embedded
            && (self.memory_limit.is_some() || self.cpu_time_limit.is_some())
        {
            return Err(
                "--memory-limit and --cpu-time-limit limit a process of the session's own: \
                 use them with --backend subprocess"
                    .into(),
            );
        }
        match (&self.startup_code, &self.startup_file) {
            (Some(code), _) => Ok(code.clone()),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --startup-file {}: {e}", path.display())),
            (None, None) => Ok(String::new()),
        }
    }

    /// The default timeout of a call.
    pub fn default_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }

    /// A builder for a new session, with everything given on the command line.
    pub fn builder(&self, startup_code: &str) -> SessionBuilder {
        let mut b = pysession::Session::builder()
            .backend(match self.backend {
                BackendChoice::Subprocess => Backend::Subprocess,
                BackendChoice::Embedded => Backend::Embedded,
            })
            .timeout(self.default_timeout())
            .startup_code(startup_code);
        if let Some(python) = &self.python {
            b = b.python_executable(python);
        }
        if let Some(dir) = &self.working_directory {
            b = b.working_directory(dir);
        }
        if let Some(bytes) = self.memory_limit {
            b = b.memory_limit(bytes);
        }
        if let Some(seconds) = self.cpu_time_limit {
            b = b.cpu_time_limit(Duration::from_secs(seconds));
        }
        b.fork_server(!self.no_fork_server)
    }
}
