//! A lock that hands itself out in arrival order, so concurrent calls on one session
//! run one after another in the order they were made.

use std::sync::{Condvar, Mutex, MutexGuard};

#[derive(Debug, Default)]
struct Queue {
    next: u64,
    serving: u64,
}

#[derive(Debug, Default)]
pub(crate) struct FifoLock {
    queue: Mutex<Queue>,
    turn: Condvar,
}

pub(crate) struct FifoGuard<'a>(&'a FifoLock);

impl FifoLock {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place in the queue now, to wait for it later (possibly on another
    /// thread). Every place taken must be waited for, or the queue stops.
    pub(crate) fn enqueue(&self) -> u64 {
        let mut q = self.queue();
        let mine = q.next;
        q.next += 1;
        mine
    }

    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    /// Takes a place only if it is served at once (nothing queued or running); the
    /// caller then owns the turn and must [`release`](Self::release) it.
    pub(crate) fn try_now(&self) -> bool {
        let mut q = self.queue();
        if q.next != q.serving {
            return false;
        }
        q.next += 1;
        true
    }

    /// Ends the turn taken by [`try_now`](Self::try_now).
    pub(crate) fn release(&self) {
        let mut q = self.queue();
        q.serving += 1;
        if q.next != q.serving {
            self.turn.notify_all();
        }
    }

    /// Waits until `place` (from [`enqueue`](Self::enqueue)) is served.
    pub(crate) fn wait_for(&self, place: u64) -> FifoGuard<'_> {
        let mut q = self.queue();
        while q.serving != place {
            q = self.turn.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        FifoGuard(self)
    }
}

impl Drop for FifoGuard<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}
