//! `--tools ansys`: ansys-common-mcp's `execute_python_code` (0.3.2), returning the JSON
//! text it returns: keys `success`, `stdout`, `stderr`, then `message` or `error`, in
//! that order, indented by two, pure ASCII, with its messages.
//!
//! What is kept of the original: the shape, the key order, the indentation, the
//! messages and the ASCII output. What is not: its REPL artefacts (`>>> ` prompts in
//! stderr, every expression echoed, blocks that need a blank line), success guessed from
//! words in stderr, code that keeps running after its timeout or that is cut off after a
//! second of silence, and non-ASCII characters of the *code* turned into `?` before it
//! runs. Here success is whether the code raised, a timeout stops the code (state kept),
//! and the value of a last expression is echoed as a REPL would.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::server::PythonServer;

/// Arguments of `execute_python_code`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CodeArgs {
    /// Python code to execute in the persistent session.
    pub code: String,
    /// Timeout in seconds.
    #[serde(default = "default_timeout")]
    #[schemars(default = "default_timeout")]
    pub timeout: u64,
}

fn default_timeout() -> u64 {
    60
}

#[derive(Serialize)]
struct Succeeded<'a> {
    success: bool,
    stdout: &'a str,
    stderr: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct Failed<'a> {
    success: bool,
    stdout: &'a str,
    stderr: &'a str,
    error: &'a str,
}

#[derive(Serialize)]
struct Broken<'a> {
    success: bool,
    error: &'a str,
}

/// The original's substitutions, then `?` for any other non-ASCII character.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '✓' => out.push_str("[OK]"),
            '✗' => out.push_str("[X]"),
            '└' | '┐' => out.push('\\'),
            '│' | '▌' | '▐' => out.push('|'),
            '─' => out.push('-'),
            '┌' | '┘' => out.push('/'),
            '█' | '▉' | '▊' => out.push('#'),
            '¹' => out.push_str("^1"),
            '²' => out.push_str("^2"),
            '³' => out.push_str("^3"),
            '⁴' => out.push_str("^4"),
            '⁵' => out.push_str("^5"),
            '⁶' => out.push_str("^6"),
            '⁷' => out.push_str("^7"),
            '⁸' => out.push_str("^8"),
            '⁹' => out.push_str("^9"),
            '⁰' => out.push_str("^0"),
            '•' | '‣' | '∙' => out.push('*'),
            '\u{a0}' => out.push(' '),
            '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{feff}' => {}
            c if c.is_ascii() => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// Lines right-stripped and joined by `\n`, no trailing newline, as the original
/// collects them.
fn lines(text: &str) -> String {
    let joined: Vec<&str> = text.lines().map(str::trim_end).collect();
    sanitize(&joined.join("\n"))
}

/// The original's compact form, for a call that could not run at all.
fn broken(error: &str) -> String {
    serde_json::to_string(&Broken {
        success: false,
        error,
    })
    .unwrap_or_default()
}

fn pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The JSON text of a result.
pub fn json_text(r: &pysession::ExecutionResult, timeout: u64) -> String {
    let mut stdout = r.stdout.clone();
    if let Some(value) = &r.value {
        if !stdout.is_empty() && !stdout.ends_with('\n') {
            stdout.push('\n');
        }
        stdout.push_str(value);
    }
    let stdout = lines(&stdout);
    match (&r.status, &r.error) {
        (pysession::Status::Ok, _) => pretty(&Succeeded {
            success: true,
            stdout: &stdout,
            stderr: &lines(&r.stderr),
            message: "Python code executed successfully.",
        }),
        (pysession::Status::Timeout, _) => pretty(&Failed {
            success: false,
            stdout: &stdout,
            stderr: &lines(&r.stderr),
            error: &format!("Code execution timed out after {timeout} seconds."),
        }),
        (_, error) => {
            let error = match error {
                Some(e) if !e.traceback.is_empty() => e.traceback.clone(),
                Some(e) => format!("{}: {}", e.type_name, e.message),
                None => format!("the code ended with status {}", r.status),
            };
            // The original's stderr is the traceback (a REPL prints it there).
            let mut stderr = r.stderr.clone();
            stderr.push_str(&error);
            pretty(&Failed {
                success: false,
                stdout: &stdout,
                stderr: &lines(&stderr),
                error: &lines(&error),
            })
        }
    }
}

#[tool_router(router = ansys_router, vis = "pub")]
impl PythonServer {
    #[tool(description = "Execute Python code in the persistent Python session.")]
    async fn execute_python_code(
        &self,
        Parameters(args): Parameters<CodeArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.ansys_execute(args, ctx).await
    }

    /// The name pymapdl-mcp, the Ansys server built on that library function, gives it.
    #[tool(description = "Execute Python code in the persistent Python session.")]
    async fn run_python_code(
        &self,
        Parameters(args): Parameters<CodeArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.ansys_execute(args, ctx).await
    }
}

impl PythonServer {
    async fn ansys_execute(
        &self,
        args: CodeArgs,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let text = |t: String| Ok(CallToolResult::success(vec![ContentBlock::text(t)]));
        if args.timeout == 0 {
            return text(broken(
                "Error executing Python code: timeout must be at least 1 second",
            ));
        }
        let timeout = std::time::Duration::from_secs(args.timeout);
        let session = match self.session(&ctx, None).await {
            Ok((_, s)) => s,
            Err(_) => return text(broken(
                "No Python session available. The persistent Python session was not initialized.",
            )),
        };
        match self.run(&session, &args.code, timeout, &ctx).await {
            Ok(r) => text(json_text(&r, args.timeout)),
            Err(e) => text(broken(&sanitize(&format!(
                "Error executing Python code: {e}"
            )))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_pretty_json_in_the_originals_key_order() {
        let mut r = pysession::ExecutionResult::default();
        r.stdout = "hello\nworld\n".into();
        assert_eq!(
            json_text(&r, 60),
            "{\n  \"success\": true,\n  \"stdout\": \"hello\\nworld\",\n  \"stderr\": \"\",\n  \"message\": \"Python code executed successfully.\"\n}"
        );
    }

    #[test]
    fn output_is_ascii_with_the_originals_substitutions() {
        assert_eq!(sanitize("café ✓ 中 x²"), "caf? [OK] ? x^2");
    }
}
