//! What `execute` returns: output, values, exceptions, exec semantics, JSON.
mod common;

use common::*;
use pysession::Status;

#[test]
fn empty_code_and_assignment_give_no_output_and_no_value() {
    let s = session();
    for code in ["", "x = 42"] {
        let r = ok(&s, code);
        assert_eq!(r.stdout, "", "{code:?}");
        assert_eq!(r.stderr, "", "{code:?}");
        assert_eq!(r.value, None, "{code:?}");
    }
    assert_eq!(value(&s, "x").as_deref(), Some("42"));
}

#[test]
fn state_persists_between_executions() {
    let s = session();
    ok(&s, "x = 100");
    ok(&s, "y = x + 50");
    let r = ok(&s, "print(y)");
    assert_eq!(r.stdout, "150\n");
    assert_eq!(r.value, None);
}

#[test]
fn multi_line_code_with_nested_blocks_and_blank_lines_runs_as_a_file() {
    let s = session();
    let code = "\
def classify(n):
    out = []

    for i in range(n):

        if i % 2 == 0:
            out.append('even')

        else:
            out.append('odd')

    return out

print(classify(3))
";
    let r = ok(&s, code);
    assert_eq!(r.stdout, "['even', 'odd', 'even']\n");
}

#[test]
fn blank_lines_inside_triple_quoted_strings_are_kept() {
    let s = session();
    let r = ok(&s, "text = '''first\n\n\nlast'''\nprint(repr(text))");
    assert_eq!(r.stdout, "'first\\n\\n\\nlast'\n");
}

#[test]
fn one_line_compound_statement_runs() {
    let s = session();
    let r = ok(&s, "for i in range(3): print(i)");
    assert_eq!(r.stdout, "0\n1\n2\n");
    assert_eq!(r.value, None);
}

#[test]
fn if_else_blocks_take_the_right_branch() {
    let s = session();
    let r = ok(
        &s,
        "n = 5\nif n > 3:\n    print('big')\nelse:\n    print('small')",
    );
    assert_eq!(r.stdout, "big\n");
    let r = ok(
        &s,
        "if n > 10:\n    print('big')\nelif n > 4:\n    print('mid')\nelse:\n    print('small')",
    );
    assert_eq!(r.stdout, "mid\n");
}

#[test]
fn class_definitions_and_decorators_persist() {
    let s = session();
    ok(
        &s,
        "\
import functools

def shout(f):
    @functools.wraps(f)
    def wrapper(*a):
        return f(*a).upper()
    return wrapper

class Greeter:
    def __init__(self, name):
        self.name = name

    @shout
    def greet(self):
        return f'hello {self.name}'

    @property
    def size(self):
        return len(self.name)
",
    );
    assert_eq!(
        value(&s, "Greeter('bob').greet()").as_deref(),
        Some("'HELLO BOB'")
    );
    assert_eq!(value(&s, "Greeter('alice').size").as_deref(), Some("5"));
    assert_eq!(
        value(&s, "Greeter.greet.__name__").as_deref(),
        Some("'greet'")
    );
}

#[test]
fn last_expression_value_is_returned_without_printing() {
    let s = session();
    let r = ok(&s, "2 + 2");
    assert_eq!(r.value.as_deref(), Some("4"));
    assert_eq!(r.stdout, "");
    assert_eq!(value(&s, "x = 5; x").as_deref(), Some("5"));
    assert_eq!(value(&s, "None"), None);
    assert_eq!(value(&s, "'hi'").as_deref(), Some("'hi'"));
    assert_eq!(
        value(&s, "[1, 'a', None]").as_deref(),
        Some("[1, 'a', None]")
    );
}

#[test]
fn trailing_expression_after_a_block_is_the_value() {
    let s = session();
    let r = ok(
        &s,
        "total = 0\nfor i in range(4):\n    total += i\ntotal * 10",
    );
    assert_eq!(r.value.as_deref(), Some("60"));
    assert_eq!(r.stdout, "");
}

