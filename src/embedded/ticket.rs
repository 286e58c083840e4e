//! One run's ticket: where the run is (its [`Phase`], which the worker and the waiting
//! caller move on, whichever comes first), and its turn in the process's working
//! directory.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use super::cwd::CwdTurn;

/// Where a run is. Transitions: Pending → Running | Cancelled; Running → Finishing |
/// Abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    /// Sent, not yet started by the worker.
    Pending = 0,
    /// The worker runs the code.
    Running = 1,
    /// The code is over; the worker is building the reply.
    Finishing = 2,
    /// The caller gave up before the code started; it never will.
    Cancelled = 3,
    /// The caller gave up on running code; its worker is to be discarded.
    Abandoned = 4,
}

/// One run's phase, and the process's working directory while it runs.
pub(crate) struct Ticket {
    phase: AtomicU8,
    /// Held by the run, released by the worker when the run is over or by the caller
    /// when it gives up on the run: whichever comes first.
    turn: Mutex<Option<CwdTurn>>,
}

impl Ticket {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Ticket {
            phase: AtomicU8::new(Phase::Pending as u8),
            turn: Mutex::new(None),
        })
    }

    pub(crate) fn hold(&self, turn: CwdTurn) {
        *self.turn.lock().unwrap_or_else(|p| p.into_inner()) = Some(turn);
    }

    pub(crate) fn release(&self) {
        let turn = self.turn.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(turn);
    }

    pub(crate) fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Pending,
            1 => Phase::Running,
            2 => Phase::Finishing,
            3 => Phase::Cancelled,
            _ => Phase::Abandoned,
        }
    }

    /// Moves from `from` to `to`; false when another side moved first.
    pub(crate) fn advance(&self, from: Phase, to: Phase) -> bool {
        self.phase
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}
