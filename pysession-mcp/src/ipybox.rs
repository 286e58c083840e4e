//! `--tools ipybox`: the tools of ipybox's MCP server (0.9.2), with its names,
//! descriptions, parameters, defaults and result texts, on pysession sessions.
//! ipybox's fourth tool, `register_mcp_server`, generates client code for other MCP
//! servers, which is not this server's job: it is left out rather than stubbed.

use std::path::{Path, PathBuf};

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::render::or_refuse;
use crate::render::refused;
use crate::server::PythonServer;

/// Arguments of `execute_ipython_cell`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CellArgs {
    /// Python code to execute in the IPython kernel
    pub code: String,
    /// Maximum execution time in seconds before kernel interruption
    #[serde(default = "default_timeout")]
    #[schemars(default = "default_timeout")]
    pub timeout: f64,
    /// Maximum number of characters to return in output (truncates if exceeded)
    #[serde(default = "default_max_output_chars")]
    #[schemars(default = "default_max_output_chars")]
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
    /// Package spec (name, name==version, or git+https://... URL).
    pub package_name: String,
}

/// IPython's shell escape, which ipybox's kernel runs: a line `!cmd` runs `cmd` in a
/// shell and shows its output. Other IPython syntax (`%magic`) is not supported.
pub fn shell_escapes(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for line in code.lines() {
        let body = line.trim_start();
        match body.strip_prefix('!') {
            Some(cmd) if !cmd.starts_with('=') => {
                let indent = &line[..line.len() - body.len()];
                let literal = serde_json::to_string(cmd.trim()).unwrap_or_default();
                out.push_str(&format!(
                    "{indent}print(__import__('subprocess').run({literal}, shell=True, stdout=-1, \
                     stderr=-2, text=True).stdout, end='')"
                ));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// ipybox's cut: the first `limit` characters and its notice, when the text is longer.
pub fn truncated(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let head: String = text.chars().take(limit).collect();
    format!("{head}\n\n[Output truncated: exceeded {limit} character limit]")
}

/// Where ipybox keeps the images of a cell: `images/` in the working directory.
fn images_dir() -> PathBuf {
    std::env::current_dir()
        .unwrap_or_else(|_| PathBuf::from("."))
        .join("images")
}

/// Writes a PNG as `images/<8 hex>.png` and returns its path.
fn save_png(dir: &Path, png: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let path = dir.join(format!("{}.png", &id[..8]));
    std::fs::write(&path, png)?;
    Ok(path)
}

/// The error text FastMCP gives an exception of ipybox's tool.
fn tool_error(text: impl AsRef<str>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!(
        "Error executing tool execute_ipython_cell: {}",
        text.as_ref()
    ))])
}

#[tool_router(router = ipybox_router, vis = "pub")]
impl PythonServer {
    #[tool(
        name = "install_package",
        description = "Install a Python package via pip.\n\n        Installed packages persist across reset() calls and are immediately importable.\n        Supports version specifiers (e.g., \"numpy>=1.20.0\") and git URLs.\n\n        Args:\n            package_name: Package spec (name, name==version, or git+https://... URL).\n\n        Returns:\n            Pip output including success messages, warnings, and errors.\n        "
    )]
    async fn ipybox_install_package(
        &self,
        Parameters(args): Parameters<PackageArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let (_, session) = or_refuse!(self.session(&ctx, None).await);
        // ipybox returns pip's stdout then its stderr, and never flags a failure.
        let text = match crate::compat::pip(&session, &[args.package_name], &["--no-input"]).await {
            Ok((stdout, stderr, _)) => format!("{stdout}{stderr}"),
            Err(e) => e,
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }

    #[tool(
        description = "Execute Python code in a stateful IPython kernel.\n\n        State (variables, imports, definitions) persists across calls. Executions are sequential.\n        For async code, use 'await' directly (kernel has an active event loop).\n\n        Returns:\n            Execution output (stdout, stderr, last expression) plus image paths as markdown links.\n            Empty string if no output.\n\n        Raises:\n            ExecutionError: Code raised an exception (includes traceback).\n            ToolRunnerError: MCP tool call failed.\n            asyncio.TimeoutError: Execution exceeded timeout.\n        "
    )]
    async fn execute_ipython_cell(
        &self,
        Parameters(args): Parameters<CellArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let timeout = or_refuse!(self.timeout(Some(args.timeout)));
        let (_, session) = or_refuse!(self.session(&ctx, None).await);
        let code = shell_escapes(&args.code);
        let (r, mut text) = match self.run_transcribed(&session, &code, timeout, &ctx).await {
            Ok(ran) => ran,
            Err(e) => return Ok(refused(e)),
        };
        match r.status {
            pysession::Status::Ok => {}
            // asyncio.timeout's TimeoutError has no message: ipybox's text ends there.
            pysession::Status::Timeout | pysession::Status::Interrupted => {
                return Ok(tool_error(""))
            }
            _ => {
                let error = match &r.error {
                    Some(e) => format!("{}: {}\n{}", e.type_name, e.message, e.traceback),
                    None => format!("{}", r.status),
                };
                return Ok(tool_error(error));
            }
        }
        if let Some(value) = &r.value {
            text.push_str(value);
        }
        let mut output = text.trim().to_owned();
        let pngs: Vec<&[u8]> = r
            .display
            .iter()
            .chain(&r.background_display)
            .filter_map(|d| d.png())
            .collect();
        if !pngs.is_empty() {
            output.push_str("\n\nGenerated images:\n\n");
            let dir = images_dir();
            for png in pngs {
                match save_png(&dir, png) {
                    Ok(path) => {
                        let stem = path
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        output.push_str(&format!("- [{stem}]({})\n", path.display()));
                    }
                    Err(e) => output.push_str(&format!("- (an image could not be saved: {e})\n")),
                }
            }
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(
            truncated(&output, args.max_output_chars),
        )]))
    }

    #[tool(
        description = "Reset the IPython kernel to a clean state.\n\n        Creates a new kernel, clearing all variables, imports, and definitions.\n\n        - Cleared: all in-memory state, MCP server connections (auto-reconnect on next use)\n        - Persists: installed packages, filesystem files, mcptools/ directory\n        "
    )]
    async fn reset(&self, ctx: RequestContext<RoleServer>) -> Result<CallToolResult, ErrorData> {
        let (_, session) = or_refuse!(self.session(&ctx, None).await);
        Ok(match session.restart_async().await {
            Ok(()) => CallToolResult::success(Vec::new()),
            Err(e) => refused(format!("Error executing tool reset: {e}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::truncated;

    #[test]
    fn shell_escapes_become_subprocess_calls_and_other_lines_stay() {
        let code = "x = 1\n!echo shell\nif x:\n    !ls -l\ny = x != 2";
        let out = super::shell_escapes(code);
        assert!(
            out.contains("print(__import__('subprocess').run(\"echo shell\""),
            "{out}"
        );
        assert!(
            out.contains("\n    print(__import__('subprocess').run(\"ls -l\""),
            "{out}"
        );
        assert!(
            out.starts_with("x = 1\n") && out.ends_with("y = x != 2\n"),
            "{out}"
        );
    }

    #[test]
    fn truncation_keeps_the_head_and_appends_ipyboxs_notice() {
        let text = "x".repeat(60);
        assert_eq!(
            truncated(&text, 50),
            format!(
                "{}\n\n[Output truncated: exceeded 50 character limit]",
                "x".repeat(50)
            )
        );
        assert_eq!(truncated(&"y".repeat(50), 50), "y".repeat(50));
    }
}