#[test]
fn expression_that_is_not_last_is_not_the_value() {
    let s = session();
    let r = ok(&s, "1 + 1\ny = 3");
    assert_eq!(r.value, None);
    assert_eq!(r.stdout, "");
}

#[test]
fn stdout_and_stderr_are_separate_and_exact() {
    let s = session();
    let r = ok(
        &s,
        "import sys\nprint('out 1')\nprint('err 1', file=sys.stderr)\nsys.stdout.write('out 2')\nsys.stderr.write('err 2\\n')\nNone",
    );
    assert_eq!(r.stdout, "out 1\nout 2");
    assert_eq!(r.stderr, "err 1\nerr 2\n");
    assert_eq!(r.stdout_truncated_bytes, 0);
    assert_eq!(r.stderr_truncated_bytes, 0);
}

#[test]
fn writing_to_stderr_or_printing_error_is_still_success() {
    let s = session();
    let r = ok(
        &s,
        "import sys\nsys.stderr.write('Traceback (most recent call last):\\nError: nope\\n')",
    );
    assert_eq!(r.status, Status::Ok);
    assert!(r.error.is_none());
    assert_eq!(
        r.stderr,
        "Traceback (most recent call last):\nError: nope\n"
    );
    let r = ok(&s, "print('Error')");
    assert_eq!(r.stdout, "Error\n");
    assert!(r.error.is_none());
}

#[test]
fn warnings_reach_stderr_and_status_is_ok() {
    let s = session();
    let r = ok(&s, "import warnings\nwarnings.warn('careful')");
    assert!(r.stderr.contains("careful"), "{r:#?}");
    assert!(r.stderr.contains("UserWarning"), "{r:#?}");
    assert_eq!(r.stdout, "");
}

#[test]
fn division_by_zero_is_an_error_result() {
    let s = session();
    let r = raises(&s, "1/0", "ZeroDivisionError");
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.message, "division by zero");
    assert!(e.traceback.contains("ZeroDivisionError"), "{}", e.traceback);
    assert_eq!(r.value, None);
    assert_alive(&s);
}

#[test]
fn syntax_error_reports_its_line() {
    let s = session();
    let r = raises(&s, "a = 1\nb = 2\nif True print('x')\n", "SyntaxError");
    let e = r.error.as_ref().unwrap();
    assert!(
        e.message.contains("line 3") || e.traceback.contains("line 3"),
        "line number missing: {e:#?}"
    );
    assert!(
        !e.traceback.contains("pysession-runtime"),
        "{}",
        e.traceback
    );
    assert!(
        !e.traceback.contains("pysession_runtime"),
        "{}",
        e.traceback
    );
    // Nothing of the cell ran.
    raises(&s, "a", "NameError");
    assert_alive(&s);
}

#[test]
fn error_inside_a_function_shows_the_function_and_the_source_line() {
    let s = session();
    ok(&s, "def foo(d):\n    return d['missing_key_xyz']\n");
    let r = raises(&s, "foo({})", "KeyError");
    let e = r.error.as_ref().unwrap();
    assert!(e.traceback.contains("foo"), "{}", e.traceback);
    assert!(
        e.traceback.contains("return d['missing_key_xyz']"),
        "traceback should show the user's source line: {}",
        e.traceback
    );
    assert!(e.traceback.contains("KeyError"), "{}", e.traceback);
    assert!(
        !e.traceback.contains("pysession-runtime"),
        "{}",
        e.traceback
    );
    assert!(
        !e.traceback.contains("pysession_runtime"),
        "{}",
        e.traceback
    );
    assert_alive(&s);
}

