//! The stdio transport's lines, checked before the MCP layer sees them: a line that is
//! not JSON gets JSON-RPC's parse error, and one that is not an object its invalid
//! request error, both with `"id": null` as JSON-RPC asks (the MCP layer would drop
//! the first without a word and answer the second with no `id`). Every other line goes
//! on as it is, and the MCP layer's answers go out in order with these.

use serde::de::IgnoredAny;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;

/// How much of the MCP layer's traffic may wait in each direction.
const BUFFER: usize = 1 << 20;

/// The error for a line that is not a JSON-RPC message, if it is not one (bytes that
/// are not UTF-8 are not JSON either).
pub fn refusal(line: &[u8]) -> Option<String> {
    let text = line.trim_ascii();
    if text.is_empty() {
        return None;
    }
    let (code, message) = if serde_json::from_slice::<IgnoredAny>(text).is_err() {
        (-32700, "Parse error: the line is not JSON")
    } else if !text.starts_with(b"{") {
        (
            -32600,
            "Invalid Request: a JSON-RPC message is a JSON object",
        )
    } else {
        return None;
    };
    Some(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{{\"code\":{code},\"message\":\"{message}\"}}}}\n"
    ))
}

/// Puts the checks between `input`/`output` and the MCP layer; returns the MCP
/// layer's ends.
pub fn checked<R, W>(input: R, output: W) -> (DuplexStream, DuplexStream)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (mut to_mcp, mcp_reads) = tokio::io::duplex(BUFFER);
    let (mcp_writes, from_mcp) = tokio::io::duplex(BUFFER);
    // One writer for the MCP layer's answers and the refusals, in the order they come.
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    let refusals = out_tx.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(input);
        let mut line = Vec::new();
        loop {
            line.clear();
            match lines.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if let Some(error) = refusal(&line) {
                if refusals.send(error).is_err() {
                    break;
                }
                continue;
            }
            if to_mcp.write_all(&line).await.is_err() {
                break;
            }
        }
        // End of input: the MCP layer sees it and ends the session.
        let _ = to_mcp.shutdown().await;
    });
    tokio::spawn(async move {
        let mut answers = BufReader::new(from_mcp);
        loop {
            let mut line = String::new();
            match answers.read_line(&mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if out_tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    tokio::spawn(async move {
        let mut output = output;
        while let Some(line) = out_rx.recv().await {
            if output.write_all(line.as_bytes()).await.is_err() {
                break;
            }
            // Write what else is waiting, then flush once.
            while let Ok(more) = out_rx.try_recv() {
                if output.write_all(more.as_bytes()).await.is_err() {
                    return;
                }
            }
            if output.flush().await.is_err() {
                break;
            }
        }
    });
    (mcp_reads, mcp_writes)
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn lines_that_are_not_json_rpc_objects_get_errors_with_a_null_id() {
        let parse = refusal(b"{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": ").unwrap();
        assert!(
            parse.contains("\"id\":null") && parse.contains("-32700"),
            "{parse}"
        );
        let invalid = refusal(b"\"just a string\"").unwrap();
        assert!(
            invalid.contains("\"id\":null") && invalid.contains("-32600"),
            "{invalid}"
        );
        assert!(refusal(b"[1, 2]").unwrap().contains("-32600"));
        assert_eq!(
            refusal(b"{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}\n"),
            None
        );
        assert_eq!(refusal(b"\n"), None);
        assert!(refusal(b"\xff\xfe not even utf-8\n")
            .unwrap()
            .contains("-32700"));
    }
}
