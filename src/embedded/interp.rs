//! The one interpreter of the process: initialised once, never finalised, with the
//! Python-side runtime (`python/pysession_runtime/`, listed in [`crate::runtime`])
//! loaded into it.

use std::collections::HashSet;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyModule, PyType};
use rustix::process::{Pid, Signal};

use super::ffi;
use crate::error::Error;
use crate::runtime as scripts;

/// Handles into the loaded runtime.
pub(crate) struct Runtime {
    /// The module whose functions the backend calls ([`scripts::HOST_MODULE`]).
    pub module: Py<PyModule>,
    pub stop_exception: Py<PyType>,
    pub version: (u8, u8),
    /// The shared libpython the process loaded (`None`: linked into the executable).
    pub libpython: Option<PathBuf>,
}

/// Why the interpreter could not be had, kept for every later session of the process.
enum Failure {
    /// The wrong Python was loaded: a configuration problem the user can fix.
    Config(String),
    /// The interpreter or the runtime failed to set up.
    Interpreter(String),
}

static RUNTIME: OnceLock<Result<Runtime, Failure>> = OnceLock::new();
static SITE_DIRS: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// The runtime, initialising the interpreter on first use.
pub(crate) fn runtime() -> Result<&'static Runtime, Error> {
    RUNTIME
        .get_or_init(initialize)
        .as_ref()
        .map_err(|e| match e {
            Failure::Config(m) => Error::Config(m.clone()),
            Failure::Interpreter(m) => Error::Interpreter(m.clone()),
        })
}

fn initialize() -> Result<Runtime, Failure> {
    let libpython = ffi::loaded_libpython();
    crate::python::check_libpython(libpython.as_deref())
        .map_err(|e| Failure::Config(e.to_string()))?;
    // Only the interpreter the crate was built for is named: a different library
    // (allowed by the user) would find another installation's standard library.
    // A host that set the interpreter up itself keeps the `sys.executable` it chose.
    let ours = !ffi::is_initialized();
    let executable = crate::python::default_executable()
        .filter(|_| ours && crate::python::is_built_for(libpython.as_deref()))
        .and_then(|p| p.to_str());
    if let Some(program) = executable {
        ffi::set_program_name(program);
    }
    Python::initialize();
    Python::attach(|py| load(py, executable, ours, libpython))
        .map_err(|e| Failure::Interpreter(e.to_string()))
}

/// Loads the runtime; `executable` is the `python` the interpreter is, if known, and
/// `guess` says whether to find one when it is not (not in a host's own interpreter).
fn load(
    py: Python<'_>,
    executable: Option<&str>,
    guess: bool,
    libpython: Option<PathBuf>,
) -> PyResult<Runtime> {
    let module = load_scripts(py)?;
    module.call_method1("install", (executable, guess))?;
    module.call_method1(
        "use_native_write",
        (py.get_type::<super::sink::StreamWrite>(),),
    )?;
    module.call_method1(
        "use_native_plan",
        (pyo3::wrap_pyfunction!(super::cellplan::plan_cell, py)?,),
    )?;
    let stop_exception = module
        .getattr("StopExecution")?
        .cast_into::<PyType>()?
        .unbind();
    let version = py.version_info();
    Ok(Runtime {
        module: module.unbind(),
        stop_exception,
        version: (version.major, version.minor),
        libpython,
    })
}

/// Loads the runtime's modules in their order, each into the package made first, and
/// hands the first (`config`) the constants; returns the host module.
fn load_scripts(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let modules = py.import("sys")?.getattr("modules")?;
    let package = PyModule::new(py, scripts::PACKAGE)?;
    modules.set_item(scripts::PACKAGE, &package)?;
    for (i, script) in scripts::embedded_scripts().enumerate() {
        let module = PyModule::from_code(
            py,
            &CString::new(script.source)?,
            &CString::new(script.file)?,
            &CString::new(script.name)?,
        )?;
        package.setattr(script.stem(), &module)?;
        if i == 0 {
            module.call_method1("configure", (scripts::constants_json(),))?;
        }
    }
    modules
        .get_item(scripts::HOST_MODULE)?
        .cast_into::<PyModule>()
        .map_err(Into::into)
}

/// The runtime's modules (as the embedded interpreter loads them) compiled once, each
/// as its name, file and code object in `marshal`'s bytes: a sub-interpreter loads
/// them from these bytes (0.8 ms) instead of compiling the sources again (about 40 ms).
/// Plain bytes, so nothing of this interpreter crosses into another.
#[cfg(all(feature = "subinterpreter", Py_3_12))]
pub(crate) fn marshalled_scripts() -> Result<&'static [Compiled], Error> {
    static COMPILED: OnceLock<Result<Vec<Compiled>, String>> = OnceLock::new();
    runtime()?;
    COMPILED
        .get_or_init(|| {
            Python::attach(|py| -> PyResult<Vec<Compiled>> {
                let compile = py.import("builtins")?.getattr("compile")?;
                let dumps = py.import("marshal")?.getattr("dumps")?;
                scripts::embedded_scripts()
                    .map(|s| {
                        let code = compile.call1((s.source, s.file, "exec"))?;
                        let bytes: Vec<u8> = dumps.call1((code,))?.extract()?;
                        Ok((s.name.to_owned(), s.file.to_owned(), bytes))
                    })
                    .collect()
            })
            .map_err(|e| e.to_string())
        })
        .as_deref()
        .map_err(|e| Error::Interpreter(format!("the runtime could not be compiled: {e}")))
}

