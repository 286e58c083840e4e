//! The `_async` twins of the session methods.
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

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver, Sender};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::DataArg;
use crate::session::{
    data_call, decode_bytes, decode_done, decode_get, decode_info, decode_variables, done,
    executed, set_bytes_call, set_call, variables_call, Answer, Call, Inner, Quick, Session,
};
use crate::{Error, ExecutionResult, PythonInfo, Variable};

struct Job {
    session: Arc<Inner>,
    place: u64,
    call: Call,
    answer: Arc<Pending>,
}

/// Where the driver leaves an answer, and whom it wakes.
#[derive(Default)]
struct Pending {
    ready: AtomicBool,
    answer: Mutex<Option<Result<Answer, Error>>>,
    waker: Mutex<Option<Waker>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pending {
    fn answer(&self, answer: Result<Answer, Error>) {
        *lock(&self.answer) = Some(answer);
        self.ready.store(true, Ordering::Release);
        if let Some(waker) = lock(&self.waker).take() {
            waker.wake();
        }
    }

    fn take(&self) -> Option<Result<Answer, Error>> {
        if self.ready.load(Ordering::Acquire) {
            lock(&self.answer).take()
        } else {
            None
        }
    }
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
    fn queue(&self, session: &Arc<Inner>, call: Call) -> Result<Arc<Pending>, Error> {
        let mut jobs = lock(&self.jobs);
        if jobs.is_none() {
            let (tx, rx) = unbounded();
            std::thread::Builder::new()
                .name("pysession-async".into())
                .spawn(move || {
                    serve(rx, |job: Job| {
                        let answer = job.session.call_in_turn(job.place, job.call);
                        job.answer.answer(answer);
                    })
                })
                .map_err(|e| {
                    Error::Interpreter(format!(
                        "cannot start the session's async driver thread: {e}"
                    ))
                })?;
            *jobs = Some(tx);
        }
        let answer = Arc::new(Pending::default());
        let place = session.enqueue();
        let job = Job {
            session: session.clone(),
            place,
            call,
            answer: answer.clone(),
        };
        if let Some(Err(crossbeam_channel::SendError(job))) = jobs.as_ref().map(|tx| tx.send(job)) {
            // The driver is gone (it cannot be, while the session lives); give the
            // place back so the queue goes on.
            job.session.skip(job.place);
            return Err(Error::Interpreter(
                "the session's async driver thread ended".into(),
            ));
        }
        Ok(answer)
    }
}

/// How long the first poll of an execute looks for a quick answer.
const QUICK_LOOK: Duration = Duration::from_micros(25);

/// A helper thread's loop: `work` on each item until the channel closes. It polls
/// briefly before it sleeps, so back-to-back calls avoid a thread wake-up.
fn serve<T>(items: Receiver<T>, mut work: impl FnMut(T)) {
    loop {
        let item = match crate::wait::spin_recv(&items) {
            Some(item) => item,
            None => match items.recv() {
                Ok(item) => item,
                Err(_) => return,
            },
        };
        work(item);
    }
}

/// The future of one async call.
struct Answered {
    pending: Arc<Pending>,
}

impl Future for Answered {
    type Output = Result<Answer, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(answer) = this.pending.take() {
            return Poll::Ready(answer);
        }
        *lock(&this.pending.waker) = Some(cx.waker().clone());
        // Look again: an answer that came before the waker was stored woke nobody.
        match this.pending.take() {
            Some(answer) => Poll::Ready(answer),
            None => Poll::Pending,
        }
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl Session {
    async fn call_async(&self, call: Call) -> Result<Answer, Error> {
        let pending = self.driver.queue(&self.inner, call)?;
        Answered { pending }.await
    }

    /// [`start`](Session::start), without blocking the executor. Cancel safety: once
    /// polled, the start goes ahead even if the future is dropped.
    pub async fn start_async(&self) -> Result<(), Error> {
        done(self.call_async(Call::Start).await)
    }

    /// [`execute`](Session::execute), without blocking the executor.
    ///
    /// Cancel safety: dropping the future does not stop the code. Once the future has
    /// been polled, the code runs (in its turn) to its end or its timeout, as if
    /// `execute` had been called, and its result is discarded. To stop it, use the
    /// session's [`interrupt_handle`](Session::interrupt_handle).
    pub async fn execute_async(&self, code: &str) -> Result<ExecutionResult, Error> {
        self.execute_with_timeout_async(code, self.inner.config.timeout)
            .await
    }

    /// [`execute_with_timeout`](Session::execute_with_timeout), without blocking the
    /// executor. Cancel safety as for [`execute_async`](Session::execute_async).
    pub async fn execute_with_timeout_async(
        &self,
        code: &str,
        timeout: Duration,
    ) -> Result<ExecutionResult, Error> {
        match self.inner.quick_execute(code, timeout, QUICK_LOOK) {
            Quick::Done(result) => *result,
            Quick::Later(rest) => {
                let pending = Arc::new(Pending::default());
                let answer = pending.clone();
                self.driver.hand_off(Box::new(move || {
                    answer.answer(rest().map(|r| Answer::Executed(Box::new(r))))
                }))?;
                executed(Answered { pending }.await)
            }
            Quick::Queue => executed(
                self.call_async(Call::Execute {
                    code: code.to_owned(),
                    timeout,
                    tap: None,
                })
                .await,
            ),
        }
    }

    /// [`restart`](Session::restart), without blocking the executor. Cancel safety:
    /// once polled, the restart goes ahead even if the future is dropped.
    pub async fn restart_async(&self) -> Result<(), Error> {
        done(self.call_async(Call::Restart).await)
    }

    /// [`stop`](Session::stop), without blocking the executor. Cancel safety: once
    /// polled, the stop goes ahead even if the future is dropped.
    pub async fn stop_async(&self) -> Result<(), Error> {
        done(self.call_async(Call::Stop).await)
    }

    /// [`get`](Session::get), without blocking the executor. Cancel safety: once
    /// polled, the read goes ahead (in its turn) even if the future is dropped.
    pub async fn get_async<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        let call = data_call("get", name, DataArg::default());
        decode_get(name, self.call_async(call).await)
    }

