//! Write-back to the CRM: recommendations into a SQLite file, a PostgreSQL database, or import
//! files (CSV with a header row, JSON lines).

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use crate::error::{Error, Result};

pub use crate::config::Sink;

mod forget;
pub use forget::forget;

/// The columns of the CRM's recommendations table: name, type (`text`, `int`, `real`), and
/// whether a value is required.
const TABLE: &[(&str, &str, bool)] = &[
    ("customer_id", "text", true),
    ("kind", "text", true),
    ("rank", "int", true),
    ("product_id", "text", false),
    ("product_name", "text", false),
    ("score", "real", false),
    ("expected_value", "real", false),
    ("value_basis", "text", false),
    ("reason", "text", true),
    ("action", "text", true),
    ("churn_probability", "real", false),
    ("clv_12m", "real", false),
    ("segment", "text", false),
    ("generated_at", "text", true),
    ("run_id", "text", true),
];

/// The tables of recommendations and of runs in a database's types for integers and reals.
fn schema_sql(int: &str, real: &str) -> String {
    let ty = |t: &str| match t {
        "int" => int,
        "real" => real,
        _ => "TEXT",
    };
    let columns: String = TABLE
        .iter()
        .map(|(name, t, required)| {
            format!(
                "    {name} {}{},\n",
                ty(t),
                if *required { " NOT NULL" } else { "" }
            )
        })
        .collect();
    format!(
        "\nCREATE TABLE IF NOT EXISTS recommendations (\n{columns}    PRIMARY KEY (customer_id, kind, rank)\n);\n\
         CREATE TABLE IF NOT EXISTS recommendation_runs (\n    run_id TEXT PRIMARY KEY,\n    generated_at TEXT NOT NULL,\n    customers {int} NOT NULL,\n    rows {int} NOT NULL\n);\n"
    )
}

/// The columns written, in order.
const COLUMNS: &str = "customer_id, kind, rank, product_id, product_name, score, expected_value, value_basis, reason, action, churn_probability, clv_12m, segment, generated_at, run_id";

/// A `recommendations` table of an earlier layout (without `kind`) is renamed to this, and a new
/// one created, so that nothing the CRM holds is lost.
const PREVIOUS_LAYOUT: &str = "recommendations_before_kind";

/// Writes the `recommendations` rows of one run to `sink`; returns the rows written. In a
/// database, one transaction replaces every previous row of each customer in the batch and records
/// the run; on any error nothing of the run is kept.
pub fn write(sink: &Sink, batch: &RecordBatch, run_id: &str, generated_at: &str) -> Result<usize> {
    match sink {
        Sink::Sqlite(path) => write_sqlite(path, batch, run_id, generated_at),
        Sink::Postgres(url) => write_postgres(url, sink, batch, run_id, generated_at),
        Sink::Csv(_) | Sink::Jsonl(_) => Err(Error::Invariant(
            "file sinks are written by the command's output writer".into(),
        )),
    }
}

/// One `recommendations` row, as the databases take it.
struct Row {
    customer_id: Option<String>,
    kind: Option<String>,
    rank: i64,
    product_id: Option<String>,
    product_name: Option<String>,
    score: Option<f64>,
    expected_value: Option<f64>,
    value_basis: Option<String>,
    reason: Option<String>,
    action: Option<String>,
    churn_probability: Option<f64>,
    clv_12m: Option<f64>,
    segment: Option<String>,
    generated_at: Option<String>,
    run_id: Option<String>,
}

fn rows(batch: &RecordBatch) -> Result<Vec<Row>> {
    let col = |name: &str| batch.column_by_name(name).expect("recommendations column");
    let text = |name: &str| arrow::compute::cast(col(name), &DataType::Utf8);
    let (kind, basis) = (text("kind")?, text("value_basis")?);
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
    Ok((0..batch.num_rows())
        .map(|i| Row {
            customer_id: s(&cid, i),
            kind: s(&kind, i),
            rank: rank.value(i),
            product_id: s(&pid, i),
            product_name: s(&pname, i),
            score: f("score", i),
            expected_value: f("expected_value", i),
            value_basis: s(&basis, i),
            reason: s(&reason, i),
            action: s(&action, i),
            churn_probability: f("churn_probability", i),
            clv_12m: f("clv_12m", i),
            segment: s(&seg, i),
            generated_at: s(&gen_at, i),
            run_id: s(&rid, i),
        })
        .collect())
}

/// The distinct customers of a run's rows.
fn customers(rows: &[Row]) -> Vec<String> {
    let mut c: Vec<String> = rows.iter().filter_map(|r| r.customer_id.clone()).collect();
    c.sort();
    c.dedup();
    c
}

/// A `recommendations` table of the layout before `kind` existed is renamed aside, not mixed
/// with rows of the current layout.
fn keep_sqlite_previous_layout(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    let count = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0));
    let exists = count(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'recommendations'",
    )? > 0;
    if exists
        && count("SELECT count(*) FROM pragma_table_info('recommendations') WHERE name = 'kind'")?
            == 0
    {
        tx.execute_batch(&format!(
            "ALTER TABLE recommendations RENAME TO {PREVIOUS_LAYOUT};"
        ))?;
    }
    Ok(())
}

