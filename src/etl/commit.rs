//! Steps 5 to 7 of a batch: restated facts compared with the mart, the calendar widened to
//! every fact date, and the commits — dimensions, facts, quarantine, then the run record that
//! marks the batch done.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use chrono::{Datelike, NaiveDate};

use super::accounts::{self, Accounts};
use super::dims::{self, Cell};
use super::load::{Dims, FactOutput};
use super::{EntityStats, restate};
use crate::error::{Error, Result};
use crate::mart::delta::{Mart, WriteMode};
use crate::mart::schema;

/// Restated facts: compared with the mart; changed ones replace their rows in the table's
/// commit, unchanged ones are only counted.
pub(super) async fn resolve_restated(
    mart: &Mart,
    facts: &mut FactOutput,
    acc: &mut Accounts<'_>,
) -> Result<()> {
    for (table, candidates) in std::mem::take(&mut facts.restated) {
        if matches!(facts.writers.get(table), Some(None)) {
            continue; // the table already holds this batch (a rerun after a crash)
        }
        if !facts.writers.contains_key(table) {
            facts
                .writers
                .insert(table, Some(mart.append_writer(table).await?));
        }
        let Some(Some(w)) = facts.writers.get_mut(table) else {
            continue;
        };
        let outcome = restate::resolve(mart, table, candidates, w).await?;
        let entity = if table == "fact_sales" {
            "sales"
        } else {
            "contacts"
        };
        acc.record_restated(entity, &outcome);
    }
    Ok(())
}

/// Refuses a batch whose share of quarantined rows is above `max_share` for an entity
/// ([`accounts::quality_gate`]); the data files written so far are removed.
pub(super) async fn refuse_mostly_bad(
    acc: &Accounts<'_>,
    facts: &mut FactOutput,
    max_share: f64,
) -> Result<()> {
    if let Err(e) = accounts::quality_gate(&acc.stats, &acc.quarantine, max_share) {
        for w in std::mem::take(&mut facts.writers).into_values().flatten() {
            w.abort().await?;
        }
        return Err(e);
    }
    Ok(())
}

/// The batch to commit.
pub(super) struct Batch<'a> {
    pub batch_id: &'a str,
    pub seq: i64,
    pub started_at: i64,
    pub dims: &'a Dims,
    pub facts: FactOutput,
    pub quarantine: Vec<Vec<Cell>>,
    pub stats: &'a BTreeMap<&'static str, EntityStats>,
}

/// `_quarantine` rows with the raw text and value of erased customers' rows replaced: such a
/// row keeps its reason, not its text.
fn without_erased(
    mut rows: Vec<Vec<Cell>>,
    erased: &std::collections::HashSet<String>,
) -> Vec<Vec<Cell>> {
    if erased.is_empty() {
        return rows;
    }
    for row in &mut rows {
        if let Some(raw) = row[4].as_str()
            && crate::mart::erasure::holds_erased_id(raw, erased)
        {
            row[4] = Cell::Str(crate::mart::erasure::ERASED_RAW.into());
            row[7] = Cell::Null;
        }
    }
    rows
}

