//! `--tools ipybox`: ipybox's MCP tools, with its names, parameters, defaults and
//! truncation text, on pysession sessions.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::compat;
use crate::render;
use crate::server::{refused, PythonServer};

/// Arguments of `execute_ipython_cell`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CellArgs {
    /// Code to execute in the IPython kernel.
    pub code: String,
    /// Maximum execution time in seconds.
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// Maximum number of characters of output to return.
    #[serde(default = "default_max_output_chars")]
    pub max_output_chars: usize,
}

fn default_timeout() -> f64 {
    120.0
}

fn default_max_output_chars() -> usize {
    5000
}

/// Arguments of `install_package`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PackageArgs {
    /// Package name, optionally with a version specifier.
    pub package_name: String,
}

/// ipybox's output: the text, cut to `limit` characters with its marker.
pub fn truncated(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let head: String = text.chars().take(limit).collect();
    format!("{head}\n[Output truncated: exceeded {limit} character limit]")
}

#[tool_router(router = ipybox_router, vis = "pub")]
impl PythonServer {
    #[tool(
        description = "Execute Python code in a stateful IPython kernel. Variables, imports and definitions persist across calls."
    )]
    async fn execute_ipython_cell(
        &self,
        Parameters(args): Parameters<CellArgs>,
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
        let r = match self.run(&session, &args.code, timeout, &ctx).await {
            Ok(r) => r,
            Err(e) => return Ok(refused(e)),
        };
        let mut text = String::new();
        text.push_str(&r.stdout);
        text.push_str(&r.stderr);
        if let Some(value) = &r.value {
            text.push_str(value);
            text.push('\n');
        }
        if let Some(e) = &r.error {
            text.push_str(if e.traceback.is_empty() {
                &e.message
            } else {
                &e.traceback
            });
        }
        let mut content = vec![ContentBlock::text(truncated(&text, args.max_output_chars))];
        for (data, mime) in render::images(&r) {
            content.push(ContentBlock::image(data, mime));
        }
        let mut result = CallToolResult::success(content);
        result.is_error = Some(!r.success());
        Ok(result)
    }

    #[tool(
        name = "install_package",
        description = "Install a Python package with pip."
    )]
    async fn ipybox_install_package(
        &self,
        Parameters(args): Parameters<PackageArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let (_, session) = match self.session(&ctx, None).await {
            Ok(s) => s,
            Err(refusal) => return Ok(refusal),
        };
        Ok(compat::pip_install(&session, &[args.package_name]).await)
    }

    #[tool(
        description = "Reset the IPython kernel: all variables, imports and definitions are cleared."
    )]
    async fn reset(&self, ctx: RequestContext<RoleServer>) -> Result<CallToolResult, ErrorData> {
        let (_, session) = match self.session(&ctx, None).await {
            Ok(s) => s,
            Err(refusal) => return Ok(refusal),
        };
        Ok(match session.restart_async().await {
            Ok(()) => {
                CallToolResult::success(vec![ContentBlock::text("Kernel reset successfully")])
            }
            Err(e) => refused(format!("the reset failed: {e}")),
        })
    }
}
