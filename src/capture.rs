//! Bounded output capture, shared by what writes a session's output (the embedded
//! routing streams, the subprocess reader) and the session, which reads it.
//!
//! Output is bounded where it is produced: each stream keeps a head and a tail of at
//! most `limit` bytes in all and counts what fell between, so a flood costs a fixed
//! amount of memory however long it runs.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::event::{Event, EventSender};
use crate::result::{DisplayData, ExecutionResult};

/// One stream's text, bounded to a head and a tail.
#[derive(Debug)]
pub(crate) struct Bounded {
    head: String,
    tail: String,
    cut: u64,
    head_cap: usize,
    tail_cap: usize,
    /// The start of a UTF-8 sequence that a byte write left unfinished.
    pending: Vec<u8>,
}

impl Bounded {
    pub(crate) fn new(limit: usize) -> Self {
        let head_cap = limit / 2;
        Bounded {
            head: String::new(),
            tail: String::new(),
            cut: 0,
            head_cap,
            tail_cap: limit - head_cap,
            pending: Vec::new(),
        }
    }

    pub(crate) fn push_str(&mut self, s: &str) {
        if !self.pending.is_empty() {
            self.pending.clear();
            self.append('\u{FFFD}'.encode_utf8(&mut [0; 4]));
        }
        self.append(s);
    }

    /// Appends bytes decoded as UTF-8, invalid sequences replaced by U+FFFD; a sequence
    /// split across two writes is joined.
    #[cfg(test)]
    pub(crate) fn push_bytes(&mut self, data: &[u8]) {
        let text = self.decode(data);
        self.append(&text);
    }

    /// Decodes `data` after what an earlier write left unfinished, keeping an
    /// unfinished sequence at its end for the next write.
    fn decode(&mut self, data: &[u8]) -> String {
        let mut out = String::new();
        let joined;
        let mut rest: &[u8] = if self.pending.is_empty() {
            data
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(data);
            joined = buf;
            &joined
        };
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    out.push_str(valid);
                    return out;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // from_utf8 just checked this prefix.
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{FFFD}');
                            rest = &after[n..];
                        }
                        None => {
                            self.pending = after.to_vec();
                            return out;
                        }
                    }
                }
            }
        }
    }

    fn append(&mut self, mut s: &str) {
        if self.cut == 0 && self.tail.is_empty() {
            let room = self.head_cap - self.head.len();
            if s.len() <= room {
                self.head.push_str(s);
                return;
            }
            let split = floor_char_boundary(s, room);
            self.head.push_str(&s[..split]);
            s = &s[split..];
        }
        if s.len() >= self.tail_cap {
            let keep_from = ceil_char_boundary(s, s.len() - self.tail_cap);
            self.cut += (self.tail.len() + keep_from) as u64;
            self.tail.clear();
            self.tail.push_str(&s[keep_from..]);
        } else {
            self.tail.push_str(s);
            // Trimming only past twice the cap keeps appends amortised O(1).
            if self.tail.len() > 2 * self.tail_cap.max(64) {
                self.trim_tail();
            }
        }
    }

    fn trim_tail(&mut self) {
        if self.tail.len() > self.tail_cap {
            let from = ceil_char_boundary(&self.tail, self.tail.len() - self.tail_cap);
            self.cut += from as u64;
            self.tail.drain(..from);
        }
    }

    /// The text kept, with a marker where bytes were cut, and the number of bytes cut.
    pub(crate) fn finish(mut self) -> (String, u64) {
        if !self.pending.is_empty() {
            self.pending.clear();
            self.append("\u{FFFD}");
        }
        self.trim_tail();
        if self.cut == 0 {
            self.head.push_str(&self.tail);
            return (self.head, 0);
        }
        let mut out = self.head;
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!(
            "[... {} bytes of output cut here: over the output limit of {} bytes ...]\n",
            self.cut,
            self.head_cap + self.tail_cap
        ));
        out.push_str(&self.tail);
        (out, self.cut)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Truncates `text` the way output is truncated; used for long reprs.
pub(crate) fn bound_text(text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let mut b = Bounded::new(limit);
    b.push_str(&text);
    b.finish().0
}

/// What one run wrote, and (for an execute) what the session's other threads wrote
/// since the previous execute's result.
#[derive(Debug)]
pub(crate) struct RunOutput {
    pub stdout: (String, u64),
    pub stderr: (String, u64),
    /// Displays, and how many were dropped over the limit.
    pub display: (Vec<DisplayData>, u64),
    pub background: Option<(String, String, Vec<DisplayData>)>,
}

impl RunOutput {
    /// Puts the output into `r`.
    pub(crate) fn fill(self, r: &mut ExecutionResult) {
        (r.stdout, r.stdout_truncated_bytes) = self.stdout;
        (r.stderr, r.stderr_truncated_bytes) = self.stderr;
        (r.display, r.display_dropped) = self.display;
        if let Some((out, err, display)) = self.background {
            r.background_stdout = out;
            r.background_stderr = err;
            r.background_display = display;
        }
    }
}

