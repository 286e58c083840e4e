//! Watching code run: [`Session::submit`](crate::Session::submit) returns an
//! [`Execution`] whose events arrive while the code runs.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver};

use crate::session::Inner;
use crate::{Error, ExecutionResult, InterruptHandle};

/// Something that happened while submitted code ran.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Text the code wrote to stdout, as it was written.
    Stdout(String),
    /// Text the code wrote to stderr, as it was written.
    Stderr(String),
    /// The end: the same result [`Session::execute`](crate::Session::execute) would have
    /// returned, all output included. Always the last event.
    Finished(Result<ExecutionResult, Error>),
}

/// Code submitted to a session, running on a thread of its own.
///
/// Iterate over it (blocking) to get its [`Event`]s: output chunks in the order they
/// were written (with the subprocess backend, stdout and stderr are read separately,
/// so their relative order is approximate), then [`Event::Finished`]. Or call
/// [`wait`](Self::wait) for the result alone. Dropping an `Execution` does not stop the
/// code: it runs to its end (or its timeout) and its events are discarded; use
/// [`interrupt_handle`](Self::interrupt_handle) to stop it.
#[derive(Debug)]
pub struct Execution {
    events: Receiver<Event>,
    finished: bool,
    interrupt: InterruptHandle,
    thread: Option<JoinHandle<()>>,
}

impl Execution {
    pub(crate) fn start(
        session: Arc<Inner>,
        code: String,
        timeout: Duration,
        interrupt: InterruptHandle,
    ) -> Result<Execution, Error> {
        let (tx, events) = unbounded();
        // The place in the session's queue is taken now, so calls made after `submit`
        // returns run after this code.
        let place = session.enqueue();
        let queued = session.clone();
        let thread = std::thread::Builder::new()
            .name("pysession-submit".into())
            .spawn(move || {
                let result = session.execute_in_turn(place, &code, timeout, Some(tx.clone()));
                let _ = tx.send(Event::Finished(result));
            })
            .map_err(|e| {
                // Give the place back, or every later call would wait for it forever.
                queued.wait_for_place(place);
                Error::Interpreter(format!("cannot start a thread for the submitted code: {e}"))
            })?;
        Ok(Execution {
            events,
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
}

impl Iterator for Execution {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.finished {
            return None;
        }
        let event = self.events.recv().ok();
        if matches!(event, Some(Event::Finished(_)) | None) {
            self.finished = true;
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
        event
    }
}
