//! `display()` and MIME bundles, with objects defined in the test (no packages needed).

mod common;

use std::time::Duration;

use common::*;
use pysession::{Event, MimeData};

const RICH: &str = "\
class Rich:
    def __init__(self, n):
        self.n = n
    def __repr__(self):
        return f'Rich({self.n})'
    def _repr_html_(self):
        return f'<b>{self.n}</b>'
    def _repr_markdown_(self):
        return f'**{self.n}**'
";

#[test]
fn display_gives_one_bundle_per_object_in_order() {
    let s = session();
    ok(&s, RICH);
    let r = ok(
        &s,
        "display(Rich(1))\nprint('between')\ndisplay(Rich(2), 'text')",
    );
    assert_eq!(r.stdout, "between\n");
    assert_eq!(r.display.len(), 3, "{r:#?}");
    assert_eq!(r.display[0].html(), Some("<b>1</b>"));
    assert_eq!(r.display[0].text("text/markdown"), Some("**1**"));
    assert_eq!(r.display[0].plain(), Some("Rich(1)"));
    assert_eq!(r.display[1].html(), Some("<b>2</b>"));
    // An object with no rich representation still shows, as its repr.
    assert_eq!(r.display[2].plain(), Some("'text'"));
    assert_eq!(
        r.display[2].mime_types().collect::<Vec<_>>(),
        ["text/plain"]
    );
    assert!(r.display.iter().all(|d| !d.is_value));
    assert_eq!(r.value, None);
    assert_alive(&s);
}

#[test]
fn the_last_lines_value_gets_its_bundle_when_it_has_one() {
    let s = session();
    ok(&s, RICH);
    let r = ok(&s, "Rich(7)");
    assert_eq!(r.value.as_deref(), Some("Rich(7)"));
    assert_eq!(r.display.len(), 1, "{r:#?}");
    assert!(r.display[0].is_value);
    assert_eq!(r.display[0].html(), Some("<b>7</b>"));
    assert_eq!(r.display[0].plain(), Some("Rich(7)"));

    // Plain values have no bundle: the value alone says it.
    for code in ["1 + 1", "'abc'", "[1, 2]", "None", "x = Rich(1)"] {
        let r = ok(&s, code);
        assert!(r.display.is_empty(), "{code}: {r:#?}");
    }
    // display() first, then the value's bundle.
    let r = ok(&s, "display(Rich(1))\nRich(2)");
    assert_eq!(r.display.len(), 2);
    assert!(!r.display[0].is_value && r.display[1].is_value);
    assert_eq!(r.display[1].html(), Some("<b>2</b>"));
}

#[test]
fn binary_and_json_representations_keep_their_kind() {
    let s = session();
    let r = ok(
        &s,
        "\
import base64
class Pic:
    def _repr_png_(self):
        return b'\\x89PNG fake'
    def _repr_jpeg_(self):
        return base64.b64encode(b'jpeg bytes').decode()
    def _repr_json_(self):
        return {'a': [1, 2.5, None]}
    def _repr_svg_(self):
        return '<svg/>'
display(Pic())",
    );
    let d = &r.display[0];
    assert_eq!(d.png(), Some(&b"\x89PNG fake"[..]));
    // Base64 text, which notebooks accept for binary types, arrives decoded.
    assert_eq!(d.bytes("image/jpeg"), Some(&b"jpeg bytes"[..]));
    assert_eq!(
        d.get("application/json"),
        Some(&MimeData::Json(
            serde_json::json!({"a": [1, 2.5, serde_json::Value::Null]})
        ))
    );
    assert_eq!(d.text("image/svg+xml"), Some("<svg/>"));
    // In the result's JSON, binary data is base64 as in a notebook file.
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(
        json["display"][0]["data"]["image/png"],
        serde_json::json!("iVBORyBmYWtl")
    );
    assert_eq!(json["display"][0]["data"]["application/json"]["a"][1], 2.5);
}

#[test]
fn repr_mimebundle_raw_bundles_and_include_exclude() {
    let s = session();
    let r = ok(
        &s,
        "\
class B:
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {'text/html': '<i>b</i>', 'application/vnd.custom+json': {'k': 1}}, {}
    def _repr_html_(self):
        return 'not used: the bundle has text/html'
display(B())
display({'text/plain': 'raw', 'text/csv': 'a,b'}, raw=True)
display(B(), include=['text/html'])
display(B(), exclude=['text/html'])",
    );
    assert_eq!(r.display.len(), 4, "{r:#?}");
    assert_eq!(r.display[0].html(), Some("<i>b</i>"));
    assert_eq!(
        r.display[0].get("application/vnd.custom+json"),
        Some(&MimeData::Json(serde_json::json!({"k": 1})))
    );
    assert!(r.display[0].plain().is_some());
    assert_eq!(r.display[1].text("text/csv"), Some("a,b"));
    assert_eq!(r.display[1].plain(), Some("raw"));
    assert_eq!(r.display[2].mime_types().collect::<Vec<_>>(), ["text/html"]);
    assert!(r.display[3].html().is_none());
    assert!(r.display[3].plain().is_some());
}

