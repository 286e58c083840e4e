//! Results of real sessions through JSON and back: equal values, identical JSON.
mod common;

use std::time::{Duration, Instant};

use common::*;
use pysession::{ExecutionResult, MimeData, Status};

/// Serializes `r`, reads it back and checks that the copy is equal and writes the very
/// same JSON; returns the copy.
#[track_caller]
fn assert_round_trips(r: &ExecutionResult) -> ExecutionResult {
    let json = serde_json::to_string(r).expect("a result serializes");
    assert_eq!(r.to_json(), json);
    let back: ExecutionResult =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e} reading back {json}"));
    assert_eq!(
        back.duration_ms.to_bits(),
        r.duration_ms.to_bits(),
        "duration_ms {} read back as {}: serde_json parses floats exactly only with its \
         `float_roundtrip` feature",
        r.duration_ms,
        back.duration_ms
    );
    assert_eq!(&back, r, "read back from {json}");
    assert_eq!(
        serde_json::to_string(&back).expect("a result serializes"),
        json
    );
    back
}

/// A 2x1 RGB PNG made with the standard library, and classes whose representations
/// are that PNG, JSON (an object, and a string) and HTML.
const PNG: &str = "\
import struct, zlib
def _chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
PNG = (b'\\x89PNG\\r\\n\\x1a\\n'
       + _chunk(b'IHDR', struct.pack('>IIBBBBB', 2, 1, 8, 2, 0, 0, 0))
       + _chunk(b'IDAT', zlib.compress(b'\\x00\\xff\\x00\\x00\\x00\\x00\\xff'))
       + _chunk(b'IEND', b''))
class Pic:
    def __repr__(self):
        return 'Pic()'
    def _repr_png_(self):
        return PNG
class Doc:
    def _repr_json_(self):
        return {'a': [1, 2.5, None], 'nested': {'s': 'x'}}
class JsonString:
    def _repr_json_(self):
        return '\"just a string\"'
class Page:
    def _repr_html_(self):
        return '<table><tr><td>1</td></tr></table>'
";

#[test]
fn ok_result_with_output_and_a_value_survives_json() {
    let s = session();
    let r = ok(
        &s,
        "print('hi')\nprint('warn', file=__import__('sys').stderr)\n6 * 7",
    );
    assert_eq!(r.value.as_deref(), Some("42"));
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("hi\n", "warn\n"));
    let back = assert_round_trips(&r);
    assert!(back.success());
    assert_alive(&s);
}

#[test]
fn error_result_with_its_traceback_survives_json() {
    let s = session();
    let r = raises(&s, "def f():\n    return 1 / 0\nf()", "ZeroDivisionError");
    let error = r.error.as_ref().expect("an error result has an error");
    assert!(
        error.traceback.contains("return 1 / 0") && error.traceback.contains("ZeroDivisionError"),
        "{r:#?}"
    );
    let back = assert_round_trips(&r);
    assert_eq!(back.status, Status::Error);
    assert!(!back.success());
    assert_alive(&s);
}

#[test]
fn timeout_result_survives_json() {
    let s = session();
    let r = s
        .execute_with_timeout(
            "print('started')\nwhile True: pass",
            Duration::from_millis(200),
        )
        .expect("execute");
    assert_eq!(r.status, Status::Timeout, "{r:#?}");
    let back = assert_round_trips(&r);
    assert_eq!(
        back.error.as_ref().map(|e| e.type_name.as_str()),
        Some("TimeoutError")
    );
    assert_alive(&s);
}

#[test]
fn truncated_output_with_its_markers_and_counts_survives_json() {
    let s = builder().output_limit(1000).start().expect("start");
    let r = ok(
        &s,
        "import sys\nprint('H' * 100 + 'm' * 9800 + 'T' * 99)\nprint('e' * 5000, file=sys.stderr)",
    );
    assert!(
        r.stdout_truncated_bytes > 0 && r.stderr_truncated_bytes > 0,
        "{r:#?}"
    );
    assert!(
        r.stdout.len() < 2000 && r.stdout.starts_with("HHH"),
        "{r:#?}"
    );
    let back = assert_round_trips(&r);
    assert_eq!(back.stdout, r.stdout);
    assert_eq!(back.stdout_truncated_bytes, r.stdout_truncated_bytes);
    assert_alive(&s);
}

