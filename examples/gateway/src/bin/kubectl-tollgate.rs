//! `kubectl-tollgate`: the same binary as `tollgate`, under the name
//! kubectl looks for, so `kubectl tollgate approvals …` and `kubectl
//! tollgate whoami` work (see [`tollgate_gateway::cli`]).

use std::process::ExitCode;

/// mimalloc instead of the system allocator: a request allocates from
/// several threads (the runtime's workers, the audit writer), where glibc's
/// arenas contend on a lock (measured with `hostile_load --speed`; see
/// docs/performance.md and docs/dependencies.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tollgate_gateway::cli::main().await
}
