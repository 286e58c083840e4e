//! The process has one working directory; sessions have their own. Runs of sessions
//! that want the same directory go on together; a run that wants another waits until
//! they are over, then moves the process there. When the last run leaves, the process
//! goes back to the directory the host had it in.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

struct GateState {
    dir: Option<PathBuf>,
    holders: usize,
    /// Runs waiting for the process to be free to move: only then does the last run
    /// to leave wake anyone (a wake-up is a system call even when nobody waits).
    waiting: usize,
    /// Where the host had the process before the first run moved it.
    host: Option<PathBuf>,
}

static GATE: Mutex<GateState> = Mutex::new(GateState {
    dir: None,
    holders: 0,
    waiting: 0,
    host: None,
});
static TURN: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, GateState> {
    GATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why a run could not enter its working directory.
pub(crate) enum Refused {
    /// The caller gave up while the run waited for its turn.
    Cancelled,
    /// The directory cannot be entered.
    Missing(String),
}

/// Holds the process in a session's working directory while its code runs.
pub(crate) struct CwdTurn(());

impl CwdTurn {
    /// Waits for the process to be free to move to `dir` (or to be there already), or
    /// for the run to be `cancelled`.
    pub(crate) fn enter(dir: &Path, cancelled: impl Fn() -> bool) -> Result<CwdTurn, Refused> {
        let mut state = lock();
        loop {
            if state.holders == 0 {
                // Remembered even when the run starts where the host is: its code may
                // `os.chdir`, and the host must get its directory back all the same.
                let here = std::env::current_dir().ok();
                if here.as_deref() != Some(dir) {
                    std::env::set_current_dir(dir).map_err(|e| {
                        Refused::Missing(format!(
                            "working directory {} cannot be entered: {e}",
                            dir.display()
                        ))
                    })?;
                }
                state.host = here;
                state.dir = Some(dir.to_path_buf());
                state.holders = 1;
                return Ok(CwdTurn(()));
            }
            if state.dir.as_deref() == Some(dir) {
                state.holders += 1;
                return Ok(CwdTurn(()));
            }
            if cancelled() {
                return Err(Refused::Cancelled);
            }
            state.waiting += 1;
            state = match TURN.wait_timeout(state, Duration::from_millis(10)) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
            state.waiting -= 1;
        }
    }
}

/// A run's code moved the process: runs that join from now on must want the new
/// directory, not the one the turn began in.
pub(crate) fn moved(dir: &Path) {
    let mut state = lock();
    if state.holders > 0 {
        state.dir = Some(dir.to_path_buf());
    }
}

impl Drop for CwdTurn {
    fn drop(&mut self) {
        let mut state = lock();
        state.holders = state.holders.saturating_sub(1);
        if state.holders == 0 {
            state.dir = None;
            if let Some(host) = state.host.take() {
                // The host's directory may be gone; then the process stays where it is.
                if std::env::current_dir().ok().as_ref() != Some(&host) {
                    let _ = std::env::set_current_dir(host);
                }
            }
            if state.waiting > 0 {
                TURN.notify_all();
            }
        }
    }
}
