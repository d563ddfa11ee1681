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
pub mod lookup;
pub mod read;
pub mod restate;
pub mod validate;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};
use polars::prelude::{AnyValue, Column};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::config::{ENTITIES, Settings, glob_files, spec};
use crate::error::{Error, Result};
use crate::mart::delta::{AppendWriter, Mart, WriteMode};
use crate::mart::schema;
use crate::util::fs::{FileLock, lock_file};
use dims::{Cell, Dim};
use read::{FileRows, Reject};
use validate::Typed;

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
    // A file declared as another entity's lookup (`customers.csv` of a normalized export) is
    // not this entity's source.
    let lookups: HashSet<PathBuf> = lookup_files(settings)?
        .into_iter()
        .flat_map(|(_, _, files)| files)
        .collect();
    for pattern in [
        format!("{entity}.csv"),
        format!("{entity}.jsonl"),
        format!("{entity}.parquet"),
        format!("{entity}/*.csv"),
        format!("{entity}/*.jsonl"),
        format!("{entity}/*.parquet"),
    ] {
        let found: Vec<PathBuf> = glob_files(&settings.source_dir, &pattern)?
            .into_iter()
            .filter(|f| !lookups.contains(f))
            .collect();
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// The lookups of every entity: (entity, lookup name, its files). A lookup path that matches
/// no file is an error.
pub fn lookup_files(settings: &Settings) -> Result<Vec<(&'static str, String, Vec<PathBuf>)>> {
    let mut out = Vec::new();
    for e in ENTITIES {
        for (name, l) in &settings.mapping(e).lookup {
            let files = glob_files(&settings.source_dir, &l.path)?;
            if files.is_empty() {
                return Err(Error::source(
                    &settings.source_dir.join(&l.path),
                    format!(
                        "[sources.{e}.lookup.{name}] path = \"{}\" matches no file in {}; fix the path",
                        l.path,
                        settings.source_dir.display()
                    ),
                ));
            }
            out.push((*e, name.clone(), files));
        }
    }
    Ok(out)
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
            self.quarantine
                .push(quarantine_row(self.batch_id, f.entity, &f.rel, r));
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
            ..Default::default()
        });
        Ok(())
    }

    /// Moves restated rows from loaded to updated or unchanged, per file.
    fn record_restated(&mut self, entity: &'static str, outcome: &restate::Outcome) {
        let Some(s) = self.stats.get_mut(entity) else {
            return;
        };
        for f in s.files.iter_mut().filter(|f| f.lookup.is_none()) {
            if let Some(&(updated, unchanged)) = outcome.get(&f.path) {
                f.rows_loaded -= unchanged;
                f.rows_updated += updated;
                f.rows_unchanged += unchanged;
                s.rows_loaded -= unchanged;
                s.rows_updated += updated;
                s.rows_unchanged += unchanged;
            }
        }
    }

    /// Records the files of a lookup of `entity`: their rejects go to quarantine (source
    /// `<entity>.lookup.<name>`), and each file's rows are matched, unused or quarantined.
    fn record_lookup(&mut self, entity: &'static str, l: &lookup::Lookup) -> Result<()> {
        let source = format!("{entity}.lookup.{}", l.name);
        for (f, (matched, unused)) in l.files.iter().zip(l.usage()) {
            let q = f.rejects.len() as u64;
            if f.rows_read != matched + unused + q {
                return Err(Error::Invariant(format!(
                    "{}: read {} rows but matched {matched}, left {unused} and quarantined {q}",
                    f.rel, f.rows_read
                )));
            }
            for r in &f.rejects {
                self.quarantine
                    .push(quarantine_row(self.batch_id, &source, &f.rel, r));
            }
            let s = self.stats.entry(entity).or_insert_with(|| EntityStats {
                entity: entity.to_string(),
                ..Default::default()
            });
            s.files.push(FileRecord {
                path: f.rel.clone(),
                sha256: f.sha256.clone(),
                rows_read: f.rows_read,
                rows_loaded: matched,
                rows_quarantined: q,
                lookup: Some(l.name.clone()),
                rows_unused: Some(unused),
                ..Default::default()
            });
        }
        Ok(())
    }
}

