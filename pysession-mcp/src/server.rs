//! The MCP handler: the tools, over any transport.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use pysession::{Event, ExecutionResult, Session, Status};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, JsonObject, ProgressNotificationParam,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_handler, tool_router, ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::compat;
use crate::options::ToolSet;
use crate::render::{self, or_refuse, refused};
use crate::sessions::{Owner, Store};

/// A connection's hold on its sessions: when the last clone of its handler goes (the
/// stdio client or the MCP session over HTTP ended), its sessions are closed.
struct Connection {
    id: u64,
    store: Arc<Store>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.store.disconnect(self.id);
    }
}

/// The server as one client sees it.
#[derive(Clone)]
pub struct PythonServer {
    store: Arc<Store>,
    connection: Arc<Connection>,
    tool_router: ToolRouter<PythonServer>,
}

// `session` is mirrored into an `Mcp-Param-Session` header by clients of MCP 2026-07-28
// (SEP-2243), so that a proxy can route a call to the server that holds the session
// without reading the body; the annotation needs a plain string type.

/// Arguments of `execute_python`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExecuteArgs {
    /// Python source to run, like a cell of a notebook: any number of statements; the
    /// value of a last expression is returned.
    pub code: String,
    /// Seconds the code may run before it is stopped (state kept). Default: the
    /// server's --timeout.
    #[serde(default)]
    pub timeout_seconds: Option<f64>,
    /// Characters of stdout, stderr and value to return (head and tail kept).
    /// Default: the server's --max-output-chars.
    #[serde(default)]
    pub max_output_chars: Option<usize>,
    /// Which session to run in: a name of your choice (created on first use;
    /// default "default"), or, without a connection, the handle a result returned.
    #[serde(default)]
    #[schemars(with = "String", extend("x-mcp-header" = "Session"))]
    pub session: Option<String>,
}

/// Arguments of the tools that only name a session.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SessionArgs {
    /// The session: a name (default "default"), or the handle a result returned.
    #[serde(default)]
    #[schemars(with = "String", extend("x-mcp-header" = "Session"))]
    pub session: Option<String>,
}

/// Arguments of `install_package`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct InstallArgs {
    /// Package requirements as pip takes them: `numpy`, `pandas>=2`, ...
    pub packages: Vec<String>,
    /// The session whose Python gets them (default "default").
    #[serde(default)]
    #[schemars(with = "String", extend("x-mcp-header" = "Session"))]
    pub session: Option<String>,
}

/// The longest timeout a call may ask for: a day.
pub const LONGEST_CALL: Duration = Duration::from_secs(86_400);

impl PythonServer {
    /// A handler for one client, offering `tools`.
    pub fn new(store: Arc<Store>, tools: ToolSet) -> PythonServer {
        let connection = Arc::new(Connection {
            id: store.connect(),
            store: store.clone(),
        });
        let tool_router = match tools {
            ToolSet::Native => Self::native_router(),
            ToolSet::Ipybox => Self::ipybox_router(),
            ToolSet::Ansys => Self::ansys_router(),
        };
        PythonServer {
            store,
            connection,
            tool_router,
        }
    }

    /// Whose sessions a request may use: this connection's, or (over HTTP without an
    /// MCP session) none but the handles it names.
    pub fn owner(&self, ctx: &RequestContext<RoleServer>) -> Owner {
        match ctx.extensions.get::<axum::http::request::Parts>() {
            Some(parts) if !parts.headers.contains_key("mcp-session-id") => Owner::Sessionless,
            _ => Owner::Connection(self.connection.id),
        }
    }

    /// The session a call names, started on first use.
    pub async fn session(
        &self,
        ctx: &RequestContext<RoleServer>,
        name: Option<&str>,
    ) -> Result<(String, Arc<Session>), CallToolResult> {
        self.store
            .get(&self.owner(ctx), name)
            .await
            .map_err(refused)
    }

    /// The server's options.
    pub fn options(&self) -> &crate::options::Options {
        self.store.options()
    }

