//! Sources → mart: read, validate, conform, load.
//!
//! One run is one *batch*: the source files whose content hash no earlier successful run has
//! recorded. The batch id is a hash of those files' hashes, so loading the same files again is
//! a no-op, and files appended later form the next batch. Within a batch:
//!
//! 1. every new file is read ([`read`]) and typed ([`validate`]); rows that fail go to quarantine;
//! 2. dimension sources are applied to the dimensions held in memory ([`dims`]): type-1 upserts,
//!    SCD type 2 for customers; dimensions with no source are derived from the facts;
//! 3. facts get their keys (the customer version valid at the fact's timestamp), computed
//!    measures, and natural-key and reference checks (more quarantine);
//! 4. changed tables are committed, one Delta commit each, dimensions first, `_etl_runs` last.
//!
//! [`run`] follows these steps: `discover` (new files, hashes, loadability), `load` (read and
//! type; dimensions; facts to Parquet), `accounts` (quarantine and counts, the quality gate),
//! `commit` (restatements, the calendar, the commits).
//!
//! The invariant rows_read = rows_loaded + rows_quarantined is checked per entity before
//! anything is committed.

mod accounts;
pub mod bridge;
mod commit;
pub mod dims;
mod discover;
pub mod facts;
mod load;
pub mod lookup;
pub mod read;
pub mod restate;
pub mod validate;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::{Array, StringArray};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};
use polars::prelude::{AnyValue, Column};

use crate::config::{Settings, spec};
use crate::error::{Error, Result};
use crate::mart::delta::Mart;
use crate::mart::utf8;
use crate::util::fs::{FileLock, lock_file};
use dims::{Cell, Dim};
use read::{FileRows, Reject};
use validate::Typed;

use accounts::Accounts;
pub use commit::date_dimension;
use discover::Discovered;
pub use discover::{entity_files, lookup_files};

/// One source file of the batch.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FileRecord {
    /// Path relative to the source directory.
    pub path: String,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// Records read.
    pub rows_read: u64,
    /// Rows loaded.
    pub rows_loaded: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
    /// For a lookup file, the lookup's name; its rows_loaded are the rows some row of the
    /// entity matched, and rows_read = rows_loaded + rows_unused + rows_quarantined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<String>,
    /// For a lookup file, its valid rows that no row of the entity matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_unused: Option<u64>,
    /// Of rows_loaded, rows that replaced a row an earlier batch loaded (restated, changed).
    #[serde(default)]
    pub rows_updated: u64,
    /// Restated rows identical to the row already loaded (not in rows_loaded).
    #[serde(default)]
    pub rows_unchanged: u64,
}

/// Per-entity outcome of a batch.
#[derive(Debug, Clone, Default)]
pub struct EntityStats {
    /// Entity name.
    pub entity: String,
    /// Files of this entity in the batch.
    pub files: Vec<FileRecord>,
    /// Records read.
    pub rows_read: u64,
    /// Rows loaded.
    pub rows_loaded: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
    /// Of rows_loaded, rows that replaced an earlier batch's row with the same natural key.
    pub rows_updated: u64,
    /// Restated rows identical to the loaded ones: rows_read = rows_loaded + rows_unchanged +
    /// rows_quarantined.
    pub rows_unchanged: u64,
    /// Wall time spent reading and validating.
    pub seconds: f64,
}

/// What an ETL run did.
#[derive(Debug, Clone, Default)]
pub struct EtlReport {
    /// The batch loaded, or None if every file was already loaded.
    pub batch_id: Option<String>,
    /// Sequence number of the batch.
    pub seq: i64,
    /// Per-entity counts.
    pub entities: Vec<EntityStats>,
    /// Source files skipped because an earlier batch loaded them.
    pub files_already_loaded: usize,
    /// Tables committed in this run.
    pub tables_committed: Vec<String>,
    /// Wall time of the run.
    pub seconds: f64,
}

/// A source file read and typed, kept until its facts are built (for raw text of late rejects).
pub struct Loaded {
    /// Entity.
    pub entity: &'static str,
    /// Path relative to the source dir.
    pub rel: String,
    /// Content hash.
    pub sha256: String,
    /// Structural pass result (raw text access).
    pub rows: FileRows,
    /// Typed rows and rejects so far.
    pub typed: Typed,
}

/// Takes the mart's exclusive lock, or says who holds it.
pub fn lock_mart(mart: &Path) -> Result<FileLock> {
    lock_file(mart, ".lock", |path, holder| Error::Locked { path, holder })
}

