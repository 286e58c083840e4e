//! Runs that were given up on and whose code has not returned yet. When nothing else
//! can start, they are the likely holders of the interpreter, and a call that cannot
//! start says whose code that is: its own session's, or another's.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::thread::WorkerThread;
use crate::config::human;

struct Entry {
    session: u64,
    thread: Arc<WorkerThread>,
    since: Instant,
}

static ABANDONED: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn lock() -> MutexGuard<'static, Vec<Entry>> {
    ABANDONED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Remembers that `session` gave up on the code running in `thread`.
pub(crate) fn record(session: u64, thread: Arc<WorkerThread>) {
    let mut list = lock();
    list.retain(|e| !e.thread.exited.load(Ordering::Acquire));
    list.push(Entry {
        session,
        thread,
        since: Instant::now(),
    });
}

/// Whose abandoned code is still in the interpreter, as seen by `session`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Holder {
    /// No abandoned code is left: whatever holds the interpreter is another session's
    /// running code (a long call into C).
    Running,
    /// This session's own earlier code, abandoned this long ago.
    Own(Duration),
    /// Another session's code, abandoned this long ago.
    Other(Duration),
}

impl Holder {
    /// The holder for `session`: its own abandoned code first, else the oldest of the
    /// others'.
    pub(crate) fn for_session(session: u64) -> Holder {
        let mut list = lock();
        list.retain(|e| !e.thread.exited.load(Ordering::Acquire));
        let oldest = |own: bool| {
            list.iter()
                .filter(|e| (e.session == session) == own)
                .map(|e| e.since.elapsed())
                .max()
        };
        match (oldest(true), oldest(false)) {
            (Some(age), _) => Holder::Own(age),
            (None, Some(age)) => Holder::Other(age),
            (None, None) => Holder::Running,
        }
    }

    /// True when abandoned code (this session's or another's) has not returned.
    pub(crate) fn is_abandoned_code(self) -> bool {
        !matches!(self, Holder::Running)
    }

    /// Who holds the interpreter, in words that follow "held by".
    pub(crate) fn describe(self) -> String {
        match self {
            Holder::Running => "code in another session".into(),
            Holder::Own(age) => format!(
                "this session's own earlier code, which was given up on {} ago because it \
                 could not be stopped (it is blocked in C code) and has not returned",
                human(age)
            ),
            Holder::Other(age) => format!(
                "code of another session, which was given up on {} ago because it could not \
                 be stopped (it is blocked in C code) and has not returned",
                human(age)
            ),
        }
    }
}

/// The `threading.get_ident()` of every thread whose code was given up on and is
/// still in the interpreter.
pub(crate) fn idents() -> Vec<u64> {
    let mut list = lock();
    list.retain(|e| !e.thread.exited.load(Ordering::Acquire));
    list.iter()
        .map(|e| e.thread.ident.load(Ordering::Acquire))
        .filter(|&i| i != 0)
        .collect()
}
