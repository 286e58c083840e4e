//! The `_async` twins of the session methods: each makes the same call as its blocking
//! twin through the session's [`Driver`](crate::driver::Driver), which never holds the
//! executor's thread, and decodes the answer the same way.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::engine::{
    decode_bytes, decode_done, decode_get, decode_info, decode_variables, done, get_bytes_call,
    get_call, set_bytes_call, set_call, variables_call, Answer, Call,
};
use crate::error::Error;
use crate::python::PythonInfo;
use crate::result::{ExecutionResult, Variable};
use crate::session::Session;

#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl Session {
    async fn call_async(&self, call: Call) -> Result<Answer, Error> {
        self.driver.call(&self.engine, call).await
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
        self.execute_with_timeout_async(code, self.engine.config.timeout)
            .await
    }

    /// [`execute_with_timeout`](Session::execute_with_timeout), without blocking the
    /// executor. Cancel safety as for [`execute_async`](Session::execute_async).
    pub async fn execute_with_timeout_async(
        &self,
        code: &str,
        timeout: Duration,
    ) -> Result<ExecutionResult, Error> {
        self.driver.execute(&self.engine, code, timeout).await
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
        decode_get(name, self.call_async(get_call(name)).await)
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
        decode_bytes(self.call_async(get_bytes_call(name)).await)
    }

    /// [`python_info`](Session::python_info), without blocking the executor.
    pub async fn python_info_async(&self) -> Result<PythonInfo, Error> {
        let answer = self.call_async(Call::Info).await;
        decode_info(self.engine.config.backend, answer)
    }
}