#[test]
fn a_failing_representation_is_left_out_and_said_on_stderr() {
    let s = session();
    let r = ok(
        &s,
        "\
class Bad:
    def __repr__(self):
        return 'Bad()'
    def _repr_html_(self):
        raise ValueError('no html today')
    def _repr_markdown_(self):
        return '*fine*'
display(Bad())",
    );
    assert_eq!(r.display.len(), 1);
    assert!(r.display[0].html().is_none());
    assert_eq!(r.display[0].text("text/markdown"), Some("*fine*"));
    assert_eq!(r.display[0].plain(), Some("Bad()"));
    assert!(
        r.stderr.contains("Bad._repr_html_() failed") && r.stderr.contains("no html today"),
        "{r:#?}"
    );
    // A bad raw bundle is the caller's error, raised like any other.
    raises(&s, "display(42, raw=True)", "TypeError");
    assert_alive(&s);
}

#[test]
fn display_of_a_repr_that_raises_is_an_error_result() {
    let s = session();
    let r = raises(
        &s,
        "class R:\n    def __repr__(self):\n        raise RuntimeError('boom')\ndisplay(R())",
        "RuntimeError",
    );
    assert!(r.display.is_empty());
    assert_alive(&s);
}

#[test]
fn display_items_stream_as_they_are_made() {
    let s = session();
    ok(&s, RICH);
    let events: Vec<Event> = s
        .submit("print('before')\ndisplay(Rich(3))\nprint('after')")
        .expect("submit")
        .collect();
    let displays: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Display(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(displays.len(), 1, "{events:#?}");
    assert_eq!(displays[0].html(), Some("<b>3</b>"));
    let Some(Event::Finished(Ok(r))) = events.last() else {
        panic!("no result last: {events:#?}");
    };
    assert_eq!(r.display.len(), 1);
    assert_eq!(&r.display[0], displays[0]);
    if !subprocess() {
        // One thread writes both, in order (the subprocess backend reads output and
        // displays from separate pipes, so their relative order is approximate).
        let order: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                Event::Stdout(t) if t.contains("before") => Some("before"),
                Event::Stdout(t) if t.contains("after") => Some("after"),
                Event::Display(_) => Some("display"),
                _ => None,
            })
            .collect();
        assert_eq!(order, ["before", "display", "after"]);
    }
}

#[test]
fn displays_over_the_limit_are_counted_not_kept() {
    let s = builder().display_limit(50_000).start().expect("start");
    let r = ok(&s, "for i in range(10):\n    display('x' * 10_000)");
    assert!(
        (3..=5).contains(&r.display.len()),
        "about 50 kB of 10 kB items: {}",
        r.display.len()
    );
    assert_eq!(r.display.len() as u64 + r.display_dropped, 10);
    // The next execution has its own budget.
    let r = ok(&s, "display('small')");
    assert_eq!((r.display.len(), r.display_dropped), (1, 0));
}

#[test]
fn a_display_from_a_thread_after_its_execute_is_background_display() {
    let s = session();
    ok(
        &s,
        "import threading, time\nt = threading.Thread(target=lambda: (time.sleep(0.3), display('late')))\nt.start()",
    );
    std::thread::sleep(Duration::from_millis(800));
    let r = ok(&s, "t.join()\ndisplay('now')");
    assert_eq!(r.display.len(), 1, "{r:#?}");
    assert_eq!(r.display[0].plain(), Some("'now'"));
    assert_eq!(r.background_display.len(), 1, "{r:#?}");
    assert_eq!(r.background_display[0].plain(), Some("'late'"));
    // Delivered once.
    assert!(ok(&s, "1").background_display.is_empty());
}

#[test]
fn display_is_there_after_restart_and_in_startup_code() {
    let s = builder()
        .startup_code("display('from startup')\nready = True")
        .start()
        .expect("start");
    assert_eq!(ok(&s, "display('a')").display.len(), 1);
    s.restart().expect("restart");
    let r = ok(&s, "ready");
    // Startup output, displays included, is not passed off as a later execute's.
    assert!(
        r.display.is_empty() && r.background_display.is_empty(),
        "{r:#?}"
    );
    assert_eq!(ok(&s, "display('b')").display.len(), 1);
    // A user may shadow the name in their namespace without breaking the builtin.
    ok(&s, "display = 5");
    assert_eq!(value(&s, "display").as_deref(), Some("5"));
    ok(&s, "del display");
    assert_eq!(ok(&s, "display('c')").display.len(), 1);
}

