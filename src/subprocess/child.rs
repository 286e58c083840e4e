//! One session's `python` process: spawning it with the runtime (or having a fork
//! server fork it, the runtime and startup code already run), talking to it, reading
//! its output, and ending it.

use std::ffi::OsString;
use std::io::{PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use rustix::process::Signal;
use serde::{Deserialize, Serialize};

use super::scan::{Piece, Scanner};
use super::sys;
use crate::capture::CaptureShared;
use crate::config::{check_working_directory, ProcessLimits};
use crate::error::Error;
use crate::protocol::{Raised, Reply, ReplyStatus, Request};
use crate::result::{DisplayData, Payload};
use crate::runtime;

/// In a function, so that nothing it reads (the marker token above all) is left in
/// `__main__` for the user's code to find. Reads the token, the runtime's constants and its modules (name, file name, source;
/// [`runtime::SCRIPTS`]) from descriptor 3, loads the modules in their order into the
/// package made first, hands the first (`config`) the constants, and hands over to
/// the loop of the module named by its one argument, [`runtime::WORKER_MODULE`] (which
/// puts the name of the runtime on the child's command line).
const BOOT: &str = "\
import os, sys, types
def boot():
    if sys.path and sys.path[0] == '':
        del sys.path[0]
    for d in (3, 4, 5, 6):
        try:
            os.set_inheritable(d, False)
        except OSError:
            pass
    def r(n):
        b = b''
        while len(b) < n:
            c = os.read(3, n - len(b))
            if not c:
                sys.exit(0)
            b += c
        return b
    def f():
        return r(int.from_bytes(r(4), 'little')).decode()
    t = f()
    c = f()
    for i in range(int(f())):
        n, p, s = f(), f(), f()
        m = types.ModuleType(n)
        sys.modules[n] = m
        up, _, stem = n.rpartition('.')
        if up not in sys.modules:
            sys.modules[up] = types.ModuleType(up)
        setattr(sys.modules[up], stem, m)
        exec(compile(s, p, 'exec'), m.__dict__)
        if i == 0:
            m.configure(c)
    sys.modules[sys.argv.pop(1)].main(t)
boot()
";

/// How to start a child.
#[derive(Debug, Clone)]
pub(crate) struct ChildConfig {
    pub python: PathBuf,
    pub working_directory: PathBuf,
    pub env_clear: bool,
    pub env: Vec<(OsString, OsString)>,
    pub limits: ProcessLimits,
    /// Values longer than this are cut in the child, before they cross the pipe.
    pub output_limit: usize,
}

/// A frame from the child: a reply, or a display made while request `id` ran.
#[derive(Debug, Deserialize)]
struct Frame {
    id: u64,
    #[serde(default)]
    status: Option<ReplyStatus>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    error: Option<Raised>,
    #[serde(default)]
    display: Option<Vec<(String, WirePayload)>>,
    #[serde(default)]
    is_value: bool,
    /// How many raw frames follow this one.
    #[serde(default)]
    blobs: usize,
}

/// One representation in a display frame: text, or the index of a blob.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WirePayload {
    Text(String),
    Blob { blob: usize },
}

/// A request frame: the request, its id, and the output limit of the child's values.
#[derive(Debug, Serialize)]
struct Envelope<'a> {
    id: u64,
    limit: usize,
    #[serde(flatten)]
    request: &'a Request<'a>,
}

/// What the reader thread reports.
#[derive(Debug)]
pub(crate) enum FromChild {
    /// The reply to request `id`, sent once the output of its request has been read.
    Reply { id: u64, reply: Reply },
    /// The child wrote something that is not a frame of the protocol.
    Broken(String),
}

