//! Which Python a session runs: `sys.executable`, `python_info()`, the subprocess
//! backend's default interpreter, and code that starts the session's own `python`.
mod common;

use std::path::{Path, PathBuf};

use common::*;
use pysession::{Backend, BuildPython, Session};

/// What the session's own `sys.executable` reports when run as a program: version,
/// prefix and site-packages, as JSON text.
const RUN_OWN_PYTHON: &str = r#"
import json, subprocess, sys
_probe = "import json, platform, site, sys; print(json.dumps([platform.python_version(), sys.prefix, site.getsitepackages()]))"
_child = subprocess.run([sys.executable, "-c", _probe], capture_output=True, text=True, timeout=60)
assert _child.returncode == 0, _child.stderr
json.loads(_child.stdout)
"#;

const SESSION_ITSELF: &str = r#"
import json, platform, site, sys
[platform.python_version(), sys.prefix, site.getsitepackages()]
"#;

fn built_for() -> BuildPython {
    BuildPython::current()
}

fn build_executable() -> PathBuf {
    built_for()
        .executable
        .expect("the build script recorded the interpreter it built for")
}

#[test]
fn build_script_records_the_interpreter_it_built_for() {
    let b = built_for();
    let exe = build_executable();
    assert!(exe.is_file(), "{b:?}");
    let out = std::process::Command::new(&exe)
        .args(["-c", "import platform; print(platform.python_version())"])
        .output()
        .expect("run the built-for python");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        b.version.as_deref().expect("a version"),
    );
}

#[test]
fn python_info_reports_the_sessions_own_interpreter() {
    let s = session();
    let info = s.python_info().expect("python_info");
    assert_eq!(info.backend, backend());
    assert_eq!(Some(info.version.as_str()), built_for().version.as_deref());
    let reported = value(&s, "import sys; sys.executable").unwrap();
    assert_eq!(reported, py_str(info.executable.to_str().unwrap()));
    let pid = value(&s, "import os; os.getpid()").unwrap();
    assert_eq!(pid, info.pid.to_string());
    if subprocess() {
        assert_ne!(info.pid, std::process::id());
        assert_eq!(info.libpython, None);
    } else {
        assert_eq!(info.pid, std::process::id());
        let lib = info.libpython.as_ref().expect("a shared libpython");
        let built = built_for()
            .libpython
            .expect("built against a shared libpython");
        assert_eq!(lib.canonicalize().unwrap(), built.canonicalize().unwrap());
    }
    assert!(info.site_packages.iter().any(|p| p.exists()), "{info:?}");
    assert_alive(&s);
}

#[test]
fn sys_executable_runs_the_same_interpreter_with_the_same_packages() {
    let s = session();
    let child = value(&s, RUN_OWN_PYTHON).unwrap();
    let itself = value(&s, SESSION_ITSELF).unwrap();
    assert_eq!(
        child, itself,
        "sys.executable must run the session's own Python"
    );
    // Not a shim that picks a Python by the caller's environment: the real program.
    let exe = value(&s, "import os, sys; os.path.realpath(sys.executable)").unwrap();
    assert!(!exe.contains("shims"), "{exe}");
    let base = value(&s, "import sys; sys._base_executable == sys.executable").unwrap();
    assert_eq!(base, "True");
    assert_alive(&s);
}

#[test]
fn threads_of_a_session_see_its_sys_executable() {
    let s = session();
    let r = ok(
        &s,
        "import sys, threading\nseen = []\nt = threading.Thread(target=lambda: seen.append(sys.executable))\nt.start(); t.join()\nseen[0] == sys.executable",
    );
    assert_eq!(r.value.as_deref(), Some("True"));
    assert_alive(&s);
}

#[test]
fn multiprocessing_spawn_runs_the_sessions_interpreter() {
    let s = session();
    if subinterpreter() {
        // A sub-interpreter has no daemon threads (they could outlive it), and a pool
        // needs them: it says so. A spawned process runs the session's interpreter.
        ok(&s, "kept = 1");
        let r = raises(
            &s,
            "import multiprocessing\nmultiprocessing.get_context('spawn').Pool(1)",
            "RuntimeError",
        );
        let e = r.error.as_ref().unwrap();
        assert!(e.message.contains("daemon threads"), "{r:#?}");
        let r = ok(
            &s,
            "import multiprocessing, sys\n\
             p = multiprocessing.get_context('spawn').Process(target=sys.exit, args=(7,))\n\
             p.start(); p.join(60)\np.exitcode",
        );
        assert_eq!(r.value.as_deref(), Some("7"), "{r:#?}");
        assert_eq!(value(&s, "kept").as_deref(), Some("1"));
        assert_alive(&s);
        return;
    }
    let r = ok(
        &s,
        "import multiprocessing, platform\n\
         ctx = multiprocessing.get_context('spawn')\n\
         with ctx.Pool(2) as pool:\n    got = pool.map(abs, [-1, -2, -3])\n\
         with ctx.Pool(1) as pool:\n    child_version = pool.apply(platform.python_version)\n\
         (got, child_version == platform.python_version())",
    );
    assert_eq!(r.value.as_deref(), Some("([1, 2, 3], True)"), "{r:#?}");
    assert_alive(&s);
}

#[test]
fn pip_of_sys_executable_reports_the_sessions_site_packages() {
    let s = session();
    let r = ok(
        &s,
        "import site, subprocess, sys\n\
         out = subprocess.run([sys.executable, '-m', 'pip', '--version'], capture_output=True, text=True, timeout=120)\n\
         assert out.returncode == 0, out.stderr\n\
         print(out.stdout)\n\
         any(out.stdout.split(' from ')[1].startswith(d) for d in site.getsitepackages() + [site.getusersitepackages()] + [p for p in sys.path if p])",
    );
    assert_eq!(r.value.as_deref(), Some("True"), "{r:#?}");
    assert_alive(&s);
}

