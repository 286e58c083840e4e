//! `--tools ansys`: ansys-common-mcp's `execute_python_code`, returning the JSON text
//! its tool returns, on pysession sessions.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::server::{refused, PythonServer};

/// Arguments of `execute_python_code`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CodeArgs {
    /// Python code to execute in the persistent session.
    pub code: String,
    /// Timeout in seconds.
    #[serde(default = "default_timeout")]
    pub timeout: f64,
}

fn default_timeout() -> f64 {
    60.0
}

/// The JSON text of a result, with ansys-common-mcp's keys.
pub fn json_text(r: &pysession::ExecutionResult) -> String {
    let mut out = serde_json::Map::new();
    out.insert("success".into(), r.success().into());
    let mut stdout = r.stdout.clone();
    if let Some(value) = &r.value {
        stdout.push_str(value);
        stdout.push('\n');
    }
    out.insert("stdout".into(), stdout.into());
    out.insert("stderr".into(), r.stderr.clone().into());
    match &r.error {
        None => {
            out.insert("message".into(), "Code executed successfully".into());
        }
        Some(e) => {
            let text = if e.traceback.is_empty() {
                format!("{}: {}", e.type_name, e.message)
            } else {
                e.traceback.clone()
            };
            out.insert("error".into(), text.into());
        }
    }
    serde_json::Value::Object(out).to_string()
}

#[tool_router(router = ansys_router, vis = "pub")]
impl PythonServer {
    #[tool(
        description = "Execute Python code in a persistent Python session. Variables and imports persist between calls."
    )]
    async fn execute_python_code(
        &self,
        Parameters(args): Parameters<CodeArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let timeout = match self.timeout(Some(args.timeout)) {
            Ok(t) => t,
            Err(refusal) => return Ok(refusal),
        };
        let (_, session) = match self.session(&ctx, None).await {
            Ok(s) => s,
            Err(refusal) => return Ok(refusal),
        };
        Ok(match self.run(&session, &args.code, timeout, &ctx).await {
            Ok(r) => CallToolResult::success(vec![ContentBlock::text(json_text(&r))]),
            Err(e) => refused(e),
        })
    }
}
