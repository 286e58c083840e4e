//! Starts an embedded and a subprocess session and prints, for each, one line of JSON
//! saying which Python it runs. `.ci/downstream` checks the lines against the Python
//! this binary was built for; each session also stops an endless loop at its timeout
//! and then still works.

use std::process::ExitCode;

use pysession::{Backend, Session};

/// Run in each session after `BACKEND = "..."`. Asks the session's own interpreter and
/// then the program its `sys.executable` names, since either can be the wrong one.
const REPORT: &str = r#"
import json, subprocess, sys
try:
    _run = subprocess.run([sys.executable, "-c", "import sys; print(sys.version)"],
                          capture_output=True, text=True, timeout=60)
    _words = _run.stdout.split()
    _exe_version = _words[0] if _run.returncode == 0 and _words else None
    _exe_error = None if _exe_version else f"exit status {_run.returncode}: {_run.stderr.strip()}"
except Exception as e:
    _exe_version, _exe_error = None, f"{type(e).__name__}: {e}"
# The libpython files mapped into this process, as the dynamic loader found them.
with open("/proc/self/maps") as _maps:
    _libpython = sorted({_f[5].strip() for _f in (_l.split(None, 5) for _l in _maps)
                         if len(_f) == 6 and "/libpython" in _f[5]})
print(json.dumps({
    "backend": BACKEND,
    "version": "%d.%d.%d" % sys.version_info[:3],
    "executable": sys.executable,
    "prefix": sys.prefix,
    "executable_version": _exe_version,
    "executable_error": _exe_error,
    "libpython": _libpython,
}))
"#;

fn report(backend: Backend, name: &str) -> Result<String, String> {
    let session = Session::builder()
        .backend(backend)
        .start()
        .map_err(|e| format!("the session did not start: {e}"))?;
    let code = format!("BACKEND = {name:?}\n{REPORT}");
    let result = session
        .execute(&code)
        .map_err(|e| format!("execute failed: {e}"))?;
    if let Some(error) = &result.error {
        return Err(format!(
            "the report code raised {}: {}\n{}",
            error.type_name, error.message, error.traceback
        ));
    }
    if !result.success() {
        return Err(format!("the report code ended {}", result.status.as_str()));
    }
    survives_a_timeout(&session)?;
    with_python_info(&session, result.stdout.trim_end())
}

/// Code stopped at its timeout leaves the session (and the process: stopping embedded
/// code once aborted it on 3.12) working.
fn survives_a_timeout(session: &Session) -> Result<(), String> {
    let stopped = session
        .execute_with_timeout("while True: pass", std::time::Duration::from_millis(200))
        .map_err(|e| format!("execute with a timeout failed: {e}"))?;
    if stopped.status != pysession::Status::Timeout {
        return Err(format!("an endless loop ended {}", stopped.status.as_str()));
    }
    let after = session
        .execute("1 + 1")
        .map_err(|e| format!("execute after a timeout failed: {e}"))?;
    match after.value.as_deref() {
        Some("2") => Ok(()),
        other => Err(format!("1 + 1 after a timeout gave {other:?}")),
    }
}

/// The report line with `"python_info"`: what the session says about itself.
fn with_python_info(session: &Session, line: &str) -> Result<String, String> {
    let info = session
        .python_info()
        .map_err(|e| format!("python_info() failed: {e}"))?;
    let mut report: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| format!("the report line is not JSON ({e}): {line}"))?;
    let info = serde_json::to_value(&info).map_err(|e| format!("python_info(): {e}"))?;
    match report.as_object_mut() {
        Some(fields) => fields.insert("python_info".to_owned(), info),
        None => return Err(format!("the report line is not a JSON object: {line}")),
    };
    Ok(report.to_string())
}

fn main() -> ExitCode {
    let mut failed = false;
    for (backend, name) in [
        (Backend::Embedded, "embedded"),
        (Backend::Subprocess, "subprocess"),
    ] {
        match report(backend, name) {
            Ok(line) => println!("{line}"),
            Err(message) => {
                eprintln!("{name}: {message}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