#[test]
fn png_json_and_html_displays_survive_json_as_the_same_kinds() {
    let s = session();
    ok(&s, PNG);
    let png = s.get_bytes("PNG").expect("get_bytes");
    assert_eq!(png_size(&png), (2, 1));
    let r = ok(
        &s,
        "display(Pic())\ndisplay(Doc())\ndisplay(JsonString())\ndisplay(Page())\nPic()",
    );
    assert_eq!(r.display.len(), 5, "{r:#?}");
    let json = r.to_json();
    // Binary data is base64 in the JSON, as in a notebook file: `iVBORw0KGgo` is the
    // PNG signature.
    assert!(json.contains("\"image/png\":\"iVBORw0KGgo"), "{json}");

    let back = assert_round_trips(&r);
    assert_eq!(back.display[0].png(), Some(&png[..]));
    assert_eq!(back.display[0].plain(), Some("Pic()"));
    assert_eq!(
        back.display[1].get("application/json"),
        Some(&MimeData::Json(
            serde_json::json!({"a": [1, 2.5, null], "nested": {"s": "x"}})
        ))
    );
    // A JSON document that is a string stays JSON, not text.
    assert_eq!(
        back.display[2].get("application/json"),
        Some(&MimeData::Json(serde_json::json!("just a string")))
    );
    assert_eq!(
        back.display[3].html(),
        Some("<table><tr><td>1</td></tr></table>")
    );
    assert!(back.display[4].is_value && back.display[..4].iter().all(|d| !d.is_value));
    assert_eq!(back.display[4].png(), Some(&png[..]));
    assert_alive(&s);
}

