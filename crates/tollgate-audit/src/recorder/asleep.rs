//! How long a write kept its thread asleep in the kernel: neither running
//! nor waiting for a CPU.
//!
//! A write's wall time also counts the time its thread waited for a CPU
//! after being preempted. On a busy machine (two cores shared by the
//! gateway, its clients and its upstream) that alone passes 2 ms now and
//! then, and it is not the disk's doing: a write that was only preempted
//! must not send every record away from the requests' threads for seconds
//! (`docs/performance.md`, eighteenth round). Linux keeps, per thread, the
//! time spent on a CPU and the time spent waiting for one
//! (`/proc/thread-self/schedstat`); the rest of a write's wall time the
//! thread slept: on a page under write-back, the journal, memory reclaim.
//!
//! Where that file cannot be read, a write is taken to have slept all its
//! wall time, which is the rule without this refinement.

use std::time::Duration;

/// A thread's time on a CPU and time runnable but waiting for one, as
/// the kernel keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ThreadTimes {
    running_ns: u64,
    waiting_ns: u64,
}

impl ThreadTimes {
    /// The calling thread's times, when the kernel gives them.
    pub(crate) fn now() -> Option<ThreadTimes> {
        read_own()
    }

    /// Of `took`, the wall time of something the calling thread did since
    /// `before` was taken on it, how long the thread slept: neither ran
    /// nor waited for a CPU. All of `took` when either reading is missing.
    pub(crate) fn asleep_since(before: Option<ThreadTimes>, took: Duration) -> Duration {
        let (Some(before), Some(after)) = (before, read_own()) else {
            return took;
        };
        let busy_ns = after
            .running_ns
            .saturating_sub(before.running_ns)
            .saturating_add(after.waiting_ns.saturating_sub(before.waiting_ns));
        took.saturating_sub(Duration::from_nanos(busy_ns))
    }

    /// Parses `/proc/<pid>/task/<tid>/schedstat`: the nanoseconds on a
    /// CPU, the nanoseconds waiting on a run queue, and the count of time
    /// slices, separated by spaces. `None` for anything else.
    fn parse(text: &[u8]) -> Option<ThreadTimes> {
        let text = std::str::from_utf8(text).ok()?;
        let mut fields = text.split_ascii_whitespace();
        let running_ns = fields.next()?.parse().ok()?;
        let waiting_ns = fields.next()?.parse().ok()?;
        let _slices: u64 = fields.next()?.parse().ok()?;
        fields
            .next()
            .is_none()
            .then_some(ThreadTimes { running_ns, waiting_ns })
    }
}

/// Reads the calling thread's own `schedstat` through a file each thread
/// opens once (a read is one system call, about half a microsecond; it is
/// taken only around a write on a request's thread).
#[cfg(target_os = "linux")]
fn read_own() -> Option<ThreadTimes> {
    use std::os::unix::fs::FileExt;

    thread_local! {
        static SCHEDSTAT: Option<std::fs::File> =
            std::fs::File::open("/proc/thread-self/schedstat").ok();
    }
    SCHEDSTAT.with(|file| {
        let file = file.as_ref()?;
        // Three numbers of at most 20 digits, two spaces, a newline.
        let mut buf = [0u8; 80];
        let n = file.read_at(&mut buf, 0).ok()?;
        ThreadTimes::parse(buf.get(..n)?)
    })
}

#[cfg(not(target_os = "linux"))]
fn read_own() -> Option<ThreadTimes> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_kernel_writes_and_nothing_else() {
        assert_eq!(
            ThreadTimes::parse(b"120798279 194560 17\n"),
            Some(ThreadTimes {
                running_ns: 120_798_279,
                waiting_ns: 194_560
            })
        );
        for bad in [
            &b""[..],
            b"1 2",
            b"1 2 3 4",
            b"1 -2 3",
            b"1 2 x",
            b"18446744073709551616 0 0",
            b"\xff 1 2",
        ] {
            assert_eq!(ThreadTimes::parse(bad), None, "{bad:?}");
        }
    }

    /// A thread that sleeps is counted asleep; one that spins is not.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_sleep_counts_and_a_spin_does_not() {
        let before = ThreadTimes::now();
        assert!(before.is_some(), "this kernel gives a thread's times");
        let started = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(60));
        let asleep = ThreadTimes::asleep_since(before, started.elapsed());
        assert!(asleep >= Duration::from_millis(50), "{asleep:?}");

        let before = ThreadTimes::now();
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(60) {
            std::hint::spin_loop();
        }
        let asleep = ThreadTimes::asleep_since(before, started.elapsed());
        assert!(asleep < Duration::from_millis(20), "{asleep:?}");
    }

    #[test]
    fn without_a_reading_all_of_the_time_is_asleep() {
        let took = Duration::from_millis(7);
        assert_eq!(ThreadTimes::asleep_since(None, took), took);
    }

    proptest::proptest! {
        /// Any bytes: no panic; the kernel's three numbers: read back.
        #[test]
        fn never_panics_and_reads_three_numbers(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            running in proptest::prelude::any::<u64>(),
            waiting in proptest::prelude::any::<u64>(),
            slices in proptest::prelude::any::<u64>(),
        ) {
            let _ = ThreadTimes::parse(&bytes);
            let text = format!("{running} {waiting} {slices}\n");
            proptest::prop_assert_eq!(
                ThreadTimes::parse(text.as_bytes()),
                Some(ThreadTimes { running_ns: running, waiting_ns: waiting })
            );
        }
    }
}