/// Refuses the batch when an entity's share of quarantined rows is above `max_share`: a batch
/// that is mostly bad (a file in the wrong encoding, a changed export layout, a dimension file
/// whose ids do not match the facts) must not be half-loaded. The message has the counts per
/// reason and three sample rows.
fn quality_gate(
    stats: &BTreeMap<&'static str, EntityStats>,
    quarantine: &[Vec<Cell>],
    max_share: f64,
) -> Result<()> {
    let mut problems = Vec::new();
    for (entity, s) in stats {
        if s.rows_read == 0 {
            continue;
        }
        let share = s.rows_quarantined as f64 / s.rows_read as f64;
        if share <= max_share {
            continue;
        }
        let rows: Vec<&Vec<Cell>> = quarantine
            .iter()
            .filter(|r| r[1].as_str() == Some(entity))
            .collect();
        let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &rows {
            let code = r[5].as_str().unwrap_or("").split(':').next().unwrap_or("");
            *reasons.entry(code).or_default() += 1;
        }
        let mut reasons: Vec<(&str, u64)> = reasons.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let samples: Vec<String> = rows
            .iter()
            .take(3)
            .map(|r| {
                let raw: String = r[4].as_str().unwrap_or("").chars().take(100).collect();
                format!(
                    "    {} line {}: {}\n      {raw:?}",
                    r[2].as_str().unwrap_or(""),
                    match r[3] {
                        Cell::I64(l) => l,
                        _ => 0,
                    },
                    r[5].as_str().unwrap_or("")
                )
            })
            .collect();
        let files: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
        // Unknown references point at the dimension file that lacks the ids: name it, it is
        // usually the file to fix.
        let mut referenced: Vec<String> = Vec::new();
        for r in &rows {
            let reference = r[5].as_str().unwrap_or("").starts_with("unknown_reference");
            let dim = match r[6].as_str() {
                Some("customer_id") => "customers",
                Some("product_id") => "products",
                Some("store_id") => "stores",
                Some("campaign_id") => "campaigns",
                _ => continue,
            };
            let Some(d) = stats.get(dim).filter(|_| reference) else {
                continue;
            };
            let note = format!(
                "the ids are not in {dim} ({}: {} rows read, {} loaded)",
                d.files
                    .iter()
                    .map(|f| f.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                d.rows_read,
                d.rows_loaded
            );
            if !referenced.contains(&note) {
                referenced.push(note);
            }
        }
        let referenced = if referenced.is_empty() {
            String::new()
        } else {
            format!("; for unknown_reference, {}", referenced.join("; "))
        };
        problems.push(format!(
            "{entity} ({}): {} of {} rows ({:.1}%) would be quarantined, above the limit of {:.1}%; by reason: {}{referenced}\n  first rows:\n{}",
            files.join(", "),
            s.rows_quarantined,
            s.rows_read,
            share * 100.0,
            max_share * 100.0,
            reasons
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            samples.join("\n")
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::QualityGate {
        message: format!(
            "the batch was not committed (the mart is unchanged): {}\nFix the export or its mapping in crm-mart.toml (encoding, delimiter, columns, value maps) and run again; to load such a batch anyway, raise [quality] max_quarantine_share.",
            problems.join("\n")
        ),
    })
}

/// A `_quarantine` row.
fn quarantine_row(batch_id: &str, source: &str, file: &str, r: &Reject) -> Vec<Cell> {
    vec![
        Cell::Str(batch_id.into()),
        Cell::Str(source.into()),
        Cell::Str(file.into()),
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
    ]
}

/// A source file of this batch: its entity, path and content hash.
type NewFile = (&'static str, PathBuf, String);

/// What the source directory holds that the mart has not loaded.
struct Discovered {
    /// The files no earlier batch loaded (the same content twice counts once).
    new_files: Vec<NewFile>,
    /// Files loaded by earlier batches.
    already: usize,
    /// The last batch's sequence number.
    max_seq: i64,
    /// Per entity: whether any file exists for it.
    has_source: BTreeMap<&'static str, bool>,
}

/// The source files and what of them is new.
async fn new_files(settings: &Settings, mart: &Mart) -> Result<Discovered> {
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
    Ok(Discovered {
        new_files,
        already,
        max_seq,
        has_source,
    })
}

/// Every file must be loadable (readable, required columns present) before any work or any
/// commit: a broken file stops the run with the mart untouched.
fn check_loadable(
    settings: &Settings,
    new_files: &[NewFile],
    all_lookups: &[(&'static str, String, Vec<PathBuf>)],
    cfg_path: &Path,
) -> Result<()> {
    let mut lookup_columns: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (entity, name, files) in all_lookups {
        let l = &settings.mapping(entity).lookup[name];
        let reading = l.reading(settings.mapping(entity));
        for f in files {
            let cols = read::columns_of(f, &reading, cfg_path)?;
            lookup_columns.entry(entity).or_default().extend(cols);
        }
    }
    new_files
        .par_iter()
        .map(|(entity, path, _)| {
            let mapping = settings.mapping(entity);
            let mut found = read::columns_of(path, mapping, cfg_path)?;
            found.extend(lookup_columns.get(entity).into_iter().flatten().cloned());
            if read::format_of(path, mapping) == crate::config::SourceFormat::Jsonl {
                return Ok(()); // JSON keys vary by line: checked on the full read
            }
            validate::check_columns(entity, path, &found, mapping)
        })
        .collect::<Result<Vec<()>>>()?;
    Ok(())
}

/// The lookup files of the entities with new files, read once for the batch.
fn read_lookups(
    settings: &Settings,
    new_files: &[NewFile],
    all_lookups: &[(&'static str, String, Vec<PathBuf>)],
    cfg_path: &Path,
) -> Result<BTreeMap<&'static str, Vec<lookup::Lookup>>> {
    let mut lookups: BTreeMap<&'static str, Vec<lookup::Lookup>> = BTreeMap::new();
    for (entity, name, files) in all_lookups {
        if !new_files.iter().any(|(e, _, _)| e == entity) {
            continue;
        }
        let mapping = settings.mapping(entity);
        let files: Vec<(PathBuf, String, String)> = files
            .iter()
            .map(|p| Ok((p.clone(), rel_path(settings, p), sha256_file(p)?)))
            .collect::<Result<_>>()?;
        let l = lookup::Lookup::read(
            name,
            &mapping.lookup[name],
            mapping,
            &files,
            cfg_path,
            settings.quality.max_quarantine_share,
        )?;
        lookups.entry(entity).or_default().push(l);
    }
    Ok(lookups)
}

/// Runs one ETL batch. `progress` shows bars on stderr.
pub async fn run(settings: &Settings, progress: bool) -> Result<EtlReport> {
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
    let Discovered {
        new_files,
        already,
        max_seq,
        has_source,
    } = new_files(settings, &mart).await?;
    if new_files.is_empty() {
        return Ok(EtlReport {
            files_already_loaded: already,
            seconds: started.elapsed().as_secs_f64(),
            ..Default::default()
        });
    }
    // Every file must be loadable (readable, required columns present) before any work or any
    // commit: a broken file stops the run with the mart untouched.
    let all_lookups = lookup_files(settings)?;
    check_loadable(settings, &new_files, &all_lookups, &cfg_path)?;
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

    // Lookups of the entities with new files, read once for the batch.
    let lookups = read_lookups(settings, &new_files, &all_lookups, &cfg_path)?;

    // 2. Dimension files: read and type (in parallel), then apply to the dimensions.
    let bar = progress_bar(progress, new_files.len() as u64, "loading");
    let load = |(entity, path, sha): &(&'static str, PathBuf, String)| -> Result<(Loaded, f64)> {
        let t = Instant::now();
        let mapping = settings.mapping(entity);
        let rows = read::read_file(
            path,
            mapping,
            &cfg_path,
            settings.quality.max_quarantine_share,
        )?;
        let mut rows = rows;
        if let Some(l) = lookups.get(entity) {
            lookup::apply(path, &mut rows, l)?;
        }
        validate::check_columns(entity, path, &rows.columns, mapping)?;
        let typed = validate::type_rows(entity, &mut rows, mapping)
            .map_err(|e| Error::source(path, format!("cannot type the rows: {e}")))?;
        rows.release_text_columns();
        let rel = rel_path(settings, path);
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
    let restated: std::sync::Mutex<BTreeMap<&'static str, restate::Candidates>> =
        Default::default();
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
                    dates.extend(out.days);
                    if let Some(rows) = out.restated {
                        restated
                            .lock()
                            .map_err(|_| Error::Invariant("restated rows: lock poisoned".into()))?
                            .entry(table)
                            .or_default()
                            .parts
                            .push((rows, f.rel.clone()));
                    }
                    if let Some(batch) = out.rows {
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
    for (entity, ls) in &lookups {
        for l in ls {
            acc.record_lookup(entity, l)?;
        }
    }
    // A batch with too many bad rows is refused before anything is committed; the data files
    // written so far are removed.
    if let Err(e) = quality_gate(
        &acc.stats,
        &acc.quarantine,
        settings.quality.max_quarantine_share,
    ) {
        for w in std::mem::take(&mut writers).into_values().flatten() {
            w.abort().await?;
        }
        return Err(e);
    }
    // Restated facts: compared with the mart; changed ones replace their rows in the table's
    // commit, unchanged ones are only counted.
    let restated = restated
        .into_inner()
        .map_err(|_| Error::Invariant("restated rows: lock poisoned".into()))?;
    for (table, candidates) in restated {
        if matches!(writers.get(table), Some(None)) {
            continue; // the table already holds this batch (a rerun after a crash)
        }
        if !writers.contains_key(table) {
            writers.insert(table, Some(mart.append_writer(table).await?));
        }
        let Some(Some(w)) = writers.get_mut(table) else {
            continue;
        };
        let outcome = restate::resolve(&mart, table, candidates, w).await?;
        let entity = if table == "fact_sales" {
            "sales"
        } else {
            "contacts"
        };
        acc.record_restated(entity, &outcome);
    }
    let Accounts {
        quarantine: quarantine_rows,
        stats,
        ..
    } = acc;

    // 6. dim_date covers whole years around every fact date, old and new.
    let mut range = mart
        .date_key_range()
        .await?
        .map(|(lo, hi)| (lo / 10000, hi / 10000));
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
                Cell::I64(s.rows_updated as i64),
                Cell::I64(s.rows_unchanged as i64),
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
