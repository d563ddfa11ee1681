//! Write-back to the CRM: recommendations into a SQLite file, a PostgreSQL database (not in this
//! build), or import files (CSV with a header row, JSON lines).

use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use crate::error::{Error, Result};

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

/// The SQLite table of recommendations and the table of runs.
const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS recommendations (
    customer_id TEXT NOT NULL,
    rank INTEGER NOT NULL,
    product_id TEXT,
    product_name TEXT,
    score REAL,
    reason TEXT NOT NULL,
    action TEXT NOT NULL,
    churn_probability REAL,
    clv_12m REAL,
    segment TEXT,
    generated_at TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (customer_id, rank)
);
CREATE TABLE IF NOT EXISTS recommendation_runs (
    run_id TEXT PRIMARY KEY,
    generated_at TEXT NOT NULL,
    customers INTEGER NOT NULL,
    rows INTEGER NOT NULL
);
";

/// Writes the `recommendations` rows of one run to `sink`; returns the rows written. In a
/// database, one transaction replaces every previous row of each customer in the batch and records
/// the run; on any error nothing of the run is kept.
pub fn write(sink: &Sink, batch: &RecordBatch, run_id: &str, generated_at: &str) -> Result<usize> {
    match sink {
        Sink::Sqlite(path) => write_sqlite(path, batch, run_id, generated_at),
        Sink::Postgres(_) => Err(Error::usage(format!(
            "{sink}: this build has no PostgreSQL sink yet; use sqlite:PATH, csv:PATH or jsonl:PATH"
        ))),
        Sink::Csv(_) | Sink::Jsonl(_) => Err(Error::Invariant(
            "file sinks are written by the command's output writer".into(),
        )),
    }
}

fn write_sqlite(
    path: &Path,
    batch: &RecordBatch,
    run_id: &str,
    generated_at: &str,
) -> Result<usize> {
    let err = |e: rusqlite::Error| Error::usage(format!("{}: SQLite: {e}", path.display()));
    let mut conn = rusqlite::Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(err)?;
    conn.execute_batch(SQLITE_SCHEMA).map_err(err)?;
    let tx = conn.transaction().map_err(err)?;
    let col = |name: &str| batch.column_by_name(name).expect("recommendations column");
    let text = |name: &str| arrow::compute::cast(col(name), &DataType::Utf8);
    let (cid, pid, pname, reason, action, seg, gen_at, rid) = (
        text("customer_id")?,
        text("product_id")?,
        text("product_name")?,
        text("reason")?,
        text("action")?,
        text("segment")?,
        text("generated_at")?,
        text("run_id")?,
    );
    let s = |a: &std::sync::Arc<dyn Array>, i: usize| -> Option<String> {
        let a = a.as_string::<i32>();
        (!a.is_null(i)).then(|| a.value(i).to_string())
    };
    let rank = col("rank").as_primitive::<Int64Type>();
    let f = |name: &str, i: usize| -> Option<f64> {
        let a = col(name).as_primitive::<Float64Type>();
        (!a.is_null(i)).then(|| a.value(i))
    };
    let mut customers: Vec<String> = (0..batch.num_rows()).filter_map(|i| s(&cid, i)).collect();
    customers.sort();
    customers.dedup();
    {
        let mut del = tx
            .prepare("DELETE FROM recommendations WHERE customer_id = ?1")
            .map_err(err)?;
        for c in &customers {
            del.execute([c]).map_err(err)?;
        }
        let mut ins = tx
            .prepare(
                "INSERT INTO recommendations (customer_id, rank, product_id, product_name, score, reason, action, churn_probability, clv_12m, segment, generated_at, run_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .map_err(err)?;
        for i in 0..batch.num_rows() {
            ins.execute(rusqlite::params![
                s(&cid, i),
                rank.value(i),
                s(&pid, i),
                s(&pname, i),
                f("score", i),
                s(&reason, i),
                s(&action, i),
                f("churn_probability", i),
                f("clv_12m", i),
                s(&seg, i),
                s(&gen_at, i),
                s(&rid, i),
            ])
            .map_err(err)?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO recommendation_runs (run_id, generated_at, customers, rows) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![run_id, generated_at, customers.len() as i64, batch.num_rows() as i64],
        )
        .map_err(err)?;
    }
    tx.commit().map_err(err)?;
    Ok(batch.num_rows())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_show() {
        assert_eq!(
            "sqlite:crm.db".parse::<Sink>(),
            Ok(Sink::Sqlite("crm.db".into()))
        );
        assert_eq!(
            "csv:out/r.csv".parse::<Sink>(),
            Ok(Sink::Csv("out/r.csv".into()))
        );
        assert!("sqlite:".parse::<Sink>().is_err());
        assert!(
            "ftp://x"
                .parse::<Sink>()
                .unwrap_err()
                .contains("is not a sink")
        );
        let pg: Sink = "postgres://crm:secret@db.example:5432/crm".parse().unwrap();
        assert_eq!(pg.to_string(), "postgres://db.example:5432/crm");
    }
}
