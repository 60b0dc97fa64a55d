//! Helpers shared by the tests that watch the audit threads.

/// How many times each thread of this process named `name` (the
/// recorder's "audit-writer", a file sink's "audit-sync") has been
/// scheduled: Linux's `/proc/self/task/<tid>/schedstat`, whose second
/// field is the time it waited to run and whose third is how many times
/// it ran.
pub(crate) fn audit_thread_runs(name: &str) -> Vec<(String, u64)> {
    let mut runs = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("Linux /proc") {
        let dir = task.expect("a task").path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("schedstat")).unwrap_or_default();
        let count = stat
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .expect("schedstat");
        runs.push((dir.display().to_string(), count));
    }
    runs
}