/// What makes a session's process by forking one that is ready (a fork server), and
/// reaps its children when asked.
pub(crate) trait Forker: Send + Sync {
    /// Forks a child that serves one session under the marker `token`, taking `fds`
    /// (requests, replies, the stop slot, stdout, stderr), with RLIMIT_CPU
    /// `cpu_seconds`; its pid.
    fn fork(
        &self,
        token: &str,
        fds: [BorrowedFd<'_>; 5],
        cpu_seconds: Option<u64>,
    ) -> Result<u32, ForkFailure>;

    /// Reaps child `pid`, which has ended, and says how it ended.
    fn reap(&self, pid: u32) -> String;

    /// The server's own pid.
    fn pid(&self) -> u32;
}

/// Why a fork server made no child.
#[derive(Debug)]
pub(crate) enum ForkFailure {
    /// It may not fork (it has other threads): sessions of its configuration are
    /// spawned instead.
    Unsafe(String),
    /// It has ended, does not answer, or failed: a new one may do better.
    Down(String),
}

/// Who made a session's process, and so who reaps it.
enum Maker {
    /// Spawned by this process, which waits for it.
    Spawned(Child),
    /// Forked by a fork server, which reaps it when asked.
    Forked(Arc<dyn Forker>),
}

/// Kills a child from another thread, safely: never after the child was reaped, when
/// its pid could belong to another process.
#[derive(Debug)]
pub(crate) struct KillSwitch {
    pid: u32,
    /// For a forked child, which is not this process's to wait for.
    pidfd: Option<OwnedFd>,
    /// Kill the process alone, not its group or descendants (a fork server, whose
    /// children are sessions of their own).
    alone: AtomicBool,
    reaped: Mutex<bool>,
}

impl KillSwitch {
    /// True once the process has ended (it is not reaped by asking).
    fn ended(&self) -> bool {
        match &self.pidfd {
            Some(fd) => sys::pidfd_ended(fd.as_fd()),
            None => sys::has_exited(self.pid),
        }
    }

    /// Kills the child and its group, unless it was already reaped.
    pub(crate) fn kill(&self) {
        let reaped = self.reaped.lock().unwrap_or_else(|p| p.into_inner());
        if !*reaped {
            self.signal_all();
        }
    }

    /// Kills as above and marks the child as about to be reaped.
    fn kill_for_reaping(&self) {
        let mut reaped = self.reaped.lock().unwrap_or_else(|p| p.into_inner());
        if !*reaped {
            self.signal_all();
            *reaped = true;
        }
    }