    /// [`set`](Session::set), without blocking the executor. Cancel safety: once
    /// polled, the variable is set (in its turn) even if the future is dropped.
    pub async fn set_async<T: Serialize + ?Sized>(
        &self,
        name: &str,
        value: &T,
    ) -> Result<(), Error> {
        let call = set_call(name, value)?;
        decode_done(self.call_async(call).await)
    }

    /// [`variables`](Session::variables), without blocking the executor.
    pub async fn variables_async(&self) -> Result<Vec<Variable>, Error> {
        decode_variables(self.call_async(variables_call(false)).await)
    }

    /// [`variables_including_modules`](Session::variables_including_modules), without
    /// blocking the executor.
    pub async fn variables_including_modules_async(&self) -> Result<Vec<Variable>, Error> {
        decode_variables(self.call_async(variables_call(true)).await)
    }

    /// [`set_bytes`](Session::set_bytes), without blocking the executor. Cancel safety:
    /// once polled, the variable is set (in its turn) even if the future is dropped.
    pub async fn set_bytes_async(&self, name: &str, data: impl Into<Vec<u8>>) -> Result<(), Error> {
        decode_done(self.call_async(set_bytes_call(name, data.into())).await)
    }

    /// [`get_bytes`](Session::get_bytes), without blocking the executor.
    pub async fn get_bytes_async(&self, name: &str) -> Result<Vec<u8>, Error> {
        let call = data_call("get_bytes", name, DataArg::default());
        decode_bytes(self.call_async(call).await)
    }

    /// [`python_info`](Session::python_info), without blocking the executor.
    pub async fn python_info_async(&self) -> Result<PythonInfo, Error> {
        let call = data_call("info", "", DataArg::default());
        decode_info(&self.inner.config, self.call_async(call).await)
    }
}