/// One module of the runtime: its name, its file, and its code in `marshal`'s bytes.
#[cfg(all(feature = "subinterpreter", Py_3_12))]
pub(crate) type Compiled = (String, String, Vec<u8>);

/// A virtual environment an embedded session runs "in": what its code sees as
/// `sys.executable`, `sys.prefix` and its site-packages.
#[derive(Debug, Clone)]
pub(crate) struct Environment {
    pub executable: PathBuf,
    pub prefix: PathBuf,
    pub site_packages: Vec<PathBuf>,
}

/// Makes the packages of the environment of `python` importable in this interpreter,
/// after checking that it is the same Python version; `python` gets `timeout` (the
/// session's) to say which it is.
pub(crate) fn use_environment(python: &Path, timeout: Duration) -> Result<Environment, Error> {
    let environment = probe_environment(python, timeout)?;
    let rt = runtime()?;
    let mut added = SITE_DIRS.lock().unwrap_or_else(|p| p.into_inner());
    let added = added.get_or_insert_with(HashSet::new);
    let new: Vec<PathBuf> = environment
        .site_packages
        .iter()
        .filter(|d| !added.contains(*d))
        .cloned()
        .collect();
    if new.is_empty() {
        return Ok(environment);
    }
    Python::attach(|py| -> PyResult<()> {
        let module = rt.module.bind(py);
        for dir in &new {
            module.call_method1("add_site_dir", (dir,))?;
        }
        Ok(())
    })
    .map_err(|e| {
        Error::Config(format!(
            "cannot add the packages of {}: {e}",
            python.display()
        ))
    })?;
    added.extend(new);
    Ok(environment)
}

/// The virtual environment of `python`, checked to be of the interpreter's Python
/// version; `python` gets `timeout` (the session's) to say which it is.
pub(crate) fn probe_environment(python: &Path, timeout: Duration) -> Result<Environment, Error> {
    let rt = runtime()?;
    if !python.exists() {
        return Err(Error::NotFound {
            what: "python_executable",
            path: python.to_path_buf(),
        });
    }
    let probe = "import json, site, sys; print(json.dumps([sys.version_info[0], \
                 sys.version_info[1], site.getsitepackages(), sys.executable, sys.prefix]))";
    let out = probe_output(python, probe, timeout.min(PROBE_TIMEOUT))?;
    let (major, minor, dirs, executable, prefix): (u8, u8, Vec<PathBuf>, PathBuf, PathBuf) =
        serde_json::from_slice(&out).map_err(|e| {
            Error::Config(format!(
                "python_executable {} gave an unreadable answer: {e}",
                python.display()
            ))
        })?;
    if (major, minor) != rt.version {
        return Err(Error::Config(format!(
            "python_executable {} is Python {major}.{minor}, but the embedded interpreter is \
             Python {}.{}: an embedded session can only use packages built for its own \
             version. Make the virtual environment with Python {}.{}, build pysession with \
             PYO3_PYTHON pointing at Python {major}.{minor}, or use a subprocess session.",
            python.display(),
            rt.version.0,
            rt.version.1,
            rt.version.0,
            rt.version.1,
        )));
    }
    Ok(Environment {
        executable,
        prefix,
        site_packages: dirs,
    })
}

/// The most `python_executable` gets to report its version and paths, whatever the
/// session's timeout.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `python -I -c probe` and returns its standard output, or a clear error when it
/// fails or does not answer within `timeout`; then it is killed with everything it
/// started (it runs in a process group of its own).
fn probe_output(python: &Path, probe: &str, timeout: Duration) -> Result<Vec<u8>, Error> {
    use std::os::unix::process::CommandExt;
    let fail =
        |what: String| Error::Config(format!("python_executable {}: {what}", python.display()));
    let mut child = Command::new(python)
        .args(["-I", "-c", probe])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| fail(format!("cannot be run: {e}")))?;
    let begun = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if begun.elapsed() < timeout => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                // The group: a wrapper script's own children go too. Not reaped yet,
                // so its id is still this group's.
                if let Some(group) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
                    let _ = rustix::process::kill_process_group(group, Signal::KILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "did not report its version within {}",
                    crate::config::human(timeout)
                )));
            }
            Err(e) => return Err(fail(format!("cannot be waited for: {e}"))),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("cannot be read: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "failed to report its version: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}
