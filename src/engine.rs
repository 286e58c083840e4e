//! A session's engine, under its public faces ([`Session`](crate::Session), its
//! `_async` twins, [`Execution`](crate::Execution)): the settings, the queue of calls,
//! and the running backend, behind the one contract [`Running`]. Every call is a
//! [`Call`] made in its turn; the faces build calls and decode answers with the helpers
//! at the end of this file, so the blocking and async methods share them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::backend::Running;
use crate::capture::TapGuard;
use crate::config::{Backend, Config};
use crate::embedded::Embedded;
use crate::error::Error;
use crate::event::EventSender;
use crate::fifo::FifoLock;
use crate::interrupt::Interrupts;
use crate::outcome::DataReply;
use crate::protocol::{DataOp, DataRequest};
use crate::python::{ProcessOrigin, PythonInfo, ReportedInfo};
use crate::result::{ExecutionResult, Variable};
use crate::subprocess::Subprocess;

/// The state a session's handles share.
pub(crate) struct Engine {
    pub(crate) config: Config,
    calls: FifoLock,
    running: Mutex<Option<Arc<dyn Running>>>,
    pub(crate) interrupts: Arc<Interrupts>,
    /// Set when the session is dropped: no more code runs.
    closing: AtomicBool,
}

/// What a queued call does once its turn comes.
pub(crate) enum Call {
    Start,
    Execute {
        code: String,
        timeout: Duration,
        tap: Option<EventSender>,
    },
    Restart,
    Stop,
    /// A variable operation.
    Data(DataRequest),
    /// The runtime's report of its Python, with what the host knows of it.
    Info,
}

/// What a call gave.
pub(crate) enum Answer {
    Done,
    Executed(Box<ExecutionResult>),
    Data(DataReply),
    Info(DataReply, Option<PathBuf>, ProcessOrigin),
}

impl Engine {
    pub(crate) fn new(config: Config) -> Engine {
        Engine {
            config,
            calls: FifoLock::default(),
            running: Mutex::new(None),
            interrupts: Arc::default(),
            closing: AtomicBool::new(false),
        }
    }