#[test]
fn traceback_never_shows_runtime_frames() {
    let s = session();
    let cases = [
        ("raise ValueError('v')", "ValueError"),
        ("import nonexistent_module_xyz", "ModuleNotFoundError"),
        ("undefined_name_xyz", "NameError"),
        (
            "try:\n    1/0\nexcept ZeroDivisionError as e:\n    raise RuntimeError('wrapped') from e",
            "RuntimeError",
        ),
        ("try:\n    {}['k']\nexcept KeyError:\n    [][1]", "IndexError"),
        ("input()", "EOFError"),
        ("def f(:\n    pass", "SyntaxError"),
        ("import asyncio\nawait asyncio.sleep(0)\n1/0", "ZeroDivisionError"),
        (
            "import asyncio\nasync def g():\n    raise KeyError('k')\nawait g()",
            "KeyError",
        ),
    ];
    for (code, ty) in cases {
        let r = raises(&s, code, ty);
        let tb = &r.error.as_ref().unwrap().traceback;
        assert!(!tb.is_empty(), "{code:?}");
        assert!(!tb.contains("pysession-runtime"), "{code:?}: {tb}");
        assert!(!tb.contains("pysession_runtime"), "{code:?}: {tb}");
    }
    assert_alive(&s);
}

#[test]
fn lone_surrogate_in_an_exception_message_is_an_error_result() {
    let s = session();
    let r = raises(&s, "raise ValueError('bad \\udc80 char')", "ValueError");
    let e = r.error.as_ref().unwrap();
    // The surrogate cannot be UTF-8; it may come back replaced, but the rest is there.
    assert!(e.message.starts_with("bad "), "{e:?}");
    assert!(e.message.ends_with(" char"), "{e:?}");
    assert!(e.traceback.contains("ValueError"), "{}", e.traceback);
    assert!(
        !e.traceback.contains("pysession_runtime"),
        "{}",
        e.traceback
    );
    assert!(
        !e.traceback.contains("pysession-runtime"),
        "{}",
        e.traceback
    );
    // The result still serializes.
    assert!(
        r.to_json().contains("\"type\":\"ValueError\""),
        "{}",
        r.to_json()
    );
    assert_alive(&s);
}

#[test]
fn printing_a_lone_surrogate_does_not_fail_the_execute() {
    let s = session();
    let r = ok(&s, "print('x\\udc80y')");
    assert!(r.stdout.starts_with('x'), "{:?}", r.stdout);
    assert!(r.stdout.ends_with("y\n"), "{:?}", r.stdout);
    assert!(
        r.stdout.contains('x') && r.stdout.contains('y'),
        "{:?}",
        r.stdout
    );
    let r = ok(&s, "import sys\nprint('e\\udc80r', file=sys.stderr)");
    assert!(r.stderr.starts_with('e'), "{:?}", r.stderr);
    assert!(r.stderr.ends_with("r\n"), "{:?}", r.stderr);
    // The value of an expression holding one is its repr, which escapes it.
    let r = ok(&s, "'x\\udc80y'");
    assert_eq!(r.value.as_deref(), Some("'x\\udc80y'"));
    assert_alive(&s);
}

#[test]
fn output_printed_before_an_exception_is_kept() {
    let s = session();
    let r = raises(
        &s,
        "import sys\nprint('before')\nprint('warn', file=sys.stderr)\nraise ValueError('after')\nprint('never')",
        "ValueError",
    );
    assert_eq!(r.stdout, "before\n");
    assert_eq!(r.stderr, "warn\n");
    assert_alive(&s);
}

#[test]
fn state_before_an_exception_is_kept() {
    let s = session();
    raises(&s, "kept = 'yes'\nraise ValueError()", "ValueError");
    assert_eq!(value(&s, "kept").as_deref(), Some("'yes'"));
    assert_alive(&s);
}

