//! Persistent Python sessions.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod embedded;
mod error;
mod fifo;
mod result;
mod session;

pub use error::{Error, Result};
pub use result::{ExecutionResult, PythonError, Status};
pub use session::{Backend, Session, SessionBuilder};
