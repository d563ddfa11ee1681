//! Erasure: a customer who asks to be forgotten (docs/design.md, "Erasure").
//!
//! [`forget`] removes the person's personal data — name, e-mail, phone, city and birth year —
//! from `dim_customer` (every version of it), the raw text of `_quarantine` rows that hold them,
//! and the model outputs about the person; deletes every superseded file of those tables so the
//! values are gone from disk; drops the file statistics in their Delta logs that could quote a
//! value; and records a hash of the id in `_erasures`, which the ETL applies to every later load.
//! Facts keep their surrogate keys and amounts: totals do not change.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::DataType;
use deltalake::operations::vacuum::VacuumMode;
use sha2::{Digest, Sha256};

use super::delta::Mart;
use super::schema::MartTable;
use crate::error::{Error, Result};

/// The personal columns of `dim_customer`.
pub const PII_COLUMNS: [&str; 5] = ["name", "email", "phone", "city", "birth_year"];

/// What replaces the raw text of a quarantined row that held an erased person's data.
pub const ERASED_RAW: &str = "(erased: the customer asked to be forgotten)";

/// The model outputs that hold rows about a customer.
const OUTPUTS: [MartTable; 4] = [
    MartTable::CustomerSegments,
    MartTable::ChurnScores,
    MartTable::CustomerValue,
    MartTable::Recommendations,
];

/// The hash an erasure is recorded by (SHA-256 of the id, hex).
pub fn id_hash(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The hashes of every erased id (empty for a mart without erasures).
pub async fn erased(mart: &Mart) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    for b in mart
        .query("_erasures", "SELECT id_hash FROM _erasures")
        .await?
    {
        let c = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        out.extend(c.as_string::<i32>().iter().flatten().map(str::to_string));
    }
    Ok(out)
}

/// Whether raw text `raw` holds an erased id as one of its fields.
pub fn holds_erased_id(raw: &str, erased: &HashSet<String>) -> bool {
    !erased.is_empty()
        && raw
            .split([',', ';', '\t', '|'])
            .map(|f| f.trim().trim_matches('"').trim())
            .filter(|f| !f.is_empty())
            .any(|f| erased.contains(&id_hash(f)))
}

/// What an erasure did.
#[derive(Debug, Clone, Default)]
pub struct ErasureReport {
    /// Ids asked for.
    pub requested: usize,
    /// Of them, customers the mart knows.
    pub found: usize,
    /// `dim_customer` rows (versions) whose personal data was removed.
    pub customer_rows: usize,
    /// `_quarantine` rows whose raw text was replaced.
    pub quarantine_rows: usize,
    /// Rows removed from each model output.
    pub output_rows: Vec<(MartTable, usize)>,
    /// Files deleted from disk (superseded versions, old checkpoints).
    pub files_deleted: usize,
    /// Delta log files whose statistics were dropped.
    pub log_files_rewritten: usize,
}

