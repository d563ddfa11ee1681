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
//! The invariant rows_read = rows_loaded + rows_quarantined is checked per entity before
//! anything is committed.

pub mod bridge;
pub mod dims;
pub mod facts;
pub mod read;
pub mod spec;
pub mod validate;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};
use polars::prelude::{AnyValue, Column};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::config::{ENTITIES, Settings, glob_files};
use crate::error::{Error, Result};
use crate::mart::delta::{AppendWriter, Mart, WriteMode};
use crate::mart::schema;
use dims::{Cell, Dim};
use read::{FileRows, Reject};
use validate::Typed;

/// One source file of the batch.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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

/// Holds the mart's lock for the lifetime of a run.
pub struct MartLock {
    _file: File,
}

/// Takes the mart's exclusive lock, or says who holds it.
pub fn lock_mart(mart: &Path) -> Result<MartLock> {
    lock_file(mart, ".lock", |path, holder| Error::Locked { path, holder })
}

/// Takes an exclusive lock on `dir/name` (created as needed) and records our process id in it,
/// or returns `busy(path, holder)`. The lock is released when the process ends, however it ends.
pub fn lock_file(
    dir: &Path,
    name: &str,
    busy: impl Fn(PathBuf, String) -> Error,
) -> Result<MartLock> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(name);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(|e| Error::io(&path, e))?;
            write!(file, "{}", std::process::id()).map_err(|e| Error::io(&path, e))?;
            Ok(MartLock { _file: file })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Err(busy(path, holder.trim().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// Source files of `entity`: the mapping's `path`, or the default names.
pub fn entity_files(settings: &Settings, entity: &str) -> Result<Vec<PathBuf>> {
    let m = settings.mapping(entity);
    if let Some(p) = &m.path {
        let files = glob_files(&settings.source_dir, p)?;
        if files.is_empty() {
            // A configured source that matches nothing is a mistake, not an absent entity:
            // silently deriving the dimension instead would hide it.
            return Err(Error::source(
                &settings.source_dir.join(p),
                format!(
                    "[sources.{entity}] path = \"{p}\" matches no file in {}; fix the path or remove it to use the defaults",
                    settings.source_dir.display()
                ),
            ));
        }
        return Ok(files);
    }
    for pattern in [
        format!("{entity}.csv"),
        format!("{entity}.jsonl"),
        format!("{entity}.parquet"),
        format!("{entity}/*.csv"),
        format!("{entity}/*.jsonl"),
        format!("{entity}/*.parquet"),
    ] {
        let found = glob_files(&settings.source_dir, &pattern)?;
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn str_col<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| Error::Invariant(format!("column {name} is not text")))
}

fn utf8(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    // Delta reads may come back as string views; the ETL works on plain strings.
    batches
        .into_iter()
        .map(|b| {
            let schema = b.schema();
            let cols: Vec<ArrayRef> = b
                .columns()
                .iter()
                .map(|c| match c.data_type() {
                    arrow::datatypes::DataType::Utf8View
                    | arrow::datatypes::DataType::LargeUtf8 => {
                        arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)
                    }
                    _ => Ok(c.clone()),
                })
                .collect::<std::result::Result<_, _>>()?;
            let fields: Vec<arrow::datatypes::Field> = schema
                .fields()
                .iter()
                .zip(&cols)
                .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
                .collect();
            Ok(RecordBatch::try_new(
                std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
                cols,
            )?)
        })
        .collect()
}

/// Quarantine rows and per-entity counts of a batch, checked file by file.
struct Accounts<'a> {
    batch_id: &'a str,
    quarantine: Vec<Vec<Cell>>,
    stats: BTreeMap<&'static str, EntityStats>,
}

