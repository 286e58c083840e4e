//! `python_executable`: using the packages of a virtual environment.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use pysession::Error;

fn make_venv(dir: &Path) {
    let out = Command::new(test_python())
        .args(["-m", "venv", "--without-pip"])
        .arg(dir)
        .output()
        .expect("run python -m venv");
    assert!(
        out.status.success(),
        "python -m venv failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn site_packages(venv: &Path) -> PathBuf {
    let lib = venv.join("lib");
    let entry = std::fs::read_dir(&lib)
        .expect("venv lib dir")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("python"))
        .expect("lib/pythonX.Y in the venv");
    entry.path().join("site-packages")
}

/// `major.minor` of a Python executable.
fn version_of(python: &Path) -> String {
    let out = Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .expect("run python");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn session_imports_a_module_from_the_virtual_environment() {
    let venv = temp_dir("venv");
    make_venv(&venv);
    let site = site_packages(&venv);
    std::fs::write(site.join("pysession_venv_probe.py"), "VALUE = 42\n").unwrap();
    let s = builder()
        .python_executable(venv.join("bin").join("python"))
        .start()
        .expect("start with the venv's python");
    assert_eq!(
        value(
            &s,
            "import pysession_venv_probe\npysession_venv_probe.VALUE"
        )
        .as_deref(),
        Some("42")
    );
    // Imported from the venv's site-packages.
    let file = value(&s, "pysession_venv_probe.__file__").unwrap();
    assert!(
        file.contains(site.to_str().unwrap()) || file.contains("site-packages"),
        "{file}"
    );
    assert_alive(&s);
    let _ = std::fs::remove_dir_all(&venv);
}

#[test]
fn module_is_not_importable_without_the_virtual_environment() {
    let s = session();
    raises(&s, "import pysession_venv_probe", "ModuleNotFoundError");
    assert_alive(&s);
}

#[test]
fn session_imports_a_pip_installed_package_from_the_ci_venv() {
    let venv = std::env::var("PYSESSION_TEST_VENV").unwrap_or_else(|_| {
        panic!(
            "PYSESSION_TEST_VENV is not set: run the suite through .ci/run, which makes a \
             virtual environment with the pip package tomli_w and points PYSESSION_TEST_VENV \
             at its python"
        )
    });
    // .ci/run sets it to the venv's python; a venv directory is accepted too.
    let mut python = PathBuf::from(&venv);
    if python.is_dir() {
        python = python.join("bin").join("python");
    }
    let s = builder()
        .python_executable(&python)
        .start()
        .unwrap_or_else(|e| panic!("start with {}: {e}", python.display()));
    assert_eq!(
        value(&s, "import tomli_w\ntomli_w.dumps({'a': 1})").as_deref(),
        Some("'a = 1\\n'")
    );
    assert_alive(&s);
}

#[test]
fn python_of_another_version_is_refused_with_both_versions() {
    let s = session();
    let embedded = value(&s, "import sys\n'%d.%d' % sys.version_info[:2]")
        .unwrap()
        .trim_matches('\'')
        .to_owned();
    let candidates = [
        "/root/.pyenv/versions/3.12.1/bin/python3",
        "/root/.pyenv/versions/3.13.0/bin/python3",
        "/root/.pyenv/versions/3.10.13/bin/python3",
        "/root/.pyenv/versions/3.11.7/bin/python3",
    ];
    let (other, other_version) = candidates
        .iter()
        .map(Path::new)
        .filter(|p| p.exists())
        .map(|p| (p, version_of(p)))
        .find(|(_, v)| *v != embedded)
        .unwrap_or_else(|| {
            panic!("no Python of a version other than {embedded} found among {candidates:?}")
        });
    if subprocess() {
        // The documented difference: a subprocess session runs whatever interpreter it
        // is given.
        let s = builder().python_executable(other).start().expect("start");
        let got = value(&s, "import sys\n'%d.%d' % sys.version_info[:2]").unwrap();
        assert_eq!(got.trim_matches('\''), other_version);
        assert_alive(&s);
        return;
    }
    let e = builder()
        .python_executable(other)
        .start()
        .expect_err("a Python of another version must be refused");
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&embedded),
        "should mention {embedded}: {text}"
    );
    assert!(
        text.contains(&other_version),
        "should mention {other_version}: {text}"
    );
    // The refused start did not disturb the running session.
    assert_alive(&s);
}
