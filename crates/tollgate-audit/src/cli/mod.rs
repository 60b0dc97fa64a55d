//! `tollgate sessions list | show | replay` (feature `cli`): reading the
//! audit trail and terminal recordings as a reviewer would. The binary
//! parses [`SessionsCommand`] with clap and calls [`SessionsCommand::run`].
//!
//! ```no_run
//! use clap::Parser;
//! use tollgate_audit::cli::SessionsCommand;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(subcommand)]
//!     sessions: SessionsCommand,
//! }
//! let cli = Cli::parse_from(["sessions", "list", "--audit", "audit/", "--since", "1h30m"]);
//! cli.sessions.run(&mut std::io::stdout().lock())?;
//! # Ok::<(), tollgate_audit::cli::Error>(())
//! ```

mod sessions;
pub mod terminal;

use std::path::PathBuf;

pub use sessions::{
    LIST_WINDOW, ListFilter, ListOutput, MAX_CAST_LINE_BYTES, ReplayOptions, list, list_as, replay, show,
};

use crate::ReadError;

/// Why a `sessions` command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A log or recording cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// An option's value is malformed.
    #[error("{flag} {value:?}: {message}")]
    Argument {
        /// The option, e.g. `--since`.
        flag: &'static str,
        /// What was given.
        value: String,
        /// What is accepted.
        message: &'static str,
    },
    /// The paths hold no audit log, or no record.
    #[error("{0}: {1}")]
    Empty(String, &'static str),
    /// No record has this audit ID.
    #[error("no record with audit ID {0}")]
    NotFound(String),
    /// A recording is not asciicast v2.
    #[error("{file}:{line}: {message}")]
    Recording {
        /// The file.
        file: String,
        /// The line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The output cannot be written.
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

/// `tollgate sessions`: the audit trail's requests, their records, and
/// terminal recordings.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum SessionsCommand {
    /// One line per request: when, who, owner, what, outcome.
    List {
        /// Audit log files or directories (rotated and .gz files too).
        #[arg(long, required = true)]
        audit: Vec<PathBuf>,
        /// Which requests.
        #[command(flatten)]
        filter: ListFilter,
        /// text (a table) or json (an array of rows), written as the trail is read.
        #[arg(short = 'o', long, value_enum, default_value_t = ListOutput::Text)]
        output: ListOutput,
    },
    /// Every record of one request, bodies included (redacted).
    Show {
        /// The audit ID.
        id: String,
        /// Audit log files or directories.
        #[arg(long, required = true)]
        audit: Vec<PathBuf>,
    },
    /// Plays a terminal recording (asciicast v2; asciinema plays it too).
    Replay {
        /// The .cast file.
        file: PathBuf,
        /// How it is played.
        #[command(flatten)]
        options: ReplayOptions,
    },
}

impl SessionsCommand {
    /// Runs the command, writing to `out` (notes on skipped lines go to
    /// standard error).
    ///
    /// # Errors
    /// An [`Error`] naming the file, option or ID that is wrong.
    pub fn run(&self, out: &mut impl std::io::Write) -> Result<(), Error> {
        match self {
            SessionsCommand::List { audit, filter, output } => list_as(audit, filter, *output, out),
            SessionsCommand::Show { id, audit } => show(audit, id, out),
            SessionsCommand::Replay { file, options } => replay(file, *options, out),
        }
    }
}
