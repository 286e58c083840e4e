//! How to run a cell and get its value without a trip through Python `ast` objects:
//! what the runtime's `cells.run_cell` asks an embedded interpreter first.
//!
//! The runtime finds a cell's value (a notebook's `Out[]`) by parsing the cell into
//! `ast` objects, taking the last statement off when it is an expression, and
//! compiling both parts: the objects' round trip costs as much as compiling the cell a
//! second time. Here the cell is compiled once, and the code object says what its last
//! statement is:
//!
//! - A one-line cell that reads as an expression is compiled as one (`"eval"`); what
//!   that compile refuses goes on as a module.
//! - A module's code ends, on every path, in an implicit `return None` on the line of
//!   the instruction before it, or on the line of a last statement that compiled to
//!   nothing (a constant, `pass`). A top-level statement's line starts at column 0. An
//!   expression statement compiles to its value and a POP_TOP on its first line; an
//!   assignment ends in a store.
//! - So when the return's line starts a top-level statement: a keyword there (`for
//!   ...:`, `import`, `with`) is a statement with no value; a POP_TOP before the return
//!   is an expression's, and becomes a RETURN_VALUE (the same size: no offset, jump or
//!   exception table moves), so that running the code gives the value; a store is an
//!   assignment's; an instruction on an earlier line means a constant last statement,
//!   compiled alone.
//!
//! What the code object does not show for sure (a `;`, a soft keyword, an annotation
//! such as `a.b: int`, a `global`, `a if b else 2`) is left to the `ast` route, which
//! is always right. The runtime checks this plan against that route on sample cells
//! before it uses it, and `tests/cell_plan.rs` on cuts of the whole standard library.

use std::ffi::CString;

use pyo3::exceptions::PySyntaxError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyCode, PyDict, PyString, PyTuple};
use pyo3::{intern, IntoPyObjectExt};

use super::ffi;

/// What the plan reads of the running interpreter, once: the minor version its
/// grammar is asked for (as `compile()` asks), and opcodes from `opcode.opmap`.
struct Ops {
    minor: u8,
    pop_top: u8,
    return_value: u8,
    return_const: Option<u8>,
    load_const: u8,
    cache: Option<u8>,
    store_name: u8,
    stores: Vec<u8>,
}

static OPS: PyOnceLock<Option<Ops>> = PyOnceLock::new();

fn ops(py: Python<'_>) -> Option<&'static Ops> {
    OPS.get_or_init(py, || {
        let map = py.import("opcode").ok()?.getattr("opmap").ok()?;
        let map = map.cast_into::<PyDict>().ok()?;
        let op = |name: &str| -> Option<u8> { map.get_item(name).ok()??.extract().ok() };
        Some(Ops {
            minor: py.version_info().minor,
            pop_top: op("POP_TOP")?,
            return_value: op("RETURN_VALUE")?,
            return_const: op("RETURN_CONST"),
            load_const: op("LOAD_CONST")?,
            cache: op("CACHE"),
            store_name: op("STORE_NAME")?,
            stores: [
                "STORE_NAME",
                "STORE_ATTR",
                "STORE_SUBSCR",
                "STORE_SLICE",
                "STORE_GLOBAL",
            ]
            .iter()
            .filter_map(|n| op(n))
            .collect(),
        })
    })
    .as_ref()
}

/// Keywords that start a statement with no value and never go on an expression begun
/// on the line before.
const STATEMENT_KEYWORDS: [&str; 19] = [
    "import", "from", "def", "class", "while", "with", "try", "except", "finally", "elif", "del",
    "pass", "assert", "raise", "return", "break", "continue", "global", "nonlocal",
];
/// Keywords that start a statement when their line ends its header (`for x in y:`), and
/// may go on an expression otherwise (`x = (1 if c` / `else 2)`).
const HEADER_KEYWORDS: [&str; 4] = ["if", "for", "else", "async"];
/// Keywords that only go on an expression; soft keywords, which may start a statement or
/// an expression. (The rest, `not`, `lambda`, `await`, `None`, `True` and `False`, start
/// expressions.)
const CONTINUING_KEYWORDS: [&str; 6] = ["and", "or", "in", "is", "as", "yield"];
const SOFT_KEYWORDS: [&str; 4] = ["_", "case", "match", "type"];

/// `cells.run_cell`'s plan for `code` as the cell `filename`: `(code_object,
/// constant)`, where running the code object in the session's namespace gives the
/// value of the cell (None: no value) and `constant`, when not None, is the code of a
/// constant last statement to evaluate after it; None when the `ast` route must tell.
/// A syntax error is raised as compiling the cell raises it.
#[pyfunction]
pub(crate) fn plan_cell<'py>(
    code: &Bound<'py, PyString>,
    filename: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let py = code.py();
    let Some(ops) = ops(py) else {
        return Ok(None);
    };
    let Ok(text) = code.to_str() else {
        return Ok(None);
    };
    // Line numbers here count `\n` only; a NUL is the `ast` route's error to report.
    if text.contains(['\r', '\0']) {
        return Ok(None);
    }
    let Ok(source) = CString::new(text) else {
        return Ok(None);
    };
    let plan = |run: Bound<'py, PyAny>, constant: Option<Bound<'py, PyAny>>| {
        Ok(Some(PyTuple::new(
            py,
            [run, constant.into_bound_py_any(py)?],
        )?))
    };
    if reads_as_expression(text) {
        match ffi::compile(py, &source, filename, true, ops.minor) {
            Ok(expression) => return plan(expression, None),
            Err(e) if e.is_instance_of::<PySyntaxError>(py) => {}
            Err(e) => return Err(e),
        }
    }
    let whole = ffi::compile(py, &source, filename, false, ops.minor)?;
    match decide(py, ops, &whole, text)? {
        Decision::NoValue => plan(whole, None),
        Decision::Value(patched) => plan(patched, None),
        Decision::Constant(start) => {
            let Ok(tail) = CString::new(&text[start..]) else {
                return Ok(None);
            };
            match ffi::compile(py, &tail, filename, true, ops.minor) {
                Ok(constant) => plan(whole, Some(constant)),
                Err(e) if e.is_instance_of::<PySyntaxError>(py) => Ok(None),
                Err(e) => Err(e),
            }
        }
        Decision::Unsure => Ok(None),
    }
}

