//! Waiting for a message that is expected soon: poll briefly, then sleep. Used by the
//! session's helper threads and the embedded backend alike, so it sits below both.
//!
//! Polling busily helps only while the sender can run on another CPU. A process that
//! may use one CPU alone (its affinity, its cgroup's quota) polls by yielding that CPU
//! between looks instead: the sender runs at once, and the message is seen as soon as
//! it is sent, without the cost of a sleep and a wake-up. (Tracking which CPU each side
//! last ran on, to do the same when two threads of a larger process happen to share
//! one, made the common case slower: measured, left out.)

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a thread that expects a message soon polls for it before it sleeps. Waking
/// a sleeping thread costs tens of microseconds on virtual machines, several times an
/// execute's own cost; a short poll (without the interpreter lock) avoids it for the
/// common quick round trip and costs little CPU.
const SPIN: Duration = Duration::from_micros(60);

/// True when the process may run on more than one CPU: else a busy poll only keeps the
/// sender from running.
pub(crate) fn several_cpus() -> bool {
    static SEVERAL: OnceLock<bool> = OnceLock::new();
    *SEVERAL.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// One pause of a poll: a busy one with several CPUs, else the CPU yielded.
#[cfg(feature = "async")]
pub(crate) fn pause() {
    if several_cpus() {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// Polls `rx` for up to [`SPIN`].
pub(crate) fn spin_recv<T>(rx: &crossbeam_channel::Receiver<T>) -> Option<T> {
    let busy = if several_cpus() { 64 } else { 1 };
    let start = Instant::now();
    loop {
        for _ in 0..busy {
            if let Ok(v) = rx.try_recv() {
                return Some(v);
            }
            std::hint::spin_loop();
        }
        if start.elapsed() > SPIN {
            return None;
        }
        std::thread::yield_now();
    }
}