#[test]
fn top_level_await_runs() {
    let s = session();
    let r = ok(&s, "import asyncio\nawait asyncio.sleep(0.01)");
    assert_eq!(r.value, None);
    let r = ok(&s, "await asyncio.sleep(0, result=7)");
    assert_eq!(r.value.as_deref(), Some("7"));
    let r = ok(
        &s,
        "async def twice(x):\n    await asyncio.sleep(0)\n    return 2 * x\nresult = await twice(21)\nprint(result)",
    );
    assert_eq!(r.stdout, "42\n");
    assert_eq!(value(&s, "result").as_deref(), Some("42"));
    assert_alive(&s);
}

#[test]
fn asyncio_run_inside_a_cell_works() {
    let s = session();
    let code = "import asyncio\nasync def main():\n    await asyncio.sleep(0.01)\n    return 'done'\nasyncio.run(main())";
    assert_eq!(value(&s, code).as_deref(), Some("'done'"));
    // Also after a cell that used top-level await (the session's own loop exists).
    ok(&s, "await asyncio.sleep(0)");
    assert_eq!(value(&s, "asyncio.run(main())").as_deref(), Some("'done'"));
    assert_alive(&s);
}

#[test]
fn duration_is_positive() {
    let s = session();
    let r = ok(&s, "x = 1");
    assert!(r.duration_ms > 0.0, "{}", r.duration_ms);
    let r = raises(&s, "1/0", "ZeroDivisionError");
    assert!(r.duration_ms > 0.0, "{}", r.duration_ms);
    assert_alive(&s);
}

#[test]
fn ok_result_serializes_to_json_with_all_fields() {
    let s = session();
    let r = ok(&s, "print('hi')\n6 * 7");
    let json = r.to_json();
    for needle in [
        "\"status\":\"ok\"",
        "\"success\":true",
        "\"stdout\":\"hi\\n\"",
        "\"stderr\":\"\"",
        "\"value\":\"42\"",
        "\"error\":null",
        "\"duration_ms\":",
        "\"stdout_truncated_bytes\":0",
        "\"stderr_truncated_bytes\":0",
        "\"background_stdout\":\"\"",
        "\"background_stderr\":\"\"",
    ] {
        assert!(json.contains(needle), "{needle} missing in {json}");
    }
}

#[test]
fn error_result_serializes_to_json_with_error_fields() {
    let s = session();
    let r = raises(&s, "1/0", "ZeroDivisionError");
    let json = r.to_json();
    for needle in [
        "\"status\":\"error\"",
        "\"success\":false",
        "\"value\":null",
        "\"error\":{\"type\":\"ZeroDivisionError\",\"message\":\"division by zero\",\"traceback\":\"",
    ] {
        assert!(json.contains(needle), "{needle} missing in {json}");
    }
    assert_alive(&s);
}

#[test]
fn timeout_result_serializes_with_status_timeout() {
    let s = session();
    let r = s
        .execute_with_timeout("while True: pass", std::time::Duration::from_millis(200))
        .unwrap();
    assert_eq!(r.status, Status::Timeout);
    let json = r.to_json();
    assert!(json.contains("\"status\":\"timeout\""), "{json}");
    assert!(json.contains("\"success\":false"), "{json}");
    assert_alive(&s);
}

#[test]
fn a_lone_surrogate_is_one_replacement_character_on_both_backends() {
    let s = session();
    let r = ok(&s, "print('x\\ud800y')");
    assert_eq!(r.stdout, "x\u{FFFD}y\n", "{r:#?}");
    let r = ok(&s, "import sys\nprint('e\\udfffr', file=sys.stderr)");
    assert_eq!(r.stderr, "e\u{FFFD}r\n", "{r:#?}");
    let r = raises(&s, "raise ValueError('bad \\ud800 char')", "ValueError");
    assert_eq!(
        r.error.as_ref().unwrap().message,
        "bad \u{FFFD} char",
        "{r:#?}"
    );
    let r = ok(&s, "display({'text/plain': 'd\\ud800'}, raw=True)");
    assert_eq!(r.display[0].plain(), Some("d\u{FFFD}"), "{r:#?}");
    assert_alive(&s);
}
