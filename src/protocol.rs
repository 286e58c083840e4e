//! What the host and the Python-side runtime say to each other, as types both backends
//! share: the requests (a cell to run, a variable operation) and the reply the runtime
//! gives to either. The embedded backend passes them as call arguments; the subprocess
//! backend as JSON frames, whose shape is the serde form of these types.

use serde::{Deserialize, Serialize};

/// A variable operation, as `SessionState.data` in the runtime takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataOp {
    /// A variable's value as JSON.
    Get,
    /// Sets a variable from JSON (byte strings ride beside it as blobs).
    Set,
    /// Sets a variable to a `bytes` made of the one blob.
    SetBytes,
    /// A `bytes`-like variable's bytes, as a blob.
    GetBytes,
    /// The user's variables, and the imported modules too when `modules`.
    List { modules: bool },
    /// The session's Python, as a JSON report.
    Info,
}

impl DataOp {
    /// The operation's name in the runtime.
    pub(crate) fn name(self) -> &'static str {
        match self {
            DataOp::Get => "get",
            DataOp::Set => "set",
            DataOp::SetBytes => "set_bytes",
            DataOp::GetBytes => "get_bytes",
            DataOp::List { .. } => "list",
            DataOp::Info => "info",
        }
    }
}

/// One variable operation: what, on which variable, with what.
#[derive(Debug)]
pub(crate) struct DataRequest {
    pub op: DataOp,
    /// The variable's name; empty for the operations on the whole session.
    pub name: String,
    /// JSON text (the value to set); empty when the operation takes none.
    pub text: String,
    /// Raw byte strings that come with the request.
    pub blobs: Vec<Vec<u8>>,
}

impl DataRequest {
    /// An operation with no argument.
    pub(crate) fn new(op: DataOp, name: &str) -> DataRequest {
        DataRequest {
            op,
            name: name.to_owned(),
            text: String::new(),
            blobs: Vec::new(),
        }
    }

    /// The text argument as the runtime reads it: listing with modules says so by a
    /// non-empty argument.
    pub(crate) fn arg(&self) -> &str {
        match self.op {
            DataOp::List { modules: true } => "1",
            DataOp::List { modules: false } => "",
            _ => &self.text,
        }
    }
}

/// A request frame to the subprocess worker (`{"op": "run", ...}`); the blobs of a
/// data request follow it as raw frames.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Request<'a> {
    /// Run a cell.
    Run { code: &'a str },
    /// A variable operation.
    Data {
        data_op: &'static str,
        name: &'a str,
        arg: &'a str,
        /// How many raw frames follow this one.
        blobs: usize,
    },
    /// Become the fork server of the session's configuration, if it may: its startup
    /// code has run, and each later session of the configuration is a fork of it.
    ServeForks,
}

impl<'a> Request<'a> {
    /// The frame of a variable operation.
    pub(crate) fn data(request: &'a DataRequest) -> Request<'a> {
        Request::Data {
            data_op: request.op.name(),
            name: &request.name,
            arg: request.arg(),
            blobs: request.blobs.len(),
        }
    }
}

/// How the runtime says a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReplyStatus {
    /// It ran to its end.
    Ok,
    /// It raised.
    Error,
    /// The stop exception ended it (a timeout or an interrupt).
    Stopped,
}

impl ReplyStatus {
    /// The status as the runtime names it; `None` for a name it does not use.
    pub(crate) fn parse(name: &str) -> Option<ReplyStatus> {
        match name {
            "ok" => Some(ReplyStatus::Ok),
            "error" => Some(ReplyStatus::Error),
            "stopped" => Some(ReplyStatus::Stopped),
            _ => None,
        }
    }
}

/// An exception as the runtime reports it: type name, message, formatted traceback
/// (for a stopped run, the traceback is where the code was).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub(crate) struct Raised(pub String, pub String, pub String);

/// The runtime's answer to one request, from either backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub status: ReplyStatus,
    /// A cell's value (its repr), or a variable operation's JSON text.
    pub value: Option<String>,
    /// Raw bytes that came back (`get_bytes`).
    pub blob: Option<Vec<u8>>,
    pub error: Option<Raised>,
}

impl Reply {
    /// A reply with this status and nothing else.
    pub(crate) fn of(status: ReplyStatus) -> Reply {
        Reply {
            status,
            value: None,
            blob: None,
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_frame_shape_the_worker_reads() {
        let run = serde_json::to_string(&Request::Run { code: "1 + 1" }).unwrap();
        assert_eq!(run, r#"{"op":"run","code":"1 + 1"}"#);
        let mut data = DataRequest::new(DataOp::SetBytes, "b");
        data.blobs.push(vec![1, 2]);
        let data = serde_json::to_string(&Request::data(&data)).unwrap();
        assert_eq!(
            data,
            r#"{"op":"data","data_op":"set_bytes","name":"b","arg":"","blobs":1}"#
        );
    }

    #[test]
    fn listing_with_modules_is_the_one_flag_argument() {
        let with = DataRequest::new(DataOp::List { modules: true }, "");
        let without = DataRequest::new(DataOp::List { modules: false }, "");
        assert_eq!((with.arg(), without.arg()), ("1", ""));
        assert_eq!(with.op.name(), "list");
    }

    #[test]
    fn statuses_read_the_same_from_json_and_from_a_name() {
        for (name, status) in [
            ("ok", ReplyStatus::Ok),
            ("error", ReplyStatus::Error),
            ("stopped", ReplyStatus::Stopped),
        ] {
            assert_eq!(ReplyStatus::parse(name), Some(status));
            let json: ReplyStatus = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(json, status);
        }
        assert_eq!(ReplyStatus::parse("done"), None);
    }
}