/// Display items, bounded by their total size.
#[derive(Debug)]
struct Displays {
    items: Vec<DisplayData>,
    bytes: usize,
    limit: usize,
    dropped: u64,
}

impl Displays {
    fn new(limit: usize) -> Self {
        Displays {
            items: Vec::new(),
            bytes: 0,
            limit,
            dropped: 0,
        }
    }

    /// Keeps `item` if it fits; says whether it did.
    fn push(&mut self, item: DisplayData) -> bool {
        let size = item.size();
        if self.bytes + size > self.limit {
            self.dropped += 1;
            return false;
        }
        self.bytes += size;
        self.items.push(item);
        true
    }
}

#[derive(Debug)]
struct Streams {
    out: Bounded,
    err: Bounded,
    display: Displays,
}

impl Streams {
    fn new(limits: OutputLimits) -> Self {
        Streams {
            out: Bounded::new(limits.output),
            err: Bounded::new(limits.output),
            display: Displays::new(limits.display),
        }
    }

    fn get(&mut self, stream: u8) -> &mut Bounded {
        if stream == 2 {
            &mut self.err
        } else {
            &mut self.out
        }
    }

    fn finish(self) -> (Kept, Kept, (Vec<DisplayData>, u64)) {
        (
            self.out.finish(),
            self.err.finish(),
            (self.display.items, self.display.dropped),
        )
    }
}

/// Text kept, and the number of bytes cut from it.
type Kept = (String, u64);

/// How much of a run's output is kept: bytes per stream, bytes of display data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutputLimits {
    pub output: usize,
    pub display: usize,
}

impl OutputLimits {
    /// What a session with `config` keeps.
    pub(crate) fn of(config: &crate::config::Config) -> OutputLimits {
        OutputLimits {
            output: config.output_limit,
            display: config.display_limit,
        }
    }
}

#[derive(Debug)]
struct CaptureState {
    /// The run in progress (0: none) and its output.
    run_id: u64,
    run: Option<Streams>,
    /// Output of threads that are not the current run's: written between runs, or by
    /// threads that earlier runs started, or by abandoned code.
    background: Streams,
    /// Where the current run's output also goes as it is written (streaming).
    tap: Option<EventSender>,
}

impl CaptureState {
    /// Where output made on behalf of run `run` goes: that run's streams and its tap
    /// while it is the current run, the background otherwise (no tap).
    fn route(&mut self, run: u64) -> (&mut Streams, Option<&EventSender>) {
        let CaptureState {
            run_id,
            run: current,
            background,
            tap,
        } = self;
        match current.as_mut() {
            Some(current) if run != 0 && run == *run_id => (current, tap.as_ref()),
            _ => (background, None),
        }
    }
}

