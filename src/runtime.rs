//! The Python side of the runtime: its modules in load order, and the constants both
//! backends hand it at start-up.
//!
//! Like deno_core's numbered runtime scripts, the modules are real source files
//! (`python/pysession_runtime/`) embedded at build time and loaded in one fixed order,
//! this list's, by both backends: each becomes the module `pysession_runtime.<stem>`
//! (of a plain `pysession_runtime` module made first), compiled under the file name
//! `<pysession-runtime/<stem>.py>`, and imports only modules above it in the list.
//! Right after the first, `config`, the loader calls its `configure` with
//! [`constants_json`]. The embedded interpreter loads every module but the worker; a
//! subprocess session's child loads them all and runs the worker's `main`.

use std::sync::OnceLock;

/// One module of the runtime.
pub(crate) struct Script {
    /// Its module name: `pysession_runtime.<stem>`.
    pub name: &'static str,
    /// The file name its code is compiled under (tracebacks leave such frames out).
    pub file: &'static str,
    pub source: &'static str,
    /// Only a subprocess session's child loads it.
    pub subprocess_only: bool,
}

impl Script {
    /// The module's name within the package: `cells`.
    pub(crate) fn stem(&self) -> &'static str {
        self.name
            .rsplit_once('.')
            .map_or(self.name, |(_, stem)| stem)
    }
}

macro_rules! package {
    () => {
        "pysession_runtime"
    };
}

macro_rules! file_prefix {
    () => {
        "<pysession-runtime/"
    };
}

macro_rules! script {
    ($stem:literal) => {
        script!($stem, false)
    };
    ($stem:literal, $subprocess_only:expr) => {
        Script {
            name: concat!(package!(), ".", $stem),
            file: concat!(file_prefix!(), $stem, ".py>"),
            source: include_str!(concat!("../python/", package!(), "/", $stem, ".py")),
            subprocess_only: $subprocess_only,
        }
    };
}

/// The package every module of the runtime belongs to.
pub(crate) const PACKAGE: &str = package!();

/// The runtime's modules, in the order they load.
pub(crate) const SCRIPTS: &[Script] = &[
    script!("config"),
    script!("ownership"),
    script!("streams"),
    script!("hooks"),
    script!("tracebacks"),
    script!("variables"),
    script!("display"),
    script!("figures"),
    script!("cells"),
    script!("session"),
    script!("forkserver", true),
    script!("worker", true),
];

/// The module whose functions the embedded backend calls (`install`, `new_session`,
/// `bind_thread`, ...).
pub(crate) const HOST_MODULE: &str = concat!(package!(), ".session");
/// The module whose `main(token)` is a subprocess session's loop.
pub(crate) const WORKER_MODULE: &str = concat!(package!(), ".worker");

/// How the file names of the runtime's code begin.
pub(crate) const RUNTIME_FILE_PREFIX: &str = file_prefix!();
/// How the file names of the user's cells begin (`<cell 12>`).
pub(crate) const CELL_FILE_PREFIX: &str = "<cell ";
/// Frames larger than this from a subprocess session's child are treated as a broken
/// protocol; the host sends none larger either, nor does the child.
pub(crate) const MAX_FRAME: usize = 1 << 30;

// Which MIME types carry JSON, text or bytes. The runtime hands binary types over as
// bytes and JSON types as JSON text; reading a bundle back decides by the same lists.

/// Types whose data is JSON, with every type ending in one of [`JSON_MIME_SUFFIXES`].
pub(crate) const JSON_MIME_TYPES: &[&str] = &["application/json"];
pub(crate) const JSON_MIME_SUFFIXES: &[&str] = &["+json"];
/// Types whose data is text: those that begin with one of these (`text/*`), end with
/// one of [`TEXT_MIME_SUFFIXES`] (SVG, XML, JavaScript, LaTeX) or are in
/// [`TEXT_MIME_TYPES`].
pub(crate) const TEXT_MIME_PREFIXES: &[&str] = &["text/"];
pub(crate) const TEXT_MIME_SUFFIXES: &[&str] =
    &["+xml", "/xml", "/javascript", "/x-latex", "/x-tex"];
