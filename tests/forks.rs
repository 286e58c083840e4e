//! The subprocess backend's fork server: sessions of one configuration are forks of one
//! process that ran the startup code once; restarts are forks too; random state is not
//! shared; startup code that leaves threads running makes sessions spawn instead; a
//! server killed from outside is replaced while its sessions live on; nothing leaks
//! over a thousand starts and a thousand restarts; the server ends with its last
//! session.
//!
//! Every session here is a `Backend::Subprocess` session running
//! `common::test_python()` with the fork server on (or off where a test says so),
//! whatever `PYSESSION_TEST_BACKEND` says. The tests count this process's descendants
//! and descriptors, so each needs a process of its own (`cargo nextest`, as CI runs it).
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use pysession::{Backend, Error, ProcessOrigin, Session, SessionBuilder};

/// A subprocess builder with the fork server on and the test defaults.
fn forked() -> SessionBuilder {
    builder()
        .backend(Backend::Subprocess)
        .python_executable(test_python())
        .fork_server(true)
}

fn origin(s: &Session) -> ProcessOrigin {
    s.python_info().expect("python_info").process
}

/// The pid of the fork server `s`'s process was forked from.
#[track_caller]
fn server_of(s: &Session) -> u32 {
    match origin(s) {
        ProcessOrigin::Forked { fork_server_pid } => fork_server_pid,
        other => panic!("expected a forked process, got {other:?}"),
    }
}

#[track_caller]
fn number(s: &Session, code: &str) -> u32 {
    value(s, code)
        .unwrap_or_else(|| panic!("{code:?} has no value"))
        .parse()
        .unwrap_or_else(|e| panic!("{code:?}: {e}"))
}

fn pid_of(s: &Session) -> u32 {
    number(s, "import os\nos.getpid()")
}

/// This process's descendants with their state letters.
fn descendants() -> Vec<(u32, char)> {
    descendants_of(std::process::id())
        .into_iter()
        .filter_map(|p| proc_stat(p).map(|(state, _)| (p, state)))
        .collect()
}

/// Within a few seconds, no process is left below this one.
#[track_caller]
fn assert_nothing_left() {
    assert!(
        wait_for(Duration::from_secs(5), || descendants().is_empty()),
        "left behind: {:?}",
        descendants()
    );
}

