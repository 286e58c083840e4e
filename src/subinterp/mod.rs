//! The sub-interpreter backend: each session owns an interpreter of its own, on a
//! thread of its own, in this process. On Python 3.12 and later it has its own
//! interpreter lock (PEP 684), so sessions run Python in parallel; on 3.11 it shares
//! the main one's but not its modules. The same Python-side runtime as the embedded
//! backend runs in it, its capture and run control being C functions over the
//! session's plain Rust state (`ffi`).

#[cfg(Py_3_12)]
mod ffi;
#[cfg(Py_3_12)]
mod session;

use std::sync::Arc;

use crate::backend::Running;
use crate::config::Config;
use crate::error::Error;

/// Starts a sub-interpreter session.
pub(crate) fn start(cfg: &Config) -> Result<Arc<dyn Running>, Error> {
    #[cfg(Py_3_12)]
    {
        Ok(Arc::new(session::SubInterpreter::start(cfg)?))
    }
    #[cfg(not(Py_3_12))]
    {
        let _ = cfg;
        Err(Error::Config(
            "sub-interpreter sessions need Python 3.12 or later: before 3.12 sub-interpreters \
             share one interpreter lock, and extension modules that do not support them \
             (numpy) load in them unchecked and misbehave. Use Backend::Embedded or \
             Backend::Subprocess, or build pysession for Python 3.12+ (PYO3_PYTHON)"
                .into(),
        ))
    }
}