/// Commits the batch, one Delta commit per changed table, `_etl_runs` last; returns the tables
/// committed.
pub(super) async fn commit(mart: &Mart, b: Batch<'_>) -> Result<Vec<String>> {
    let seq = b.seq;
    let mut committed = Vec::new();
    // dim_date covers whole years around every fact date, old and new.
    let old_range = mart
        .date_key_range()
        .await?
        .map(|(lo, hi)| (lo / 10000, hi / 10000));
    let mut range = old_range;
    for d in &b.facts.dates {
        let y = d / 10000;
        range = Some(match range {
            None => (y, y),
            Some((lo, hi)) => (lo.min(y), hi.max(y)),
        });
    }
    if let Some((lo, hi)) = range
        && (old_range != range || !mart.has_table("dim_date"))
        && mart
            .commit(
                "dim_date",
                vec![date_dimension(lo, hi)?],
                WriteMode::Overwrite,
                seq,
            )
            .await?
    {
        committed.push("dim_date".to_string());
    }
    for dim in b.dims.all() {
        if (dim.changed || !mart.has_table(dim.table))
            && mart
                .commit(dim.table, vec![dim.to_batch()?], WriteMode::Overwrite, seq)
                .await?
        {
            committed.push(dim.table.to_string());
        }
    }
    for table in ["fact_sales", "fact_contacts"] {
        // A batch without rows for a fact table still leaves the table in place, empty.
        if !b.facts.writers.contains_key(table)
            && !mart.has_table(table)
            && mart
                .commit(table, Vec::new(), WriteMode::Append, seq)
                .await?
        {
            committed.push(table.to_string());
        }
    }
    for (table, writer) in b.facts.writers {
        if let Some(w) = writer
            && w.commit(seq).await?
        {
            committed.push(table.to_string());
        }
    }
    let quarantine = without_erased(b.quarantine, b.dims.customer.erased_ids());
    let q_batch = dims::batch_from_rows(&schema::schema("_quarantine"), &quarantine)?;
    // An empty append to a table written before `reason_code` existed adds the column.
    if (q_batch.num_rows() > 0 || mart.lacks_columns("_quarantine").await?)
        && mart
            .commit("_quarantine", vec![q_batch], WriteMode::Append, seq)
            .await?
    {
        committed.push("_quarantine".to_string());
    }
    let runs_batch = run_records(b.batch_id, seq, b.started_at, b.stats)?;
    if mart
        .commit("_etl_runs", vec![runs_batch], WriteMode::Append, seq)
        .await?
    {
        committed.push("_etl_runs".to_string());
    }
    Ok(committed)
}

/// The `_etl_runs` rows of the batch, one per entity.
fn run_records(
    batch_id: &str,
    seq: i64,
    started_at: i64,
    stats: &BTreeMap<&'static str, EntityStats>,
) -> Result<RecordBatch> {
    let finished_at = chrono::Utc::now().timestamp_micros();
    let run_rows: Vec<Vec<Cell>> = stats
        .values()
        .map(|s| {
            Ok(vec![
                Cell::Str(batch_id.into()),
                Cell::I64(seq),
                Cell::Str(s.entity.as_str().into()),
                Cell::Ts(started_at),
                Cell::Ts(finished_at),
                Cell::Str(
                    serde_json::to_string(&s.files)
                        .map_err(|e| Error::Invariant(e.to_string()))?
                        .into(),
                ),
                Cell::I64(s.rows_read as i64),
                Cell::I64(s.rows_loaded as i64),
                Cell::I64(s.rows_quarantined as i64),
                Cell::Str("ok".into()),
                Cell::I64(s.rows_updated as i64),
                Cell::I64(s.rows_unchanged as i64),
            ])
        })
        .collect::<Result<_>>()?;
    dims::batch_from_rows(&schema::schema("_etl_runs"), &run_rows)
}

/// The date dimension for whole years `lo..=hi`.
pub fn date_dimension(lo: i32, hi: i32) -> Result<RecordBatch> {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let mut rows = Vec::new();
    let mut d =
        NaiveDate::from_ymd_opt(lo, 1, 1).ok_or_else(|| Error::Invariant(format!("year {lo}")))?;
    let end = NaiveDate::from_ymd_opt(hi, 12, 31)
        .ok_or_else(|| Error::Invariant(format!("year {hi}")))?;
    while d <= end {
        let dow = d.weekday().number_from_monday() as i32;
        rows.push(vec![
            Cell::I32(d.year() * 10000 + d.month() as i32 * 100 + d.day() as i32),
            Cell::Date((d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32),
            Cell::I32(d.year()),
            Cell::I32(d.month0() as i32 / 3 + 1),
            Cell::I32(d.month() as i32),
            Cell::Str(MONTHS[d.month0() as usize].into()),
            Cell::I32(d.iso_week().week() as i32),
            Cell::I32(dow),
            Cell::Bool(dow >= 6),
        ]);
        d = d
            .succ_opt()
            .ok_or_else(|| Error::Invariant("date overflow".into()))?;
    }
    dims::batch_from_rows(&schema::schema("dim_date"), &rows)
}
