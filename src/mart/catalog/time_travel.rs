//! Time travel: the mart as it was after an ETL batch. ETL tables are found by the batch number
//! their Delta commits carry; tables written by later stages as they were when the next batch
//! started; a version `maintain` vacuumed is refused with the batches that remain.

use std::path::Path;

use arrow::array::AsArray;
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use deltalake::{DeltaTable, DeltaTableBuilder, ensure_table_uri};

use super::super::delta::{ETL_APP_ID, Mart};
use super::super::maintain;
use super::super::schema::MartTable;
use crate::error::{Error, Result};

/// The mart version shown: batch `as_of` (which must exist) or the latest.
pub(super) fn mart_version(
    batches: &[(i64, i64)],
    as_of: Option<i64>,
    root: &Path,
) -> Result<Option<i64>> {
    let Some(n) = as_of else {
        return Ok(batches.last().map(|b| b.0));
    };
    if !batches.iter().any(|b| b.0 == n) {
        let known = match (batches.first(), batches.last()) {
            (Some(a), Some(b)) => format!("batches {} to {}", a.0, b.0),
            _ => "no batches yet".to_string(),
        };
        return Err(Error::params(
            "as_of_version",
            format!(
                "{n}: the mart at {} has {known} (see SELECT seq, batch_id, finished_at FROM _etl_runs)",
                root.display()
            ),
        ));
    }
    Ok(Some(n))
}

/// Table `name` as of batch `n`, or the error saying that `maintain` vacuumed that version.
pub(super) async fn table_as_of(
    mart: &Mart,
    name: &str,
    batches: &[(i64, i64)],
    n: i64,
    cut: Option<i64>,
) -> Result<Option<DeltaTable>> {
    let dir = mart.table_dir(name);
    match table_at_batch(&dir, n, cut).await {
        Ok(Some(t)) if !maintain::files_present(&dir, &t)? => {
            Err(vacuumed(mart, name, batches, n).await?)
        }
        Ok(t) => Ok(t),
        Err(e) if maintain::last_vacuum(mart, name).await?.is_some() => {
            tracing::debug!(table = name, error = %e, "version not loadable");
            Err(vacuumed(mart, name, batches, n).await?)
        }
        Err(e) => Err(e),
    }
}

/// The error for a batch whose files of table `name` `maintain` vacuumed, naming the batches
/// that remain.
async fn vacuumed(mart: &Mart, name: &str, batches: &[(i64, i64)], n: i64) -> Result<Error> {
    let last = maintain::last_vacuum(mart, name).await?;
    let readable = maintain::readable_batches(batches, last);
    let remain = match (readable.first(), readable.last()) {
        (Some(a), Some(b)) if a == b => format!("only batch {a} remains readable"),
        (Some(a), Some(b)) if (b - a + 1) as usize == readable.len() => {
            format!("batches {a} to {b} remain readable")
        }
        _ => format!(
            "batches {} remain readable",
            readable
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let when = last.map_or(String::new(), |(at, days)| {
        let date = chrono::DateTime::from_timestamp_micros(at)
            .map(|d| d.date_naive().to_string())
            .unwrap_or_default();
        let key = if MartTable::from_name(name).is_some_and(MartTable::is_model_output) {
            "outputs_retain_days"
        } else {
            "retain_days"
        };
        format!(" on {date}, keeping {days} days of history ([maintain] {key})")
    });
    Ok(Error::params(
        "as_of_version",
        format!(
            "{n}: batch {n} was vacuumed: `crm-mart maintain` deleted the files of {name}'s version{when}; {remain}"
        ),
    ))
}

/// ETL batches recorded in `_etl_runs`: (seq, started_at in microseconds), by seq.
pub(super) async fn etl_batches(mart: &Mart) -> Result<Vec<(i64, i64)>> {
    let batches = mart
        .query(
            "_etl_runs",
            "SELECT seq, min(started_at) AS started_at FROM _etl_runs GROUP BY seq ORDER BY seq",
        )
        .await?;
    let mut out = Vec::new();
    for b in &batches {
        let seq = b.column(0).as_primitive::<Int64Type>();
        let started = b.column(1).as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            out.push((seq.value(i), started.value(i)));
        }
    }
    Ok(out)
}

pub(super) async fn load(dir: &Path, version: Option<i64>) -> Result<DeltaTable> {
    let url = ensure_table_uri(dir.to_string_lossy())?;
    let mut builder = DeltaTableBuilder::from_url(url)?;
    if let Some(v) = version {
        builder = builder.with_version(v as u64);
    }
    Ok(builder.load().await?)
}

/// The ETL batch number recorded by `table`'s latest commit that carries one.
async fn batch_of(table: &DeltaTable) -> Result<Option<i64>> {
    Ok(table
        .snapshot()?
        .transaction_version(table.log_store().as_ref(), ETL_APP_ID)
        .await?)
}

/// Table at `dir` as it was after ETL batch `n`: the last version whose batch number is at most
/// `n` (versions grow with batch numbers, so a binary search finds it). A table without ETL
/// commits is taken as of `cut` (microseconds; the next batch's start), or latest if none.
/// None when the table did not exist yet.
async fn table_at_batch(dir: &Path, n: i64, cut: Option<i64>) -> Result<Option<DeltaTable>> {
    let latest = load(dir, None).await?;
    match batch_of(&latest).await? {
        Some(b) if b <= n => Ok(Some(latest)),
        Some(_) => {
            let (mut lo, mut hi) = (0i64, latest.version().unwrap_or_default() as i64);
            let mut found = None;
            while lo <= hi {
                let mid = lo + (hi - lo) / 2;
                let t = load(dir, Some(mid)).await?;
                if batch_of(&t).await?.unwrap_or(0) <= n {
                    found = Some(t);
                    lo = mid + 1;
                } else {
                    hi = mid - 1;
                }
            }
            Ok(found)
        }
        None => {
            let Some(cut) = cut else {
                return Ok(Some(latest));
            };
            let Some(when) = chrono::DateTime::from_timestamp_micros(cut) else {
                return Ok(Some(latest));
            };
            let mut t = latest;
            if t.load_with_datetime(when).await.is_err() {
                return Ok(None);
            }
            // delta-rs falls back to the oldest version still in the log; that version is
            // the one at the cut only if it was committed before it.
            let version = t.version().unwrap_or_default();
            match commit_time_ms(dir, version) {
                Some(ms) if ms > cut / 1000 && version == 0 => Ok(None),
                Some(ms) if ms > cut / 1000 => Err(Error::Invariant(format!(
                    "{}: the oldest version in the log, {version}, is newer than the cut",
                    dir.display()
                ))),
                _ => Ok(Some(t)),
            }
        }
    }
}

/// When version `version` of the Delta table in `dir` was committed (ms since the epoch), as
/// delta-rs' time travel sees it: the modification time of its commit file, or of its checkpoint
/// when the log before the checkpoint was cleaned up.
fn commit_time_ms(dir: &Path, version: u64) -> Option<i64> {
    let log = dir.join("_delta_log");
    [
        format!("{version:020}.json"),
        format!("{version:020}.checkpoint.parquet"),
    ]
    .iter()
    .find_map(|f| {
        std::fs::metadata(log.join(f))
            .and_then(|m| m.modified())
            .ok()
    })
    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    .map(|d| d.as_millis() as i64)
}