enum Decision<'py> {
    /// The code as compiled: its last statement has no value.
    NoValue,
    /// The code with its last expression statement's POP_TOPs made returns.
    Value(Bound<'py, PyAny>),
    /// The last statement is a constant, whose line starts at this byte of the cell.
    Constant(usize),
    Unsure,
}

/// A one-line cell that may be one expression: no statement keyword first, and no
/// `=`, `;` or `:` outside brackets that would make it a statement. A wrong guess costs
/// a compile that fails, not a wrong value.
fn reads_as_expression(text: &str) -> bool {
    let line = text.trim_end();
    if line.contains('\n') || line.starts_with(char::is_whitespace) || line.is_empty() {
        return false;
    }
    let word = first_word(line);
    if STATEMENT_KEYWORDS.contains(&word) || HEADER_KEYWORDS.contains(&word) {
        return false;
    }
    let bytes = line.as_bytes();
    let mut depth = 0i32;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b'#' | b';' => return false,
            b'=' | b':' if depth == 0 => {
                let before = i.checked_sub(1).map(|j| bytes[j]);
                let after = bytes.get(i + 1).copied();
                let comparison = b == b'='
                    && (after == Some(b'=') || matches!(before, Some(b'=' | b'!' | b'<' | b'>')));
                let walrus = b == b':' && after == Some(b'=') || b == b'=' && before == Some(b':');
                if !comparison && !walrus {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

/// The identifier a line starts with ("" when it starts with something else).
fn first_word(line: &str) -> &str {
    let end = line
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(line.len(), |(i, _)| i);
    &line[..end]
}

/// `a.b: int`, `x[0]: int`: an annotation with no value, which compiles to a POP_TOP
/// as an expression does.
fn is_annotation(line: &str) -> bool {
    let rest = line.trim_start_matches(|c: char| c.is_alphanumeric() || "_.[]()'\" \t".contains(c));
    rest.starts_with(':') && !rest.starts_with(":=")
}

fn decide<'py>(
    py: Python<'py>,
    ops: &Ops,
    whole: &Bound<'py, PyAny>,
    text: &str,
) -> PyResult<Decision<'py>> {
    if text.contains("global") && text.split('\n').any(|l| first_word(l) == "global") {
        // A top-level `global` compiles to nothing at all, not even its line.
        return Ok(Decision::Unsure);
    }
    let units = whole
        .getattr(intern!(py, "co_code"))?
        .cast_into::<PyBytes>()?;
    let units = units.as_bytes();
    let consts = whole
        .getattr(intern!(py, "co_consts"))?
        .cast_into::<PyTuple>()?;
    let is_return = |op: u8| op == ops.return_value || Some(op) == ops.return_const;
    let last_return = |end: usize| (0..end).step_by(2).rev().find(|&i| is_return(units[i]));
    // The last implicit return, and the instruction before it.
    let Some(at) = last_return(units.len()) else {
        return Ok(Decision::Unsure);
    };
    let mut start = at;
    if units[at] == ops.return_value {
        match at.checked_sub(2) {
            Some(s) if units[s] == ops.load_const => start = s,
            _ => return Ok(Decision::Unsure),
        }
    }
    if !consts.get_item(usize::from(units[start + 1]))?.is_none() {
        return Ok(Decision::Unsure);
    }
    let mut before = start;
    loop {
        match before.checked_sub(2) {
            Some(b) if Some(units[b]) == ops.cache => before = b,
            Some(b) => {
                before = b;
                break;
            }
            None => return Ok(Decision::Unsure),
        }
    }
    let code = whole.cast::<PyCode>()?;
    let line_of = |offset: usize| ffi::code_line(code, offset, units.len());
    let Some(line) = line_of(at) else {
        return Ok(Decision::Unsure);
    };
    let lines: Vec<&str> = text.split('\n').collect();
    let Some(&first) = lines.get(line.wrapping_sub(1)) else {
        return Ok(Decision::Unsure);
    };
    if first.is_empty()
        || first.starts_with(char::is_whitespace)
        || lines[line - 1..].iter().any(|l| l.contains(';'))
    {
        // Not a line a top-level statement starts, or one a `;` may share.
        return Ok(Decision::Unsure);
    }
    let word = first_word(first);
    if STATEMENT_KEYWORDS.contains(&word)
        || (HEADER_KEYWORDS.contains(&word) && first.trim_end().ends_with(':'))
    {
        // The last return is on a top-level line that starts a statement with no
        // value (`import`, `with`, `pass`, `for ...:`): the last statement's.
        return Ok(Decision::NoValue);
    }
    if SOFT_KEYWORDS.contains(&word)
        || HEADER_KEYWORDS.contains(&word)
        || CONTINUING_KEYWORDS.contains(&word)
    {
        // `match`, or a line that goes on an expression of the line before.
        return Ok(Decision::Unsure);
    }
    if line_of(before) != Some(line) {
        // The last statement, which starts this line, compiled to nothing: a constant.
        let start = lines[..line - 1].iter().map(|l| l.len() + 1).sum();
        return Ok(Decision::Constant(start));
    }
    let op = units[before];
    if op == ops.pop_top {
        // An expression statement starting this line (unless an annotation): every path
        // (`a if b else c` has two) ends in its POP_TOP, which returns instead.
        if first.contains(':') && is_annotation(first) {
            return Ok(Decision::Unsure);
        }
        let mut patched = units.to_vec();
        let mut at = Some(at);
        while let Some(ret) = at {
            let pop = if units[ret] == ops.return_value {
                if ret < 4 || units[ret - 2] != ops.load_const {
                    return Ok(Decision::Unsure);
                }
                ret - 4
            } else {
                match ret.checked_sub(2) {
                    Some(p) => p,
                    None => return Ok(Decision::Unsure),
                }
            };
            if units[pop] != ops.pop_top || line_of(pop) != Some(line) {
                return Ok(Decision::Unsure);
            }
            patched[pop] = ops.return_value;
            patched[pop + 1] = 0;
            at = last_return(pop);
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item(intern!(py, "co_code"), PyBytes::new(py, &patched))?;
        let patched = whole.call_method(intern!(py, "replace"), (), Some(&kwargs))?;
        return Ok(Decision::Value(patched));
    }
    if ops.stores.contains(&op) {
        if op == ops.store_name {
            let names = whole
                .getattr(intern!(py, "co_names"))?
                .cast_into::<PyTuple>()?;
            let name = names.get_item(usize::from(units[before + 1]))?;
            if name.eq(intern!(py, "__doc__"))? {
                // A lone string first in a cell is stored as the module's docstring,
                // but its value is the cell's.
                return Ok(Decision::Unsure);
            }
        }
        // An assignment starting this line (an expression statement ends in its
        // POP_TOP).
        return Ok(Decision::NoValue);
    }
    Ok(Decision::Unsure)
}
