// The build script a program that uses pysession adds: a run path to the libpython
// pysession was built against, which pysession hands to its dependents' build scripts.
fn main() {
    if let Ok(dir) = std::env::var("DEP_PYSESSION_LIBPYTHON_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
