//! Keeping the mart small and fast over years of nights (docs/design.md, "Maintenance").
//!
//! Daily loads add small Parquet files to every partition they touch, and every night the model
//! outputs are replaced, leaving the old copies behind for time travel. [`maintain`] does, per
//! table: compaction of each partition's small files into large ones (delta-rs `optimize`), a
//! checkpoint of the log, and a vacuum of the data files no version younger than
//! `retain_days` needs. The tables' own retention properties are set to the same window, so
//! that delta-rs' log cleanup (after a checkpoint) never removes a version the window still
//! promises, and other engines' vacuums honour it too.
//!
//! Contract: query results are the same before and after; time travel (`--as-of-version`) to a
//! batch whose files are younger than the window works as before; a batch older than it fails
//! with an error naming the batches that remain (see [`readable_batches`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use deltalake::DeltaTable;
use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode;

use super::delta::Mart;
use super::schema::MartTable;
use crate::error::{Error, Result};

/// What `maintain` does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaintainParams {
    /// Data files that no version of the last `retain_days` days needs are deleted; versions
    /// older than that can no longer be read.
    pub retain_days: u32,
    /// The same for the model outputs that every night replaces whole
    /// ([`MartTable::is_model_output`]): a night's scores are a function of the facts and a
    /// model version, both kept longer, so a shorter window bounds the mart's size.
    pub outputs_retain_days: u32,
    /// A table is compacted when it has at least this many files beyond one per partition
    /// (1: whenever any partition has two files). Compaction rewrites a partition and keeps the
    /// old copy for the window, so rewriting the month being loaded every night would keep 30
    /// copies of it.
    pub compact_min_files: u32,
}

impl MaintainParams {
    /// The defaults (`[maintain] retain_days`, `outputs_retain_days`).
    pub const DEFAULT: Self = MaintainParams {
        retain_days: 30,
        outputs_retain_days: 7,
        compact_min_files: 8,
    };

    /// Commits between checkpoints of a table's log (Delta's `delta.checkpointInterval`
    /// default): a checkpoint on every run would keep a month of checkpoints per table.
    pub const CHECKPOINT_INTERVAL: u64 = 10;

    /// The parameters, or the first that cannot work.
    pub fn check(&self) -> Result<&Self> {
        for (field, days) in [
            ("retain_days", self.retain_days),
            ("outputs_retain_days", self.outputs_retain_days),
        ] {
            if days > 3650 {
                return Err(Error::params(field, format!("{days}: use 0 to 3650 days")));
            }
        }
        if !(1..=10_000).contains(&self.compact_min_files) {
            return Err(Error::params(
                "compact_min_files",
                format!("{}: use 1 to 10000 files", self.compact_min_files),
            ));
        }
        Ok(self)
    }

    /// The window of table `name`. Model outputs are never kept longer than the facts they
    /// were computed from.
    pub fn window_of(&self, name: &str) -> u32 {
        match MartTable::from_name(name) {
            Some(t) if t.is_model_output() => self.outputs_retain_days.min(self.retain_days),
            _ => self.retain_days,
        }
    }
}

/// One table's maintenance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableMaintenance {
    /// The table.
    pub table: String,
    /// Its Delta version after maintenance.
    pub version: i64,
    /// The days of history its vacuum kept.
    pub retain_days: u32,
    /// Data files of the current version, before and after.
    pub files: (u64, u64),
    /// Bytes of the current version's data files, before and after.
    pub data_bytes: (u64, u64),
    /// Bytes of everything in the table's directory (old versions' files and the log
    /// included), before and after.
    pub disk_bytes: (u64, u64),
    /// Bytes of the Delta log, before and after.
    pub log_bytes: (u64, u64),
    /// Small files rewritten into larger ones.
    pub compacted: u64,
    /// Files deleted from disk.
    pub vacuumed: u64,
}

/// A `maintain` run.
#[derive(Debug, Clone, Default)]
pub struct MaintainReport {
    /// When it ran (µs since the epoch).
    pub run_at: i64,
    /// The retention window in days (of the facts, dimensions and run records).
    pub retain_days: u32,
    /// The retention window of the model outputs.
    pub outputs_retain_days: u32,
    /// Each table, by name.
    pub tables: Vec<TableMaintenance>,
}

impl MaintainReport {
    /// Totals over the tables, as one row.
    pub fn total(&self) -> TableMaintenance {
        let mut t = TableMaintenance {
            table: "(all tables)".into(),
            ..Default::default()
        };
        let add = |a: &mut (u64, u64), b: (u64, u64)| {
            a.0 += b.0;
            a.1 += b.1;
        };
        for m in &self.tables {
            add(&mut t.files, m.files);
            add(&mut t.data_bytes, m.data_bytes);
            add(&mut t.disk_bytes, m.disk_bytes);
            add(&mut t.log_bytes, m.log_bytes);
            t.compacted += m.compacted;
            t.vacuumed += m.vacuumed;
        }
        t
    }
}