#[test]
fn background_output_and_display_survive_json() {
    let dir = temp_dir("result-json-bg");
    let done = dir.join("written");
    let s = session();
    ok(
        &s,
        &format!(
            "import threading, time, sys\n\
             def late():\n    \
                 time.sleep(0.2)\n    \
                 print('late out')\n    \
                 print('late err', file=sys.stderr)\n    \
                 display({{'text/html': '<i>late</i>', 'text/plain': 'late'}}, raw=True)\n    \
                 sys.stdout.flush(); sys.stderr.flush()\n    \
                 open({}, 'w').close()\n\
             threading.Thread(target=late).start()",
            py_str(done.to_str().expect("utf-8 temp dir"))
        ),
    );
    let waited = Instant::now();
    while !done.exists() {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the session's thread never wrote"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Time for the subprocess backend's reader to take in what the thread wrote.
    std::thread::sleep(Duration::from_millis(300));
    let r = ok(&s, "print('now')");
    assert_eq!(r.stdout, "now\n");
    assert_eq!(r.background_stdout, "late out\n", "{r:#?}");
    assert_eq!(r.background_stderr, "late err\n", "{r:#?}");
    assert_eq!(r.background_display.len(), 1, "{r:#?}");
    let back = assert_round_trips(&r);
    assert_eq!(back.background_display[0].html(), Some("<i>late</i>"));
    assert_alive(&s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_from_an_older_writer_without_optional_fields_reads() {
    let r: ExecutionResult = serde_json::from_str(
        r#"{
            "status": "ok",
            "stdout": "hi\n",
            "value": "1",
            "display": [{"data": {"text/plain": "1", "image/png": "iVBORw0K"}}]
        }"#,
    )
    .expect("an older result reads");
    assert_eq!(r.status, Status::Ok);
    assert_eq!(r.stdout, "hi\n");
    assert_eq!(r.stderr, "");
    assert_eq!(r.value.as_deref(), Some("1"));
    assert_eq!(r.error, None);
    assert_eq!(r.duration_ms, 0.0);
    assert_eq!((r.stdout_truncated_bytes, r.display_dropped), (0, 0));
    assert!(r.background_display.is_empty());
    assert_eq!(r.display.len(), 1);
    assert!(!r.display[0].is_value);
    assert_eq!(r.display[0].png(), Some(&b"\x89PNG\r\n"[..]));
    assert_eq!(r.display[0].plain(), Some("1"));
}

#[test]
fn json_from_a_newer_writer_with_unknown_fields_reads() {
    let r: ExecutionResult = serde_json::from_str(
        r#"{
            "status": "error",
            "success": false,
            "schema": 2,
            "stdout": "",
            "error": {"type": "ValueError", "message": "bad", "traceback": "tb", "notes": ["n"]},
            "duration_ms": 1.5,
            "display": [{
                "data": {"text/plain": "x", "application/vnd.new+json": {"k": 1},
                         "model/gltf-binary": "not base64 but an unknown type: text"},
                "is_value": false,
                "metadata": {"width": 10}
            }],
            "cost": {"cpu_ms": 3}
        }"#,
    )
    .expect("a newer result reads");
    assert_eq!(r.status, Status::Error);
    assert!(!r.success());
    let error = r.error.as_ref().expect("the error reads");
    assert_eq!(
        (
            error.type_name.as_str(),
            error.message.as_str(),
            error.traceback.as_str()
        ),
        ("ValueError", "bad", "tb")
    );
    assert_eq!(r.duration_ms, 1.5);
    let d = &r.display[0];
    assert_eq!(d.plain(), Some("x"));
    assert_eq!(
        d.get("application/vnd.new+json"),
        Some(&MimeData::Json(serde_json::json!({"k": 1})))
    );
    assert_eq!(
        d.text("model/gltf-binary"),
        Some("not base64 but an unknown type: text")
    );
    // What it writes back is this crate's own form, which reads back equal.
    assert_round_trips(&r);
}

/// The Python runtime decides whether a MIME type's data is text, bytes or JSON, and
/// the Rust reader decides it again from the type alone: the two rules must agree for
/// every kind of type, or a result would change on its way through JSON.
#[test]
fn every_kind_of_mime_type_reads_back_as_the_runtime_made_it() {
    let s = session();
    let types = [
        "text/plain",
        "text/html",
        "text/csv",
        "text/markdown",
        "text/latex",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/svg+xml",
        "image/x-unknown",
        "audio/wav",
        "audio/mpeg",
        "video/mp4",
        "font/woff2",
        "application/pdf",
        "application/octet-stream",
        "application/zip",
        "application/gzip",
        "application/wasm",
        "application/json",
        "application/vnd.custom+json",
        "application/geo+json",
        "application/javascript",
        "application/xml",
        "application/x-custom",
    ];
    let bundle: Vec<String> = types
        .iter()
        .map(|t| {
            // Bytes for every type; JSON types get bytes that parse as JSON.
            let data = if t.ends_with("json") {
                "b'{\"k\": 1}'".to_string()
            } else {
                format!("b'data-' + {}.encode()", py_str(t))
            };
            format!("{}: {data}", py_str(t))
        })
        .collect();
    let code = format!(
        "display({{{}}}, raw=True)\ndisplay({{'text/plain': 'p', 'application/json': {{'k': [1]}}, \
         'application/vnd.custom+json': '[1, 2]'}}, raw=True)",
        bundle.join(", ")
    );
    let r = run(&s, &code);
    assert_eq!(r.status, Status::Ok, "{r:#?}");
    assert_eq!(r.display.len(), 2, "{r:#?}");
    let back = assert_round_trips(&r);
    for (mime, data) in &back.display[0].data {
        let made = &r.display[0].data[mime];
        assert_eq!(
            std::mem::discriminant(data),
            std::mem::discriminant(made),
            "{mime}: made as {made:?}, read back as {data:?}"
        );
    }
    assert_eq!(back.display[1], r.display[1]);
    assert_alive(&s);
}
