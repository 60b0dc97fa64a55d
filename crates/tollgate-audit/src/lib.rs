//! Audit records for Tollgate: every call on record, terminals replayable,
//! nothing lost.
//!
//! - [`Event`] / [`EventList`]: `audit.k8s.io/v1`, field for field, with
//!   Tollgate's annotations (owner, issuer, subject, decision, rule,
//!   redacted paths, stream counts, recordings, a kubectl-like
//!   [`command_line`](tollgate_kube::command_line));
//! - [`AuditPolicy`]: the Kubernetes audit policy, loaded unchanged,
//!   validated and matched as the API server does;
//! - [`Sink`]s ([`FileSink`] with rotation and durability, [`StdoutSink`],
//!   [`MemorySink`]) behind a [`Recorder`] that batches (group commit) and
//!   never drops silently;
//! - [`AuditLayer`] and its inner [`RecordLayer`]: one record per request
//!   and stage; a request whose record cannot be written is refused;
//!   exec/attach sessions recorded as asciicast files;
//!
//! The access review of the trail is its own crate, `tollgate-review`.

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "layer")]
pub mod config;
mod event;
mod json_line;
#[cfg(feature = "layer")]
mod layer;
mod page_cache;
mod policy;
mod recorder;
mod sink;
mod trail;

pub use event::{Event, EventList, Level, ObjectReference, Stage, UserInfo, micro_time, parse_time};
#[cfg(feature = "layer")]
pub use layer::{
    AuditLayer, AuditLayerBuilder, AuditService, RecordBody, RecordFuture, RecordLayer, RecordService, ResponseFuture,
    SessionOptions,
};
pub use policy::{AuditLevel, AuditPolicy, GroupResources, PolicyRule, RequestAttributes};
pub use recorder::{RecordError, Recorder, RecorderOptions, RecorderStats};
pub use sink::{
    BoundedLines, Durability, FileOptions, FileSink, LogReader, MAX_RECORD_LINE_BYTES, MemorySink, ReadError, Sink,
    SinkError, StdoutSink, Tee, read_log,
};
#[cfg(feature = "webhook")]
pub use sink::{WebhookMode, WebhookOptions, WebhookSink};
pub use trail::{Progress, log_files, since};

/// Makes a FIFO at `path`, for the tests that show a reader or the log
/// sink never waits on one.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn test_fifo(path: &std::path::Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::RWXU,
        0,
    )
    .expect("a FIFO in a test directory");
}

/// What the planted-link tests' victim file holds, and must still hold.
#[cfg(test)]
pub(crate) const TEST_VICTIM: &str = "keep me\n";

/// A file in `dir` that a planted link aims at ([`TEST_VICTIM`]), and a
/// directory beside it that anyone may write to (0777), where links are
/// planted.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn test_victim_and_shared_dir(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let victim = dir.join("victim.conf");
    std::fs::write(&victim, TEST_VICTIM).expect("a victim file in a test directory");
    let shared = dir.join("shared");
    std::fs::create_dir(&shared).expect("a shared directory in a test directory");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).expect("mode 0777");
    (victim, shared)
}
