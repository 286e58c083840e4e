//! Passing data in and out without writing Python source: get, set, variables.
mod common;

use std::collections::BTreeMap;

use common::*;
use pysession::Error;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i64,
    y: f64,
    label: String,
    tags: Vec<String>,
}

#[test]
fn values_set_from_rust_are_python_values_and_come_back() {
    let s = session();
    s.set("n", &42).expect("set");
    s.set("name", "pysession").expect("set");
    s.set("flags", &vec![true, false]).expect("set");
    let p = Point {
        x: 3,
        y: 0.5,
        label: "p".into(),
        tags: vec!["a".into(), "b".into()],
    };
    s.set("point", &p).expect("set");
    // They are plain Python values in the session.
    assert_eq!(
        value(
            &s,
            "(type(n).__name__, type(name).__name__, type(flags).__name__, type(point).__name__)"
        )
        .as_deref(),
        Some("('int', 'str', 'list', 'dict')")
    );
    assert_eq!(
        value(&s, "point['tags'][1] + name[:2]").as_deref(),
        Some("'bpy'")
    );
    assert_eq!(s.get::<i64>("n").expect("get"), 42);
    assert_eq!(s.get::<String>("name").expect("get"), "pysession");
    assert_eq!(s.get::<Vec<bool>>("flags").expect("get"), vec![true, false]);
    assert_eq!(s.get::<Point>("point").expect("get"), p);
    assert_alive(&s);
}

#[test]
fn values_made_by_python_code_convert_to_rust_types() {
    let s = session();
    ok(&s, "d = {'a': [1, 2.5, None, True], 'b': 'x'}\nraw = b'\\x00\\xff'\nt = (1, 2)\nbig = 10 ** 30");
    let d: serde_json::Value = s.get("d").expect("get");
    assert_eq!(d, serde_json::json!({"a": [1, 2.5, null, true], "b": "x"}));
    let m: BTreeMap<String, serde_json::Value> = s.get("d").expect("get");
    assert_eq!(m["b"], "x");
    assert_eq!(s.get::<Vec<u8>>("raw").expect("bytes"), vec![0, 255]);
    assert_eq!(s.get::<(i32, i32)>("t").expect("tuple"), (1, 2));
    let e = s.get::<i64>("big").expect_err("too big for i64");
    assert!(matches!(e, Error::Variable(_)), "{e:?}");
    assert_alive(&s);
}

#[test]
fn missing_and_unconvertible_variables_are_clear_errors() {
    let s = session();
    let e = s.get::<i64>("nowhere").expect_err("missing");
    assert!(matches!(e, Error::Variable(_)), "{e:?}");
    assert!(e.to_string().contains("no variable named 'nowhere'"), "{e}");

    ok(&s, "f = lambda: 1\ntext = 'abc'\nnan = float('nan')");
    let e = s.get::<serde_json::Value>("f").expect_err("a function");
    assert!(e.to_string().contains("cannot be converted"), "{e}");
    assert!(e.to_string().contains("function"), "{e}");
    let e = s.get::<i64>("text").expect_err("wrong type");
    assert!(e.to_string().contains("does not convert"), "{e}");
    let e = s.get::<f64>("nan").expect_err("NaN is not JSON");
    assert!(matches!(e, Error::Variable(_)), "{e:?}");

    let e = s.set("1abc", &1).expect_err("not a name");
    assert!(e.to_string().contains("not a valid Python name"), "{e}");
    // serde_json writes a NaN as null.
    s.set("x", &f64::NAN).expect("set");
    assert_eq!(value(&s, "x is None").as_deref(), Some("True"));
    // Nothing of that hurt the session.
    assert_eq!(value(&s, "text").as_deref(), Some("'abc'"));
    assert_alive(&s);
}

#[test]
fn variables_lists_the_users_names_with_type_and_short_repr() {
    let s = session();
    ok(
        &s,
        "import math\nx = 1\nwords = 'w' * 500\ndef f():\n    pass\nclass C:\n    pass",
    );
    let vars = s.variables().expect("variables");
    let names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["x", "words", "f", "C"], "{vars:#?}");
    let x = &vars[0];
    assert_eq!((x.type_name.as_str(), x.repr.as_str()), ("int", "1"));
    assert_eq!(vars[1].type_name, "str");
    assert!(vars[1].repr.len() < 100, "a short repr: {}", vars[1].repr);
    assert_eq!(vars[2].type_name, "function");
    assert_eq!(vars[3].type_name, "type");
    let all = s.variables_including_modules().expect("variables");
    assert!(
        all.iter()
            .any(|v| v.name == "math" && v.type_name == "module"),
        "{all:#?}"
    );
    // After a restart, the user's names are gone.
    s.restart().expect("restart");
    assert!(s.variables().expect("variables").is_empty());
    assert_alive(&s);
}

#[test]
fn bytes_go_in_and_out_as_bytes_every_value_intact() {
    let s = session();
    let all: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    s.set_bytes("blob", all.clone()).expect("set_bytes");
    assert_eq!(value(&s, "type(blob).__name__").as_deref(), Some("'bytes'"));
    assert_eq!(
        value(&s, "len(blob), blob[:3], blob[255]").as_deref(),
        Some("(1000, b'\\x00\\x01\\x02', 255)")
    );
    assert_eq!(s.get_bytes("blob").expect("get_bytes"), all);
    // Through JSON too, as a list of numbers.
    assert_eq!(s.get::<Vec<u8>>("blob").expect("get"), all);
    s.set_bytes("empty", &b""[..]).expect("set empty");
    assert_eq!(s.get_bytes("empty").expect("get empty"), Vec::<u8>::new());
    assert_alive(&s);
}