/// What a stream was given.
pub(crate) enum Written<'a> {
    Text(&'a str),
    /// Decoded as UTF-8, invalid sequences replaced.
    Bytes(&'a [u8]),
}

/// A session's output, shared by every incarnation of its worker.
#[derive(Debug)]
pub(crate) struct CaptureShared {
    limits: OutputLimits,
    state: Mutex<CaptureState>,
}

impl CaptureShared {
    pub(crate) fn new(limits: OutputLimits) -> Arc<Self> {
        Arc::new(CaptureShared {
            limits,
            state: Mutex::new(CaptureState {
                run_id: 0,
                run: None,
                background: Streams::new(limits),
                tap: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, CaptureState> {
        // A panic while holding this lock leaves plain buffers behind: still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a write made on behalf of run `run`: in that run's output (and its tap)
    /// while it is the current run, in the background otherwise.
    pub(crate) fn write(&self, stream: u8, run: u64, written: Written<'_>) {
        let mut state = self.lock();
        let (streams, tap) = state.route(run);
        let b = streams.get(stream);
        let text = match written {
            Written::Text(s) => {
                b.push_str(s);
                Cow::Borrowed(s)
            }
            Written::Bytes(data) => {
                let s = b.decode(data);
                b.append(&s);
                Cow::Owned(s)
            }
        };
        if let Some(tap) = tap {
            if !text.is_empty() {
                let text = text.into_owned();
                tap.send(if stream == 2 {
                    Event::Stderr(text)
                } else {
                    Event::Stdout(text)
                });
            }
        }
    }

    /// Stores a display made on behalf of run `run`, like [`write`](Self::write).
    pub(crate) fn display(&self, run: u64, item: DisplayData) {
        let mut state = self.lock();
        let (streams, tap) = state.route(run);
        // Copied only when someone watches the stream.
        let event = tap.map(|tap| (tap, item.clone()));
        if streams.display.push(item) {
            if let Some((tap, item)) = event {
                tap.send(Event::Display(item));
            }
        }
    }

    /// [`write`](Self::write) of bytes.
    pub(crate) fn write_bytes(&self, stream: u8, run: u64, data: &[u8]) {
        self.write(stream, run, Written::Bytes(data));
    }

    /// Sends the output of the runs that begin from now on to `tap` as well, as it is
    /// written; `None` stops that.
    pub(crate) fn set_tap(&self, tap: Option<EventSender>) {
        self.lock().tap = tap;
    }

    /// Takes the tap off, returning it (to be put back with [`set_tap`](Self::set_tap)).
    pub(crate) fn take_tap(&self) -> Option<EventSender> {
        self.lock().tap.take()
    }

    /// Starts collecting the output of run `run`.
    pub(crate) fn begin_run(&self, run: u64) {
        let mut state = self.lock();
        state.run_id = run;
        state.run = Some(Streams::new(self.limits));
    }

    /// Ends the run in progress and returns its output, with the background output
    /// when `with_background` (only an execute's result delivers it).
    pub(crate) fn end_run(&self, with_background: bool) -> RunOutput {
        let mut state = self.lock();
        state.run_id = 0;
        let run = state
            .run
            .take()
            .unwrap_or_else(|| Streams::new(self.limits));
        let background = with_background.then(|| {
            let bg = std::mem::replace(&mut state.background, Streams::new(self.limits));
            let ((out, _), (err, _), (display, _)) = bg.finish();
            (out, err, display)
        });
        drop(state);
        let (stdout, stderr, display) = run.finish();
        RunOutput {
            stdout,
            stderr,
            display,
            background,
        }
    }
}

/// Streams a session's output while one call runs: sets the capture's tap, and clears
/// it when dropped.
pub(crate) struct TapGuard<'a> {
    capture: Option<&'a CaptureShared>,
}

impl<'a> TapGuard<'a> {
    pub(crate) fn set(capture: &'a CaptureShared, tap: Option<EventSender>) -> Self {
        match tap {
            Some(tap) => {
                capture.set_tap(Some(tap));
                TapGuard {
                    capture: Some(capture),
                }
            }
            None => TapGuard { capture: None },
        }
    }
}

impl Drop for TapGuard<'_> {
    fn drop(&mut self) {
        if let Some(capture) = self.capture {
            capture.set_tap(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(limit: usize, writes: &[&str]) -> (String, u64) {
        let mut b = Bounded::new(limit);
        for w in writes {
            b.push_str(w);
        }
        b.finish()
    }

    #[test]
    fn output_under_the_limit_is_exact() {
        assert_eq!(
            collect(10, &["abc", "de", "fghij"]),
            ("abcdefghij".into(), 0)
        );
    }

    #[test]
    fn output_over_the_limit_keeps_head_and_tail() {
        let (text, cut) = collect(10, &["01234", "56789", "abcdefghij"]);
        assert_eq!(cut, 10);
        assert!(
            text.starts_with("01234\n[... 10 bytes of output cut"),
            "{text}"
        );
        assert!(text.ends_with("...]\nfghij"), "{text}");
    }

    #[test]
    fn one_huge_write_is_bounded() {
        let big = "x".repeat(1 << 20);
        let (text, cut) = collect(100, &[&big]);
        assert_eq!(cut, (1 << 20) - 100);
        assert!(text.len() < 300);
    }

    #[test]
    fn many_small_writes_stay_bounded() {
        let mut b = Bounded::new(1000);
        for _ in 0..100_000 {
            b.push_str("line\n");
            assert!(b.head.len() + b.tail.len() <= 1000 + 2 * 1000);
        }
        let (_, cut) = b.finish();
        assert_eq!(cut, 500_000 - 1000);
    }

    #[test]
    fn cuts_respect_char_boundaries() {
        let (text, _) = collect(7, &["ééééééééé"]);
        assert!(text.contains("bytes of output cut"));
    }

    #[test]
    fn invalid_utf8_is_replaced_and_split_sequences_are_joined() {
        let mut b = Bounded::new(100);
        b.push_bytes(b"a\xffb");
        let e = "é".as_bytes();
        b.push_bytes(&e[..1]);
        b.push_bytes(&e[1..]);
        b.push_bytes(&e[..1]);
        b.push_str("!");
        assert_eq!(b.finish().0, "a\u{FFFD}bé\u{FFFD}!");
    }

    #[test]
    fn writes_of_other_runs_go_to_background() {
        let c = CaptureShared::new(OutputLimits {
            output: 100,
            display: 100,
        });
        c.write(1, 0, Written::Text("between "));
        c.begin_run(7);
        c.write(1, 7, Written::Text("mine"));
        c.write(1, 6, Written::Text("older"));
        let out = c.end_run(true);
        assert_eq!(out.stdout.0, "mine");
        assert_eq!(
            out.background.map(|b| b.0).as_deref(),
            Some("between older")
        );
        c.begin_run(8);
        c.write(2, 8, Written::Text("startup"));
        assert!(c.end_run(false).background.is_none());
    }
}
