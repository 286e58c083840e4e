//! Results as a model reads them: one text block (status, output, value, error, with
//! markers that say what was cut) and the images the code made.

use pysession::{DisplayData, ExecutionResult, Status};
use rmcp::model::{CallToolResult, ContentBlock};

/// The value of a step that may refuse a call, whose refusal (a tool error) is then
/// the tool's answer.
macro_rules! or_refuse {
    ($step:expr) => {
        match $step {
            Ok(value) => value,
            Err(refusal) => return Ok(refusal),
        }
    };
}
pub(crate) use or_refuse;

/// A tool error the model reads: the call could not be made.
pub fn refused(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// Keeps at most `limit` characters of `text`: the head and the tail, with a marker
/// between that says how many were cut.
pub fn cut(text: &str, limit: usize) -> String {
    let total = text.chars().count();
    if total <= limit {
        return text.to_owned();
    }
    let head = limit / 2;
    let tail = limit - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(total - tail).collect();
    format!(
        "{start}\n[... {} characters cut: {total} in all, the first {head} and the last {tail} shown ...]\n{end}",
        total - limit
    )
}

/// The images of a result, as (base64, MIME type): PNGs, JPEGs, GIFs and WebPs from
/// `display()`, figures and the value, in order.
pub fn images(r: &ExecutionResult) -> Vec<(String, String)> {
    let items: Vec<&DisplayData> = r.display.iter().chain(&r.background_display).collect();
    let mut out = Vec::new();
    for item in items {
        for mime in ["image/png", "image/jpeg", "image/gif", "image/webp"] {
            if item.bytes(mime).is_some() {
                if let Some(b64) = item.base64(mime) {
                    out.push((b64, mime.to_owned()));
                }
                break;
            }
        }
    }
    out
}

/// The text a model reads: a status line, then each part that has something in it.
pub fn text(r: &ExecutionResult, max_chars: usize, session: Option<&str>) -> String {
    let mut out = String::new();
    let status = match r.status {
        Status::Ok => "ok".to_owned(),
        other => match &r.error {
            Some(e) => format!("{other} ({})", e.type_name),
            None => other.to_string(),
        },
    };
    out.push_str(&format!("status: {status} in {:.1} ms", r.duration_ms));
    if let Some(name) = session {
        out.push_str(&format!(", session {name}"));
    }
    out.push('\n');
    let mut part = |title: &str, body: &str, cut_bytes: u64| {
        if body.is_empty() {
            return;
        }
        out.push_str(&format!("--- {title} ---\n"));
        out.push_str(&cut(body, max_chars));
        if !body.ends_with('\n') {
            out.push('\n');
        }
        if cut_bytes > 0 {
            out.push_str(&format!(
                "[{cut_bytes} bytes of {title} were cut by the session's output limit]\n"
            ));
        }
    };
    part("stdout", &r.stdout, r.stdout_truncated_bytes);
    part("stderr", &r.stderr, r.stderr_truncated_bytes);
    part("output of background threads", &r.background_stdout, 0);
    part("stderr of background threads", &r.background_stderr, 0);
    if let Some(value) = &r.value {
        part("value", value, 0);
    }
    if let Some(e) = &r.error {
        let body = if e.traceback.is_empty() {
            format!("{}: {}", e.type_name, e.message)
        } else {
            e.traceback.clone()
        };
        part("error", &body, 0);
    }
    let shown = r.display.len() + r.background_display.len();
    let pictures = images(r).len();
    if shown > 0 {
        out.push_str(&format!(
            "[{shown} display item(s); {pictures} image(s) attached]\n"
        ));
        for item in r.display.iter().chain(&r.background_display) {
            if item.png().is_none() {
                if let Some(plain) = item.plain() {
                    out.push_str(&cut(plain, max_chars));
                    out.push('\n');
                }
            }
        }
    }
    if r.display_dropped > 0 {
        out.push_str(&format!(
            "[{} display item(s) dropped over the display limit]\n",
            r.display_dropped
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_head_and_tail_and_says_how_much() {
        let text: String = "a".repeat(50) + &"b".repeat(50);
        let cut = cut(&text, 10);
        assert!(cut.starts_with("aaaaa\n[... 90 characters cut"), "{cut}");
        assert!(cut.ends_with("\nbbbbb"), "{cut}");
        assert_eq!(super::cut("short", 10), "short");
    }

    #[test]
    fn text_has_a_status_line_and_only_the_parts_with_content() {
        let mut r = ExecutionResult::default();
        r.stdout = "30\n".into();
        r.value = Some("42".into());
        let t = text(&r, 100, Some("default"));
        assert!(
            t.starts_with("status: ok in 0.0 ms, session default\n"),
            "{t}"
        );
        assert!(t.contains("--- stdout ---\n30\n"), "{t}");
        assert!(t.contains("--- value ---\n42\n"), "{t}");
        assert!(!t.contains("stderr"), "{t}");
    }
}
