//! Handing written pages back to the OS: what the audit log and the
//! terminal-session recordings write is read later, if at all, so it need
//! not stay in the page cache (where it counts against the memory of the
//! gateway's cgroup, and where, on a virtual machine, each new page costs
//! the hypervisor a fault the first time; `docs/performance.md`,
//! fourteenth round).

use std::fs::File;

/// Which bytes of a file being appended to are advised next ([`release`]),
/// round by round: each range twice, one round apart — the first advice
/// starts its write-back, the second drops it once it is clean.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Rounds {
    /// The pages not yet advised twice start here…
    released: u64,
    /// …and the last round advised up to here.
    advised: u64,
}

impl Rounds {
    /// For a file that already holds `end` bytes (not advised).
    pub(crate) fn starting_at(end: u64) -> Self {
        Rounds {
            released: end,
            advised: end,
        }
    }

    /// The range `from..to` to advise in a round at which the file ends at
    /// `end`: everything written since the round before last, up to the
    /// last whole page. The page still being filled is left for a later
    /// round: advice starts its write-back, and write-back holds the page
    /// locked while it maps and submits it, so the next append to it (on a
    /// request's thread, with `batch`) would wait for the disk.
    pub(crate) fn next(&mut self, end: u64) -> (u64, u64) {
        let end = whole_pages(end).max(self.advised);
        let range = (self.released, end);
        self.released = self.advised;
        self.advised = end;
        range
    }
}

/// `end` rounded down to a whole number of pages.
fn whole_pages(end: u64) -> u64 {
    end - end % page_size()
}

/// The size of a page of the page cache.
fn page_size() -> u64 {
    #[cfg(target_os = "linux")]
    let page = u64::try_from(rustix::param::page_size()).unwrap_or(4096).max(1);
    #[cfg(not(target_os = "linux"))]
    let page = 4096;
    page
}

/// Advises the OS that the bytes `from..to` of `file` will not be read
/// soon: it starts writing back what is dirty and drops what is clean from
/// the page cache. Only advice: an error (a pipe, a file system that does
/// not take it) changes nothing that was written; it is returned so the
/// caller stops asking.
pub(crate) fn release(file: &File, from: u64, to: u64) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    if let Some(len) = std::num::NonZeroU64::new(to.saturating_sub(from)) {
        rustix::fs::fadvise(file, from, Some(len), rustix::fs::Advice::DontNeed)?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, from, to);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe takes no page-cache advice: the error comes back (and the
    /// housekeeper stops asking), a file's is taken.
    #[cfg(target_os = "linux")]
    #[test]
    fn page_cache_advice_is_refused_by_a_pipe_and_taken_by_a_file() {
        let (_reader, writer) = std::io::pipe().unwrap();
        let pipe = std::fs::File::from(std::os::fd::OwnedFd::from(writer));
        assert!(release(&pipe, 0, 4096).is_err());
        let file = tempfile::tempfile().unwrap();
        assert!(release(&file, 0, 4096).is_ok());
        assert!(release(&pipe, 7, 7).is_ok(), "an empty range asks nothing");
    }

    #[test]
    fn each_range_is_advised_in_two_rounds() {
        let page = page_size();
        let mut r = Rounds::starting_at(10);
        assert_eq!(r.next(3 * page), (10, 3 * page));
        assert_eq!(r.next(5 * page), (10, 5 * page));
        assert_eq!(r.next(5 * page), (3 * page, 5 * page));
        assert_eq!(r.next(5 * page), (5 * page, 5 * page));
    }

    /// The page still being filled is not advised (its write-back would
    /// hold the next append); once whole, it is, twice.
    #[test]
    fn the_page_being_filled_is_left_for_a_later_round() {
        let page = page_size();
        let mut r = Rounds::starting_at(0);
        assert_eq!(r.next(page / 2), (0, 0), "nothing whole yet");
        assert_eq!(r.next(2 * page + 7), (0, 2 * page));
        assert_eq!(r.next(2 * page + 9), (0, 2 * page));
        assert_eq!(r.next(3 * page), (2 * page, 3 * page));
        assert_eq!(r.next(3 * page + 1), (2 * page, 3 * page));
        assert_eq!(r.next(3 * page + 1), (3 * page, 3 * page), "all advised twice");
        // A file that starts mid-page: advice never goes back before it.
        let mut r = Rounds::starting_at(page + 5);
        assert_eq!(r.next(page + 9), (page + 5, page + 5));
    }
}
