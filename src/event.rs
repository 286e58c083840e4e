//! What happens while submitted code runs, as events, and the sending side that the
//! capture feeds them into. Below the session and the backends, which both use it.

use std::sync::{Arc, Mutex};
use std::task::Waker;

use crossbeam_channel::Sender;

use crate::error::Error;
use crate::result::{DisplayData, ExecutionResult};

/// Something that happened while submitted code ran.
#[derive(Debug)]
#[non_exhaustive]
// `Finished` is the large one and comes once per execution; boxing it would only make
// matching on it clumsier.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// Text the code wrote to stdout, as it was written.
    Stdout(String),
    /// Text the code wrote to stderr, as it was written.
    Stderr(String),
    /// Rich output (`display(obj)`, a figure, the last line's bundle), as it was made;
    /// the same items end up in [`ExecutionResult::display`].
    Display(DisplayData),
    /// The end: the same result [`Session::execute`](crate::Session::execute) would have
    /// returned, all output included. Always the last event.
    Finished(Result<ExecutionResult, Error>),
}

/// The sending side of an execution's events; wakes an async reader.
#[derive(Debug, Clone)]
pub(crate) struct EventSender {
    tx: Sender<Event>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl EventSender {
    pub(crate) fn send(&self, event: Event) {
        let _ = self.tx.send(event);
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl EventSender {
    /// A sender into `tx` that wakes the reader parked at `waker`.
    pub(crate) fn new(tx: Sender<Event>, waker: Arc<Mutex<Option<Waker>>>) -> EventSender {
        EventSender { tx, waker }
    }
}
