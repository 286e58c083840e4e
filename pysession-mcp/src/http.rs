//! Streamable HTTP at `/mcp`: one handler (and so one set of Python sessions) per MCP
//! session, loopback unless a bearer token guards it, origins checked, bodies bounded.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::server::PythonServer;
use crate::sessions::Store;

/// Serves until interrupted (SIGINT or SIGTERM).
pub async fn serve(store: Arc<Store>) -> Result<(), String> {
    let options = store.options().clone();
    let Some(addr) = options.http else {
        return Err("no --http address".into());
    };
    let loopback = addr.ip().is_loopback();
    if !loopback && options.auth_token.is_none() {
        return Err(format!(
            "--http {addr} is not a loopback address: give --auth-token (or \
             PYSESSION_MCP_AUTH_TOKEN) so that only clients with the token can run code"
        ));
    }
    let stop = CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(stop.child_token())
        .with_max_request_body_bytes(options.max_request_bytes);
    config = if options.allow_origin.is_empty() {
        config.with_allowed_origins(["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"])
    } else {
        config.with_allowed_origins(options.allow_origin.clone())
    };
    if !loopback {
        // Behind a proxy or on a network the Host header names the public address; the
        // bearer token is what admits a client.
        config = config.disable_allowed_hosts();
    } else if !options.allow_host.is_empty() {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        hosts.extend(options.allow_host.iter().cloned());
        config = config.with_allowed_hosts(hosts);
    }
    // rmcp ends an MCP session after `keep_alive` without a message, even while a call
    // of it is running silently: so the MCP session is given the longest call on top of
    // the idle time. The Python sessions, the costly part, are closed after
    // --idle-timeout by the server's own reaper, which never takes one that is in use.
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = (options.idle_timeout > 0)
        .then(|| Duration::from_secs(options.idle_timeout) + crate::server::LONGEST_CALL);
    let tools = options.tools;
    let factory_store = store.clone();
    let service = StreamableHttpService::new(
        move || Ok(PythonServer::new(factory_store.clone(), tools)),
        Arc::new(sessions),
        config,
    );
    let mut router = axum::Router::new().nest_service("/mcp", service);
    if let Some(token) = options.auth_token.clone() {
        let expected = format!("Bearer {token}");
        router = router.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let expected = expected.clone();
                async move { bearer(req, next, &expected).await }
            },
        ));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    eprintln!("pysession-mcp: serving MCP at http://{bound}/mcp");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            stop.cancel();
        })
        .await
        .map_err(|e| format!("the HTTP server failed: {e}"))
}

/// Refuses a request without the bearer token.
async fn bearer(req: Request, next: Next, expected: &str) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required (Authorization: Bearer <token>)",
        )
            .into_response()
    }
}

/// Compares without stopping at the first difference, so timing tells nothing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
