//! A cell's value found without the `ast` route: an embedded interpreter compiles each
//! cell once and reads its code object (`src/embedded/cellplan.rs`). These tests hold
//! that plan to what the `ast` route gives, on hand-made cells and on cuts of the whole
//! standard library; subprocess and sub-interpreter sessions keep the `ast` route.
mod common;

use common::*;

/// A harness run inside the session: `cells.run_cell` on fresh states, with the plan
/// and without it. Prints one line per disagreement, then `checked N`.
const SAME_AS_AST_ROUTE: &str = r#"
import collections, contextlib
from pysession_runtime import cells

class _State:
    def __init__(self):
        self.ns = {"__name__": "__main__", "f": lambda *a: a[-1] * 10, "g": lambda fn: fn,
                   "c": True, "r": range(3), "d": {}, "m": contextlib.nullcontext(), "E": Exception}
        self.filenames = collections.deque()
        self.source_bytes = 0
        self.loop = None
        self.capture = None

def _outcome(plan, code):
    saved, cells._plan = cells._plan, plan
    state = _State()
    given = set(state.ns)
    try:
        result = cells.run_cell(state, code, cells.next_filename())
    finally:
        cells._plan = saved
        cells.forget_sources(state)
    plain = (int, float, str, tuple, list, dict, type(None))
    names = {k: v if isinstance(v, plain) else type(v).__name__
             for k, v in state.ns.items() if k not in given and k != "__builtins__"}
    return result[:2], result[2] and result[2][:2], names

_checked = 0
for _code in CELLS:
    _with, _without = _outcome(cells._plan, _code), _outcome(None, _code)
    _checked += 1
    if _with != _without:
        print("DIFFERENT", repr(_code), _with, _without)
print("checked", _checked)
"#;

/// Cells whose value (or lack of one) the plan must give as the `ast` route does.
const CELLS: &[&str] = &[
    "x = 1",
    "1 + 1",
    "f(2)",
    "print(3)",
    "x = 1\nf(x)\n# end",
    "for i in r:\n    f(i)",
    "import os",
    "with m: f(1)",
    "if c: f(1)",
    "x = 1; 5",
    "x = 1\n5",
    "f(1)\npass",
    "def h():\n    pass",
    "c if c else f(1)",
    "f(1) if c else 2",
    "not c",
    "x = f(1)",
    "'''doc\nimport x'''",
    "[f(x)\nfor x in r]",
    "(1 if c\nelse 2)",
    "x = (1 if c\nelse 2)",
    "_ = 4\n_",
    "match = 3\nmatch",
    "x = 1\n\n\n  # c\n",
    "f(1,\n2)",
    "f(1,\n2)\n5",
    "if c:\n    y = 1\nelse:\n    f(1)",
    "try:\n  f(1)\nexcept E:\n  g()\nf(2)",
    "x: int",
    "x: int = 5",
    "d[0]: int",
    "d.x: int",
    "d[0] = 3\nd[0]",
    "x = 7\ndel x",
    "class A:\n  pass\nA.__name__",
    "-1",
    "...",
    "'s'",
    "(1,\n 2)",
    "x = 1\n(1,\n 2)",
    "global x",
    "f(1)\nglobal x",
    "while False:\n  pass",
    "@g\ndef h(): pass",
    "x = 2\nx\n# ;",
    "f('a;b')",
    "é = 1\né",
    "x = [i\nfor i in r]",
    "x = 1 + \\\n  2",
    "f(1) + \\\n 2",
    "for x in r: pass\nelse: f(9)",
    "'first'",
    "'first'\n'second'",
    "x = 5\nx += 1\nx",
    "c and f(1)",
    "c or f(1)",
    "(y := 3)",
    "f(1)\n# print(2)\n",
    "(lambda: 1)()",
    "r[1:]",
    "{1: 2}",
    "[0][0] = 2",
    "x = [0]\nx[0] = 2",
    "x = 1\r\nx",
    "f(x=1)",
    "x == 1",
    "d.get(1) is None",
    "print('a = b')",
    "f(1)  # a comment",
    "import asyncio\nawait asyncio.sleep(0)\n7",
    "await asyncio.sleep(0) or 8",
    "async def h():\n    return 9\nawait h()",
    "1 +",
    "def h(:\n  pass",
    "return 5",
    "x = 1\nif x:\n    x\nelse:\n    2",
    "x = 3\nx if x else 0",
    "type(3)",
    "x: int\nx = 2\nx",
    "\nx = 4\nx\n",
    "  1",
    "1\n  2",
    "\"\"\"a\nb\"\"\"",
    "f'{c}'",
    "b'x'",
    "None",
    "True",
    "print('x', end='')",
    "del d[0] if False else None",
    "case = 1\ncase",
];

