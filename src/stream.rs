//! Watching code run: [`Session::submit`](crate::Session::submit) returns an
//! [`Execution`] whose events arrive while the code runs.

use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver};

use crate::engine::{executed, Call, Engine};
use crate::error::Error;
use crate::event::{Event, EventSender, Queued};
use crate::interrupt::InterruptHandle;
use crate::result::ExecutionResult;

/// Code submitted to a session, running on a thread of its own.
///
/// Iterate over it (blocking) to get its [`Event`]s: output chunks in the order they
/// were written (with the subprocess backend, stdout and stderr are read separately,
/// so their relative order is approximate), then [`Event::Finished`]. With the `tokio`
/// feature it is also a `futures_core::Stream` of the same events, usable from any
/// async runtime. Or call [`wait`](Self::wait) for the result alone.
///
/// Unread events are bounded (see [`Event::Skipped`]): a reader that falls far behind
/// loses events, never the result's output.
///
/// Dropping an `Execution` does not stop the code: it runs to its end (or its timeout)
/// and its events are discarded; use [`interrupt_handle`](Self::interrupt_handle) to
/// stop it.
#[derive(Debug)]
pub struct Execution {
    events: Receiver<Event>,
    /// What was sent and not yet read, which bounds what more is sent.
    queue: Arc<Queued>,
    /// Where an async reader waits to be woken.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    waker: Arc<Mutex<Option<Waker>>>,
    finished: bool,
    interrupt: InterruptHandle,
    thread: Option<JoinHandle<()>>,
}

impl Execution {
    pub(crate) fn start(
        session: Arc<Engine>,
        code: String,
        timeout: Duration,
        interrupt: InterruptHandle,
    ) -> Result<Execution, Error> {
        let (tx, events) = unbounded();
        let waker = Arc::new(Mutex::new(None));
        // Unread events may hold as much as the result may.
        let config = &session.config;
        let cap = config
            .output_limit
            .saturating_mul(2)
            .saturating_add(config.display_limit);
        let queue = Queued::new(cap);
        let sender = EventSender::new(tx, waker.clone(), queue.clone());
        // The place in the session's queue is taken now, so calls made after `submit`
        // returns run after this code.
        let place = session.enqueue();
        let queued = session.clone();
        let call_sender = sender.clone();
        let thread = std::thread::Builder::new()
            .name("pysession-submit".into())
            .spawn(move || {
                let call = Call::Execute {
                    code,
                    timeout,
                    tap: Some(call_sender.clone()),
                };
                let result = executed(session.call_in_turn(place, call));
                call_sender.send(Event::Finished(result));
            });
        let thread = match thread {
            Ok(thread) => thread,
            Err(e) => {
                // Give the place back, or every later call would wait for it forever.
                queued.skip(place);
                return Err(Error::Interpreter(format!(
                    "cannot start a thread for the submitted code: {e}"
                )));
            }
        };
        drop(sender);
        Ok(Execution {
            events,
            queue,
            waker,
            finished: false,
            interrupt,
            thread: Some(thread),
        })
    }

    /// The session's interrupt handle: stops this code while it runs (status
    /// [`Interrupted`](crate::Status::Interrupted)).
    pub fn interrupt_handle(&self) -> InterruptHandle {
        self.interrupt.clone()
    }

    /// Waits for the end and returns the result (all output included).
    pub fn wait(self) -> Result<ExecutionResult, Error> {
        for event in self {
            if let Event::Finished(result) = event {
                return result;
            }
        }
        Err(Error::Interpreter(
            "the submitted code's thread ended without a result".into(),
        ))
    }

    fn received(&mut self, event: Option<Event>) -> Option<Event> {
        if let Some(event) = &event {
            self.queue.read(event);
        }
        if matches!(event, Some(Event::Finished(_)) | None) {
            self.finished = true;
            if let Some(thread) = self.thread.take() {
                // It has sent its last event; it ends at once.
                let _ = thread.join();
            }
        }
        event
    }
}

impl Iterator for Execution {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.finished {
            return None;
        }
        let event = self.events.recv().ok();
        self.received(event)
    }
}

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl futures_core::Stream for Execution {
    type Item = Event;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Event>> {
        use std::task::Poll;
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        use crossbeam_channel::TryRecvError;
        for attempt in 0..2 {
            match this.events.try_recv() {
                Ok(event) => return Poll::Ready(this.received(Some(event))),
                Err(TryRecvError::Disconnected) => return Poll::Ready(this.received(None)),
                Err(TryRecvError::Empty) if attempt == 0 => {
                    // Register, then look again: an event sent in between is not missed.
                    *this.waker.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(cx.waker().clone());
                }
                Err(TryRecvError::Empty) => {}
            }
        }
        Poll::Pending
    }
}