impl Accounts<'_> {
    /// Records one processed file: its rejects (structural, typing and `late`: keys and
    /// references) go to quarantine, and rows_read = rows_loaded + rows_quarantined is checked.
    fn record(&mut self, f: &Loaded, late: &[(usize, Reject)], secs: f64) -> Result<()> {
        let mut rejects: Vec<&Reject> = f
            .rows
            .rejects
            .iter()
            .chain(f.typed.rejects.iter())
            .collect();
        rejects.extend(late.iter().map(|(_, r)| r));
        rejects.sort_by_key(|r| r.line);
        let loaded_rows = f.typed.df.height() as u64 - late.len() as u64;
        let q = rejects.len() as u64;
        if f.rows.rows_read != loaded_rows + q {
            return Err(Error::Invariant(format!(
                "{}: read {} rows but loaded {loaded_rows} and quarantined {q}",
                f.rel, f.rows.rows_read
            )));
        }
        for r in rejects {
            self.quarantine.push(vec![
                Cell::Str(self.batch_id.into()),
                Cell::Str(f.entity.into()),
                Cell::Str(f.rel.as_str().into()),
                Cell::I64(r.line as i64),
                Cell::Str(r.raw.as_str().into()),
                Cell::Str(format!("{}: {}", r.code, r.message).into()),
                r.column
                    .as_deref()
                    .map(|c| Cell::Str(c.into()))
                    .unwrap_or(Cell::Null),
                r.value
                    .as_deref()
                    .map(|v| Cell::Str(v.into()))
                    .unwrap_or(Cell::Null),
            ]);
        }
        let s = self.stats.entry(f.entity).or_insert_with(|| EntityStats {
            entity: f.entity.to_string(),
            ..Default::default()
        });
        s.seconds += secs;
        s.rows_read += f.rows.rows_read;
        s.rows_loaded += loaded_rows;
        s.rows_quarantined += q;
        s.files.push(FileRecord {
            path: f.rel.clone(),
            sha256: f.sha256.clone(),
            rows_read: f.rows.rows_read,
            rows_loaded: loaded_rows,
            rows_quarantined: q,
        });
        Ok(())
    }
}

/// Runs one ETL batch. `progress` shows bars on stderr.
pub fn run(settings: &Settings, progress: bool) -> Result<EtlReport> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Invariant(format!("starting the async runtime: {e}")))?;
    rt.block_on(run_async(settings, progress))
}

