//! The server's Python sessions: who owns which, the limit on how many, and closing
//! the idle ones.
//!
//! A client with a connection (stdio, or an MCP session over HTTP) names its sessions
//! freely (`"default"` unless it says otherwise); they are its own and end with it.
//! A request without a connection (the sessionless HTTP of MCP 2026-07-28) cannot be
//! told from any other, so its sessions are handles the server makes up, unguessable,
//! returned in the result and passed back by the client (SEP-2567).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pysession::Session;

use crate::options::Options;

/// What a tool call says about where its code runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A client with a connection, by number.
    Connection(u64),
    /// A request of no connection: sessions are handles.
    Sessionless,
}

struct Entry {
    session: Arc<Session>,
    owner: Owner,
    /// The name the client uses: its own for a connection, the handle otherwise.
    name: String,
    last_used: Instant,
}

/// Every Python session of the server.
pub struct Store {
    options: Options,
    /// How this server's handles begin: `ps-`, or `ps-NAME-` with `--instance NAME`.
    handle_prefix: String,
    startup_code: String,
    entries: Mutex<HashMap<String, Entry>>,
    next_connection: AtomicU64,
}

/// Why a session could not be had, in words for the model.
pub type Refusal = String;

impl Store {
    /// An empty store; sessions start with `options` and `startup_code`.
    pub fn new(options: Options, startup_code: String) -> Arc<Store> {
        let handle_prefix = match &options.instance {
            Some(name) => format!("ps-{name}-"),
            None => "ps-".to_owned(),
        };
        Arc::new(Store {
            handle_prefix,
            options,
            startup_code,
            entries: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(1),
        })
    }

    /// The options the server runs with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new connection's number.
    pub fn connect(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    fn key(owner: &Owner, name: &str) -> String {
        match owner {
            Owner::Connection(n) => format!("c{n}/{name}"),
            Owner::Sessionless => name.to_owned(),
        }
    }

    /// The session `name` of `owner`, started on first use for a connection. A
    /// sessionless request without a name gets a new session (`name` is then the new
    /// handle); with a name, it must be a handle the server gave.
    pub async fn get(
        self: &Arc<Self>,
        owner: &Owner,
        name: Option<&str>,
    ) -> Result<(String, Arc<Session>), Refusal> {
        let given = name.is_some();
        let name = match (owner, name) {
            (Owner::Connection(_), None) => "default".to_owned(),
            (_, Some(name)) => name.to_owned(),
            (Owner::Sessionless, None) => {
                format!("{}{}", self.handle_prefix, uuid::Uuid::new_v4().simple())
            }
        };
        let key = Self::key(owner, &name);
        {
            let mut entries = self.lock();
            if let Some(entry) = entries.get_mut(&key) {
                entry.last_used = Instant::now();
                return Ok((name, entry.session.clone()));
            }
        }
        if *owner == Owner::Sessionless && given {
            let ours = name.starts_with(&self.handle_prefix)
                && name.len() == self.handle_prefix.len() + 32;
            return Err(if ours {
                format!("no session {name:?}: it was closed or timed out; call without `session` to start a new one")
            } else {
                format!(
                    "no session {name:?}: without a connection (MCP 2026-07-28 over HTTP), a \
                     session is a handle the server returns; call without `session` to start \
                     one and pass the handle it returns"
                )
            });
        }
        self.start(owner, name, key).await
    }

    async fn start(
        self: &Arc<Self>,
        owner: &Owner,
        name: String,
        key: String,
    ) -> Result<(String, Arc<Session>), Refusal> {
        if self.lock().len() >= self.options.max_sessions {
            return Err(self.full());
        }
        let builder = self.options.builder(&self.startup_code);
        let started = tokio::task::spawn_blocking(move || builder.start())
            .await
            .map_err(|e| format!("the session could not be started: {e}"))?;
        let session = Arc::new(started.map_err(|e| format!("the session could not start: {e}"))?);
        let mut entries = self.lock();
        if let Some(entry) = entries.get(&key) {
            // Another call started it meanwhile; keep that one.
            return Ok((name, entry.session.clone()));
        }
        if entries.len() >= self.options.max_sessions {
            return Err(self.full());
        }
        entries.insert(
            key,
            Entry {
                session: session.clone(),
                owner: owner.clone(),
                name: name.clone(),
                last_used: Instant::now(),
            },
        );
        Ok((name, session))
    }

    fn full(&self) -> Refusal {
        format!(
            "the server already runs {} Python sessions, its limit (--max-sessions): close \
             one with close_session, or try again later",
            self.options.max_sessions
        )
    }

    /// Closes `owner`'s session `name`; false when there was none.
    pub fn close(&self, owner: &Owner, name: &str) -> bool {
        let removed = self.lock().remove(&Self::key(owner, name));
        let found = removed.is_some();
        stop_later(removed.into_iter().map(|e| e.session).collect());
        found
    }

    /// The names of `owner`'s sessions, sorted.
    pub fn names(&self, owner: &Owner) -> Vec<String> {
        let mut names: Vec<String> = self
            .lock()
            .values()
            .filter(|e| &e.owner == owner)
            .map(|e| e.name.clone())
            .collect();
        names.sort();
        names
    }

    /// Closes every session of connection `n` (it went away).
    pub fn disconnect(&self, n: u64) {
        let owner = Owner::Connection(n);
        stop_later(self.remove_where(|e| e.owner == owner));
    }

    /// Closes the sessions unused for `idle` (none that a call is using).
    pub fn close_idle(&self, idle: Duration) -> usize {
        let gone = self
            .remove_where(|e| e.last_used.elapsed() >= idle && Arc::strong_count(&e.session) == 1);
        let n = gone.len();
        stop_later(gone);
        n
    }

    fn remove_where(&self, mut pred: impl FnMut(&Entry) -> bool) -> Vec<Arc<Session>> {
        self.lock()
            .extract_if(|_, e| pred(e))
            .map(|(_, e)| e.session)
            .collect()
    }

    /// Closes every session (the server is stopping).
    pub fn close_all(&self) {
        let gone: Vec<Arc<Session>> = self.lock().drain().map(|(_, e)| e.session).collect();
        for session in &gone {
            // A call still running for a client that went away stops now.
            session.interrupt_handle().interrupt();
        }
        for session in gone {
            let _ = session.stop();
        }
    }
}

/// Stops sessions off the caller's thread: a stop may wait for running code (its grace
/// period), and callers are async tasks. A session still in use by a call stops when
/// that call drops it.
fn stop_later(sessions: Vec<Arc<Session>>) {
    if sessions.is_empty() {
        return;
    }
    let stop = move || {
        for session in sessions {
            // Code still running for a call that is gone is stopped, not left to run to
            // its timeout; that call then drops its handle, which stops the session.
            session.interrupt_handle().interrupt();
            if let Ok(session) = Arc::try_unwrap(session) {
                let _ = session.stop();
            }
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn_blocking(stop);
        }
        Err(_) => stop(),
    }
}
