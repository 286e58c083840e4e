//! Resident memory, read from `/proc`, for the examples that print it.

/// This process's resident memory plus that of its children (a subprocess session's
/// child and warm spare), in KiB.
pub fn total_rss_kib() -> i64 {
    let me = std::process::id().to_string();
    let mut total = rss_of("self");
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let stat = std::fs::read_to_string(format!("/proc/{name}/stat")).unwrap_or_default();
            // The field after the state, past the parenthesised command, is the parent.
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().nth(1));
            if ppid == Some(me.as_str()) {
                total += rss_of(&name);
            }
        }
    }
    total
}

fn rss_of(pid: &str) -> i64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