fn venv_dir() -> PathBuf {
    let python = venv_python();
    python
        .parent()
        .and_then(Path::parent)
        .expect("venv/bin/python")
        .to_path_buf()
}

#[test]
fn sys_executable_of_a_virtual_environment_session_is_its_python() {
    let s = venv_session();
    let venv = venv_dir();
    let info = s.python_info().expect("python_info");
    assert!(
        info.executable.starts_with(&venv),
        "{} is not in {}",
        info.executable.display(),
        venv.display()
    );
    assert_eq!(
        info.prefix.canonicalize().unwrap(),
        venv.canonicalize().unwrap()
    );
    assert_ne!(info.prefix, info.base_prefix);
    assert!(
        info.site_packages.iter().any(|p| p.starts_with(&venv)),
        "{info:?}"
    );
    let r = ok(
        &s,
        "import subprocess, sys\n\
         out = subprocess.run([sys.executable, '-m', 'pip', '--version'], capture_output=True, text=True, timeout=120)\n\
         assert out.returncode == 0, out.stderr\n\
         out.stdout",
    );
    let pip = r.value.unwrap();
    assert!(
        pip.contains(&venv.join("lib").display().to_string()),
        "pip --version should name the environment's site-packages: {pip}"
    );
    // The environment's packages import, in the session and in its own python.
    let child = ok(
        &s,
        "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'import tomli_w'], timeout=60).returncode",
    );
    assert_eq!(child.value.as_deref(), Some("0"));
    assert_alive(&s);
}

#[test]
fn sessions_with_and_without_an_environment_each_see_their_own_executable() {
    let plain = session();
    let in_venv = venv_session();
    let venv = venv_dir();
    let plain_exe = plain.python_info().unwrap().executable;
    let venv_exe = in_venv.python_info().unwrap().executable;
    assert!(venv_exe.starts_with(&venv), "{}", venv_exe.display());
    assert!(!plain_exe.starts_with(&venv), "{}", plain_exe.display());
    // Read again from code, after the other session ran: nothing leaked across.
    let exe = |s: &Session| value(s, "import sys; sys.executable").unwrap();
    assert!(exe(&in_venv).contains(&venv.display().to_string()));
    assert!(!exe(&plain).contains(&venv.display().to_string()));
    assert_alive(&plain);
    assert_alive(&in_venv);
}

#[test]
fn subprocess_sessions_default_to_the_interpreter_the_crate_was_built_for() {
    let s = Session::builder()
        .backend(Backend::Subprocess)
        .grace_period(GRACE)
        .start()
        .expect("start with the default interpreter");
    let info = s.python_info().unwrap();
    assert_eq!(info.executable, build_executable());
    assert_eq!(Some(info.version), built_for().version);
    assert_alive(&s);
}

#[test]
fn python_executable_still_overrides_the_default_interpreter() {
    let venv_python = venv_python();
    let s = Session::builder()
        .backend(Backend::Subprocess)
        .python_executable(&venv_python)
        .grace_period(GRACE)
        .start()
        .expect("start with the venv's python");
    let info = s.python_info().unwrap();
    assert!(info.executable.starts_with(venv_dir()), "{info:?}");
    assert_alive(&s);
}

#[test]
fn python_info_async_matches_the_blocking_call() {
    let s = session();
    let blocking = s.python_info().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let asynchronous = rt.block_on(s.python_info_async()).unwrap();
    assert_eq!(blocking, asynchronous);
    assert_alive(&s);
}

#[test]
fn python_info_serializes_with_the_backend_in_lowercase() {
    let s = session();
    let info = s.python_info().unwrap();
    let json = serde_json::to_value(&info).unwrap();
    let expected = if subprocess() {
        "subprocess"
    } else if subinterpreter() {
        "subinterpreter"
    } else {
        "embedded"
    };
    assert_eq!(json["backend"], expected);
    let back: pysession::PythonInfo = serde_json::from_value(json).unwrap();
    assert_eq!(back, info);
}

#[test]
fn a_host_that_set_up_python_itself_keeps_its_sys_executable() {
    use pysession::pyo3::prelude::*;
    // Embedded on purpose, whichever backend the suite runs: only an embedded session
    // shares the host's interpreter.
    Python::initialize();
    Python::attach(|py| {
        py.run(
            c"import sys; sys.executable = '/host/chose/python'",
            None,
            None,
        )
        .expect("the host sets sys.executable")
    });
    let s = Session::builder()
        .backend(Backend::Embedded)
        .grace_period(GRACE)
        .start()
        .expect("start in the host's interpreter");
    assert_eq!(
        value(&s, "import sys; sys.executable").as_deref(),
        Some("'/host/chose/python'")
    );
    assert_alive(&s);
}

#[test]
fn a_virtual_environments_packages_shadow_the_systems() {
    // pyparsing is in the test environment (a matplotlib dependency) and, on Debian,
    // in the system's dist-packages too: the session must import the environment's.
    let s = venv_session();
    let venv = venv_dir();
    let file = value(&s, "import pyparsing\npyparsing.__file__").unwrap();
    assert!(
        file.contains(&venv.display().to_string()),
        "pyparsing came from {file}, not from {}",
        venv.display()
    );
    let child = value(
        &s,
        "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'import pyparsing; print(pyparsing.__version__)'], capture_output=True, text=True).stdout.strip()",
    )
    .unwrap();
    let here = value(&s, "pyparsing.__version__").unwrap();
    assert_eq!(
        child, here,
        "the session and its own python see the same version"
    );
    assert_alive(&s);
}
