//! The one contract every backend implements. The session layer holds a running
//! session as an `Arc<dyn Running>` and knows no backend but through it; a backend
//! knows nothing of the session layer (its queue of calls, its async driver).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::capture::CaptureShared;
use crate::error::Error;
use crate::outcome::DataReply;
use crate::protocol::DataRequest;
use crate::python::ProcessOrigin;
use crate::result::ExecutionResult;

/// A running session of some backend. Calls come one at a time, in the session's turn.
pub(crate) trait Running: Send + Sync {
    /// Runs `code`, stopping it after `timeout` or when `interrupts` receives.
    fn execute(
        &self,
        code: &str,
        timeout: Duration,
        interrupts: &Receiver<()>,
    ) -> Result<ExecutionResult, Error>;

    /// A variable operation; its failure is an [`Error::Variable`].
    fn data(&self, request: DataRequest, timeout: Duration) -> Result<DataReply, Error>;

    /// Fresh state and the startup code. Startup code that fails leaves the backend
    /// stopped.
    fn restart(&self, timeout: Duration) -> Result<(), Error>;

    /// Ends the session, waiting at most the grace period.
    fn stop(&self);

    /// Where the session's output is collected.
    fn capture(&self) -> &Arc<CaptureShared>;

    /// False once the backend has stopped, by [`stop`](Self::stop) or by itself.
    fn is_running(&self) -> bool;

    /// The shared libpython the session's interpreter runs from, when this process
    /// loaded it (the embedded backend); `None` for a Python of its own.
    fn loaded_libpython(&self) -> Option<PathBuf> {
        None
    }

    /// How the session's process came to be.
    fn origin(&self) -> ProcessOrigin {
        ProcessOrigin::ThisProcess
    }

    /// The fast path of an async execute: send `code` at once and look for the answer
    /// for up to `spin`, so that a quick call needs no other thread. The caller holds
    /// the session's turn and has registered the run for interrupts. A backend without
    /// a fast path says [`Begun::Queue`], and the call is queued as usual.
    #[cfg(feature = "async")]
    fn begin_execute(self: Arc<Self>, code: &str, timeout: Duration, spin: Duration) -> Begun {
        let _ = (code, timeout, spin);
        Begun::Queue
    }
}

/// The rest of a fast-path execute that did not answer at once: waits for the result,
/// watching the interrupts it is given (blocking; run off the executor's thread).
#[cfg(feature = "async")]
pub(crate) type Rest = Box<dyn FnOnce(&Receiver<()>) -> Result<ExecutionResult, Error> + Send>;

/// What [`Running::begin_execute`] came to.
#[cfg(feature = "async")]
pub(crate) enum Begun {
    /// Answered while the caller looked.
    Done(Box<Result<ExecutionResult, Error>>),
    /// Running: the rest of the wait.
    Later(Rest),
    /// No fast path: make the call in the queue as usual.
    Queue,
}