    fn signal_all(&self) {
        if self.alone.load(Ordering::Acquire) {
            sys::signal(self.pid, false, Signal::KILL);
            return;
        }
        // The group takes what the code started; the child itself too, should the code
        // have moved it to another group; and every descendant that left the group or
        // the session, found while the child still holds them as its own (once it has
        // ended they belong to init, and a scan of /proc would find none).
        if !self.ended() {
            sys::kill_descendants(self.pid);
        }
        if let Some(pidfd) = &self.pidfd {
            // A forked child is its server's to reap, which it does only when asked: its
            // pid, and so its group's id, stay its own while it runs or is a zombie.
            // Should the server have died, init reaps it at once and the pid may pass to
            // another process: the group is then left alone, and the pidfd reaches this
            // process only.
            if !self.ended() || sys::is_zombie(self.pid) {
                sys::signal(self.pid, true, Signal::KILL);
            }
            sys::pidfd_signal(pidfd.as_fd(), Signal::KILL);
            return;
        }
        sys::signal(self.pid, true, Signal::KILL);
        sys::signal(self.pid, false, Signal::KILL);
    }
}

pub(crate) struct ChildProcess {
    maker: Maker,
    pid: u32,
    killer: Arc<KillSwitch>,
    requests: Option<PipeWriter>,
    pub events: Receiver<FromChild>,
    sink: Arc<Mutex<Arc<CaptureShared>>>,
    reader: Option<JoinHandle<()>>,
    reaped: bool,
    output_limit: usize,
    /// Which request a SIGINT is for.
    stops: sys::StopSlot,
}

impl ChildProcess {
    /// Starts a child whose output goes to `sink`, handing it the runtime by `deadline`
    /// (a child that does not read it is then left to fail its first request). A fork
    /// server's child gets its `control` socket at descriptor 6.
    pub(crate) fn spawn(
        cfg: &ChildConfig,
        sink: Arc<CaptureShared>,
        deadline: Instant,
        control: Option<BorrowedFd<'_>>,
    ) -> Result<Self, Error> {
        // Else a missing directory would read as a missing interpreter: both are NotFound.
        check_working_directory(&cfg.working_directory)?;
        let (req_r, req_w) = std::io::pipe().map_err(start_error)?;
        let (rep_r, rep_w) = std::io::pipe().map_err(start_error)?;
        let mut cmd = Command::new(&cfg.python);
        cmd.args(["-u", "-c", BOOT, runtime::WORKER_MODULE])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .current_dir(&cfg.working_directory)
            .process_group(0);
        if cfg.env_clear {
            cmd.env_clear();
        }
        cmd.envs(cfg.env.iter().map(|(k, v)| (k, v)));
        let stops = sys::StopSlot::new().map_err(start_error)?;
        let mut placed = vec![req_r.as_raw_fd(), rep_w.as_raw_fd(), stops.as_raw_fd()];
        placed.extend(control.map(|fd| fd.as_raw_fd()));
        sys::prepare_child(&mut cmd, &placed, cfg.limits);
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound {
                    what: "python_executable",
                    path: cfg.python.clone(),
                }
            } else {
                Error::Config(format!("cannot start {}: {e}", cfg.python.display()))
            }
        })?;
        drop((req_r, rep_w));
        let pid = child.id();
        let (stdout, stderr) = match (child.stdout.take(), child.stderr.take()) {
            (Some(o), Some(e)) => (OwnedFd::from(o), OwnedFd::from(e)),
            _ => {
                sys::signal(pid, true, Signal::KILL);
                let _ = child.wait();
                return Err(Error::Config(
                    "the Python process has no output pipes".into(),
                ));
            }
        };
        let ends = Ends {
            output: [stdout.into(), stderr.into()],
            replies: rep_r,
            requests: req_w,
            stops,
        };
        let token = random_token();
        let mut this = Self::assemble(Maker::Spawned(child), pid, None, ends, &token, sink, cfg)
            .map_err(start_error)?;
        let count = runtime::SCRIPTS.len().to_string();
        let head = [token.as_str(), runtime::constants_json(), &count];
        let scripts = runtime::SCRIPTS
            .iter()
            .flat_map(|s| [s.name, s.file, s.source]);
        for part in head.into_iter().chain(scripts) {
            if this.write_frame(part.as_bytes(), deadline).is_err() {
                // The child died at once (say, a bad interpreter); the caller sees the
                // reason when it asks for the first reply.
                break;
            }
        }
        Ok(this)
    }

    /// Has `server` fork a child whose output goes to `sink`: the runtime and the
    /// startup code have run in it already.
    pub(crate) fn fork(
        server: Arc<dyn Forker>,
        cfg: &ChildConfig,
        sink: Arc<CaptureShared>,
    ) -> Result<Self, ForkFailure> {
        let down = |e: std::io::Error| ForkFailure::Down(format!("cannot fork a session: {e}"));
        let (req_r, req_w) = std::io::pipe().map_err(down)?;
        let (rep_r, rep_w) = std::io::pipe().map_err(down)?;
        let (out_r, out_w) = std::io::pipe().map_err(down)?;
        let (err_r, err_w) = std::io::pipe().map_err(down)?;
        let stops = sys::StopSlot::new().map_err(down)?;
        let token = random_token();
        let fds = [
            req_r.as_fd(),
            rep_w.as_fd(),
            stops.as_fd(),
            out_w.as_fd(),
            err_w.as_fd(),
        ];
        let pid = server.fork(&token, fds, cfg.limits.cpu_seconds)?;
        drop((req_r, rep_w, out_w, err_w));
        let pidfd = match sys::pidfd_open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                // No way to watch a process that is not ours: the kernel is too old to
                // fork sessions for. The child is not reaped yet, so its pid is its own.
                sys::signal(pid, true, Signal::KILL);
                sys::signal(pid, false, Signal::KILL);
                let begun = Instant::now();
                while !sys::ended_by_proc(pid) && begun.elapsed() < Duration::from_secs(5) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                server.reap(pid);
                return Err(ForkFailure::Unsafe(format!(
                    "this system cannot watch a forked process (pidfd_open: {e})"
                )));
            }
        };
        let ends = Ends {
            output: [out_r, err_r],
            replies: rep_r,
            requests: req_w,
            stops,
        };
        let maker = Maker::Forked(server);
        Self::assemble(maker, pid, Some(pidfd), ends, &token, sink, cfg).map_err(down)
    }

    /// A child from its parts: starts the thread that reads its output and replies.
    fn assemble(
        maker: Maker,
        pid: u32,
        pidfd: Option<OwnedFd>,
        ends: Ends,
        token: &str,
        sink: Arc<CaptureShared>,
        cfg: &ChildConfig,
    ) -> std::io::Result<Self> {
        sys::set_nonblocking(ends.requests.as_fd())?;
        let sink = Arc::new(Mutex::new(sink));
        let (tx, events) = unbounded();
        let mut this = ChildProcess {
            maker,
            pid,
            killer: Arc::new(KillSwitch {
                pid,
                pidfd,
                alone: AtomicBool::new(false),
                reaped: Mutex::new(false),
            }),
            requests: Some(ends.requests),
            events,
            sink: sink.clone(),
            reader: None,
            reaped: false,
            output_limit: cfg.output_limit,
            stops: ends.stops,
        };
        // On failure, dropping `this` kills and reaps the child.
        let reader = Reader::new(token, sink, tx);
        let [stdout, stderr] = ends.output;
        let replies = ends.replies;
        this.reader = Some(
            std::thread::Builder::new()
                .name("pysession-child-reader".into())
                .spawn(move || reader.run(stdout, stderr, replies))?,
        );
        Ok(this)
    }

    /// Writes one frame, waiting for the child to read at most until `deadline`: a
    /// child that has stopped reading (stuck, or stopped) cannot hold the caller.
    fn write_frame(&mut self, body: &[u8], deadline: Instant) -> std::io::Result<()> {
        use std::io::{Error as IoError, ErrorKind};
        let len = u32::try_from(body.len()).map_err(|_| IoError::from(ErrorKind::InvalidInput))?;
        self.write_all(&len.to_le_bytes(), deadline)?;
        self.write_all(body, deadline)
    }

    fn write_all(&mut self, mut rest: &[u8], deadline: Instant) -> std::io::Result<()> {
        use std::io::{Error as IoError, ErrorKind};
        let w = self
            .requests
            .as_mut()
            .ok_or_else(|| IoError::from(ErrorKind::BrokenPipe))?;
        while !rest.is_empty() {
            match w.write(rest) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() || !sys::poll_writable(w.as_fd(), left)? {
                        return Err(ErrorKind::TimedOut.into());
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends request `id` and the blobs it announces, giving up at `deadline`.
    pub(crate) fn send(
        &mut self,
        id: u64,
        request: &Request<'_>,
        blobs: &[Vec<u8>],
        deadline: Instant,
    ) -> std::io::Result<()> {
        let frame = Envelope {
            id,
            limit: self.output_limit,
            request,
        };
        let body = serde_json::to_vec(&frame).map_err(std::io::Error::other)?;
        self.write_frame(&body, deadline)?;
        for blob in blobs {
            self.write_frame(blob, deadline)?;
        }
        Ok(())
    }

    /// From now on the child's output goes to `sink`.
    pub(crate) fn adopt(&self, sink: Arc<CaptureShared>) {
        *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = sink;
    }

    /// Makes a child forked ahead of need a session's: its output goes to `sink`, and its
    /// values are cut to `output_limit`.
    pub(crate) fn fit(&mut self, sink: Arc<CaptureShared>, output_limit: usize) {
        self.adopt(sink);
        self.output_limit = output_limit;
    }

    /// The pid of the fork server that forked this process, if one did.
    pub(crate) fn forked_by(&self) -> Option<u32> {
        match &self.maker {
            Maker::Forked(server) => Some(server.pid()),
            Maker::Spawned(_) => None,
        }
    }

    /// The process's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// From now on, killing this process leaves its group and descendants alone.
    pub(crate) fn spare_descendants(&self) {
        self.killer.alone.store(true, Ordering::Release);
    }

    /// A handle that kills this child from another thread.
    pub(crate) fn killer(&self) -> Arc<KillSwitch> {
        self.killer.clone()
    }

    /// True once the process has ended (it is not reaped by asking).
    pub(crate) fn exited(&self) -> bool {
        !self.alive()
    }

    fn alive(&self) -> bool {
        !self.reaped && !self.killer.ended()
    }

    /// Interrupts the running code (SIGINT to the Python process).
    /// Asks the child to stop request `id`: the id in the stop slot, then SIGINT.
    pub(crate) fn interrupt(&mut self, id: u64) {
        if self.alive() && self.stops.set(id).is_ok() {
            match &self.killer.pidfd {
                Some(pidfd) => sys::pidfd_signal(pidfd.as_fd(), Signal::INT),
                None => sys::signal(self.pid, false, Signal::INT),
            }
        }
    }

    /// Kills the child and its process group, reaps it, and says how it ended.
    pub(crate) fn kill(&mut self) -> String {
        self.reap()
    }

    /// Asks the child to end (its request pipe closes), waits up to `grace`, then kills
    /// it. Reaps it either way.
    pub(crate) fn shut_down(&mut self, grace: Duration) {
        // Before the child may exit: its descendants would then pass to init, out of
        // reach.
        sys::kill_descendants(self.pid);
        self.requests = None;
        let begun = Instant::now();
        while begun.elapsed() < grace && self.alive() {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.reap();
    }

    /// Kills whatever is left of the child and its group, reaps the child, and says how
    /// it ended. The child is never reaped before the group is signalled, so its pid,
    /// the group's id, cannot have been reused.
    pub(crate) fn reap(&mut self) -> String {
        self.killer.kill_for_reaping();
        let how = match &mut self.maker {
            Maker::Spawned(child) => match child.wait() {
                Ok(s) => describe_end(s.code(), s.signal()),
                Err(e) => format!("unknown ({e})"),
            },
            Maker::Forked(server) => {
                // Killed above: its end is a matter of moments.
                if let Some(pidfd) = &self.killer.pidfd {
                    sys::pidfd_wait(pidfd.as_fd(), Duration::from_secs(60));
                }
                server.reap(self.pid)
            }
        };
        self.reaped = true;
        if let Some(reader) = self.reader.take() {
            // The reader ends when every copy of the pipes is closed. A process that
            // left the group may keep one open: then the reader is left to finish on its
            // own (what it still reads is background output), and nobody waits for it.
            let begun = Instant::now();
            while !reader.is_finished() && begun.elapsed() < Duration::from_millis(200) {
                std::thread::sleep(Duration::from_millis(1));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
        how
    }
}

/// The pipes' ends this process keeps of a child.
struct Ends {
    /// Its stdout and stderr.
    output: [PipeReader; 2],
    replies: PipeReader,
    requests: PipeWriter,
    stops: sys::StopSlot,
}

/// Where a child's output goes until a session adopts it: enough to explain a failure.
pub(crate) fn private_capture() -> Arc<CaptureShared> {
    CaptureShared::new(crate::capture::OutputLimits {
        output: 4096,
        display: 0,
    })
}

fn start_error(e: std::io::Error) -> Error {
    Error::Config(format!("cannot start a Python process: {e}"))
}

/// How a process ended, in words: by its exit `code` or the `signal` that killed it.
pub(crate) fn describe_end(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig} ({})", signal_name(sig)),
        (None, None) => "unknown".into(),
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if !self.reaped {
            self.requests = None;
            self.reap();
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV, a segmentation fault",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGXCPU => "SIGXCPU, over its CPU time limit",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "a signal",
    }
}

/// A token no user output will contain by chance.
fn random_token() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    let a = h.finish();
    h.write_u64(a);
    format!("{a:016x}{:016x}", h.finish())
}

/// The reader thread: one `poll` loop over the child's stdout, stderr and replies.
struct Reader {
    scanners: [Scanner; 2],
    /// The request whose output each stream is in (0: between requests).
    segment: [u64; 2],
    /// The last request whose end marker each stream has shown.
    ended: [u64; 2],
    sink: Arc<Mutex<Arc<CaptureShared>>>,
    tx: Sender<FromChild>,
}

impl Reader {
    fn new(token: &str, sink: Arc<Mutex<Arc<CaptureShared>>>, tx: Sender<FromChild>) -> Self {
        Reader {
            scanners: [Scanner::new(token), Scanner::new(token)],
            segment: [0; 2],
            ended: [0; 2],
            sink,
            tx,
        }
    }

    fn run(mut self, mut stdout: PipeReader, mut stderr: PipeReader, mut replies: PipeReader) {
        let mut open = [true; 3];
        let mut frames: Vec<u8> = Vec::new();
        let mut waiting: Option<(u64, Reply, Instant)> = None;
        let mut last_reply = 0;
        let mut partial_since: Option<Instant> = None;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let fds = [
                open[0].then(|| stdout.as_fd()),
                open[1].then(|| stderr.as_fd()),
                open[2].then(|| replies.as_fd()),
            ];
            let timeout =
                (waiting.is_some() || partial_since.is_some()).then(|| Duration::from_millis(10));
            let Ok(ready) = sys::poll_readable(fds, timeout) else {
                return;
            };
            for (i, stream) in [&mut stdout as &mut dyn Read, &mut stderr]
                .into_iter()
                .enumerate()
            {
                if ready[i] && open[i] {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => {
                            open[i] = false;
                            let rest = self.scanners[i].finish();
                            self.output(i, &rest);
                        }
                        Ok(n) => self.scan(i, &buf[..n]),
                    }
                }
            }
            if ready[2] && open[2] {
                match replies.read(&mut buf) {
                    Ok(0) | Err(_) => open[2] = false,
                    Ok(n) => frames.extend_from_slice(&buf[..n]),
                }
                match take_frames(&mut frames) {
                    Ok(got) => {
                        for (frame, blobs) in got {
                            match self.received(frame, blobs) {
                                Ok(Some((id, reply))) => {
                                    last_reply = id;
                                    waiting = Some((id, reply, Instant::now()));
                                }
                                Ok(None) => {}
                                Err(e) => {
                                    let _ = self.tx.send(FromChild::Broken(e));
                                    return;
                                }
                            }
                        }
                        // Measured from the last bytes that arrived: a long reply still
                        // coming in is not a broken one.
                        partial_since = (!frames.is_empty()).then(Instant::now);
                    }
                    Err(e) => {
                        let _ = self.tx.send(FromChild::Broken(e));
                        return;
                    }
                }
            }
            // The child writes its end markers, then the whole reply at once: a reply
            // still incomplete well after the markers is not one (user code wrote to
            // descriptor 4).
            let past_markers = self.ended.iter().all(|&e| e > last_reply);
            if past_markers
                && partial_since.is_some_and(|t| t.elapsed() > Duration::from_millis(500))
            {
                let _ = self.tx.send(FromChild::Broken(format!(
                    "an incomplete reply frame ({} bytes that do not make a frame)",
                    frames.len()
                )));
                return;
            }
            if let Some((id, _, since)) = &waiting {
                // The end markers were written before the reply; once both streams have
                // shown them, all of the request's output has been read.
                let done = (0..2).all(|i| self.ended[i] >= *id || !open[i]);
                if done || since.elapsed() > Duration::from_secs(2) {
                    if let Some((id, reply, _)) = waiting.take() {
                        if self.tx.send(FromChild::Reply { id, reply }).is_err() {
                            return;
                        }
                    }
                }
            }
            if !open.iter().any(|&o| o) {
                return;
            }
        }
    }

    /// A frame from the child: a display goes to the sink at once, a reply is returned.
    fn received(
        &self,
        frame: Frame,
        mut blobs: Vec<Vec<u8>>,
    ) -> Result<Option<(u64, Reply)>, String> {
        if let Some(items) = frame.display {
            let mut parts = Vec::with_capacity(items.len());
            for (mime, payload) in items {
                let payload = match payload {
                    WirePayload::Text(t) => Payload::Text(t),
                    WirePayload::Blob { blob } => match blobs.get_mut(blob) {
                        Some(b) => Payload::Bytes(std::mem::take(b)),
                        None => {
                            return Err(format!(
                                "a display frame names blob {blob}, which it does not have"
                            ))
                        }
                    },
                };
                parts.push((mime, payload));
            }
            let sink = self.sink.lock().unwrap_or_else(|p| p.into_inner()).clone();
            sink.display(frame.id, DisplayData::from_parts(parts, frame.is_value));
            return Ok(None);
        }
        let Some(status) = frame.status else {
            return Err(format!(
                "a frame for request {} with neither a status nor a display",
                frame.id
            ));
        };
        let reply = Reply {
            status,
            value: frame.value,
            blob: blobs.into_iter().next(),
            error: frame.error,
        };
        Ok(Some((frame.id, reply)))
    }

    fn scan(&mut self, i: usize, data: &[u8]) {
        let mut scanner = std::mem::replace(&mut self.scanners[i], Scanner::new(""));
        scanner.feed(data, |piece| match piece {
            Piece::Data(d) => self.output(i, d),
            Piece::Start(id) => self.segment[i] = id,
            Piece::End(id) => {
                self.segment[i] = 0;
                self.ended[i] = id;
            }
        });
        self.scanners[i] = scanner;
    }

    fn output(&self, i: usize, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let sink = self.sink.lock().unwrap_or_else(|p| p.into_inner()).clone();
        sink.write_bytes(i as u8 + 1, self.segment[i], data);
    }
}

/// The raw frames that came after a frame.
type Blobs = Vec<Vec<u8>>;

/// Where the body of the frame at `at` lies, if all of it is in `buf`.
fn frame_at(buf: &[u8], at: usize) -> Result<Option<std::ops::Range<usize>>, String> {
    if buf.len() < at + 4 {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
    if len > runtime::MAX_FRAME {
        return Err(format!("a reply frame of {len} bytes"));
    }
    let body = at + 4..at + 4 + len;
    Ok((buf.len() >= body.end).then_some(body))
}

/// Splits complete frames, each with the blobs that follow it, off the front of `buf`.
fn take_frames(buf: &mut Vec<u8>) -> Result<Vec<(Frame, Blobs)>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    'frames: while let Some(body) = frame_at(buf, at)? {
        let bytes = &buf[body.clone()];
        let frame: Frame = serde_json::from_slice(bytes).map_err(|e| {
            format!(
                "a reply that is not valid ({e}): {:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )
        })?;
        let mut next = body.end;
        let mut ranges = Vec::with_capacity(frame.blobs.min(64));
        for _ in 0..frame.blobs {
            match frame_at(buf, next)? {
                Some(blob) => {
                    next = blob.end;
                    ranges.push(blob);
                }
                None => break 'frames,
            }
        }
        let blobs = ranges.into_iter().map(|r| buf[r].to_vec()).collect();
        out.push((frame, blobs));
        at = next;
    }
    buf.drain(..at);
    Ok(out)
}
