//! The watchdog: one thread per process that raises the stop exception in worker
//! threads whose run is being stopped, again every few milliseconds while the code
//! catches it and goes on.
//!
//! Raising needs the interpreter, which code stuck in C may hold; so nobody waits on
//! the watchdog. Callers decide when to give up on their own clocks.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use pyo3::intern;
use pyo3::prelude::*;

use super::control::{ControlShared, StopTracer};
use super::ffi;
use super::interp;
use super::thread::WorkerThread;
use super::ticket::{Phase, Ticket};

/// How often a stop is raised again while the code keeps going.
const REPEAT: Duration = Duration::from_millis(5);
/// How often a stop is raised into code that was given up on.
const REPEAT_ABANDONED: Duration = Duration::from_millis(100);
/// How soon the thread that holds the interpreter lock is asked to hand it to the
/// watchdog while stops are being raised, and for how long after the last one.
const PROMPT_SWITCH: f64 = 100e-6;
const PROMPT_LINGER: Duration = Duration::from_secs(1);
/// Stops raised before the stopped thread's lines are traced.
const ESCALATE_AFTER: u32 = 4;

struct Target {
    worker: Arc<WorkerThread>,
    control: Arc<ControlShared>,
    ticket: Arc<Ticket>,
    /// Stops raised so far.
    rounds: u32,
}

impl Target {
    /// Raise while the code runs and the stop has not arrived, and keep raising into an
    /// abandoned worker until it exits, so that runaway code dies as soon as it gets
    /// back to bytecode.
    fn live(&self) -> bool {
        let running = match self.ticket.phase() {
            Phase::Running => true,
            Phase::Abandoned => !self.worker.exited.load(Ordering::Acquire),
            _ => false,
        };
        running && self.control.stop_requested()
    }
}

static WATCHDOG: OnceLock<Sender<Target>> = OnceLock::new();

/// Starts raising the stop exception into `worker` for as long as `ticket` runs.
pub(crate) fn stop(worker: Arc<WorkerThread>, control: Arc<ControlShared>, ticket: Arc<Ticket>) {
    let tx = WATCHDOG.get_or_init(|| {
        let (tx, rx) = unbounded();
        std::thread::Builder::new()
            .name("pysession-watchdog".into())
            .spawn(move || watch(rx))
            .map(|_| ())
            .unwrap_or_else(|e| {
                crate::diag::must_warn!(
                    "cannot start the watchdog thread ({e}): stopped code is given up on at \
                     its deadline plus the grace period"
                )
            });
        tx
    });
    // If the watchdog could not start, the caller's own deadline still applies.
    let _ = tx.send(Target {
        worker,
        control,
        ticket,
        rounds: 0,
    });
}

/// A short switch interval (`sys.setswitchinterval`) while stops are being raised: a
/// thread waiting for the interpreter lock asks the holder to hand it over after
/// [`PROMPT_SWITCH`] rather than after the interval (5 ms by default, or whatever code
/// set), so that a stop lands in code shorter than that. On 3.12 and later it is set
/// and put back with the lock held (the interval is the interpreter's there, which a
/// detached thread has none of: setting it unattached aborts the process), so the
/// first round of a stop still waits up to one interval for the lock; the short
/// interval stays for [`PROMPT_LINGER`] after the last stop, so the next ones are
/// prompt. On 3.11 it is set before the first round waits.
struct PromptSwitch {
    previous: f64,
    last_used: Instant,
}

impl PromptSwitch {
    fn new(py: Python<'_>) -> Option<PromptSwitch> {
        let sys = py.import("sys").ok()?;
        let previous: f64 = sys.call_method0("getswitchinterval").ok()?.extract().ok()?;
        if PROMPT_SWITCH < previous {
            sys.call_method1("setswitchinterval", (PROMPT_SWITCH,))
                .ok()?;
        }
        Some(PromptSwitch {
            previous,
            last_used: Instant::now(),
        })
    }

