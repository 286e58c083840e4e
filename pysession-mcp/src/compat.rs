//! pip, and the tool sets of the servers users switch from: ipybox's and
//! ansys-common-mcp's names, parameters, defaults and result texts.

use std::time::Duration;

use pysession::Session;
use rmcp::model::{CallToolResult, ContentBlock};

use crate::render::refused;

/// How long pip may take.
const PIP_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs `python -m pip install` of the session's own interpreter, then lets the
/// session import what it installed. The text is pip's output; an error when pip
/// failed.
pub async fn pip_install(session: &Session, packages: &[String]) -> CallToolResult {
    match install(session, packages).await {
        Ok(out) => CallToolResult::success(vec![ContentBlock::text(out)]),
        Err(e) => refused(e),
    }
}

/// pip's output, or why it failed.
pub async fn install(session: &Session, packages: &[String]) -> Result<String, String> {
    let (stdout, stderr, status) = pip(
        session,
        packages,
        &["--disable-pip-version-check", "--no-input"],
    )
    .await?;
    let text = format!("{stdout}{stderr}");
    if !status.success() {
        return Err(format!(
            "pip install {} failed ({status}):\n{text}",
            packages.join(" ")
        ));
    }
    Ok(text)
}

/// Runs `python -m pip install FLAGS PACKAGES` of the session's own interpreter; then
/// the session can import what it installed. Returns pip's stdout, stderr and status.
pub async fn pip(
    session: &Session,
    packages: &[String],
    flags: &[&str],
) -> Result<(String, String, std::process::ExitStatus), String> {
    if packages.is_empty() {
        return Err("no packages given".into());
    }
    if let Some(bad) = packages
        .iter()
        .find(|p| p.trim().is_empty() || p.starts_with('-'))
    {
        return Err(format!(
            "{bad:?} is not a package requirement (options are not passed to pip)"
        ));
    }
    let info = session
        .python_info_async()
        .await
        .map_err(|e| format!("cannot tell which Python the session runs: {e}"))?;
    let mut cmd = tokio::process::Command::new(&info.executable);
    cmd.args(["-m", "pip", "install"])
        .args(flags)
        .args(packages)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(PIP_TIMEOUT, cmd.output()).await {
        Err(_) => return Err(format!("pip did not finish within {PIP_TIMEOUT:?}")),
        Ok(Err(e)) => {
            return Err(format!(
                "cannot run {} -m pip: {e}",
                info.executable.display()
            ))
        }
        Ok(Ok(out)) => out,
    };
    // New distributions on sys.path become importable at once.
    let _ = session
        .execute_async("import importlib as _il; _il.invalidate_caches(); del _il")
        .await;
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status,
    ))
}