#[test]
fn sessions_of_one_configuration_are_forks_of_one_server_each_its_own_process() {
    let dir = temp_dir("forks-config");
    let config = || {
        forked()
            .working_directory(&dir)
            .env("FORK_TEST", "yes")
            .startup_code("import os\nboot_pid = os.getpid()")
    };
    let a = config().start().expect("start a");
    let b = config().start().expect("start b");
    let server = server_of(&a);
    assert_eq!(server_of(&b), server, "one server for one configuration");
    // The server is this process's child; the sessions are the server's.
    assert_eq!(
        proc_stat(server).map(|(_, ppid)| ppid),
        Some(std::process::id())
    );
    for s in [&a, &b] {
        assert_eq!(number(s, "os.getppid()"), server);
        // The startup code ran in the server, once, before the fork.
        assert_eq!(number(s, "boot_pid"), server);
        // A process group of its own, so that a kill takes what its code started.
        assert_eq!(number(s, "os.getpgid(0)"), pid_of(s));
        assert_eq!(
            value(s, "os.environ['FORK_TEST']").as_deref(),
            Some("'yes'")
        );
        assert_eq!(
            value(s, "os.getcwd()"),
            Some(format!("{:?}", canonical(&dir)).replace('"', "'"))
        );
    }
    assert_ne!(pid_of(&a), pid_of(&b));
    ok(&a, "mine = 'a'");
    raises(&b, "mine", "NameError");

    // Another configuration has a server of its own.
    let c = forked().working_directory(&dir).start().expect("start c");
    assert_ne!(server_of(&c), server);
    for s in [&a, &b, &c] {
        assert_alive(s);
    }
    assert_eq!(value(&a, "mine").as_deref(), Some("'a'"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_restart_is_a_fresh_fork_and_the_startup_code_runs_once_per_server() {
    let dir = temp_dir("forks-once");
    let log = dir.join("boots");
    let startup = format!(
        "with open({}, 'a') as f:\n    f.write('boot\\n')\nboot = 'yes'",
        py_str(log.to_str().unwrap())
    );
    let lines = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };

    let s = forked().startup_code(&startup).start().expect("start");
    let server = server_of(&s);
    let mut pids = BTreeSet::from([pid_of(&s)]);
    for _ in 0..3 {
        ok(&s, "x = 1");
        s.restart().expect("restart");
        raises(&s, "x", "NameError");
        assert_eq!(value(&s, "boot").as_deref(), Some("'yes'"));
        assert_eq!(server_of(&s), server);
        pids.insert(pid_of(&s));
    }
    assert_eq!(pids.len(), 4, "each restart is a new process: {pids:?}");
    let other = forked().startup_code(&startup).start().expect("start");
    assert_eq!(value(&other, "boot").as_deref(), Some("'yes'"));
    assert_eq!(lines(), 1, "one server, one run of the startup code");
    drop((s, other));

    // Spawned, each process runs it: the start and the restart.
    let spawned = forked()
        .fork_server(false)
        .startup_code(&startup)
        .start()
        .expect("start");
    spawned.restart().expect("restart");
    assert_alive(&spawned);
    assert_eq!(lines(), 1 + 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_the_fork_server_off_each_process_is_spawned_by_this_one() {
    let s = forked().fork_server(false).start().expect("start");
    assert_eq!(
        origin(&s),
        ProcessOrigin::Spawned {
            not_forked_because: None
        }
    );
    assert_eq!(number(&s, "import os\nos.getppid()"), std::process::id());
    s.restart().expect("restart");
    assert_eq!(number(&s, "import os\nos.getppid()"), std::process::id());
    assert_alive(&s);
}

#[test]
fn random_state_is_not_shared_between_forks() {
    let startup = "import random, uuid";
    let a = forked().startup_code(startup).start().expect("start a");
    let b = forked().startup_code(startup).start().expect("start b");
    assert_eq!(server_of(&a), server_of(&b));
    let draw = "(random.getrandbits(64), str(uuid.uuid4()))";
    let mut seen = BTreeSet::new();
    for s in [&a, &b] {
        seen.insert(value(s, draw).expect("a draw"));
    }
    a.restart().expect("restart");
    seen.insert(value(&a, draw).expect("a draw"));
    assert_eq!(seen.len(), 3, "every fork draws its own numbers: {seen:?}");
}

#[test]
fn numpy_s_random_state_is_reseeded_and_its_native_threads_do_not_stop_forking() {
    // numpy's OpenBLAS starts a thread pool at import, which it stops itself before a
    // fork: the server may fork all the same. numpy's global generator was seeded once,
    // in the server (its first use): each fork must draw its own numbers.
    let config = || {
        forked().python_executable(venv_python()).startup_code(
            "import numpy
numpy.random.rand()",
        )
    };
    let a = config().start().expect("start a");
    let b = config().start().expect("start b");
    assert_eq!(server_of(&a), server_of(&b));
    let draw = "repr(numpy.random.rand(4).tolist())";
    let mut seen = BTreeSet::new();
    for s in [&a, &b] {
        seen.insert(value(s, draw).expect("a draw"));
    }
    b.restart().expect("restart");
    seen.insert(value(&b, draw).expect("a draw"));
    assert_eq!(seen.len(), 3, "every fork draws its own numbers: {seen:?}");
    // The thread pool comes back in each fork that needs it.
    let product = "m = numpy.ones((300, 300))\nfloat((m @ m)[0, 0])";
    for s in [&a, &b] {
        assert_eq!(value(s, product).as_deref(), Some("300.0"));
        assert_alive(s);
    }
}

#[test]
fn startup_code_that_leaves_a_thread_running_makes_its_sessions_spawn() {
    let startup = "import threading, time\n\
                   t = threading.Thread(target=time.sleep, args=(60,), daemon=True, name='sleeper')\n\
                   t.start()\nboot = 'yes'";
    let s = forked().startup_code(startup).start().expect("start");
    let why = match origin(&s) {
        ProcessOrigin::Spawned {
            not_forked_because: Some(why),
        } => why,
        other => panic!("expected a spawned process with a reason, got {other:?}"),
    };
    assert!(why.contains("threads") && why.contains("sleeper"), "{why}");
    // A spawned process of its own, whose startup code ran in it: its thread is there.
    assert_eq!(number(&s, "import os\nos.getppid()"), std::process::id());
    assert_eq!(value(&s, "t.is_alive()").as_deref(), Some("True"));
    assert_eq!(value(&s, "boot").as_deref(), Some("'yes'"));
    ok(&s, "x = 1");
    s.restart().expect("restart");
    raises(&s, "x", "NameError");
    assert_eq!(value(&s, "boot").as_deref(), Some("'yes'"));
    // The configuration's next session does not try again.
    let t = forked().startup_code(startup).start().expect("start");
    assert!(matches!(
        origin(&t),
        ProcessOrigin::Spawned {
            not_forked_because: Some(_)
        }
    ));
    assert_alive(&s);
    assert_alive(&t);
    drop((s, t));
    // The server that refused is not left behind.
    assert_nothing_left();
}

#[test]
fn a_fork_server_killed_from_outside_is_replaced_and_its_sessions_live_on() {
    let a = forked()
        .startup_code("boot = 'yes'")
        .start()
        .expect("start a");
    ok(&a, "x = 41");
    let old = server_of(&a);
    let a_pid = pid_of(&a);
    let a_process = Lifetime::of(a_pid).expect("a's process");
    // SAFETY: kill has no memory-safety preconditions; `old` is our live child.
    assert_eq!(unsafe { libc::kill(old as i32, libc::SIGKILL) }, 0);
    assert!(wait_for(Duration::from_secs(5), || proc_stat(old)
        .is_none_or(|(state, _)| state == 'Z')));

    // The session in flight is unaffected: same process, same state.
    assert_eq!(value(&a, "x + 1").as_deref(), Some("42"));
    assert_eq!(pid_of(&a), a_pid);
    // The next start brings a server back.
    let b = forked()
        .startup_code("boot = 'yes'")
        .start()
        .expect("start b");
    let new = server_of(&b);
    assert_ne!(new, old);
    assert_eq!(value(&b, "boot").as_deref(), Some("'yes'"));
    // The orphaned session restarts from the new server.
    a.restart().expect("restart");
    assert_eq!(server_of(&a), new);
    raises(&a, "x", "NameError");
    assert_alive(&a);
    assert_alive(&b);
    assert!(
        wait_for(Duration::from_secs(5), || !a_process.running()),
        "the orphaned process {a_pid} was not ended by the restart"
    );
    drop((a, b));
    assert_nothing_left();
}

#[test]
fn a_session_that_kills_or_stops_its_fork_server_harms_no_other() {
    let config = || forked().startup_code("import os, signal\nboot = 'yes'");
    let a = config().start().expect("start a");
    let b = config().start().expect("start b");
    ok(&b, "kept = 'b'");
    let first = server_of(&a);
    // Sessions run as the host's user: a session's code can signal its server.
    ok(&a, "os.kill(os.getppid(), signal.SIGKILL)");
    assert!(wait_for(Duration::from_secs(5), || proc_stat(first)
        .is_none_or(|(state, _)| state == 'Z')));
    assert_alive(&a);
    assert_eq!(value(&b, "kept").as_deref(), Some("'b'"));
    let c = config().start().expect("start c after the kill");
    let second = server_of(&c);
    assert_ne!(second, first);

    // A stopped server does not answer. A start may take the spare it forked before
    // the stop; the first that needs a fork waits a few seconds for it, then replaces it.
    ok(&c, "os.kill(os.getppid(), signal.SIGSTOP)");
    let begun = Instant::now();
    let d = config().start().expect("start d after the stop");
    let e = config().start().expect("start e after the stop");
    assert!(
        begun.elapsed() < Duration::from_secs(10),
        "{:?}",
        begun.elapsed()
    );
    assert_ne!(server_of(&e), second);
    for s in [&a, &b, &c, &d, &e] {
        assert_eq!(value(s, "boot").as_deref(), Some("'yes'"));
        assert_alive(s);
    }
    assert_eq!(value(&b, "kept").as_deref(), Some("'b'"));
    drop((a, b, c, d, e));
    assert_nothing_left();
}

#[test]
fn the_fork_server_ends_with_the_last_session_of_its_configuration() {
    let a = forked().start().expect("start a");
    let b = forked().start().expect("start b");
    let server = server_of(&a);
    let server_process = Lifetime::of(server).expect("the server's process");
    drop(a);
    assert_alive(&b);
    assert!(server_process.running(), "b still needs the server");
    b.stop().expect("stop");
    assert!(
        wait_for(Duration::from_secs(5), || !server_process.running()),
        "the server outlived its sessions"
    );
    b.start().expect("start again");
    assert_ne!(server_of(&b), server, "a new server for the new start");
    assert_alive(&b);
}

#[test]
fn startup_code_that_fails_or_never_ends_gives_the_errors_a_spawned_process_gives() {
    for fork in [true, false] {
        let raised = forked()
            .fork_server(fork)
            .startup_code("x = 1\nraise RuntimeError('startup refused')")
            .start()
            .expect_err("the startup code raises");
        match raised {
            Error::Startup(e) => {
                assert_eq!(e.type_name, "RuntimeError", "fork {fork}: {e:?}");
                assert_eq!(e.message, "startup refused", "fork {fork}: {e:?}");
                assert!(e.traceback.contains("startup refused"), "{}", e.traceback);
            }
            other => panic!("fork {fork}: expected Err(Startup), got {other:?}"),
        }
        let begun = Instant::now();
        let endless = forked()
            .fork_server(fork)
            .timeout(Duration::from_millis(300))
            .startup_code("while True:\n    pass")
            .start()
            .expect_err("the startup code never ends");
        assert!(
            matches!(&endless, Error::Startup(e) if e.message.contains("300 ms")),
            "fork {fork}: {endless:?}"
        );
        assert!(
            begun.elapsed() < Duration::from_secs(5),
            "{:?}",
            begun.elapsed()
        );
    }
    // Nothing of the failed starts is left, and a good start works.
    assert_nothing_left();
    let s = forked().start().expect("start");
    assert_alive(&s);
}

#[test]
fn sessions_started_at_once_from_many_threads_share_one_server() {
    let sessions: Vec<Session> = std::thread::scope(|scope| {
        let started: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| forked().startup_code("boot = 1").start()))
            .collect();
        started
            .into_iter()
            .map(|h| h.join().expect("thread").expect("start"))
            .collect()
    });
    let servers: BTreeSet<u32> = sessions.iter().map(server_of).collect();
    assert_eq!(servers.len(), 1, "{servers:?}");
    let pids: BTreeSet<u32> = sessions.iter().map(pid_of).collect();
    assert_eq!(pids.len(), sessions.len());
    for s in &sessions {
        assert_eq!(value(s, "boot").as_deref(), Some("1"));
        assert_alive(s);
    }
}

/// About 2 ms each: a few seconds for both loops.
const ROUNDS: usize = 1000;

#[test]
fn a_thousand_starts_and_a_thousand_restarts_leave_no_zombies_orphans_or_descriptors() {
    assert!(descendants().is_empty(), "{:?}", descendants());
    // Keeps the configuration's server up, as a program with sessions open would.
    let anchor = forked().start().expect("start the anchor");
    let server = server_of(&anchor);
    // The server, the anchor's process and the spare forked for the next start.
    assert!(wait_for(Duration::from_secs(5), || descendants().len() == 3));
    let fds_before = open_fds();
    // Known by pid and start time: a pid that another test's process takes over later
    // (pids wrap at 32768 here) is not one of ours.
    let lifetime = |s: &Session| Lifetime::of(pid_of(s)).expect("the session's process exists");
    let mut pids = BTreeSet::new();
    for i in 0..ROUNDS {
        let s = forked()
            .start()
            .unwrap_or_else(|e| panic!("start {i}: {e}"));
        pids.insert(lifetime(&s));
    }
    let s = forked().start().expect("start");
    for i in 0..ROUNDS {
        s.restart().unwrap_or_else(|e| panic!("restart {i}: {e}"));
        pids.insert(lifetime(&s));
    }
    assert_eq!(server_of(&s), server, "one server all along");
    assert_eq!(
        pids.len(),
        2 * ROUNDS,
        "each start and restart is a new process"
    );
    drop(s);

    // What is left: the server, the anchor's process and a spare, none a zombie.
    let anchor_pid = pid_of(&anchor);
    let settled = wait_for(Duration::from_secs(5), || descendants().len() == 3);
    let left = descendants();
    assert!(
        left.iter().all(|&(_, state)| state != 'Z'),
        "zombies remain: {left:?}"
    );
    assert!(
        settled,
        "processes remain: {left:?} (the server {server}, the anchor {anchor_pid})"
    );
    let mut left: BTreeSet<u32> = left.into_iter().map(|(p, _)| p).collect();
    assert!(left.remove(&server) && left.remove(&anchor_pid), "{left:?}");
    let spare: Vec<_> = left
        .iter()
        .map(|&p| proc_stat(p).map(|(_, ppid)| ppid))
        .collect();
    assert_eq!(spare, [Some(server)], "the third is the server's spare");
    let orphans: Vec<Lifetime> = pids.iter().copied().filter(Lifetime::running).collect();
    assert!(orphans.is_empty(), "session processes remain: {orphans:?}");
    let mut fds_after = open_fds();
    wait_for(Duration::from_secs(2), || {
        fds_after = open_fds();
        fds_after <= fds_before + 2
    });
    assert!(
        fds_after <= fds_before + 2,
        "descriptors: {fds_before} before, {fds_after} after"
    );
    // The server holds no descriptor of the sessions it forked: its own, and the
    // standard three, are all it has open (the runtime's 3 to 6, two copies of 1 and 2
    // at most).
    let server_fds = std::fs::read_dir(format!("/proc/{server}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(
        server_fds <= 12,
        "the server has {server_fds} descriptors open"
    );
    assert_alive(&anchor);
    drop(anchor);
    assert_nothing_left();
    assert!(!Path::new(&format!("/proc/{server}")).exists());
}
