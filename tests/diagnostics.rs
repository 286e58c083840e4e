//! The `tracing` feature: what the crate reports as `tracing` events.
#![cfg(feature = "tracing")]
mod common;

use std::sync::{Arc, Mutex};

use common::*;
use pysession::{Backend, Status};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Keeps the level, target and message of every event.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(Level, String, String)>>>);

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let meta = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((*meta.level(), meta.target().to_owned(), message.0));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Recorder {
    fn seen(&self, level: Level, words: &str) -> bool {
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|(l, target, m)| *l == level && target == "pysession" && m.contains(words))
    }
}

#[test]
fn session_life_and_restarts_are_tracing_events() {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(recorder.clone()).expect("first subscriber");
    let s = builder().start().expect("start");
    assert!(recorder.seen(Level::DEBUG, "session started"));
    s.restart().expect("restart");
    assert!(recorder.seen(Level::DEBUG, "session restarted: ok"));
    assert_alive(&s);

    // A subprocess session whose process dies: the result says so, and so does a warning.
    let p = builder()
        .backend(Backend::Subprocess)
        .start()
        .expect("start");
    let r = run(&p, "import os\nos._exit(3)");
    assert_eq!(r.status, Status::Restarted, "{r:#?}");
    assert!(recorder.seen(Level::WARN, "subprocess session restarted"));
    assert_alive(&p);
    p.stop().expect("stop");
    assert!(recorder.seen(Level::DEBUG, "session stopped"));
}