    /// Ends the session for good, as its handle is dropped: the code running now is
    /// interrupted (and given up on after the grace period, as at a timeout), calls
    /// still queued do not run, and then the backend stops.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
        let place = self.calls.enqueue();
        self.interrupts.interrupt();
        let _ = self.call_in_turn(place, Call::Stop);
    }

    fn closing(&self) -> Result<(), Error> {
        if self.closing.load(Ordering::Acquire) {
            Err(Error::NotRunning)
        } else {
            Ok(())
        }
    }

    fn slot(&self) -> MutexGuard<'_, Option<Arc<dyn Running>>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current(&self) -> Result<Arc<dyn Running>, Error> {
        self.slot().clone().ok_or(Error::NotRunning)
    }

    /// Takes a place in the queue of calls, for [`call_in_turn`](Self::call_in_turn).
    pub(crate) fn enqueue(&self) -> u64 {
        self.calls.enqueue()
    }

    /// Gives up `place` in the queue of calls, in its turn, without making a call.
    pub(crate) fn skip(&self, place: u64) {
        drop(self.calls.wait_for(place));
    }

    /// Makes `call` now, in its turn among the session's calls.
    pub(crate) fn call(&self, call: Call) -> Result<Answer, Error> {
        self.call_in_turn(self.calls.enqueue(), call)
    }

    /// Makes `call` when `place` in the queue of calls comes up. Every place taken must
    /// be passed here once.
    pub(crate) fn call_in_turn(&self, place: u64, call: Call) -> Result<Answer, Error> {
        let _turn = self.calls.wait_for(place);
        if !matches!(call, Call::Stop) {
            self.closing()?;
        }
        match call {
            Call::Start => self.start().map(|()| Answer::Done),
            Call::Execute { code, timeout, tap } => self
                .execute(&code, timeout, tap)
                .map(|r| Answer::Executed(Box::new(r))),
            Call::Restart => self.restart().map(|()| Answer::Done),
            Call::Data(request) => {
                let backend = self.current()?;
                let reply = backend.data(request, self.config.timeout);
                self.after(&*backend);
                reply.map(Answer::Data)
            }
            Call::Info => {
                let backend = self.current()?;
                let request = DataRequest::new(DataOp::Info, "");
                let reply = backend.data(request, self.config.timeout);
                self.after(&*backend);
                reply.map(|r| Answer::Info(r, backend.loaded_libpython(), backend.origin()))
            }
            Call::Stop => self.stop().map(|()| Answer::Done),
        }
    }

    fn start(&self) -> Result<(), Error> {
        if self.slot().is_some() {
            return Err(Error::AlreadyRunning);
        }
        let backend: Arc<dyn Running> = match self.config.backend {
            Backend::Embedded => Arc::new(Embedded::start(&self.config)?),
            Backend::Subprocess => Arc::new(Subprocess::start(&self.config)?),
            #[cfg(feature = "subinterpreter")]
            Backend::Subinterpreter => crate::subinterp::start(&self.config)?,
        };
        *self.slot() = Some(backend);
        crate::diag::lifecycle!("{:?} session started", self.config.backend);
        Ok(())
    }

    fn execute(
        &self,
        code: &str,
        timeout: Duration,
        tap: Option<EventSender>,
    ) -> Result<ExecutionResult, Error> {
        let backend = self.current()?;
        let run = self.interrupts.begin();
        // After the run is registered: a close either interrupts it or is seen here.
        self.closing()?;
        let _tap = TapGuard::set(backend.capture(), tap);
        let result = backend.execute(code, timeout, &run.rx);
        drop(run);
        self.after(&*backend);
        result
    }

    fn restart(&self) -> Result<(), Error> {
        let backend = self.current()?;
        let outcome = backend.restart(self.config.timeout);
        self.after(&*backend);
        crate::diag::lifecycle!(
            "session restarted: {}",
            if outcome.is_ok() { "ok" } else { "failed" }
        );
        outcome
    }

    fn stop(&self) -> Result<(), Error> {
        let backend = self.slot().take().ok_or(Error::NotRunning)?;
        backend.stop();
        crate::diag::lifecycle!("session stopped");
        Ok(())
    }

    pub(crate) fn is_running(&self) -> bool {
        self.slot().as_ref().is_some_and(|b| b.is_running())
    }

    /// A call that left the backend stopped (startup failure, say) stops the session.
    fn after(&self, backend: &dyn Running) {
        if !backend.is_running() {
            self.slot().take();
        }
    }
}

/// What the async fast path came to.
#[cfg(feature = "async")]
pub(crate) enum Quick {
    /// Answered while the caller looked.
    Done(Box<Result<ExecutionResult, Error>>),
    /// Still running: the closure waits for the rest (blocking), to be run off the
    /// executor's thread. It holds the session's turn until it returns.
    Later(Box<dyn FnOnce() -> Result<ExecutionResult, Error> + Send>),
    /// Not possible now (the session is busy, or its backend has no fast path): queue
    /// as usual.
    Queue,
}

/// A turn among the session's calls taken with `FifoLock::try_now`; ends when dropped.
#[cfg(feature = "async")]
struct OwnedTurn(Arc<Engine>);

#[cfg(feature = "async")]
impl Drop for OwnedTurn {
    fn drop(&mut self) {
        self.0.calls.release();
    }
}

#[cfg(feature = "async")]
impl Engine {
    /// The async fast path ([`Running::begin_execute`]), when the session is idle.
    pub(crate) fn quick_execute(
        self: &Arc<Self>,
        code: &str,
        timeout: Duration,
        spin: Duration,
    ) -> Quick {
        use crate::backend::Begun;
        if !self.calls.try_now() {
            return Quick::Queue;
        }
        let turn = OwnedTurn(self.clone());
        let backend = match self.current() {
            Ok(backend) => backend,
            Err(e) => return Quick::Done(Box::new(Err(e))),
        };
        let run = self.interrupts.begin();
        if let Err(e) = self.closing() {
            return Quick::Done(Box::new(Err(e)));
        }
        match backend.clone().begin_execute(code, timeout, spin) {
            Begun::Queue => Quick::Queue,
            Begun::Done(result) => {
                drop(run);
                self.after(&*backend);
                drop(turn);
                Quick::Done(result)
            }
            Begun::Later(rest) => {
                let engine = self.clone();
                Quick::Later(Box::new(move || {
                    let result = rest(&run.rx);
                    drop(run);
                    engine.after(&*backend);
                    drop(turn);
                    result
                }))
            }
        }
    }
}