/// When the last batch that brought new source files finished (None for a mart never loaded).
pub async fn last_batch_at(mart: &Mart) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    Ok(mart
        .last_finished_at()
        .await?
        .and_then(chrono::DateTime::from_timestamp_micros))
}

/// The warning `nightly` and the report give when no new source file arrived for more than
/// `days` days (`[quality] stale_after_days`), or None when the sources are fresh.
pub fn stale_warning(
    last: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
    days: Option<u32>,
) -> Option<String> {
    let days = days?;
    let last = last?;
    let age = (now - last).num_days();
    (age > days as i64).then(|| {
        format!(
            "no new source file arrived for {age} days (last batch loaded {}); the limit is {days} days ([quality] stale_after_days). Scores and recommendations are computed on old data: check the export job",
            last.format("%Y-%m-%d %H:%M UTC")
        )
    })
}

fn str_col<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| Error::Invariant(format!("column {name} is not text")))
}

/// The source directory exists.
fn check_source_dir(settings: &Settings) -> Result<()> {
    if settings.source_dir.is_dir() {
        return Ok(());
    }
    Err(Error::source(
        &settings.source_dir,
        format!(
            "source directory not found; pass {} DIR or set [paths] source in crm-mart.toml",
            crate::error::param("source")
        ),
    ))
}

/// Steps 2–5 of a batch: dimension files, then fact files; a batch with too many bad rows is
/// refused before anything is committed; restated facts compared with the mart.
async fn load_and_check<'a>(
    batch: &load::Batch<'a>,
    new_files: Vec<discover::NewFile>,
) -> Result<(load::Dims, load::FactOutput, Accounts<'a>)> {
    let mut acc = Accounts {
        batch_id: batch.batch_id,
        quarantine: Vec::new(),
        stats: BTreeMap::new(),
    };
    let (dims, mut facts) = load::load_files(batch, new_files, &mut acc).await?;
    for (entity, ls) in batch.lookups {
        for l in ls {
            acc.record_lookup(entity, l)?;
        }
    }
    let max_share = batch.settings.quality.max_quarantine_share;
    commit::refuse_mostly_bad(&acc, &mut facts, max_share).await?;
    commit::resolve_restated(batch.mart, &mut facts, &mut acc).await?;
    Ok((dims, facts, acc))
}

