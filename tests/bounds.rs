//! What code cannot make a session hold without bound: long exception texts, output
//! nobody reads, memory that grows with every execute. After each, the session works
//! and keeps its state.
mod common;

use common::*;

#[test]
fn an_enormous_exception_text_is_cut_like_output_and_state_is_kept() {
    let s = builder().output_limit(1000).start().expect("start");
    ok(&s, "kept = 'yes'");
    let r = raises(&s, "raise ValueError('x' * 50_000_000)", "ValueError");
    let e = r.error.as_ref().unwrap();
    for (what, text) in [("message", &e.message), ("traceback", &e.traceback)] {
        assert!(text.len() < 3000, "{what} is {} bytes long", text.len());
        assert!(text.contains("cut here"), "{what}: {text}");
    }
    assert!(e.message.starts_with("xxx"), "{}", &e.message[..100]);
    assert!(
        e.traceback.ends_with("xxx\n") || e.traceback.ends_with("xxx"),
        "{}",
        e.traceback
    );
    assert_eq!(value(&s, "kept").as_deref(), Some("'yes'"));
    assert_alive(&s);
}