#[test]
fn display_of_a_huge_repr_and_of_odd_text_loses_nothing_else() {
    let s = session();
    let r = ok(
        &s,
        "display({'text/plain': 'nul\\x00 and lone \\ud800 surrogate'}, raw=True)\nprint('still here')",
    );
    assert_eq!(r.stdout, "still here\n");
    let plain = r.display[0].plain().expect("text/plain");
    assert!(plain.starts_with("nul\0 and lone "), "{plain:?}");
    assert!(plain.ends_with(" surrogate"), "{plain:?}");
    let r = ok(&s, "display({'text/x-\\ud800': 'odd type name'}, raw=True)");
    assert_eq!(r.display[0].mime_types().count(), 1, "{r:#?}");
    assert_alive(&s);
}

#[test]
fn display_that_is_timed_out_keeps_what_was_shown() {
    let s = session();
    let r = s
        .execute_with_timeout(
            "display('first')\nwhile True:\n    display('again')",
            Duration::from_millis(500),
        )
        .expect("execute");
    assert_eq!(r.status, pysession::Status::Timeout, "{r:#?}");
    assert_eq!(r.display[0].plain(), Some("'first'"));
    assert!(r.display.len() > 1);
    assert_alive(&s);
    // The protocol survived a stop in the middle of displays.
    assert_eq!(ok(&s, "display('ok')").display.len(), 1);
}

#[test]
fn code_that_catches_the_stop_around_display_still_times_out() {
    let s = session();
    let r = s
        .execute_with_timeout(
            "n = 0\nwhile True:\n    try:\n        display('x')\n        n += 1\n    except BaseException:\n        pass",
            Duration::from_millis(400),
        )
        .expect("execute");
    assert_eq!(r.status, pysession::Status::Timeout, "{:?}", r.error);
    // State kept: the loop's counter is there.
    assert_eq!(value(&s, "n > 0").as_deref(), Some("True"));
    assert_alive(&s);
}

#[test]
fn one_bad_entry_of_a_bundle_loses_only_itself() {
    let s = session();
    let r = ok(
        &s,
        "\
class B:
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {'application/json': float('nan'), 'text/html': '<i>kept</i>'}
class P:
    def _repr_png_(self):
        return 7
display(B(), P())",
    );
    assert_eq!(r.display.len(), 2, "{r:#?}");
    assert_eq!(r.display[0].html(), Some("<i>kept</i>"));
    assert!(r.display[0].get("application/json").is_none());
    assert!(r.display[1].png().is_none(), "an int is not PNG data");
    assert!(r.stderr.contains("'application/json'"), "{}", r.stderr);
    assert!(
        r.stderr.contains("image/png data must be bytes"),
        "{}",
        r.stderr
    );
    // Raw bundles are the caller's own data: a bad one is an error that says why.
    let r = raises(
        &s,
        "display({'image/png': 'not base64!'}, raw=True)",
        "ValueError",
    );
    assert!(r
        .error
        .unwrap()
        .message
        .contains("image/png data given as text must be base64"),);
    assert_alive(&s);
}

#[test]
fn a_forked_child_that_displays_does_not_disturb_the_session() {
    let s = session();
    let code = "\
import os
pid = os.fork()
if pid == 0:
    display('from the child')
    os._exit(0)
os.waitpid(pid, 0)
display('from the parent')";
    if subinterpreter() {
        // The interpreter is made without fork support: the call is refused before
        // anything is displayed, and the session keeps its state.
        ok(&s, "kept = 'yes'");
        let r = raises(&s, code, "RuntimeError");
        let m = &r.error.as_ref().unwrap().message;
        assert!(m.contains("fork not supported"), "{r:#?}");
        assert!(r.display.is_empty(), "{r:#?}");
        raises(&s, "pid", "NameError");
        assert_eq!(value(&s, "kept").as_deref(), Some("'yes'"));
    } else {
        let r = ok(&s, code);
        assert_eq!(r.display.len(), 1, "{r:#?}");
        assert_eq!(r.display[0].plain(), Some("'from the parent'"));
        if subprocess() {
            // The child shares the session's descriptors: its display shows as text.
            assert!(r.stdout.contains("'from the child'"), "{r:#?}");
        }
    }
    assert_alive(&s);
}

