//! Each session's working directory.
mod common;

use std::time::Duration;

use common::*;

fn getcwd(s: &pysession::Session) -> String {
    let v = value(s, "import os\nos.getcwd()").expect("a value");
    v.trim_matches('\'').to_owned()
}

#[test]
fn session_sees_its_working_directory() {
    let dir = temp_dir("wd");
    std::fs::write(dir.join("data.txt"), "hello from the dir").unwrap();
    let s = builder().working_directory(&dir).start().expect("start");
    assert_eq!(getcwd(&s), canonical(&dir));
    assert_eq!(
        value(&s, "open('data.txt').read()").as_deref(),
        Some("'hello from the dir'")
    );
    assert_alive(&s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn modules_in_the_working_directory_import() {
    let dir = temp_dir("wd-import");
    std::fs::write(dir.join("pysession_wd_module.py"), "ANSWER = 41 + 1\n").unwrap();
    let s = builder().working_directory(&dir).start().expect("start");
    assert_eq!(
        value(&s, "import pysession_wd_module\npysession_wd_module.ANSWER").as_deref(),
        Some("42")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_sessions_keep_their_own_directories_when_alternating() {
    let d1 = temp_dir("wd-a");
    let d2 = temp_dir("wd-b");
    let a = builder().working_directory(&d1).start().expect("start a");
    let b = builder().working_directory(&d2).start().expect("start b");
    for _ in 0..3 {
        assert_eq!(getcwd(&a), canonical(&d1));
        assert_eq!(getcwd(&b), canonical(&d2));
    }
    ok(&a, "open('mine.txt', 'w').write('a')");
    assert!(d1.join("mine.txt").exists());
    assert!(!d2.join("mine.txt").exists());
    let _ = std::fs::remove_dir_all(&d1);
    let _ = std::fs::remove_dir_all(&d2);
}

#[test]
fn chdir_persists_in_the_session_and_does_not_move_another() {
    let d1 = temp_dir("wd-chdir-a");
    let d2 = temp_dir("wd-chdir-b");
    std::fs::create_dir(d1.join("inner")).unwrap();
    let a = builder().working_directory(&d1).start().expect("start a");
    let b = builder().working_directory(&d2).start().expect("start b");
    ok(&a, "import os\nos.chdir('inner')");
    assert_eq!(getcwd(&a), canonical(&d1.join("inner")));
    assert_eq!(getcwd(&b), canonical(&d2));
    assert_eq!(getcwd(&a), canonical(&d1.join("inner")));
    assert_alive(&a);
    assert_alive(&b);
    let _ = std::fs::remove_dir_all(&d1);
    let _ = std::fs::remove_dir_all(&d2);
}

#[test]
fn chdir_does_not_move_another_session_with_the_same_directory() {
    let dir = temp_dir("wd-shared");
    std::fs::create_dir(dir.join("inner")).unwrap();
    let a = builder().working_directory(&dir).start().expect("start a");
    let b = builder().working_directory(&dir).start().expect("start b");
    ok(&a, "import os\nos.chdir('inner')");
    assert_eq!(getcwd(&a), canonical(&dir.join("inner")));
    assert_eq!(getcwd(&b), canonical(&dir));
    assert_alive(&a);
    assert_alive(&b);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn chdir_does_not_move_a_concurrently_running_session() {
    // `os.chdir` moves the session, not the others (SessionBuilder::working_directory).
    // Here b is running (sleeping) in the same directory while a moves: b itself never
    // calls chdir, so its next execute must still be in its own directory.
    let dir = temp_dir("wd-concurrent");
    std::fs::create_dir(dir.join("inner")).unwrap();
    let a = builder().working_directory(&dir).start().expect("start a");
    let b = builder().working_directory(&dir).start().expect("start b");
    std::thread::scope(|scope| {
        let h = scope.spawn(|| ok(&b, "import time\ntime.sleep(1)"));
        std::thread::sleep(Duration::from_millis(300));
        ok(&a, "import os\nos.chdir('inner')");
        h.join().unwrap();
    });
    assert_eq!(getcwd(&a), canonical(&dir.join("inner")));
    assert_eq!(
        getcwd(&b),
        canonical(&dir),
        "session b was moved by session a's os.chdir"
    );
    assert_alive(&a);
    assert_alive(&b);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn new_run_of_a_session_in_the_same_directory_is_not_moved_by_a_running_chdir() {
    // a and b are both configured for `dir` and started before a moves. While a's run
    // that called `os.chdir('sub')` is still going (the process is in dir/sub), b starts
    // a new run: it must run in dir, not join a in dir/sub.
    let dir = temp_dir("wd-new-run");
    std::fs::create_dir(dir.join("sub")).unwrap();
    let flag = dir.join("moved");
    let a = builder().working_directory(&dir).start().expect("start a");
    let b = builder().working_directory(&dir).start().expect("start b");
    assert_eq!(getcwd(&b), canonical(&dir));
    std::thread::scope(|scope| {
        let h = scope.spawn(|| {
            ok(
                &a,
                &format!(
                    "import os, time\nos.chdir('sub')\nopen({}, 'w').close()\ntime.sleep(1)\nos.getcwd()",
                    py_str(flag.to_str().unwrap())
                ),
            )
        });
        let waited = std::time::Instant::now();
        while !flag.exists() {
            assert!(
                waited.elapsed() < Duration::from_secs(30),
                "session a never moved"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            getcwd(&b),
            canonical(&dir),
            "a new run of session b started in session a's new directory"
        );
        assert_eq!(
            value(&b, "open('moved').close()\n'found'").as_deref(),
            Some("'found'"),
            "relative paths of b's new run resolve in its own directory"
        );
        let ra = h.join().unwrap();
        assert_eq!(
            ra.value,
            Some(format!("'{}'", canonical(&dir.join("sub")))),
            "session a's own run stays where it moved"
        );
    });
    // After a's run: b still in dir, a in dir/sub.
    assert_eq!(getcwd(&b), canonical(&dir));
    assert_eq!(getcwd(&a), canonical(&dir.join("sub")));
    assert_alive(&a);
    assert_alive(&b);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn restart_returns_to_the_configured_directory() {
    let dir = temp_dir("wd-restart");
    std::fs::create_dir(dir.join("inner")).unwrap();
    let s = builder().working_directory(&dir).start().expect("start");
    ok(&s, "import os\nos.chdir('inner')");
    assert_eq!(getcwd(&s), canonical(&dir.join("inner")));
    s.restart().expect("restart");
    assert_eq!(getcwd(&s), canonical(&dir));
    assert_alive(&s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn start_after_stop_returns_to_the_configured_directory() {
    let dir = temp_dir("wd-stop-start");
    std::fs::create_dir(dir.join("inner")).unwrap();
    let s = builder().working_directory(&dir).start().expect("start");
    ok(&s, "import os\nos.chdir('inner')");
    s.stop().expect("stop");
    s.start().expect("start");
    assert_eq!(getcwd(&s), canonical(&dir));
    assert_alive(&s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn startup_code_runs_in_the_working_directory() {
    let dir = temp_dir("wd-startup");
    let s = builder()
        .working_directory(&dir)
        .startup_code("import os\nstart_dir = os.getcwd()")
        .start()
        .expect("start");
    assert_eq!(
        value(&s, "start_dir").as_deref(),
        Some(format!("'{}'", canonical(&dir)).as_str())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn chdir_in_a_default_session_leaves_the_host_where_it_was() {
    let host = std::env::current_dir().expect("host cwd");
    let s = session();
    let dir = temp_dir("default-chdir");
    ok(
        &s,
        &format!("import os\nos.chdir({})", py_str(dir.to_str().unwrap())),
    );
    // The host is back where it was as soon as the call returns.
    assert_eq!(std::env::current_dir().expect("host cwd"), host);
    // The session keeps its own move...
    assert_eq!(getcwd(&s), canonical(&dir));
    assert_eq!(std::env::current_dir().expect("host cwd"), host);
    // ...and a new default session starts where the host is.
    let fresh = session();
    assert_eq!(getcwd(&fresh), canonical(&host));
    assert_eq!(std::env::current_dir().expect("host cwd"), host);
    assert_alive(&s);
    assert_alive(&fresh);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn restart_with_its_directory_gone_is_refused_by_name_and_the_session_goes_on() {
    let dir = temp_dir("gone");
    let s = builder().working_directory(&dir).start().expect("start");
    ok(&s, "kept = 'yes'");
    std::fs::remove_dir(&dir).expect("remove the directory");
    let refused = s.restart();
    assert!(s.is_running());
    std::fs::create_dir(&dir).expect("make it again");
    match refused {
        Err(pysession::Error::NotFound { what, path }) => {
            assert_eq!(what, "working directory");
            assert_eq!(canonical(&path), canonical(&dir));
        }
        other => panic!("expected NotFound for the working directory, got {other:?}"),
    }
    assert_eq!(value(&s, "kept").as_deref(), Some("'yes'"));
    assert_alive(&s);
}