/// The result of an execute call.
pub(crate) fn executed(answer: Result<Answer, Error>) -> Result<ExecutionResult, Error> {
    match answer? {
        Answer::Executed(r) => Ok(*r),
        _ => Err(out_of_kind()),
    }
}

/// The end of a call that gives nothing.
pub(crate) fn done(answer: Result<Answer, Error>) -> Result<(), Error> {
    answer.map(|_| ())
}

fn out_of_kind() -> Error {
    Error::Interpreter("a call answered out of kind".into())
}

// The variable and info calls, each as the call to make and the decoding of its
// answer, shared by the blocking methods and their `_async` twins.

pub(crate) fn get_call(name: &str) -> Call {
    Call::Data(DataRequest::new(DataOp::Get, name))
}

pub(crate) fn get_bytes_call(name: &str) -> Call {
    Call::Data(DataRequest::new(DataOp::GetBytes, name))
}

pub(crate) fn set_call<T: Serialize + ?Sized>(name: &str, value: &T) -> Result<Call, Error> {
    let (text, blobs) = crate::value::to_json_and_blobs(value).map_err(|e| {
        Error::Variable(format!(
            "the value for {name:?} cannot be converted to JSON: {e}"
        ))
    })?;
    Ok(Call::Data(DataRequest {
        text,
        blobs,
        ..DataRequest::new(DataOp::Set, name)
    }))
}

pub(crate) fn set_bytes_call(name: &str, data: Vec<u8>) -> Call {
    Call::Data(DataRequest {
        blobs: vec![data],
        ..DataRequest::new(DataOp::SetBytes, name)
    })
}

pub(crate) fn variables_call(modules: bool) -> Call {
    Call::Data(DataRequest::new(DataOp::List { modules }, ""))
}

fn data(answer: Result<Answer, Error>) -> Result<DataReply, Error> {
    match answer? {
        Answer::Data(reply) => Ok(reply),
        _ => Err(out_of_kind()),
    }
}

pub(crate) fn decode_done(answer: Result<Answer, Error>) -> Result<(), Error> {
    data(answer).map(|_| ())
}

pub(crate) fn decode_get<T: DeserializeOwned>(
    name: &str,
    answer: Result<Answer, Error>,
) -> Result<T, Error> {
    let json = data(answer)?.text;
    serde_json::from_str(&json).map_err(|e| {
        Error::Variable(format!(
            "variable {name:?} does not convert to {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

pub(crate) fn decode_variables(answer: Result<Answer, Error>) -> Result<Vec<Variable>, Error> {
    let json = data(answer)?.text;
    let listed: Vec<(String, String, String)> = serde_json::from_str(&json).map_err(|e| {
        Error::Interpreter(format!("the variable list is not what was expected: {e}"))
    })?;
    Ok(listed
        .into_iter()
        .map(|(name, type_name, repr)| Variable {
            name,
            type_name,
            repr,
        })
        .collect())
}

pub(crate) fn decode_bytes(answer: Result<Answer, Error>) -> Result<Vec<u8>, Error> {
    data(answer)?
        .blob
        .ok_or_else(|| Error::Interpreter("the bytes of the variable did not arrive".into()))
}

pub(crate) fn decode_info(
    backend: Backend,
    answer: Result<Answer, Error>,
) -> Result<PythonInfo, Error> {
    let (reply, libpython, origin) = match answer? {
        Answer::Info(reply, libpython, origin) => (reply, libpython, origin),
        _ => return Err(out_of_kind()),
    };
    let reported: ReportedInfo = serde_json::from_str(&reply.text).map_err(|e| {
        Error::Interpreter(format!(
            "the session's Python report is not what was expected: {e}"
        ))
    })?;
    Ok(reported.complete(backend, libpython, origin))
}