pub(crate) const TEXT_MIME_TYPES: &[&str] = &["application/x-javascript", "application/ecmascript"];
/// Types whose data is bytes even when given as (base64) text: those of these kinds
/// that are not text, and [`BINARY_MIME_TYPES`].
pub(crate) const BINARY_MIME_KINDS: &[&str] = &["image", "audio", "video", "font"];
pub(crate) const BINARY_MIME_TYPES: &[&str] = &[
    "application/pdf",
    "application/octet-stream",
    "application/zip",
    "application/gzip",
    "application/wasm",
];

/// The modules an embedded interpreter loads, in order.
pub(crate) fn embedded_scripts() -> impl Iterator<Item = &'static Script> {
    SCRIPTS.iter().filter(|s| !s.subprocess_only)
}

/// The constants above as the runtime's `config.configure` takes them: a JSON object.
pub(crate) fn constants_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        serde_json::json!({
            "runtime_file_prefix": RUNTIME_FILE_PREFIX,
            "cell_file_prefix": CELL_FILE_PREFIX,
            "max_frame": MAX_FRAME,
            "mime": {
                "json_types": JSON_MIME_TYPES,
                "json_suffixes": JSON_MIME_SUFFIXES,
                "text_prefixes": TEXT_MIME_PREFIXES,
                "text_suffixes": TEXT_MIME_SUFFIXES,
                "text_types": TEXT_MIME_TYPES,
                "binary_kinds": BINARY_MIME_KINDS,
                "binary_types": BINARY_MIME_TYPES,
            },
        })
        .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_is_the_packages_and_compiled_under_the_runtime_prefix() {
        for s in SCRIPTS {
            assert_eq!(s.name, format!("{PACKAGE}.{}", s.stem()));
            assert_eq!(s.file, format!("{RUNTIME_FILE_PREFIX}{}.py>", s.stem()));
            assert!(!s.file.starts_with(CELL_FILE_PREFIX));
        }
    }

    #[test]
    fn config_loads_first_and_only_the_worker_and_its_fork_server_are_the_subprocess_s() {
        assert_eq!(SCRIPTS[0].stem(), "config");
        assert!(SCRIPTS[0].source.contains("\ndef configure("));
        let only: Vec<_> = SCRIPTS
            .iter()
            .filter(|s| s.subprocess_only)
            .map(|s| s.name)
            .collect();
        assert_eq!(only, [concat!(package!(), ".forkserver"), WORKER_MODULE]);
        assert!(embedded_scripts().any(|s| s.name == HOST_MODULE));
        assert!(SCRIPTS[SCRIPTS.len() - 1]
            .source
            .contains("\ndef main(token):"));
    }

    /// The runtime's modules named by an import line of a module's source.
    fn imported(line: &str) -> Vec<String> {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix(concat!("from ", package!(), ".")) {
            let module = rest.split_whitespace().next().unwrap_or("");
            return vec![module.to_string()];
        }
        if let Some(rest) = line.strip_prefix(concat!("from ", package!(), " import ")) {
            return rest.split(',').map(|m| m.trim().to_string()).collect();
        }
        if line.starts_with("import ") && line.contains(PACKAGE) {
            panic!("import the runtime's modules with `from {PACKAGE} import ...`: {line}");
        }
        Vec::new()
    }

    #[test]
    fn a_module_imports_only_modules_loaded_before_it() {
        for (i, s) in SCRIPTS.iter().enumerate() {
            let before: Vec<_> = SCRIPTS[..i].iter().map(Script::stem).collect();
            for line in s.source.lines() {
                for module in imported(line) {
                    assert!(
                        before.contains(&module.as_str()),
                        "{} imports {module}, which loads after it: {line}",
                        s.name
                    );
                }
            }
        }
    }

    #[test]
    fn every_module_in_the_folder_is_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("python")
            .join(PACKAGE);
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".py").map(str::to_string))
            .filter(|n| n != "__init__")
            .collect();
        on_disk.sort();
        let mut listed: Vec<_> = SCRIPTS.iter().map(Script::stem).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }

    #[test]
    fn the_constants_are_one_json_object_with_every_rule() {
        let v: serde_json::Value = serde_json::from_str(constants_json()).unwrap();
        assert_eq!(v["cell_file_prefix"], CELL_FILE_PREFIX);
        assert_eq!(v["runtime_file_prefix"], RUNTIME_FILE_PREFIX);
        assert_eq!(v["max_frame"], MAX_FRAME);
        assert_eq!(v["mime"]["binary_types"][0], "application/pdf");
        assert_eq!(v["mime"].as_object().unwrap().len(), 7);
    }
}