#[test]
fn a_thread_holding_the_interpreter_does_not_break_replies() {
    let s = session();
    ok(
        &s,
        "\
import threading
done = threading.Event()
def hold():
    while not done.is_set():
        3 ** 5_000_000  # most of a second in C, the interpreter held
hog = threading.Thread(target=hold)
hog.start()",
    );
    // Replies, displays and bytes go on while it holds the interpreter for a second at
    // a time.
    for i in 0..2 {
        let r = ok(&s, &format!("display({i})\n{i}"));
        assert_eq!(r.value, Some(i.to_string()));
        assert_eq!(r.display.len(), 1);
        s.set_bytes("b", vec![i as u8; 1000]).expect("set_bytes");
        assert_eq!(s.get_bytes("b").expect("get_bytes"), vec![i as u8; 1000]);
    }
    ok(&s, "done.set(); hog.join()");
    assert_alive(&s);
}

#[test]
fn output_of_other_threads_during_variable_calls_is_kept() {
    let s = session();
    // The thread may write its first lines while the execute that starts it still runs.
    let first = ok(
        &s,
        "\
import threading, time
def chatter():
    for i in range(40):
        print('line', i)
        display(i)
        time.sleep(0.005)
t = threading.Thread(target=chatter)
t.start()",
    );
    // Variable calls while the thread writes: none of its output may be lost.
    let began = std::time::Instant::now();
    while began.elapsed() < Duration::from_millis(400) {
        s.variables().expect("variables");
        s.set("x", &1).expect("set");
        s.set_bytes("b", vec![1]).expect("set_bytes");
    }
    let r = ok(&s, "t.join()");
    // A print's pieces may straddle two results (subprocess): count whole lines.
    let text = [
        &first.stdout,
        &first.background_stdout,
        &r.stdout,
        &r.background_stdout,
    ]
    .map(|t| t.as_str())
    .concat();
    let lines = text.matches('\n').count();
    let shown = first.display.len()
        + first.background_display.len()
        + r.display.len()
        + r.background_display.len();
    assert_eq!((lines, shown), (40, 40), "{first:#?}\n{r:#?}");
}

#[test]
fn a_startup_rerun_does_not_stream_into_the_next_submit() {
    let s = builder()
        .startup_code("print('from startup')\ndisplay('startup display')")
        .start()
        .expect("start");
    let r = s
        .execute_with_timeout("sum(range(4 * 10**8))", Duration::from_millis(200))
        .expect("execute");
    assert_eq!(r.status, pysession::Status::Restarted, "{r:#?}");
    // While the abandoned C call holds the interpreter, a submit is refused (Busy) and
    // the startup code stays due: try until it runs.
    let (events, _) = until_not_busy(Duration::from_secs(60), || {
        let events: Vec<Event> = s
            .submit("print('mine')\ndisplay('mine')")
            .expect("submit")
            .collect();
        match events.last() {
            Some(Event::Finished(Err(pysession::Error::Busy(m)))) => {
                Err(pysession::Error::Busy(m.clone()))
            }
            _ => Ok(events),
        }
    });
    for e in &events {
        match e {
            Event::Stdout(t) => assert!(!t.contains("startup"), "{events:#?}"),
            Event::Display(d) => assert_eq!(d.plain(), Some("'mine'"), "{events:#?}"),
            _ => {}
        }
    }
    let Some(Event::Finished(Ok(r))) = events.last() else {
        panic!("{events:#?}");
    };
    assert_eq!(r.stdout, "mine\n");
    assert_eq!(r.display.len(), 1);
}

#[test]
fn binary_types_beyond_images_stay_bytes() {
    let s = session();
    let r = ok(
        &s,
        "display({'audio/wav': b'RIFF\\x00\\x01\\xfe\\xff', 'application/x-custom': b'\\x00\\xff', 'text/csv': b'a,b'}, raw=True)",
    );
    let d = &r.display[0];
    assert_eq!(d.bytes("audio/wav"), Some(&b"RIFF\x00\x01\xfe\xff"[..]));
    assert_eq!(d.bytes("application/x-custom"), Some(&b"\x00\xff"[..]));
    assert_eq!(d.text("text/csv"), Some("a,b"));
}

#[test]
fn a_display_item_over_a_gibibyte_is_left_out_and_the_session_lives() {
    let s = session();
    ok(&s, "big = 'y' * ((1 << 30) + 10)");
    let r = ok(
        &s,
        "display({'text/plain': big}, raw=True)\ndisplay('small')",
    );
    assert_eq!(r.display.len(), 1, "only the small one: {r:#?}");
    assert_eq!(r.display[0].plain(), Some("'small'"));
    if subprocess() {
        assert!(r.stderr.contains("over 1 GiB is left out"), "{}", r.stderr);
    } else {
        assert_eq!(r.display_dropped, 1);
    }
    ok(&s, "del big");
    assert_alive(&s);
}
