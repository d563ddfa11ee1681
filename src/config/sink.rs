//! Where recommendations are written back to the CRM (`[crm] sinks`, `--sink`); the writing is
//! in `crm`.

use std::path::PathBuf;

/// Where recommendations go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// A SQLite database file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
    /// A CSV import file with a header row.
    Csv(PathBuf),
    /// A JSON-lines import file.
    Jsonl(PathBuf),
}

impl std::str::FromStr for Sink {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let path = |rest: &str| {
            if rest.is_empty() {
                Err(format!("{s:?}: the sink needs a path after the colon"))
            } else {
                Ok(PathBuf::from(rest))
            }
        };
        if let Some(rest) = s.strip_prefix("sqlite:") {
            return Ok(Sink::Sqlite(path(rest)?));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Sink::Postgres(s.to_string()));
        }
        if let Some(rest) = s.strip_prefix("csv:") {
            return Ok(Sink::Csv(path(rest)?));
        }
        if let Some(rest) = s.strip_prefix("jsonl:") {
            return Ok(Sink::Jsonl(path(rest)?));
        }
        Err(format!(
            "{s:?} is not a sink; use sqlite:PATH, postgres://USER@HOST/DB, csv:PATH or jsonl:PATH"
        ))
    }
}

impl std::fmt::Display for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            // Never print credentials.
            Sink::Postgres(u) => write!(
                f,
                "postgres://{}",
                u.rsplit_once('@').map_or("…", |(_, host)| host)
            ),
            Sink::Csv(p) => write!(f, "csv:{}", p.display()),
            Sink::Jsonl(p) => write!(f, "jsonl:{}", p.display()),
        }
    }
}