#[test]
fn bytearray_and_memoryview_read_as_bytes() {
    let s = session();
    ok(
        &s,
        "ba = bytearray(b'\\xffab'); mv = memoryview(b'xyz')[1:]",
    );
    assert_eq!(s.get_bytes("ba").unwrap(), b"\xffab");
    assert_eq!(s.get_bytes("mv").unwrap(), b"yz");
}

#[test]
fn get_bytes_of_a_missing_name_or_another_type_is_a_clear_error() {
    let s = session();
    ok(&s, "text = 'abc'");
    match s.get_bytes("text") {
        Err(pysession::Error::Variable(m)) => {
            assert!(m.contains("'text' is a str, not bytes"), "{m}")
        }
        other => panic!("expected a variable error: {other:?}"),
    }
    match s.get_bytes("nowhere") {
        Err(pysession::Error::Variable(m)) => assert!(m.contains("nowhere"), "{m}"),
        other => panic!("expected a variable error: {other:?}"),
    }
    assert!(matches!(
        s.set_bytes("not a name", vec![1]),
        Err(pysession::Error::Variable(_))
    ));
    assert_alive(&s);
}

#[test]
fn large_bytes_round_trip() {
    let s = session();
    let big: Vec<u8> = (0..64 << 20)
        .map(|i: u32| (i * 7 + i / 4096) as u8)
        .collect();
    s.set_bytes("big", big.as_slice()).expect("set 64 MiB");
    assert_eq!(value(&s, "len(big)").as_deref(), Some("67108864"));
    ok(
        &s,
        "import hashlib; digest = hashlib.sha256(big).hexdigest(); big2 = big[::-1]",
    );
    let back = s.get_bytes("big2").expect("get 64 MiB");
    assert_eq!(back.len(), big.len());
    assert!(back.iter().rev().eq(big.iter()));
    assert_alive(&s);
}

#[test]
fn bytes_calls_after_stop_fail_cleanly() {
    let s = session();
    s.stop().unwrap();
    assert!(matches!(
        s.set_bytes("x", vec![1]),
        Err(pysession::Error::NotRunning)
    ));
    assert!(matches!(
        s.get_bytes("x"),
        Err(pysession::Error::NotRunning)
    ));
    s.start().unwrap();
    s.set_bytes("x", vec![1, 2]).unwrap();
    assert_eq!(s.get_bytes("x").unwrap(), [1, 2]);
}

#[test]
fn serde_byte_strings_become_python_bytes_inside_any_value() {
    #[derive(serde::Serialize)]
    struct Upload<'a> {
        name: &'a str,
        #[serde(with = "serde_bytes")]
        body: &'a [u8],
        parts: Vec<serde_bytes::ByteBuf>,
        sizes: Vec<u8>,
    }
    let s = session();
    let upload = Upload {
        name: "a.bin",
        body: b"\x00\xff\x00 not utf-8 \xc3",
        parts: vec![
            serde_bytes::ByteBuf::from(vec![1, 2]),
            serde_bytes::ByteBuf::new(),
        ],
        sizes: vec![1, 2],
    };
    s.set("upload", &upload).expect("set");
    assert_eq!(
        value(&s, "upload['body']").as_deref(),
        Some("b'\\x00\\xff\\x00 not utf-8 \\xc3'")
    );
    assert_eq!(
        value(&s, "upload['parts'], upload['sizes'], upload['name']").as_deref(),
        Some("([b'\\x01\\x02', b''], [1, 2], 'a.bin')")
    );
    // And out again: bytes read as byte strings (or as a Vec<u8>).
    ok(&s, "body = upload['body']");
    let body: serde_bytes::ByteBuf = s.get("body").expect("get bytes");
    assert_eq!(body.as_slice(), upload.body);
    assert_eq!(s.get::<Vec<u8>>("body").expect("get bytes"), upload.body);
    // The one key that marks byte strings on the way in is refused, not misread.
    let e = s
        .set("lookalike", &serde_json::json!({"\u{0}bytes": 0}))
        .expect_err("reserved key");
    assert!(
        matches!(e, Error::Variable(_)) && e.to_string().contains("reserved"),
        "{e}"
    );
    assert_alive(&s);
}

#[test]
fn set_keeps_field_order_and_big_integers_as_serde_json_writes_them() {
    #[derive(serde::Serialize)]
    struct Ordered {
        zeta: u8,
        alpha: f32,
        mid: u128,
    }
    let s = session();
    s.set(
        "o",
        &Ordered {
            zeta: 1,
            alpha: 0.1,
            mid: u128::MAX,
        },
    )
    .expect("set");
    assert_eq!(
        value(&s, "list(o), o['alpha'], o['mid'] == 2 ** 128 - 1").as_deref(),
        Some("(['zeta', 'alpha', 'mid'], 0.1, True)")
    );
}

#[test]
fn byte_strings_over_the_subprocess_limit_are_refused_not_fatal() {
    let s = session();
    // 1 GiB + 1: zeroed pages cost nothing until they are read.
    let big = vec![0u8; (1 << 30) + 1];
    let set = s.set_bytes("big", big);
    ok(&s, "made = b'\\0' * ((1 << 30) + 1)");
    let got = s.get_bytes("made");
    if subprocess() {
        let e = set.expect_err("over the subprocess limit");
        assert!(e.to_string().contains("at most 1 GiB"), "{e}");
        let e = got.expect_err("over the subprocess limit");
        assert!(e.to_string().contains("at most 1 GiB"), "{e}");
    } else {
        set.expect("the embedded backend has no such limit");
        assert_eq!(got.expect("get_bytes").len(), (1 << 30) + 1);
    }
    ok(&s, "del made");
    assert_alive(&s);
}