async fn run_async(settings: &Settings, progress: bool) -> Result<EtlReport> {
    let started = Instant::now();
    let started_at = chrono::Utc::now().timestamp_micros();
    if !settings.source_dir.is_dir() {
        return Err(Error::source(
            &settings.source_dir,
            "source directory not found; pass --source DIR or set [paths] source in crm-mart.toml",
        ));
    }
    let _lock = lock_mart(&settings.mart_dir)?;
    let mart = Mart::new(&settings.mart_dir);
    let cfg_path = settings
        .config_file
        .clone()
        .unwrap_or_else(|| PathBuf::from("crm-mart.toml"));

    // 1. Discover files and their hashes; keep those no earlier batch loaded.
    let mut discovered: Vec<(&'static str, PathBuf)> = Vec::new();
    let mut has_source: BTreeMap<&'static str, bool> = BTreeMap::new();
    for e in ENTITIES {
        let files = entity_files(settings, e)?;
        has_source.insert(e, !files.is_empty());
        discovered.extend(files.into_iter().map(|f| (*e, f)));
    }
    if !has_source["sales"] {
        return Err(Error::source(
            &settings.source_dir,
            format!(
                "no sales files found (looked for {}); sales is the one required entity: add sales.csv or sales/*.csv, or set [sources.sales] path in crm-mart.toml",
                settings
                    .mapping("sales")
                    .path
                    .clone()
                    .unwrap_or_else(|| "sales.csv, sales/*.csv, sales.jsonl, sales.parquet".into())
            ),
        ));
    }
    let hashes: Vec<Result<String>> = discovered.par_iter().map(|(_, p)| sha256_file(p)).collect();
    let runs = utf8(mart.read("_etl_runs").await?)?;
    let mut loaded_hashes: HashSet<String> = HashSet::new();
    let mut max_seq = 0i64;
    for b in &runs {
        let files = str_col(b, "files")?;
        let seqs = b
            .column_by_name("seq")
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .ok_or_else(|| Error::Invariant("_etl_runs.seq".into()))?;
        for i in 0..b.num_rows() {
            max_seq = max_seq.max(seqs.value(i));
            let recs: Vec<FileRecord> = serde_json::from_str(files.value(i))
                .map_err(|e| Error::Invariant(format!("_etl_runs.files is not valid JSON: {e}")))?;
            loaded_hashes.extend(recs.into_iter().map(|r| r.sha256));
        }
    }
    let mut new_files: Vec<(&'static str, PathBuf, String)> = Vec::new();
    let mut already = 0usize;
    let mut seen_in_batch = HashSet::new();
    for ((entity, path), h) in discovered.into_iter().zip(hashes) {
        let h = h?;
        if loaded_hashes.contains(&h) || !seen_in_batch.insert(h.clone()) {
            already += 1;
        } else {
            new_files.push((entity, path, h));
        }
    }
    if new_files.is_empty() {
        return Ok(EtlReport {
            files_already_loaded: already,
            seconds: started.elapsed().as_secs_f64(),
            ..Default::default()
        });
    }
    // Every file must be loadable (readable, required columns present) before any work or any
    // commit: a broken file stops the run with the mart untouched.
    new_files
        .par_iter()
        .map(|(entity, path, _)| {
            let mapping = settings.mapping(entity);
            let found = read::columns_of(path, mapping, &cfg_path)?;
            if read::format_of(path, mapping) == crate::config::SourceFormat::Jsonl {
                return Ok(()); // JSON keys vary by line: checked on the full read
            }
            validate::check_columns(entity, path, &found, mapping)
        })
        .collect::<Result<Vec<()>>>()?;
    let mut sorted_hashes: Vec<&str> = new_files.iter().map(|(_, _, h)| h.as_str()).collect();
    sorted_hashes.sort();
    let batch_id = hex(&Sha256::digest(sorted_hashes.join("\n").as_bytes()))[..16].to_string();
    let seq = max_seq + 1;
    tracing::info!(
        batch_id,
        seq,
        files = new_files.len(),
        elapsed_s = started.elapsed().as_secs_f64(),
        "loading batch"
    );

    // 2. Dimension files: read and type (in parallel), then apply to the dimensions.
    let bar = progress_bar(progress, new_files.len() as u64, "loading");
    let load = |(entity, path, sha): &(&'static str, PathBuf, String)| -> Result<(Loaded, f64)> {
        let t = Instant::now();
        let mapping = settings.mapping(entity);
        let rows = read::read_file(path, mapping, &cfg_path)?;
        validate::check_columns(entity, path, &rows.columns, mapping)?;
        let mut rows = rows;
        let typed = validate::type_rows(entity, &mut rows, mapping)
            .map_err(|e| Error::source(path, format!("cannot type the rows: {e}")))?;
        rows.release_text_columns();
        let rel = path
            .strip_prefix(&settings.source_dir)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        if let Some(b) = &bar {
            b.inc(1);
        }
        Ok((
            Loaded {
                entity,
                rel,
                sha256: sha.clone(),
                rows,
                typed,
            },
            t.elapsed().as_secs_f64(),
        ))
    };
    let (fact_files, dim_files): (Vec<_>, Vec<_>) = new_files
        .into_iter()
        .partition(|(e, _, _)| *e == "sales" || *e == "contacts");
    let mut acc = Accounts {
        batch_id: &batch_id,
        quarantine: Vec::new(),
        stats: BTreeMap::new(),
    };
    let mut dim_product = Dim::new("dim_product", &utf8(mart.read("dim_product").await?)?)?;
    let mut dim_store = Dim::new("dim_store", &utf8(mart.read("dim_store").await?)?)?;
    let mut dim_campaign = Dim::new("dim_campaign", &utf8(mart.read("dim_campaign").await?)?)?;
    let mut dim_customer = Dim::new("dim_customer", &utf8(mart.read("dim_customer").await?)?)?;
    let dim_loaded: Vec<Result<(Loaded, f64)>> = dim_files.par_iter().map(load).collect();
    let mut dim_loaded: Vec<(Loaded, f64)> = dim_loaded.into_iter().collect::<Result<_>>()?;
    // Customers without `updated_at` change as of the batch's earliest order: that needs a
    // look at the new sales files first (only their timestamps are kept).
    let needs_change_ts = dim_loaded.iter().any(|(f, _)| {
        f.entity == "customers"
            && !f
                .rows
                .columns
                .iter()
                .any(|c| c == settings.mapping("customers").source_column("updated_at"))
    });
    let change_ts_default = if needs_change_ts {
        fact_files
            .par_iter()
            .filter(|(e, _, _)| *e == "sales")
            .map(|f| load(f).map(|(l, _)| facts::min_timestamp(&l.typed.df, "order_ts")))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(started_at)
    } else {
        started_at
    };
    for (f, secs) in &mut dim_loaded {
        let dim = match f.entity {
            "products" => &mut dim_product,
            "stores" => &mut dim_store,
            "campaigns" => &mut dim_campaign,
            _ => &mut dim_customer,
        };
        let mut late = Vec::new();
        apply_dimension(dim, f, change_ts_default, &mut late)?;
        acc.record(f, &late, *secs)?;
    }
    drop(dim_loaded);
    tracing::info!(
        elapsed_s = started.elapsed().as_secs_f64(),
        "dimensions applied"
    );

    // 3. Fact files, a few at a time so that memory stays bounded by the files in flight:
    //    read and type in parallel, then keys and measures in file order (derived dimension
    //    members get keys in order of first appearance), then straight to Parquet files of the
    //    fact table. The files become part of the table only with the commit below.
    let mut fact_keys = facts::existing_keys(&mart, &batch_id).await?;
    // Writers are opened at the first batch of rows (creating the table if needed), and not
    // at all for a table that already holds this batch (a rerun after a crash).
    let mut writers: BTreeMap<&str, Option<AppendWriter>> = BTreeMap::new();
    for table in ["fact_sales", "fact_contacts"] {
        if mart.has_batch(table, seq).await? {
            writers.insert(table, None);
        }
    }
    let mut dates: Vec<i32> = Vec::new();
    // One file is read and typed while the one before it gets keys and goes to Parquet, when
    // the two together are at most OVERLAP_BYTES on disk; larger files (a month of a million
    // customers is ~90 MB) are taken one at a time, so that memory holds one big file, not two.
    const OVERLAP_BYTES: u64 = 64 << 20;
    // Rows per slice of a fact file (`CRM_MART_ETL_SLICE_ROWS` changes it, e.g. to test that a
    // file cut into many slices loads exactly as one).
    let fact_slice_rows = std::env::var("CRM_MART_ETL_SLICE_ROWS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1 << 18);
    let in_flight = 1;
    let chunks: Vec<&[(&'static str, PathBuf, String)]> = fact_files.chunks(in_flight).collect();
    let chunk_bytes = |k: usize| -> u64 {
        chunks.get(k).map_or(0, |c| {
            c.iter()
                .map(|(_, p, _)| std::fs::metadata(p).map_or(0, |m| m.len()))
                .sum()
        })
    };
    let load_chunk = |k: usize| -> Vec<Result<(Loaded, f64)>> {
        chunks
            .get(k)
            .map(|c| c.par_iter().map(load).collect())
            .unwrap_or_default()
    };
    let handle = tokio::runtime::Handle::current();
    let mut pending = load_chunk(0);
    for k in 0..chunks.len() {
        let current = std::mem::take(&mut pending);
        let conform = || -> Result<()> {
            let _runtime = handle.enter();
            for r in current {
                let (f, secs) = r?;
                let mut late = Vec::new();
                let table = match f.entity {
                    "sales" => "fact_sales",
                    _ => "fact_contacts",
                };
                // A slice of rows at a time, each slice's rows straight into the table's open
                // Parquet files: the keys and measures of a whole month are never all in
                // memory at once.
                let mut next_line = HashMap::new();
                let height = f.typed.df.height();
                for start in (0..height).step_by(fact_slice_rows) {
                    let part = f.typed.df.slice(start as i64, fact_slice_rows);
                    let mut ctx = facts::FactContext {
                        batch_id: &batch_id,
                        has_source: &has_source,
                        customers: &mut dim_customer,
                        products: &mut dim_product,
                        stores: &mut dim_store,
                        campaigns: &mut dim_campaign,
                        keys: &mut fact_keys,
                    };
                    let out = match f.entity {
                        "sales" => facts::sales(
                            &mut ctx,
                            &f,
                            &part,
                            &mut next_line,
                            settings.mapping("sales"),
                            &mut late,
                        )?,
                        _ => facts::contacts(&mut ctx, &f, &part, &mut late)?,
                    };
                    if let Some((batch, days)) = out {
                        dates.extend(days);
                        if !writers.contains_key(table) {
                            let w = futures::executor::block_on(mart.append_writer(table))?;
                            writers.insert(table, Some(w));
                        }
                        if let Some(Some(w)) = writers.get_mut(table) {
                            futures::executor::block_on(w.write(&batch))?;
                        }
                    }
                }
                if let Some(Some(w)) = writers.get_mut(table) {
                    futures::executor::block_on(w.end_files())?;
                }
                acc.record(&f, &late, secs)?;
            }
            Ok(())
        };
        // The next files are read and typed while this chunk's rows get their keys and go to
        // Parquet: the two halves overlap instead of taking turns on the cores.
        pending = if chunk_bytes(k) + chunk_bytes(k + 1) <= OVERLAP_BYTES {
            let (next, done) = rayon::join(|| load_chunk(k + 1), conform);
            done?;
            next
        } else {
            conform()?;
            load_chunk(k + 1)
        };
    }
    tracing::info!(
        elapsed_s = started.elapsed().as_secs_f64(),
        "fact files processed"
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let Accounts {
        quarantine: quarantine_rows,
        stats,
        ..
    } = acc;

    // 6. dim_date covers whole years around every fact date, old and new.
    let existing_dates = mart
        .query(
            "dim_date",
            "SELECT min(date_key) AS lo, max(date_key) AS hi FROM dim_date",
        )
        .await?;
    let mut range: Option<(i32, i32)> = None;
    for b in &existing_dates {
        if let (Some(lo), Some(hi)) = (
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int32Array>(),
            b.column(1)
                .as_any()
                .downcast_ref::<arrow::array::Int32Array>(),
        ) && b.num_rows() > 0
            && !lo.is_null(0)
        {
            range = Some((lo.value(0) / 10000, hi.value(0) / 10000));
        }
    }
    let old_range = range;
    for d in &dates {
        let y = d / 10000;
        range = Some(match range {
            None => (y, y),
            Some((lo, hi)) => (lo.min(y), hi.max(y)),
        });
    }

    tracing::info!(elapsed_s = started.elapsed().as_secs_f64(), "committing");
    // 7. Commit: dimensions, facts, quarantine, then the run record that marks the batch done.
    let mut committed = Vec::new();
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
    for dim in [&dim_product, &dim_store, &dim_campaign, &dim_customer] {
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
        if !writers.contains_key(table)
            && !mart.has_table(table)
            && mart
                .commit(table, Vec::new(), WriteMode::Append, seq)
                .await?
        {
            committed.push(table.to_string());
        }
    }
    for (table, writer) in writers {
        if let Some(w) = writer
            && w.commit(seq).await?
        {
            committed.push(table.to_string());
        }
    }
    let q_batch = dims::batch_from_rows(&schema::schema("_quarantine"), &quarantine_rows)?;
    if (q_batch.num_rows() > 0 || !mart.has_table("_quarantine"))
        && mart
            .commit("_quarantine", vec![q_batch], WriteMode::Append, seq)
            .await?
    {
        committed.push("_quarantine".to_string());
    }
    let finished_at = chrono::Utc::now().timestamp_micros();
    let run_rows: Vec<Vec<Cell>> = stats
        .values()
        .map(|s| {
            Ok(vec![
                Cell::Str(batch_id.as_str().into()),
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
            ])
        })
        .collect::<Result<_>>()?;
    let runs_batch = dims::batch_from_rows(&schema::schema("_etl_runs"), &run_rows)?;
    if mart
        .commit("_etl_runs", vec![runs_batch], WriteMode::Append, seq)
        .await?
    {
        committed.push("_etl_runs".to_string());
    }
    Ok(EtlReport {
        batch_id: Some(batch_id),
        seq,
        entities: stats.into_values().collect(),
        files_already_loaded: already,
        tables_committed: committed,
        seconds: started.elapsed().as_secs_f64(),
    })
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
    let tracked: Vec<usize> = ["email", "phone", "city", "region", "country"]
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