fn write_sqlite(
    path: &Path,
    batch: &RecordBatch,
    run_id: &str,
    generated_at: &str,
) -> Result<usize> {
    let err = |e: rusqlite::Error| {
        Error::usage(format!(
            "{}: SQLite: {e}; nothing of this run was kept",
            path.display()
        ))
    };
    let rows = rows(batch)?;
    let customers = customers(&rows);
    let mut conn = rusqlite::Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(err)?;
    let tx = conn.transaction().map_err(err)?;
    {
        keep_sqlite_previous_layout(&tx).map_err(err)?;
        tx.execute_batch(&schema_sql("INTEGER", "REAL"))
            .map_err(err)?;
        let mut del = tx
            .prepare("DELETE FROM recommendations WHERE customer_id = ?1")
            .map_err(err)?;
        for c in &customers {
            del.execute([c]).map_err(err)?;
        }
        let mut ins = tx
            .prepare(&format!(
                "INSERT INTO recommendations ({COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
            ))
            .map_err(err)?;
        for r in &rows {
            ins.execute(rusqlite::params![
                r.customer_id,
                r.kind,
                r.rank,
                r.product_id,
                r.product_name,
                r.score,
                r.expected_value,
                r.value_basis,
                r.reason,
                r.action,
                r.churn_probability,
                r.clv_12m,
                r.segment,
                r.generated_at,
                r.run_id,
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

/// Connection settings from the URL; a password missing from the URL comes from `PGPASSWORD`.
fn postgres_config(url: &str, sink: &Sink) -> Result<postgres::Config> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e| Error::usage(format!("{sink}: not a PostgreSQL URL: {e}")))?;
    if config.get_password().is_none()
        && let Ok(p) = std::env::var("PGPASSWORD")
    {
        config.password(p);
    }
    if config.get_user().is_none()
        && let Ok(u) = std::env::var("PGUSER")
    {
        config.user(&u);
    }
    config.connect_timeout(std::time::Duration::from_secs(10));
    Ok(config)
}

/// As [`keep_sqlite_previous_layout`], in PostgreSQL (the primary key's name moves too).
fn keep_postgres_previous_layout(
    tx: &mut postgres::Transaction,
) -> std::result::Result<(), postgres::Error> {
    let old_layout = tx.query_one(
        "SELECT count(*) FILTER (WHERE column_name = 'kind'), count(*) \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'recommendations'",
        &[],
    )?;
    if old_layout.get::<_, i64>(0) == 0 && old_layout.get::<_, i64>(1) > 0 {
        tx.batch_execute(&format!(
            "ALTER TABLE recommendations RENAME TO {PREVIOUS_LAYOUT}; \
             ALTER TABLE {PREVIOUS_LAYOUT} RENAME CONSTRAINT recommendations_pkey TO {PREVIOUS_LAYOUT}_pkey;"
        ))?;
    }
    Ok(())
}

fn write_postgres(
    url: &str,
    sink: &Sink,
    batch: &RecordBatch,
    run_id: &str,
    generated_at: &str,
) -> Result<usize> {
    let err = |e: postgres::Error| {
        let what = match e.as_db_error() {
            Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
            None => e.to_string(),
        };
        Error::usage(format!(
            "{sink}: PostgreSQL: {what}; nothing of this run was kept"
        ))
    };
    let rows = rows(batch)?;
    let customers = customers(&rows);
    let mut client = postgres_config(url, sink)?
        .connect(postgres::NoTls)
        .map_err(err)?;
    let mut tx = client.transaction().map_err(err)?;
    keep_postgres_previous_layout(&mut tx).map_err(err)?;
    tx.batch_execute(&schema_sql("BIGINT", "DOUBLE PRECISION"))
        .map_err(err)?;
    tx.execute(
        "DELETE FROM recommendations WHERE customer_id = ANY($1)",
        &[&customers],
    )
    .map_err(err)?;
    let ins = tx
        .prepare(&format!(
            "INSERT INTO recommendations ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .map_err(err)?;
    for r in &rows {
        tx.execute(
            &ins,
            &[
                &r.customer_id,
                &r.kind,
                &r.rank,
                &r.product_id,
                &r.product_name,
                &r.score,
                &r.expected_value,
                &r.value_basis,
                &r.reason,
                &r.action,
                &r.churn_probability,
                &r.clv_12m,
                &r.segment,
                &r.generated_at,
                &r.run_id,
            ],
        )
        .map_err(err)?;
    }
    tx.execute(
        "INSERT INTO recommendation_runs (run_id, generated_at, customers, rows) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (run_id) DO UPDATE SET generated_at = EXCLUDED.generated_at, customers = EXCLUDED.customers, rows = EXCLUDED.rows",
        &[&run_id, &generated_at, &(customers.len() as i64), &(rows.len() as i64)],
    )
    .map_err(err)?;
    tx.commit().map_err(err)?;
    Ok(rows.len())
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