/// Runs one ETL batch. `progress` shows bars on stderr.
pub async fn run(settings: &Settings, progress: bool) -> Result<EtlReport> {
    let started = Instant::now();
    let started_at = chrono::Utc::now().timestamp_micros();
    check_source_dir(settings)?;
    let _lock = lock_mart(&settings.mart_dir)?;
    let mart = Mart::new(&settings.mart_dir);
    let cfg_path = settings
        .config_file
        .clone()
        .unwrap_or_else(|| PathBuf::from("crm-mart.toml"));

    // 1. Discover files and their hashes; keep those no earlier batch loaded. Every file must
    //    be loadable (readable, required columns present) before any work or any commit: a
    //    broken file stops the run with the mart untouched.
    let Discovered {
        new_files,
        already,
        max_seq,
        has_source,
    } = discover::discover(settings, &mart).await?;
    if new_files.is_empty() {
        return Ok(EtlReport {
            files_already_loaded: already,
            seconds: started.elapsed().as_secs_f64(),
            ..Default::default()
        });
    }
    let (batch_id, lookups) = discover::batch_of(settings, &new_files, &cfg_path)?;
    let seq = max_seq + 1;
    tracing::info!(batch_id, seq, files = new_files.len(), "loading batch");

    let batch = load::Batch {
        settings,
        lookups: &lookups,
        cfg_path: &cfg_path,
        mart: &mart,
        batch_id: &batch_id,
        seq,
        has_source: &has_source,
        started_at,
        progress,
    };
    let (dims, facts, acc) = load_and_check(&batch, new_files).await?;
    let Accounts {
        quarantine, stats, ..
    } = acc;
    // 6–7. The calendar and the commits.
    tracing::info!(elapsed_s = started.elapsed().as_secs_f64(), "committing");
    let committed = commit::commit(
        &mart,
        commit::Batch {
            batch_id: &batch_id,
            seq,
            started_at,
            dims: &dims,
            facts,
            quarantine,
            stats: &stats,
        },
    )
    .await?;
    Ok(EtlReport {
        batch_id: Some(batch_id),
        seq,
        entities: stats.into_values().collect(),
        files_already_loaded: already,
        tables_committed: committed,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `path` relative to the source directory, with forward slashes.
fn rel_path(settings: &Settings, path: &Path) -> String {
    path.strip_prefix(&settings.source_dir)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn progress_bar(enabled: bool, n: u64, what: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let b = indicatif::ProgressBar::new(n);
    b.set_style(
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} files {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    b.set_message(what.to_string());
    Some(b)
}

/// Value of row `i` of `column` as a dimension cell of the mart type `target`.
fn cell(column: &Column, i: usize, target: &arrow::datatypes::DataType) -> Result<Cell> {
    let name = column.name().as_str();
    use arrow::datatypes::DataType as A;
    let v = column.get(i)?;
    Ok(match (v, target) {
        (AnyValue::Null, _) => Cell::Null,
        (AnyValue::String(s), A::Utf8) => Cell::Str(s.into()),
        (AnyValue::StringOwned(s), A::Utf8) => Cell::Str(s.as_str().into()),
        (AnyValue::Float64(x), A::Float64) => Cell::F64(x),
        (AnyValue::Date(d), A::Date32) => Cell::Date(d),
        (AnyValue::Boolean(b), A::Boolean) => Cell::Bool(b),
        (AnyValue::Date(d), A::Int32) if name == "birth_date" => {
            let date = NaiveDate::from_num_days_from_ce_opt(d + 719_163)
                .ok_or_else(|| Error::Invariant(format!("date {d} out of range")))?;
            Cell::I32(date.year())
        }
        (other, t) => {
            return Err(Error::Invariant(format!(
                "column {name}: cannot store {other:?} as {t}"
            )));
        }
    })
}

/// Applies one dimension source file to its dimension.
fn apply_dimension(
    dim: &mut Dim,
    f: &Loaded,
    default_change_ts: i64,
    rejects: &mut Vec<(usize, Reject)>,
) -> Result<()> {
    let df = &f.typed.df;
    let attrs = dim.attribute_names();
    let schema = dim.schema.clone();
    let id_col = spec::key_columns(f.entity)[0];
    let ids = df.column(id_col)?.str()?.clone();
    let rows_idx = df.column(validate::ROW_COL)?.u32()?.clone();
    let lines = df.column(read::LINE_COL)?.u64()?.clone();
    let scd2 = f.entity == "customers";
    let tracked: Vec<usize> = [
        "email",
        "phone",
        "city",
        "region",
        "country",
        "email_opt_in",
        "phone_opt_in",
        "do_not_contact",
    ]
    .iter()
    .filter_map(|t| attrs.iter().position(|a| a == t))
    .collect();
    let sources: Vec<(&Column, &arrow::datatypes::DataType)> = attrs
        .iter()
        .enumerate()
        .map(|(j, a)| {
            let source = if a == "birth_year" {
                "birth_date"
            } else {
                a.as_str()
            };
            Ok((df.column(source)?, schema.field(2 + j).data_type()))
        })
        .collect::<Result<_>>()?;
    let updated_at = if scd2 {
        Some(df.column("updated_at")?)
    } else {
        None
    };
    let mut seen: HashMap<String, u64, foldhash::fast::RandomState> = HashMap::default();
    for i in 0..df.height() {
        let id = ids.get(i).unwrap_or_default().to_string();
        let line = lines.get(i).unwrap_or(0);
        if let Some(first) = seen.get(&id) {
            rejects.push((i, Reject {
                line,
                raw: f.rows.raw_of(rows_idx.get(i).unwrap_or(0) as usize),
                code: "duplicate_key",
                column: Some(id_col.to_string()),
                value: Some(id.clone()),
                message: format!("{id_col} '{id}' already appears on line {first} of this file; each id once per file"),
            }));
            continue;
        }
        seen.insert(id.clone(), line);
        let mut values = Vec::with_capacity(attrs.len());
        for (column, target) in &sources {
            values.push(cell(column, i, target)?);
        }
        if let Some(updated_at) = updated_at {
            let change_ts = match updated_at.get(i)? {
                AnyValue::Date(d) => d as i64 * 86_400_000_000,
                _ => default_change_ts,
            };
            dim.upsert_scd2(&id, values, &tracked, change_ts);
        } else {
            dim.upsert(&id, values);
        }
    }
    Ok(())
}