#[test]
fn a_cell_gives_with_the_plan_what_it_gives_by_the_ast_route() {
    let s = session();
    let cells = CELLS
        .iter()
        .map(|c| serde_json::to_string(c).expect("json"))
        .collect::<Vec<_>>()
        .join(", ");
    let r = ok(&s, &format!("CELLS = [{cells}]\n{SAME_AS_AST_ROUTE}"));
    // The cells' own prints come first.
    assert!(!r.stdout.contains("DIFFERENT"), "{}", r.stdout);
    assert!(
        r.stdout.ends_with(&format!("checked {}\n", CELLS.len())),
        "{r:#?}"
    );
    let plan = value(
        &s,
        "from pysession_runtime import cells\n(cells._plan is not None, cells.plan_refused)",
    );
    let expected = if subprocess() || subinterpreter() {
        "(False, None)"
    } else {
        "(True, None)"
    };
    assert_eq!(
        plan.as_deref(),
        Some(expected),
        "the embedded host plans cells; a subprocess or a sub-interpreter does not"
    );
    assert_alive(&s);
}

/// Cuts of every module of the standard library at its top-level statements (ten per
/// module, chosen by a fixed seed): the plan never says "no value" of a cell that ends
/// in an expression, never gives a value to one that does not, makes returns only of
/// the POP_TOPs on the last statement's first line; and it decides most cells.
#[test]
fn the_plan_agrees_with_ast_on_cuts_of_the_standard_library() {
    if subprocess() || subinterpreter() {
        // The plan is the embedded host's; the other test asserts that it is absent.
        let s = session();
        assert_eq!(
            value(
                &s,
                "from pysession_runtime import cells\ncells._plan is None"
            )
            .as_deref(),
            Some("True")
        );
        assert_alive(&s);
        return;
    }
    let s = session();
    let r = ok(
        &s,
        r#"
import ast, glob, os, random
from pysession_runtime import cells
rng = random.Random(1)
decided = total = 0
for path in sorted(glob.glob(os.path.join(os.path.dirname(os.__file__), "*.py"))):
    try:
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
        body = ast.parse(source).body
    except (SyntaxError, UnicodeDecodeError, ValueError):
        continue
    lines = source.splitlines(keepends=True)
    for node in rng.sample(body, min(len(body), 10)):
        code = "".join(lines[: node.end_lineno])
        last = ast.parse(code).body[-1]
        whole = compile(code, "<cut>", "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        plan = cells._plan(code, "<cut>")
        total += 1
        if plan is None:
            continue
        decided += 1
        gives_value = plan[0].co_code != whole.co_code or plan[1] is not None
        where = f"{os.path.basename(path)} to line {node.end_lineno}"
        if gives_value != isinstance(last, ast.Expr):
            print("WRONG", where, "gives a value" if gives_value else "gives none")
        elif plan[1] is None and gives_value and len(plan[0].co_code) == len(whole.co_code):
            changed = [i for i in range(0, len(whole.co_code), 2) if whole.co_code[i] != plan[0].co_code[i]]
            on = {l for a, b, l in whole.co_lines() for i in changed if a <= i < b}
            if on != {last.lineno}:
                print("WRONG", where, "returns from lines", on)
print("decided", decided, "of", total)
"#,
    );
    assert!(!r.stdout.contains("WRONG"), "{}", r.stdout);
    let counts: Vec<usize> = r
        .stdout
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [decided, total] = counts[..] else {
        panic!("no count: {r:#?}")
    };
    assert!(total > 1000, "{}", r.stdout);
    assert!(decided * 4 > total * 3, "{}", r.stdout);
    assert_alive(&s);
}
