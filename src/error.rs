//! The library's error type and its mapping to exit codes.
//!
//! Errors caused by the user's input (arguments, configuration, source files) exit with 1 and say
//! what was wrong and what would be accepted; everything else is an internal error and exits 2.

use std::path::{Path, PathBuf};

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in crm-mart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line value or combination that cannot work.
    #[error("{message}")]
    Usage {
        /// What was wrong and what would be accepted.
        message: String,
    },
    /// A parameter of a library call that cannot work. `field` is the parameter's name in its
    /// Params struct; the command line names it by its flag instead.
    #[error("{field} {why}")]
    Params {
        /// The parameter, e.g. `as_of`.
        field: &'static str,
        /// Its value and what would be accepted, e.g. `2031-01-01 is after the last order day`.
        why: String,
    },
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// `crm-mart.toml` (or another configuration file) is invalid.
    #[error("{}: {message}", file.display())]
    Config {
        /// The configuration file.
        file: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A source file cannot be loaded at all (as opposed to row-level problems, which are
    /// quarantined).
    #[error("{}: {message}", file.display())]
    Source {
        /// The source file.
        file: PathBuf,
        /// What is wrong, naming the column and the columns found, and the fix.
        message: String,
    },
    /// Another process holds the mart's lock.
    #[error(
        "{} is locked by another crm-mart run (pid {holder}); wait for it to finish, or remove the lock file if no such process exists",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Process id recorded in the lock file (may be stale).
        holder: String,
    },
    /// Another `nightly` run holds the job's lock.
    #[error(
        "another crm-mart nightly run is in progress (pid {holder}, lock {}); this run did nothing — try again when it has finished",
        path.display()
    )]
    Running {
        /// The lock file.
        path: PathBuf,
        /// Process id recorded in the lock file.
        holder: String,
    },
    /// An SQL statement that cannot be planned or run as written (syntax, unknown table or
    /// column, wrong parameter): the user's query, not our bug.
    #[error("{message}")]
    Query {
        /// DataFusion's message, with what exists where that helps.
        message: String,
    },
    /// A batch whose share of quarantined rows is above `[quality] max_quarantine_share`: not
    /// committed.
    #[error("{message}")]
    QualityGate {
        /// Per entity: the share, the counts per reason, sample rows, and the fix.
        message: String,
    },
    /// A consistency check of our own failed: a bug, not bad input.
    #[error("internal consistency check failed: {0}")]
    Invariant(String),
    /// Delta Lake storage error.
    #[error("Delta Lake: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    /// DataFusion error.
    #[error("DataFusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow error.
    #[error("Arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Polars error.
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// Parquet error.
    #[error("Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// A library parameter named in a message: `‹as_of›`. The command line shows its flag there
/// instead (`--as-of`).
pub fn param(field: &str) -> String {
    format!("‹{field}›")
}

impl Error {
    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
        }
    }

    /// A parameter that cannot work.
    pub fn params(field: &'static str, why: impl Into<String>) -> Self {
        Error::Params {
            field,
            why: why.into(),
        }
    }

    /// An error in the user's query.
    pub fn query(message: impl Into<String>) -> Self {
        Error::Query {
            message: message.into(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A source file that cannot be loaded.
    pub fn source(file: &Path, message: impl Into<String>) -> Self {
        Error::Source {
            file: file.to_path_buf(),
            message: message.into(),
        }
    }

    /// A configuration error.
    pub fn config(file: &Path, message: impl Into<String>) -> Self {
        Error::Config {
            file: file.to_path_buf(),
            message: message.into(),
        }
    }

    /// Process exit code: 1 for bad input or usage, 2 for internal errors, 3 when another
    /// `nightly` run is in progress.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Running { .. } => 3,
            Error::Usage { .. }
            | Error::Params { .. }
            | Error::Io { .. }
            | Error::Config { .. }
            | Error::Source { .. }
            | Error::Locked { .. }
            | Error::QualityGate { .. }
            | Error::Query { .. } => 1,
            // A query that needs more memory than the limit: the machine's state, not a bug.
            Error::DataFusion(e) if e.to_string().contains("Resources exhausted") => 1,
            _ => 2,
        }
    }
}
