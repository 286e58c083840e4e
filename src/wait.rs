//! Waiting for a message that is expected soon: poll briefly, then sleep. Used by the
//! session's helper threads and the embedded backend alike, so it sits below both.

use std::time::{Duration, Instant};

/// How long a thread that expects a message soon polls for it before it sleeps. Waking
/// a sleeping thread costs tens of microseconds on virtual machines, several times an
/// execute's own cost; a short poll (without the interpreter lock) avoids it for the
/// common quick round trip and costs little CPU.
const SPIN: Duration = Duration::from_micros(60);

/// Polls `rx` for up to [`SPIN`].
pub(crate) fn spin_recv<T>(rx: &crossbeam_channel::Receiver<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
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
