//! Waiting for a message that is expected soon: poll briefly, then sleep. Used by the
//! session's helper threads and the embedded backend alike, so it sits below both.
//!
//! Polling busily helps only while the sender runs on another CPU: on the waiter's own
//! CPU it only keeps the sender from running. So a waiter that knows where its sender
//! last ran (the embedded backend's threads record their CPUs: `Seat`) compares that
//! CPU with its own before each round of looks, and on the same CPU yields it between
//! looks instead: the sender runs at once, and the message is seen as soon as it is
//! sent, without the cost of a sleep and a wake-up. A waiter that does not know polls
//! busily if the process may use more than one CPU.
//! Two bare threads (no Python) that hand a message there and back this way take
//! 2.9-3.7 µs on one CPU and 0.3-0.4 µs on two (the bare round trip of `cargo run
//! --release --example handoff`); on one CPU the same with 64 busy looks per yield, as
//! before, took 6.7 µs, and sleeping at once 9-10 µs; on two CPUs, looking once per
//! yield took 2.9 µs. A wait that kept polling busily, without yielding, while the
//! sender is elsewhere measured no faster. (An earlier attempt at tracking CPUs made
//! the common case slower; this one, a 3 ns read of the CPU per round of looks,
//! measured the same as before with the threads unpinned.)

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a thread that expects a message soon polls for it before it sleeps. Waking
/// a sleeping thread costs tens of microseconds on virtual machines, several times an
/// execute's own cost; a short poll (without the interpreter lock) avoids it for the
/// common quick round trip and costs little CPU.
const SPIN: Duration = Duration::from_micros(60);

/// Busy looks per round of a poll while the sender runs elsewhere.
const BUSY: usize = 64;

/// True when the process may run on more than one CPU: else a busy poll only keeps the
/// sender from running.
pub(crate) fn several_cpus() -> bool {
    static SEVERAL: OnceLock<bool> = OnceLock::new();
    *SEVERAL.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// One pause of a poll: a busy one while the sender runs on another CPU (`elsewhere`),
/// else the CPU yielded.
#[cfg(feature = "async")]
pub(crate) fn pause(elsewhere: bool) {
    if elsewhere {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// Polls `rx` for up to [`SPIN`]; `elsewhere` says, before each round of looks, whether
/// the thread that sends on it runs on another CPU ([`several_cpus`] when that is not
/// known).
pub(crate) fn spin_recv<T>(
    rx: &crossbeam_channel::Receiver<T>,
    elsewhere: impl Fn() -> bool,
) -> Option<T> {
    let start = Instant::now();
    loop {
        let busy = if elsewhere() { BUSY } else { 1 };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A message sent from another thread while the waiter polls is taken, whether the
    /// waiter polls busily or by yielding; one already there is taken at the first look.
    #[test]
    fn a_message_sent_while_polling_is_taken_either_way() {
        for elsewhere in [true, false] {
            let (tx, rx) = crossbeam_channel::bounded(1);
            tx.send(1).unwrap();
            assert_eq!(spin_recv(&rx, || elsewhere), Some(1));
            let sender = std::thread::spawn(move || {
                // Sent once the waiter is polling (it yields or spins meanwhile).
                std::thread::yield_now();
                tx.send(2).unwrap();
            });
            let got = spin_recv(&rx, || elsewhere).or_else(|| rx.recv().ok());
            assert_eq!(got, Some(2));
            sender.join().unwrap();
        }
    }

    /// With nothing sent the poll gives up after about SPIN, saying so, and the
    /// predicate is asked before each round of looks.
    #[test]
    fn with_nothing_sent_the_poll_gives_up() {
        let (_tx, rx) = crossbeam_channel::bounded::<()>(1);
        let asked = std::cell::Cell::new(0);
        let got = spin_recv(&rx, || {
            asked.set(asked.get() + 1);
            asked.get() % 2 == 0
        });
        assert_eq!(got, None);
        assert!(asked.get() >= 2, "asked {} times", asked.get());
    }
}