    /// Runs `code`, sending its output as progress notifications while it runs when
    /// the request has a progress token, and interrupting it when the client cancels
    /// the request (status `interrupted`, state kept).
    pub async fn run(
        &self,
        session: &Session,
        code: &str,
        timeout: Duration,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ExecutionResult, String> {
        if ctx.meta.get_progress_token().is_some() {
            return self
                .run_transcribed(session, code, timeout, ctx)
                .await
                .map(|(r, _)| r);
        }
        // Nothing to stream: the session's async fast path answers a quick call with
        // no thread hand-off.
        let interrupt = session.interrupt_handle();
        let execute = session.execute_with_timeout_async(code, timeout);
        tokio::pin!(execute);
        tokio::select! {
            r = &mut execute => r.map_err(|e| e.to_string()),
            () = ctx.ct.cancelled() => {
                interrupt.interrupt();
                execute.await.map_err(|e| e.to_string())
            }
        }
    }

    /// [`run`](Self::run), also returning the output in the order it was written:
    /// stdout, stderr and the plain text of displays, interleaved as they came.
    pub async fn run_transcribed(
        &self,
        session: &Session,
        code: &str,
        timeout: Duration,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<(ExecutionResult, String), String> {
        let mut transcript = String::new();
        let mut execution = session
            .submit_with_timeout(code, timeout)
            .map_err(|e| e.to_string())?;
        let progress = ctx.meta.get_progress_token();
        let interrupt = session.interrupt_handle();
        let mut cancelled = false;
        let mut sent = 0u32;
        loop {
            let next = poll_fn(|cx| Pin::new(&mut execution).poll_next(cx));
            let event = tokio::select! {
                event = next => event,
                () = ctx.ct.cancelled(), if !cancelled => {
                    cancelled = true;
                    interrupt.interrupt();
                    continue;
                }
            };
            let text = match event {
                Some(Event::Finished(result)) => {
                    return result.map(|r| (r, transcript)).map_err(|e| e.to_string())
                }
                None => return Err("the execution ended without a result".into()),
                Some(Event::Stdout(text)) => {
                    transcript.push_str(&text);
                    text
                }
                Some(Event::Stderr(text)) => {
                    transcript.push_str(&text);
                    format!("[stderr] {text}")
                }
                Some(Event::Display(item)) => {
                    if !item.is_value {
                        if let Some(plain) = item.plain() {
                            transcript.push_str(plain);
                            transcript.push('\n');
                        }
                    }
                    continue;
                }
                Some(_) => continue,
            };
            if let Some(token) = &progress {
                sent += 1;
                let note = ProgressNotificationParam::new(token.clone(), f64::from(sent))
                    .with_message(text);
                // A client that stopped listening still gets its result.
                let _ = ctx.peer.notify_progress(note).await;
            }
        }
    }

    /// The timeout a call asks for, or the server's.
    pub fn timeout(&self, seconds: Option<f64>) -> Result<Duration, CallToolResult> {
        match seconds {
            None => Ok(self.options().default_timeout()),
            Some(s) if s.is_finite() && s > 0.0 && s <= LONGEST_CALL.as_secs_f64() => {
                Ok(Duration::from_secs_f64(s))
            }
            Some(s) => Err(refused(format!(
                "timeout_seconds must be a number of seconds above 0 and at most {}, not {s}",
                LONGEST_CALL.as_secs()
            ))),
        }
    }
}

/// The structured form of a result: its JSON.
fn structured(r: &ExecutionResult) -> Option<serde_json::Value> {
    serde_json::to_value(r).ok()
}

/// The output schema of `execute_python`: the JSON of a pysession `ExecutionResult`.
fn execution_schema() -> Arc<JsonObject> {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok", "error", "timeout", "interrupted", "restarted"]},
            "success": {"type": "boolean"},
            "stdout": {"type": "string"},
            "stderr": {"type": "string"},
            "value": {"type": ["string", "null"]},
            "error": {
                "type": ["object", "null"],
                "properties": {
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                    "traceback": {"type": "string"}
                }
            },
            "duration_ms": {"type": ["number", "null"]},
            "stdout_truncated_bytes": {"type": "integer"},
            "stderr_truncated_bytes": {"type": "integer"},
            "background_stdout": {"type": "string"},
            "background_stderr": {"type": "string"},
            "display": {"type": "array", "items": {"type": "object"}},
            "display_dropped": {"type": "integer"},
            "background_display": {"type": "array", "items": {"type": "object"}},
            "session": {"type": "string"}
        },
        "required": ["status", "success", "stdout", "stderr"]
    });
    match schema {
        serde_json::Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

/// The whole answer to an execute: text, images, the JSON, `isError` unless ok.
pub fn executed(r: &ExecutionResult, max_chars: usize, session: &str) -> CallToolResult {
    let mut content = vec![ContentBlock::text(render::text(
        r,
        max_chars,
        Some(session),
    ))];
    for (data, mime) in render::images(r) {
        content.push(ContentBlock::image(data, mime));
    }
    let mut result = CallToolResult::success(content);
    let mut json = structured(r);
    if let Some(serde_json::Value::Object(map)) = json.as_mut() {
        map.insert("session".into(), session.into());
    }
    result.structured_content = json;
    result.is_error = Some(r.status != Status::Ok);
    result
}

#[tool_router(router = native_router, vis = "pub")]
impl PythonServer {
    #[tool(
        description = "Run Python code in a persistent session: variables, imports and functions are kept between calls. Returns stdout, stderr, the value of the last expression, the traceback of an error, and images (matplotlib figures, display()) as image content.",
        output_schema = execution_schema()
    )]
    async fn execute_python(
        &self,
        Parameters(args): Parameters<ExecuteArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let timeout = or_refuse!(self.timeout(args.timeout_seconds));
        let (name, session) = or_refuse!(self.session(&ctx, args.session.as_deref()).await);
        let max = args
            .max_output_chars
            .unwrap_or(self.options().max_output_chars);
        match self.run(&session, &args.code, timeout, &ctx).await {
            Ok(r) => Ok(executed(&r, max, &name)),
            Err(e) => Ok(refused(format!("the code could not be run: {e}"))),
        }
    }

    #[tool(
        description = "Restart a Python session: all variables and imports are dropped and the startup code runs again."
    )]
    async fn restart_session(
        &self,
        Parameters(args): Parameters<SessionArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let (name, session) = or_refuse!(self.session(&ctx, args.session.as_deref()).await);
        Ok(match session.restart_async().await {
            Ok(()) => CallToolResult::success(vec![ContentBlock::text(format!(
                "session {name} restarted: fresh state"
            ))]),
            Err(e) => refused(format!("session {name} could not be restarted: {e}")),
        })
    }

    #[tool(
        description = "List the variables of a Python session with their types and short reprs."
    )]
    async fn list_variables(
        &self,
        Parameters(args): Parameters<SessionArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let (name, session) = or_refuse!(self.session(&ctx, args.session.as_deref()).await);
        let vars = match session.variables_async().await {
            Ok(v) => v,
            Err(e) => return Ok(refused(format!("cannot list the variables: {e}"))),
        };
        let mut text = format!("{} variable(s) in session {name}\n", vars.len());
        for v in &vars {
            text.push_str(&format!("{}: {} = {}\n", v.name, v.type_name, v.repr));
        }
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(serde_json::json!({
            "session": name,
            "variables": vars,
        }));
        Ok(result)
    }

    #[tool(
        description = "Install Python packages with pip into the Python the session runs, then make them importable in it. Returns pip's output."
    )]
    async fn install_package(
        &self,
        Parameters(args): Parameters<InstallArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let (_, session) = or_refuse!(self.session(&ctx, args.session.as_deref()).await);
        Ok(compat::pip_install(&session, &args.packages).await)
    }

    #[tool(description = "List this client's Python sessions.")]
    async fn list_sessions(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let owner = self.owner(&ctx);
        let names = self.store.names(&owner);
        let text = match (&owner, names.is_empty()) {
            (Owner::Sessionless, _) => "without a connection, sessions are handles: each result \
                                        names the handle of its session"
                .to_owned(),
            (_, true) => "no sessions yet: execute_python starts one".to_owned(),
            (_, false) => names.join("\n"),
        };
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(serde_json::json!({ "sessions": names }));
        Ok(result)
    }

    #[tool(
        description = "Close a Python session: its process or thread ends and its state is gone."
    )]
    async fn close_session(
        &self,
        Parameters(args): Parameters<SessionArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let name = args.session.unwrap_or_else(|| "default".to_owned());
        Ok(if self.store.close(&self.owner(&ctx), &name) {
            CallToolResult::success(vec![ContentBlock::text(format!("session {name} closed"))])
        } else {
            refused(format!("no session {name:?} to close"))
        })
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for PythonServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Runs Python in persistent sessions: state is kept between calls. Each \
                 result says whether the code succeeded, what it printed, the value of its \
                 last expression and any traceback.",
            )
    }
}
