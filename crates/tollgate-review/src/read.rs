//! The streaming pass over audit logs: records are read one at a time and
//! dropped once counted.

use std::path::Path;
use std::time::Duration;

use tollgate_audit::{Event, parse_time, read_log};

use crate::{Error, Review};

/// Which records count.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Filter {
    /// Only requests received at or after this time (since the epoch).
    pub from: Option<Duration>,
    /// Only requests received before this time.
    pub to: Option<Duration>,
    /// Only this owner's requests.
    pub owner: Option<String>,
}

impl Filter {
    /// Sets the period.
    ///
    /// ```
    /// use std::time::Duration;
    /// let f = tollgate_review::Filter::default().period(Some(Duration::from_secs(10)), None);
    /// assert_eq!(f.from, Some(Duration::from_secs(10)));
    /// ```
    pub fn period(mut self, from: Option<Duration>, to: Option<Duration>) -> Self {
        self.from = from;
        self.to = to;
        self
    }

    /// Keeps one owner's requests only.
    ///
    /// ```
    /// let f = tollgate_review::Filter::default().owner("payments");
    /// assert_eq!(f.owner.as_deref(), Some("payments"));
    /// ```
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Whether `e` counts. A record whose time cannot be read counts
    /// (it is not silently dropped from a review).
    pub fn keeps(&self, e: &Event) -> bool {
        let t = parse_time(&e.request_received_timestamp);
        if self.from.is_some_and(|c| t.is_some_and(|t| t < c)) || self.to.is_some_and(|c| t.is_some_and(|t| t >= c)) {
            return false;
        }
        self.owner
            .as_deref()
            .is_none_or(|o| e.tollgate("owner").unwrap_or("unmapped") == o)
    }
}

impl Review {
    /// Adds every record of one log file (`.gz` files decompressed) that
    /// `filter` keeps; returns how many lines were not audit records (a
    /// torn last write after a crash is one).
    ///
    /// # Errors
    /// When the file cannot be opened or read.
    pub fn add_log(&mut self, path: &Path, filter: &Filter) -> Result<u64, Error> {
        self.add_log_counted(path, filter, &mut tollgate_audit::Progress::to_terminal(1, false))
    }

    /// [`Review::add_log`], counting each record read in `progress`.
    ///
    /// # Errors
    /// When the file cannot be opened or read.
    pub fn add_log_counted(
        &mut self,
        path: &Path,
        filter: &Filter,
        progress: &mut tollgate_audit::Progress,
    ) -> Result<u64, Error> {
        let mut skipped = 0;
        for rec in read_log(path)?.metadata_only() {
            if rec.is_ok() {
                progress.record();
            }
            match rec {
                Ok(e) if filter.keeps(&e) => self.add(&e),
                Ok(_) => {}
                Err(tollgate_audit::ReadError::Line { .. }) => skipped += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(skipped)
    }
}