    /// On 3.11, set before the round waits for the lock (the interval is process-wide
    /// there and needs no lock): the first round of a stop is prompt too.
    #[cfg(not(Py_3_12))]
    fn before_lock() -> PromptSwitch {
        PromptSwitch {
            previous: ffi::swap_switch_interval_detached(PROMPT_SWITCH),
            last_used: Instant::now(),
        }
    }

    fn restore(self, py: Python<'_>) {
        if let Ok(sys) = py.import("sys") {
            let _ = sys.call_method1("setswitchinterval", (self.previous,));
        }
    }
}

fn watch(rx: Receiver<Target>) {
    let mut targets: Vec<Target> = Vec::new();
    let mut prompt: Option<PromptSwitch> = None;
    watch_rounds(&rx, &mut targets, &mut prompt);
    if let Some(p) = prompt.take() {
        Python::attach(|py| p.restore(py));
    }
}

fn watch_rounds(
    rx: &Receiver<Target>,
    targets: &mut Vec<Target>,
    prompt: &mut Option<PromptSwitch>,
) {
    loop {
        // Code that was given up on is only waited for: raised into every 100 ms, not
        // every 5, so that it does not keep taking the interpreter lock.
        let only_abandoned = targets.iter().all(|t| t.ticket.phase() == Phase::Abandoned);
        let next = if targets.is_empty() && prompt.is_none() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else if targets.is_empty() {
            rx.recv_timeout(PROMPT_LINGER)
        } else if only_abandoned {
            rx.recv_timeout(REPEAT_ABANDONED)
        } else {
            rx.recv_timeout(REPEAT)
        };
        match next {
            Ok(t) => targets.push(t),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        targets.extend(rx.try_iter());
        targets.retain(Target::live);
        let stopping = targets.iter().any(|t| t.ticket.phase() != Phase::Abandoned);
        if let Some(p) = prompt.as_mut() {
            if stopping {
                p.last_used = Instant::now();
            } else if p.last_used.elapsed() >= PROMPT_LINGER {
                // No stop for a while, or only code given up on: the usual interval.
                if let Some(p) = prompt.take() {
                    Python::attach(|py| p.restore(py));
                }
            }
        }
        if targets.is_empty() {
            continue;
        }
        let Ok(rt) = interp::runtime() else { return };
        #[cfg(not(Py_3_12))]
        if stopping && prompt.is_none() {
            *prompt = Some(PromptSwitch::before_lock());
        }
        Python::attach(|py| {
            if stopping && prompt.is_none() {
                *prompt = PromptSwitch::new(py);
            }
            let exc = rt.stop_exception.bind(py);
            for t in targets.iter_mut() {
                // Checked under the interpreter lock, which the worker also holds when it
                // leaves Running: so a stop never lands after the run is over.
                let ident = t.worker.ident.load(Ordering::Acquire);
                if ident != 0 && t.live() {
                    t.rounds += 1;
                    // A sleep that the stop woke raises the first stop itself: one more
                    // raised at once would land in the code that handles it (a print, a
                    // cleanup). From the next round on, stops are raised as ever.
                    if t.rounds == 1 && t.control.woken_within(REPEAT) {
                        continue;
                    }
                    ffi::set_async_exc(py, ident, exc);
                    // Code that keeps catching the exception meets it again at each new
                    // line. Not at once: cleanup that runs as the stop unwinds (`finally`,
                    // `with`) gets a few rounds to finish undisturbed.
                    if t.rounds > ESCALATE_AFTER {
                        t.control.escalate();
                        let thread_state = t.worker.thread_state.load(Ordering::Acquire);
                        if let Some(control) = t.worker.control.get() {
                            ffi::trace_thread::<StopTracer>(py, thread_state, control.bind(py));
                        }
                    }
                    // A session waiting in its event loop wakes up to meet the stop.
                    let _ = rt
                        .module
                        .bind(py)
                        .call_method1(intern!(py, "wake_loop"), (ident,));
                }
            }
        });
    }
}
