//! The thread that makes a session's async calls, and the futures that wait for it.
//!
//! Fast path: when the session is idle, an embedded execute is sent to the session's
//! worker from the first poll, which looks for the answer for up to 25 µs (as the
//! sync path does), so a quick call answers without involving another thread. A
//! longer call hands the rest of its wait (deadline, interrupts, grace period) to the
//! session's waiter thread and yields.
//!
//! Each session has a driver thread, started on first use, that makes its async calls
//! in the session's queue. A call takes its place in the queue when its future is
//! first polled; the future then waits for the driver to answer, and never holds the
//! executor's thread. Nothing here depends on a particular executor.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver, Sender};

use crate::engine::{executed, Answer, Call, Engine, Quick};
use crate::error::Error;
use crate::result::ExecutionResult;

/// Where the driver leaves a call's answer; the caller's future waits on the other end.
type Reply = oneshot::Sender<Result<Answer, Error>>;

struct Job {
    session: Arc<Engine>,
    place: u64,
    call: Call,
    answer: Reply,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits for the answer left at the other end of `answer`, without blocking.
async fn answered(answer: oneshot::Receiver<Result<Answer, Error>>) -> Result<Answer, Error> {
    answer.await.unwrap_or_else(|_| {
        Err(Error::Interpreter(
            "the session's async driver thread ended without an answer".into(),
        ))
    })
}

/// The rest of a wait the fast path handed off.
type Wait = Box<dyn FnOnce() + Send>;

/// A session's driver thread, started on first use; it ends when the session is
/// dropped. And a second one, the waiter, that finishes the waits the fast path hands
/// off: those never wait for the queue (the fast path holds the turn), so they must not
/// queue behind the driver's jobs, which may.
#[derive(Default)]
pub(crate) struct Driver {
    jobs: Mutex<Option<Sender<Job>>>,
    waits: Mutex<Option<Sender<Wait>>>,
}

impl Driver {
    /// Runs `rest` on the waiter thread.
    fn hand_off(&self, rest: Wait) -> Result<(), Error> {
        let mut waits = lock(&self.waits);
        if waits.is_none() {
            let (tx, rx) = unbounded::<Wait>();
            std::thread::Builder::new()
                .name("pysession-async-wait".into())
                .spawn(move || serve(rx, |rest| rest()))
                .map_err(|e| {
                    Error::Interpreter(format!(
                        "cannot start the session's async waiter thread: {e}"
                    ))
                })?;
            *waits = Some(tx);
        }
        match waits.as_ref().map(|tx| tx.send(rest)) {
            Some(Ok(())) => Ok(()),
            _ => Err(Error::Interpreter(
                "the session's async waiter thread ended".into(),
            )),
        }
    }

    /// Queues `call`: its place among the session's calls is taken now, in the same
    /// order as the driver will serve it (both under one lock, or two concurrent calls
    /// could wait for each other's places).
    fn queue(
        &self,
        session: &Arc<Engine>,
        call: Call,
    ) -> Result<oneshot::Receiver<Result<Answer, Error>>, Error> {
        let mut jobs = lock(&self.jobs);
        if jobs.is_none() {
            let (tx, rx) = unbounded();
            std::thread::Builder::new()
                .name("pysession-async".into())
                .spawn(move || {
                    serve(rx, |job: Job| {
                        let answer = job.session.call_in_turn(job.place, job.call);
                        // A caller that dropped its future wants no answer.
                        let _ = job.answer.send(answer);
                    })
                })
                .map_err(|e| {
                    Error::Interpreter(format!(
                        "cannot start the session's async driver thread: {e}"
                    ))
                })?;
            *jobs = Some(tx);
        }
        let (answer, answered) = oneshot::channel();
        let place = session.enqueue();
        let job = Job {
            session: session.clone(),
            place,
            call,
            answer,
        };
        if let Some(Err(crossbeam_channel::SendError(job))) = jobs.as_ref().map(|tx| tx.send(job)) {
            // The driver is gone (it cannot be, while the session lives); give the
            // place back so the queue goes on.
            job.session.skip(job.place);
            return Err(Error::Interpreter(
                "the session's async driver thread ended".into(),
            ));
        }
        Ok(answered)
    }
}

/// How long the first poll of an execute looks for a quick answer.
const QUICK_LOOK: Duration = Duration::from_micros(25);

/// A helper thread's loop: `work` on each item until the channel closes. It polls
/// briefly before it sleeps, so back-to-back calls avoid a thread wake-up.
fn serve<T>(items: Receiver<T>, mut work: impl FnMut(T)) {
    loop {
        let item = match crate::wait::spin_recv(&items, crate::wait::several_cpus) {
            Some(item) => item,
            None => match items.recv() {
                Ok(item) => item,
                Err(_) => return,
            },
        };
        work(item);
    }
}

impl Driver {
    /// Makes `call` in the session's queue, without blocking the executor.
    pub(crate) async fn call(&self, engine: &Arc<Engine>, call: Call) -> Result<Answer, Error> {
        answered(self.queue(engine, call)?).await
    }

    /// Runs `code`: by the fast path when the session is idle, else in the queue.
    pub(crate) async fn execute(
        &self,
        engine: &Arc<Engine>,
        code: &str,
        timeout: Duration,
    ) -> Result<ExecutionResult, Error> {
        match engine.quick_execute(code, timeout, QUICK_LOOK) {
            Quick::Done(result) => *result,
            Quick::Later(rest) => {
                let (answer, waited) = oneshot::channel();
                self.hand_off(Box::new(move || {
                    let _ = answer.send(rest().map(|r| Answer::Executed(Box::new(r))));
                }))?;
                executed(answered(waited).await)
            }
            Quick::Queue => {
                let call = Call::Execute {
                    code: code.to_owned(),
                    timeout,
                    tap: None,
                };
                executed(self.call(engine, call).await)
            }
        }
    }
}
