//! Which Python: the one the crate was built for, the one a session runs, and the
//! check that they are the same.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Backend;
use crate::error::Error;

/// What a session reports about the Python it runs, read from the session itself
/// ([`Session::python_info`](crate::Session::python_info)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PythonInfo {
    /// The backend the session runs on.
    pub backend: Backend,
    /// `platform.python_version()`, such as `"3.11.2"`.
    pub version: String,
    /// `sys.version`: the version with the build's date and compiler.
    pub sys_version: String,
    /// `sys.executable` as the session's code sees it: a `python` that runs this same
    /// interpreter with the session's packages (a virtual environment's `python` when
    /// the session was given one).
    pub executable: PathBuf,
    /// `sys._base_executable`: the interpreter itself, outside any virtual environment.
    pub base_executable: PathBuf,
    /// `sys.prefix`: the virtual environment, or the installation.
    pub prefix: PathBuf,
    /// `sys.base_prefix`: the installation.
    pub base_prefix: PathBuf,
    /// `site.getsitepackages()` of the session's environment: where its packages are.
    pub site_packages: Vec<PathBuf>,
    /// The process the code runs in: this one for an embedded session, the child's for
    /// a subprocess session.
    pub pid: u32,
    /// Embedded sessions: the shared libpython this process loaded (`None` when it is
    /// linked into the executable). `None` for subprocess sessions.
    pub libpython: Option<PathBuf>,
    /// The Python this crate was built for.
    pub built_for: BuildPython,
    /// How the session's process came to be.
    pub process: ProcessOrigin,
}

/// How a session's process came to be ([`PythonInfo::process`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProcessOrigin {
    /// An embedded session: it runs in this process.
    ThisProcess,
    /// A subprocess session whose process is a fork of its configuration's fork server
    /// (see [`SessionBuilder::fork_server`](crate::SessionBuilder::fork_server)).
    Forked {
        /// The fork server's pid.
        fork_server_pid: u32,
    },
    /// A subprocess session whose process was spawned and ran the startup code itself.
    Spawned {
        /// Why it was not forked, when the fork server was on: its startup code left
        /// threads running, say. `None` when the fork server was turned off.
        not_forked_because: Option<String>,
    },
}

/// The Python this crate was built for (`PYO3_PYTHON`, or the first `python3` on
/// `PATH` when the build ran), as its build script recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BuildPython {
    /// The interpreter's own `sys.executable` at build time: the real program a shim
    /// (pyenv) runs, or a virtual environment's `python` as it is. It is the default
    /// interpreter of subprocess sessions, and what `sys.executable` names in embedded
    /// ones. `None` when the build had no interpreter to ask (a cross build).
    pub executable: Option<PathBuf>,
    /// Its `platform.python_version()`, such as `"3.11.2"`.
    pub version: Option<String>,
    /// The real path of the shared libpython the crate was linked against; `None` for
    /// a static libpython.
    pub libpython: Option<PathBuf>,
}

fn non_empty(s: &'static str) -> Option<&'static str> {
    (!s.is_empty()).then_some(s)
}

impl BuildPython {
    /// What this build of the crate was made for.
    pub fn current() -> BuildPython {
        BuildPython {
            executable: build_executable().map(PathBuf::from),
            version: non_empty(env!("PYSESSION_BUILD_PYTHON_VERSION")).map(String::from),
            libpython: build_libpython().map(PathBuf::from),
        }
    }
}

fn build_executable() -> Option<&'static str> {
    non_empty(env!("PYSESSION_BUILD_PYTHON"))
}

fn build_libpython() -> Option<&'static str> {
    non_empty(env!("PYSESSION_BUILD_LIBPYTHON"))
}

/// The interpreter the crate was built for, when it exists on this machine: the
/// default of subprocess sessions and the program embedded sessions name.
pub(crate) fn default_executable() -> Option<&'static Path> {
    build_executable().map(Path::new).filter(|p| p.is_file())
}

/// Set to `1` to let an embedded session run in a libpython other than the one the
/// crate was built for, when both are installed.
pub(crate) const ALLOW_OTHER_LIBPYTHON: &str = "PYSESSION_ALLOW_OTHER_LIBPYTHON";

/// True when `loaded` (what [`loaded_libpython`](crate::embedded) found; `None` for a
/// libpython linked into the executable) is the library the crate was built for.
pub(crate) fn is_built_for(loaded: Option<&Path>) -> bool {
    match (loaded, build_libpython()) {
        (None, None) => true,
        (Some(loaded), Some(built)) => {
            let real = |p: &Path| p.canonicalize().ok();
            real(loaded).is_some() && real(loaded) == real(Path::new(built))
        }
        _ => false,
    }
}

/// Checks that the libpython this process loaded is the one the crate was built for.
///
/// It is an error only when the built-for library is on this machine and another one
/// was loaded: the dynamic loader found another Python of the same minor version first
/// (there is no run path to the right one), which would otherwise go unnoticed. A
/// binary deployed where the built-for library does not exist runs with the library
/// it finds; [`PythonInfo`] names both.
pub(crate) fn check_libpython(loaded: Option<&Path>) -> Result<(), Error> {
    let (Some(loaded), Some(built)) = (loaded, build_libpython()) else {
        return Ok(());
    };
    let built = Path::new(built);
    let Ok(built_real) = built.canonicalize() else {
        return Ok(());
    };
    if is_built_for(Some(loaded)) {
        return Ok(());
    }
    if std::env::var_os(ALLOW_OTHER_LIBPYTHON).is_some_and(|v| v == "1") {
        return Ok(());
    }
    Err(Error::Config(format!(
        "this program was built for the Python whose library is {} ({}), but the dynamic \
         loader gave it {}, another Python: give the program a run path to the right one \
         (a build script that passes DEP_PYSESSION_LIBPYTHON_DIR to the linker, see the \
         crate docs, \"Which Python\"), or set LD_LIBRARY_PATH to {}; to run with the \
         loaded library all the same, set {ALLOW_OTHER_LIBPYTHON}=1",
        built.display(),
        build_executable().unwrap_or("unknown interpreter"),
        loaded.display(),
        built_real
            .parent()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
    )))
}

/// The fields the runtime's `info` operation reports, as JSON.
#[derive(Deserialize)]
pub(crate) struct ReportedInfo {
    version: String,
    sys_version: String,
    executable: PathBuf,
    base_executable: PathBuf,
    prefix: PathBuf,
    base_prefix: PathBuf,
    site_packages: Vec<PathBuf>,
    pid: u32,
}

impl ReportedInfo {
    /// The whole report, with what only the host knows.
    pub(crate) fn complete(
        self,
        backend: Backend,
        libpython: Option<PathBuf>,
        process: ProcessOrigin,
    ) -> PythonInfo {
        PythonInfo {
            backend,
            version: self.version,
            sys_version: self.sys_version,
            executable: self.executable,
            base_executable: self.base_executable,
            prefix: self.prefix,
            base_prefix: self.base_prefix,
            site_packages: self.site_packages,
            pid: self.pid,
            libpython,
            built_for: BuildPython::current(),
            process,
        }
    }
}