/// The values that identify the people in `ids` in raw text: their ids, and their names,
/// e-mails and phones as `dim_customer` holds them.
fn needles(dim: &[RecordBatch], ids: &HashSet<&str>) -> Vec<String> {
    let mut out: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    for b in dim {
        let id = b
            .column_by_name("customer_id")
            .map(|c| c.as_string::<i32>());
        let Some(id) = id else { continue };
        for col in ["name", "email", "phone"] {
            let Some(c) = b.column_by_name(col) else {
                continue;
            };
            let c = c.as_string::<i32>();
            for i in 0..b.num_rows() {
                if ids.contains(id.value(i)) && !c.is_null(i) && c.value(i).len() >= 4 {
                    out.push(c.value(i).to_string());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `batch` with the personal columns NULL on the rows of `ids`; and how many rows that was.
fn without_pii(batch: &RecordBatch, ids: &HashSet<&str>) -> Result<(RecordBatch, usize)> {
    let id = batch
        .column_by_name("customer_id")
        .ok_or_else(|| Error::Invariant("dim_customer has no customer_id".into()))?
        .as_string::<i32>();
    let hit: Vec<bool> = (0..batch.num_rows())
        .map(|i| ids.contains(id.value(i)))
        .collect();
    let n = hit.iter().filter(|h| **h).count();
    if n == 0 {
        return Ok((batch.clone(), 0));
    }
    let erase = BooleanArray::from(hit);
    let schema = batch.schema();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            if PII_COLUMNS.contains(&f.name().as_str()) {
                arrow::compute::nullif(c, &erase)
            } else {
                Ok(c.clone())
            }
        })
        .collect::<std::result::Result<_, _>>()?;
    Ok((RecordBatch::try_new(schema, columns)?, n))
}

/// `batch` of `_quarantine` with the raw text and value of rows holding a needle replaced.
fn scrub_quarantine(batch: &RecordBatch, needles: &[String]) -> Result<(RecordBatch, usize)> {
    let raw = batch
        .column_by_name("raw")
        .ok_or_else(|| Error::Invariant("_quarantine has no raw".into()))?
        .as_string::<i32>();
    let ids: HashSet<String> = needles.iter().map(|n| id_hash(n)).collect();
    let hit: Vec<bool> = (0..batch.num_rows())
        .map(|i| {
            let r = raw.value(i);
            needles
                .iter()
                .any(|n| n.len() >= 4 && r.contains(n.as_str()))
                || holds_erased_id(r, &ids)
        })
        .collect();
    let n = hit.iter().filter(|h| **h).count();
    if n == 0 {
        return Ok((batch.clone(), 0));
    }
    let schema = batch.schema();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| match f.name().as_str() {
            "raw" => {
                let s = c.as_string::<i32>();
                Arc::new(
                    (0..s.len())
                        .map(|i| Some(if hit[i] { ERASED_RAW } else { s.value(i) }))
                        .collect::<StringArray>(),
                ) as ArrayRef
            }
            "value" => {
                let s = c.as_string::<i32>();
                Arc::new(
                    (0..s.len())
                        .map(|i| (!hit[i] && !s.is_null(i)).then(|| s.value(i)))
                        .collect::<StringArray>(),
                ) as ArrayRef
            }
            _ => c.clone(),
        })
        .collect();
    Ok((RecordBatch::try_new(schema, columns)?, n))
}

/// `batch` without the rows of `ids`.
fn without_rows(batch: &RecordBatch, ids: &HashSet<&str>) -> Result<(RecordBatch, usize)> {
    let Some(id) = batch.column_by_name("customer_id") else {
        return Ok((batch.clone(), 0));
    };
    let id = arrow::compute::cast(id, &DataType::Utf8)?;
    let id = id.as_string::<i32>();
    let keep: BooleanArray = (0..batch.num_rows())
        .map(|i| Some(id.is_null(i) || !ids.contains(id.value(i))))
        .collect();
    let n = keep.iter().filter(|k| *k == Some(false)).count();
    Ok((filter_record_batch(batch, &keep)?, n))
}

/// Rewrites table `t` with `f` applied to each batch (when it changed anything), then deletes
/// every file of earlier versions and the log's statistics quoting `needles`. Returns (rows
/// changed, files deleted, log files rewritten).
async fn rewrite(
    mart: &Mart,
    t: MartTable,
    needles: &[String],
    f: impl Fn(&RecordBatch) -> Result<(RecordBatch, usize)>,
) -> Result<(usize, usize, usize)> {
    if !mart.has_table(t.name()) {
        return Ok((0, 0, 0));
    }
    let mut changed = 0;
    let mut out = Vec::new();
    for b in super::utf8(mart.read(t.name()).await?)? {
        let (b, n) = f(&b)?;
        changed += n;
        out.push(b);
    }
    if changed > 0 {
        mart.replace(t, out, "crm-mart-forget").await?;
    }
    let deleted = purge_history(mart, t).await?;
    let rewritten = strip_log_stats(&mart.table_dir(t.name()).join("_delta_log"), needles)?;
    Ok((changed, deleted, rewritten))
}

/// Deletes every data file no current row needs, and every checkpoint but a new one.
async fn purge_history(mart: &Mart, t: MartTable) -> Result<usize> {
    let Some(table) = mart.open(t.name()).await? else {
        return Ok(0);
    };
    let (table, metrics) = table
        .vacuum()
        .with_retention_period(chrono::Duration::zero())
        .with_enforce_retention_duration(false)
        .with_mode(VacuumMode::Full)
        .await?;
    let mut deleted = metrics.files_deleted.len();
    let version = table.version().unwrap_or_default();
    deltalake::checkpoints::create_checkpoint(&table, None).await?;
    let log = mart.table_dir(t.name()).join("_delta_log");
    for e in std::fs::read_dir(&log).map_err(|e| Error::io(&log, e))? {
        let p = e.map_err(|e| Error::io(&log, e))?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let is_old_checkpoint = name.contains(".checkpoint")
            && name
                .split('.')
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|v| v < version);
        if is_old_checkpoint {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Drops the `stats` of add and remove actions in the commit files of `log` that quote one of
/// `needles` (file statistics hold minimum and maximum values). Returns the files rewritten.
fn strip_log_stats(log: &Path, needles: &[String]) -> Result<usize> {
    let mut rewritten = 0;
    let Ok(entries) = std::fs::read_dir(log) else {
        return Ok(0);
    };
    for e in entries {
        let p = e.map_err(|e| Error::io(log, e))?.path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        if !needles.iter().any(|n| text.contains(n.as_str())) {
            continue;
        }
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            let mut v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| Error::Invariant(format!("{}: {e}", p.display())))?;
            for action in ["add", "remove"] {
                if let Some(a) = v.get_mut(action).and_then(|a| a.as_object_mut()) {
                    a.remove("stats");
                }
            }
            out.push_str(&v.to_string());
            out.push('\n');
        }
        let tmp = p.with_extension("json.partial");
        std::fs::write(&tmp, out).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &p).map_err(|e| Error::io(&p, e))?;
        rewritten += 1;
    }
    Ok(rewritten)
}

/// Forgets the customers `ids` (see the module documentation).
pub async fn forget(mart: &Mart, ids: &[String]) -> Result<ErasureReport> {
    if ids.is_empty() {
        return Err(Error::params("customer", "name at least one customer id"));
    }
    let set: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let dim = if mart.has_table("dim_customer") {
        super::utf8(mart.read("dim_customer").await?)?
    } else {
        Vec::new()
    };
    let needles = needles(&dim, &set);
    let known: HashSet<&str> = dim
        .iter()
        .flat_map(|b| {
            let c = b
                .column_by_name("customer_id")
                .map(|c| c.as_string::<i32>());
            (0..b.num_rows()).filter_map(move |i| c.map(|c| c.value(i)))
        })
        .filter(|id| set.contains(id))
        .collect();
    let mut report = ErasureReport {
        requested: set.len(),
        found: known.len(),
        ..Default::default()
    };
    let mut cleaned = Vec::new();
    let (rows, files, logs) = rewrite(mart, MartTable::DimCustomer, &needles, |b| {
        without_pii(b, &set)
    })
    .await?;
    report.customer_rows = rows;
    cleaned.push((MartTable::DimCustomer, files, logs));
    let (rows, files, logs) = rewrite(mart, MartTable::Quarantine, &needles, |b| {
        scrub_quarantine(b, &needles)
    })
    .await?;
    report.quarantine_rows = rows;
    cleaned.push((MartTable::Quarantine, files, logs));
    for t in OUTPUTS {
        let (rows, files, logs) = rewrite(mart, t, &needles, |b| without_rows(b, &set)).await?;
        report.output_rows.push((t, rows));
        cleaned.push((t, files, logs));
    }
    for (_, files, logs) in &cleaned {
        report.files_deleted += files;
        report.log_files_rewritten += logs;
    }
    record(mart, ids).await?;
    // Earlier versions of the cleaned tables are gone: time travel says so, as after a vacuum.
    let run = super::maintain::MaintainReport {
        run_at: chrono::Utc::now().timestamp_micros(),
        retain_days: 0,
        outputs_retain_days: 0,
        tables: cleaned
            .iter()
            .filter(|(t, _, _)| mart.has_table(t.name()))
            .map(|(t, files, _)| super::maintain::TableMaintenance {
                table: t.name().to_string(),
                vacuumed: *files as u64,
                ..Default::default()
            })
            .collect(),
    };
    super::maintain::record_run(mart, &run).await?;
    Ok(report)
}

/// Appends the requests to `_erasures`.
async fn record(mart: &Mart, ids: &[String]) -> Result<()> {
    let now = chrono::Utc::now().timestamp_micros();
    let already = erased(mart).await?;
    let mut hashes: Vec<String> = ids
        .iter()
        .map(|i| id_hash(i))
        .filter(|h| !already.contains(h))
        .collect();
    hashes.sort();
    hashes.dedup();
    if hashes.is_empty() {
        return Ok(());
    }
    let n = hashes.len();
    let batch = RecordBatch::try_new(
        MartTable::Erasures.schema(),
        vec![
            Arc::new(StringArray::from(hashes)),
            Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
        ],
    )?;
    mart.append(MartTable::Erasures, vec![batch]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_erased_id_is_found_as_a_field_of_raw_text_and_not_inside_another() {
        let erased: HashSet<String> = [id_hash("C42")].into();
        assert!(holds_erased_id("C42,Jane Doe,jane@example.com", &erased));
        assert!(holds_erased_id("x; \"C42\" ;y", &erased));
        assert!(!holds_erased_id("C421,Jane Doe", &erased));
        assert!(!holds_erased_id("C42,x", &HashSet::new()));
        assert_eq!(id_hash("C42").len(), 64);
    }
}
