//! Lets this package's tests, examples and benches find a libpython that is not on the
//! default library path (a pyenv or custom build chosen with `PYO3_PYTHON`), and sets
//! the `Py_3_x` cfgs for version-specific interpreter calls.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    let config = pyo3_build_config::get();
    if let Some(lib_dir) = config.lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
