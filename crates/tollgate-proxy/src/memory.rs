//! The process's memory: transparent huge pages off.
//!
//! mimalloc (the `tollgate` binary's allocator) asks the kernel for huge
//! pages on its arenas and gives memory it has stopped using back to the
//! system. Under load the gateway allocates and frees in waves (a request's
//! headers, its records, the writer's batches), so the same 2 MiB ranges
//! are given back and faulted in again, and every such fault zeroes a whole
//! huge page: in a profile of the gateway with audit on
//! (`hostile_load --speed`, 64 requests in flight, then `perf`), 6–10 % of
//! its CPU was `clear_page_erms` under `do_huge_pmd_anonymous_page`. With
//! huge pages off a fault zeroes 4 KiB, the profile has no such entry, and
//! the gateway's resident memory under that load fell from ~43 MB to
//! ~27 MB (`docs/performance.md`, thirteenth round).
//!
//! Nothing in the libraries calls it: an embedder picks its own allocator
//! and memory settings. The `tollgate` binary calls it before it serves.

/// Turns transparent huge pages off for this process and the processes it
/// starts (`prctl(PR_SET_THP_DISABLE)`, which takes precedence over an
/// allocator's `madvise(MADV_HUGEPAGE)` and over the system's `always`
/// setting). Pages already faulted in stay as they are, so a binary calls
/// it before it serves. Elsewhere than Linux it does nothing.
///
/// # Errors
/// When the kernel refuses the call (it has been there since Linux 3.15).
///
/// # Example
/// ```
/// tollgate_proxy::no_transparent_huge_pages()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn no_transparent_huge_pages() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::thread::disable_transparent_huge_pages(true)?;
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn huge_pages_are_off_afterwards() {
        super::no_transparent_huge_pages().unwrap();
        assert!(rustix::thread::transparent_huge_pages_are_disabled().unwrap());
    }
}