/// Bytes of every file below `dir`.
fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    for e in entries {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let meta = e.metadata().map_err(|err| Error::io(&e.path(), err))?;
        total += if meta.is_dir() {
            dir_bytes(&e.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// (data files, data bytes) of `table`'s loaded version.
fn active_files(table: &DeltaTable) -> Result<(u64, u64)> {
    let mut n = 0;
    let mut bytes = 0;
    for f in table.snapshot()?.log_data().iter() {
        n += 1;
        bytes += f.size() as u64;
    }
    Ok((n, bytes))
}

/// Files of the table's current version beyond one per partition (partitions read from the
/// files' directories).
fn extra_files(table: &DeltaTable) -> Result<u64> {
    let mut dirs = std::collections::HashSet::new();
    let mut n = 0u64;
    for f in table.snapshot()?.log_data().iter() {
        n += 1;
        let path = f.path();
        dirs.insert(
            path.rsplit_once('/')
                .map_or(String::new(), |(d, _)| d.to_string()),
        );
    }
    Ok(n.saturating_sub(dirs.len() as u64))
}

/// The version of the table's last checkpoint, if it has one.
fn last_checkpoint(log_dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(log_dir.join("_last_checkpoint")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("version")?.as_u64()
}

/// The retention properties of a table kept by `maintain`.
fn retention_properties(retain_days: u32) -> HashMap<String, String> {
    let interval = format!("interval {retain_days} days");
    HashMap::from([
        ("delta.logRetentionDuration".to_string(), interval.clone()),
        ("delta.deletedFileRetentionDuration".to_string(), interval),
    ])
}

/// Compacts, checkpoints and vacuums table `name`.
async fn maintain_table(mart: &Mart, name: &str, p: &MaintainParams) -> Result<TableMaintenance> {
    let dir = mart.table_dir(name);
    let log_dir = dir.join("_delta_log");
    let Some(mut table) = mart.open(name).await? else {
        return Ok(TableMaintenance {
            table: name.to_string(),
            ..Default::default()
        });
    };
    let (files_before, data_before) = active_files(&table)?;
    let disk_before = dir_bytes(&dir)?;
    let log_before = dir_bytes(&log_dir)?;
    let days = p.window_of(name);
    let wanted = retention_properties(days);
    let current = table.snapshot()?.metadata().configuration().clone();
    if wanted.iter().any(|(k, v)| current.get(k) != Some(v)) {
        table = table.set_tbl_properties().with_properties(wanted).await?;
    }
    let mut compacted = 0;
    if extra_files(&table)? >= p.compact_min_files as u64 {
        let (compacted_table, metrics) = table.optimize().with_type(OptimizeType::Compact).await?;
        table = compacted_table;
        compacted = metrics.num_files_removed;
    }
    let version = table.version().unwrap_or_default();
    if last_checkpoint(&log_dir).is_none_or(|c| version >= c + MaintainParams::CHECKPOINT_INTERVAL)
    {
        deltalake::checkpoints::create_checkpoint(&table, None).await?;
    }
    deltalake::checkpoints::cleanup_metadata(&table, None).await?;
    // The cleanup may have removed log files the loaded snapshot was read from: reload.
    let table = mart
        .open(name)
        .await?
        .ok_or_else(|| Error::Invariant(format!("{name} vanished during maintenance")))?;
    let (table, vacuum) = table
        .vacuum()
        .with_retention_period(chrono::Duration::days(days as i64))
        .with_enforce_retention_duration(false)
        .with_mode(VacuumMode::Full)
        .await?;
    let (files_after, data_after) = active_files(&table)?;
    Ok(TableMaintenance {
        table: name.to_string(),
        version: table.version().unwrap_or_default() as i64,
        retain_days: days,
        files: (files_before, files_after),
        data_bytes: (data_before, data_after),
        disk_bytes: (disk_before, dir_bytes(&dir)?),
        log_bytes: (log_before, dir_bytes(&log_dir)?),
        compacted,
        vacuumed: vacuum.files_deleted.len() as u64,
    })
}

/// Maintains every table of `mart` and records the run in `_maintenance`.
pub async fn maintain(mart: &Mart, p: &MaintainParams) -> Result<MaintainReport> {
    p.check()?;
    let run_at = chrono::Utc::now().timestamp_micros();
    let mut names: Vec<String> = match std::fs::read_dir(mart.root()) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("_delta_log").is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect(),
        Err(e) => return Err(Error::io(mart.root(), e)),
    };
    names.sort();
    let mut tables = Vec::with_capacity(names.len());
    for name in &names {
        tables.push(maintain_table(mart, name, p).await?);
    }
    let report = MaintainReport {
        run_at,
        retain_days: p.retain_days,
        outputs_retain_days: p.outputs_retain_days,
        tables,
    };
    record_run(mart, &report).await?;
    Ok(report)
}

/// Appends a run's rows to `_maintenance`.
pub(crate) async fn record_run(mart: &Mart, report: &MaintainReport) -> Result<()> {
    mart.append(MartTable::Maintenance, vec![record(report)?])
        .await
}

/// The `_maintenance` rows of a run.
fn record(r: &MaintainReport) -> Result<RecordBatch> {
    let n = r.tables.len();
    let int = |f: &dyn Fn(&TableMaintenance) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            r.tables.iter().map(|t| f(t) as i64),
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(vec![r.run_at; n]).with_timezone("UTC")),
        Arc::new(StringArray::from_iter_values(
            r.tables.iter().map(|t| t.table.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(
            r.tables.iter().map(|t| t.retain_days as i64),
        )),
        Arc::new(Int64Array::from_iter_values(
            r.tables.iter().map(|t| t.version),
        )),
        int(&|t| t.files.0),
        int(&|t| t.files.1),
        int(&|t| t.data_bytes.0),
        int(&|t| t.data_bytes.1),
        int(&|t| t.disk_bytes.0),
        int(&|t| t.disk_bytes.1),
        int(&|t| t.log_bytes.0),
        int(&|t| t.log_bytes.1),
        int(&|t| t.compacted),
        int(&|t| t.vacuumed),
    ];
    Ok(RecordBatch::try_new(
        MartTable::Maintenance.schema(),
        columns,
    )?)
}

/// The last vacuum's horizon for `table`: (run time, retention days) of its newest
/// `_maintenance` row (model outputs have their own, shorter window; `forget` records 0 days
/// for the tables it rewrites).
pub async fn last_vacuum(mart: &Mart, table: &str) -> Result<Option<(i64, u32)>> {
    use arrow::array::AsArray;
    use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
    let rows = mart
        .query(
            "_maintenance",
            &format!(
                "SELECT run_at, retain_days FROM _maintenance WHERE table_name = '{}' \
                 ORDER BY run_at DESC LIMIT 1",
                table.replace('\'', "''")
            ),
        )
        .await?;
    Ok(rows.iter().find(|b| b.num_rows() > 0).map(|b| {
        (
            b.column(0)
                .as_primitive::<TimestampMicrosecondType>()
                .value(0),
            b.column(1).as_primitive::<Int64Type>().value(0) as u32,
        )
    }))
}

/// The ETL batches (of `batches`: (seq, started_at µs), by seq) whose versions the last vacuum
/// kept: the latest, and every batch whose successor started inside the window (its files were
/// replaced no earlier than that, so vacuum kept them).
pub fn readable_batches(batches: &[(i64, i64)], last_vacuum: Option<(i64, u32)>) -> Vec<i64> {
    let Some((at, days)) = last_vacuum else {
        return batches.iter().map(|b| b.0).collect();
    };
    let horizon = at - days as i64 * 86_400_000_000;
    batches
        .iter()
        .enumerate()
        .filter(|(k, _)| batches.get(k + 1).is_none_or(|next| next.1 >= horizon))
        .map(|(_, b)| b.0)
        .collect()
}

/// Whether every data file of `table`'s loaded version is on disk (a vacuum deletes those of
/// versions older than its window).
pub fn files_present(dir: &Path, table: &DeltaTable) -> Result<bool> {
    for f in table.snapshot()?.log_data().iter() {
        let path = f.path();
        let rel = percent_decode(&path);
        if !dir.join(rel.as_ref()).exists() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Delta paths are URL-encoded (`month_key=202401/part-….parquet` stays as is; a space would be
/// `%20`).
fn percent_decode(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains('%') {
        return path.into();
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&path[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_whose_successor_started_inside_the_window_stay_readable() {
        let day = 86_400_000_000i64;
        let batches = [(1, 0), (2, 10 * day), (3, 20 * day), (4, 40 * day)];
        assert_eq!(readable_batches(&batches, None), vec![1, 2, 3, 4]);
        // Vacuum at day 45 keeping 30 days: horizon day 15; batch 2's successor started on day 20.
        assert_eq!(
            readable_batches(&batches, Some((45 * day, 30))),
            vec![2, 3, 4]
        );
        assert_eq!(readable_batches(&batches, Some((45 * day, 0))), vec![4]);
    }

    #[test]
    fn delta_paths_are_decoded() {
        assert_eq!(percent_decode("a%20b/c.parquet"), "a b/c.parquet");
        assert_eq!(
            percent_decode("month_key=202401/x.parquet"),
            "month_key=202401/x.parquet"
        );
    }
}
