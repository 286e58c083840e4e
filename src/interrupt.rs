//! Stopping the code a session runs, from any thread.

use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::{bounded, Receiver, Sender};

/// Stops the code currently running in a session, from any thread. Get one with
/// [`Session::interrupt_handle`](crate::Session::interrupt_handle); it is cheap to clone
/// and stays valid across restarts and stops.
///
/// The running execute ends with status [`Interrupted`](crate::Status::Interrupted) and
/// the session's state is kept. Code that does not stop gets the same treatment as at a
/// timeout: after the grace period it is given up on and the session restarts (status
/// [`Restarted`](crate::Status::Restarted)). An interrupt while nothing runs does
/// nothing; it never reaches a later execute.
#[derive(Clone, Debug)]
pub struct InterruptHandle {
    runs: Arc<Interrupts>,
}

impl InterruptHandle {
    pub(crate) fn new(runs: Arc<Interrupts>) -> Self {
        InterruptHandle { runs }
    }

    /// Interrupts the execute in progress, if any. Returns whether there was one to
    /// interrupt (false also when it was already interrupted).
    pub fn interrupt(&self) -> bool {
        self.runs.interrupt()
    }
}

/// The execute in progress, as far as interrupts are concerned.
#[derive(Debug, Default)]
pub(crate) struct Interrupts {
    current: Mutex<Option<Sender<()>>>,
}

impl Interrupts {
    fn lock(&self) -> MutexGuard<'_, Option<Sender<()>>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Interrupts the execute in progress, if any; false when there was none.
    pub(crate) fn interrupt(&self) -> bool {
        match self.lock().take() {
            Some(tx) => tx.send(()).is_ok(),
            None => false,
        }
    }

    /// Registers an execute; its caller watches the returned receiver until
    /// [`RunGuard`] is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> RunGuard {
        let (tx, rx) = bounded(1);
        *self.lock() = Some(tx);
        RunGuard {
            runs: self.clone(),
            rx,
        }
    }
}

/// An execute registered for interrupts; unregisters it when dropped.
pub(crate) struct RunGuard {
    runs: Arc<Interrupts>,
    pub rx: Receiver<()>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.runs.lock().take();
    }
}

/// Why running code is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum StopReason {
    Timeout = 0,
    Interrupt = 1,
}
