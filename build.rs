//! Records which Python the crate is built for, so that sessions run that Python and a
//! different one loaded at run time is noticed; sets the `Py_3_x` cfgs for
//! version-specific interpreter calls; and gives this package's own tests, examples
//! and benches a run path to libpython, and hands its directory to the build scripts
//! of dependent crates as `DEP_PYSESSION_LIBPYTHON_DIR` (a library's link arguments
//! never reach its dependents' binaries; see the crate docs, "Which Python").
//!
//! Exported to the crate (all may be empty when the build had no interpreter to ask,
//! as in a cross build from a PyO3 config file):
//! - `PYSESSION_BUILD_PYTHON`: the interpreter's own `sys.executable` (a pyenv shim
//!   resolved to what it runs; a virtual environment's `python` kept as it is);
//! - `PYSESSION_BUILD_PYTHON_VERSION`: its `platform.python_version()`;
//! - `PYSESSION_BUILD_LIBPYTHON`: the real path of the shared libpython linked against.
use std::path::Path;

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    let config = pyo3_build_config::get();
    if let Some(lib_dir) = config.lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
        // For the build scripts of crates that depend on pysession (`links` in
        // Cargo.toml): `DEP_PYSESSION_LIBPYTHON_DIR`, the run path their binaries need.
        println!("cargo::metadata=libpython_dir={lib_dir}");
    }

    let asked = config
        .executable()
        .and_then(|_| {
            config
                .run_python_script(
                    "import platform, sys\nprint(sys.executable)\nprint(platform.python_version())",
                )
                .ok()
        })
        .unwrap_or_default();
    let mut lines = asked.lines();
    let executable = lines.next().unwrap_or_default().trim();
    let version = lines.next().unwrap_or_default().trim();
    println!("cargo:rustc-env=PYSESSION_BUILD_PYTHON={executable}");
    println!("cargo:rustc-env=PYSESSION_BUILD_PYTHON_VERSION={version}");

    let libpython = match (config.shared(), config.lib_dir(), config.lib_name()) {
        (true, Some(dir), Some(name)) => Path::new(dir)
            .join(format!("lib{name}.so"))
            .canonicalize()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        _ => String::new(),
    };
    println!("cargo:rustc-env=PYSESSION_BUILD_LIBPYTHON={libpython}");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-changed=build.rs");
}
