//! What happens while submitted code runs, as events, and the sending side that the
//! capture feeds them into. Below the session and the backends, which both use it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
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
    /// The reader fell behind: events not yet read held as much as the result itself
    /// may (twice the output limit, plus the display limit), so the output since the
    /// last event was not sent as events: this many bytes of stdout and stderr and
    /// this many display items. It is in the result all the same, within the result's
    /// own limits. Comes before the next event that is sent.
    Skipped {
        /// Bytes of stdout and stderr not sent as events.
        bytes: u64,
        /// Display items not sent as events.
        displays: u64,
    },
    /// The end: the same result [`Session::execute`](crate::Session::execute) would have
    /// returned, all output included. Always the last event.
    Finished(Result<ExecutionResult, Error>),
}

/// The sending side of an execution's events; wakes an async reader. What is sent and
/// not yet read is bounded: past `cap` bytes, output is counted instead of sent, and
/// an [`Event::Skipped`] says how much once there is room again.
#[derive(Debug, Clone)]
pub(crate) struct EventSender {
    tx: Sender<Event>,
    waker: Arc<Mutex<Option<Waker>>>,
    queue: Arc<Queued>,
}

/// The bytes sent and not yet read, shared by the sender and the reader.
#[derive(Debug)]
pub(crate) struct Queued {
    bytes: AtomicUsize,
    cap: usize,
    /// Output not sent since the last event that was: bytes, display items.
    skipped: Mutex<(u64, u64)>,
}

impl Queued {
    /// A bound of `cap` bytes.
    pub(crate) fn new(cap: usize) -> Arc<Queued> {
        Arc::new(Queued {
            bytes: AtomicUsize::new(0),
            cap,
            skipped: Mutex::new((0, 0)),
        })
    }

    /// The reader took `event`.
    pub(crate) fn read(&self, event: &Event) {
        self.bytes.fetch_sub(size(event), Ordering::AcqRel);
    }

    fn skipped(&self) -> MutexGuard<'_, (u64, u64)> {
        self.skipped.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What an event counts against the bound.
fn size(event: &Event) -> usize {
    match event {
        Event::Stdout(t) | Event::Stderr(t) => t.len(),
        Event::Display(d) => d.size(),
        _ => 0,
    }
}

impl EventSender {
    /// A sender into `tx` that wakes the reader parked at `waker`, bounded by `queue`.
    pub(crate) fn new(
        tx: Sender<Event>,
        waker: Arc<Mutex<Option<Waker>>>,
        queue: Arc<Queued>,
    ) -> EventSender {
        EventSender { tx, waker, queue }
    }

    pub(crate) fn send(&self, event: Event) {
        let n = size(&event);
        let queue = &self.queue;
        {
            let mut skipped = queue.skipped();
            let is_output = !matches!(event, Event::Finished(_));
            // A reader that has caught up gets the next event whatever its size, so the
            // queue holds at most the bound and one event.
            let queued = queue.bytes.load(Ordering::Acquire);
            if is_output && queued > 0 && queued + n > queue.cap {
                match event {
                    Event::Display(_) => skipped.1 += 1,
                    _ => skipped.0 += n as u64,
                }
                return;
            }
            if *skipped != (0, 0) {
                let (bytes, displays) = std::mem::take(&mut *skipped);
                let _ = self.tx.send(Event::Skipped { bytes, displays });
            }
            queue.bytes.fetch_add(n, Ordering::AcqRel);
            let _ = self.tx.send(event);
        }
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
