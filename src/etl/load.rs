//! Steps 2 and 3 of a batch: every new file read and typed (in parallel), the dimension files
//! applied to the dimensions, then the fact files, a few at a time, given their keys and
//! measures and written to Parquet files of the fact tables (part of the tables only with the
//! commit).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use super::accounts::Accounts;
use super::dims::Dim;
use super::discover::NewFile;
use super::{Loaded, apply_dimension, facts, lookup, read, rel_path, restate, utf8, validate};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::mart::delta::{AppendWriter, Mart};

/// Reads and types one source file at a time, with the batch's lookups applied.
pub(super) struct Loader<'a> {
    pub settings: &'a Settings,
    pub lookups: &'a BTreeMap<&'static str, Vec<lookup::Lookup>>,
    pub cfg_path: &'a Path,
    pub bar: Option<indicatif::ProgressBar>,
}

impl Loader<'_> {
    /// The file read, looked up and typed, and the seconds it took.
    pub fn load(&self, (entity, path, sha): &NewFile) -> Result<(Loaded, f64)> {
        let t = Instant::now();
        let settings = self.settings;
        let mapping = settings.mapping(entity);
        let mut rows = read::read_file(
            path,
            mapping,
            self.cfg_path,
            settings.quality.max_quarantine_share,
        )?;
        if let Some(l) = self.lookups.get(entity) {
            lookup::apply(path, &mut rows, l)?;
        }
        validate::check_columns(entity, path, &rows.columns, mapping)?;
        let typed = validate::type_rows(entity, &mut rows, mapping)
            .map_err(|e| Error::source(path, format!("cannot type the rows: {e}")))?;
        rows.release_text_columns();
        let rel = rel_path(settings, path);
        if let Some(b) = &self.bar {
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
    }
}

/// The four dimensions with sources, as the mart holds them, changed in memory by the batch.
pub(super) struct Dims {
    pub product: Dim,
    pub store: Dim,
    pub campaign: Dim,
    pub customer: Dim,
}

impl Dims {
    /// The dimensions as committed.
    pub async fn read(mart: &Mart) -> Result<Dims> {
        let dim = async |table: &'static str| Dim::new(table, &utf8(mart.read(table).await?)?);
        let mut customer = dim("dim_customer").await?;
        customer.set_erased(crate::mart::erasure::erased(mart).await?);
        Ok(Dims {
            product: dim("dim_product").await?,
            store: dim("dim_store").await?,
            campaign: dim("dim_campaign").await?,
            customer,
        })
    }

    /// All four, in commit order.
    pub fn all(&self) -> [&Dim; 4] {
        [&self.product, &self.store, &self.campaign, &self.customer]
    }
}

/// Step 2: the dimension files, read in parallel, applied to the dimensions. Customers without
/// `updated_at` change as of the batch's earliest order, which needs a look at the new sales
/// files first (only their timestamps are kept).
pub(super) fn apply_dimension_files(
    loader: &Loader,
    dims: &mut Dims,
    dim_files: &[NewFile],
    fact_files: &[NewFile],
    started_at: i64,
    acc: &mut Accounts,
) -> Result<()> {
    let settings = loader.settings;
    let loaded: Vec<Result<(Loaded, f64)>> = dim_files.par_iter().map(|f| loader.load(f)).collect();
    let mut loaded: Vec<(Loaded, f64)> = loaded.into_iter().collect::<Result<_>>()?;
    let needs_change_ts = loaded.iter().any(|(f, _)| {
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
            .map(|f| {
                loader
                    .load(f)
                    .map(|(l, _)| facts::min_timestamp(&l.typed.df, "order_ts"))
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(started_at)
    } else {
        started_at
    };
    for (f, secs) in &mut loaded {
        let dim = match f.entity {
            "products" => &mut dims.product,
            "stores" => &mut dims.store,
            "campaigns" => &mut dims.campaign,
            _ => &mut dims.customer,
        };
        let mut late = Vec::new();
        apply_dimension(dim, f, change_ts_default, &mut late)?;
        acc.record(f, &late, *secs)?;
    }
    Ok(())
}

/// What the fact files leave for the commit.
#[derive(Default)]
pub(super) struct FactOutput {
    /// Per fact table: its open writer (None: the table already holds this batch, a rerun after
    /// a crash). A table without rows in the batch has no entry.
    pub writers: BTreeMap<&'static str, Option<AppendWriter>>,
    /// The date keys of every fact loaded.
    pub dates: Vec<i32>,
    /// Rows that restate facts already in the mart, per table.
    pub restated: BTreeMap<&'static str, restate::Candidates>,
}

/// One file is read and typed while the one before it gets keys and goes to Parquet, when the
/// two together are at most this many bytes on disk; larger files (a month of a million
/// customers is ~90 MB) are taken one at a time, so that memory holds one big file, not two.
const OVERLAP_BYTES: u64 = 64 << 20;

/// Rows per slice of a fact file (`CRM_MART_ETL_SLICE_ROWS` changes it, e.g. to test that a
/// file cut into many slices loads exactly as one).
fn fact_slice_rows() -> usize {
    std::env::var("CRM_MART_ETL_SLICE_ROWS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1 << 18)
}

/// Where the rows of the fact files go.
pub(super) struct FactTarget<'a> {
    pub settings: &'a Settings,
    pub mart: &'a Mart,
    pub batch_id: &'a str,
    pub seq: i64,
    pub has_source: &'a BTreeMap<&'static str, bool>,
}

/// Step 3: the fact files, a few at a time so that memory stays bounded by the files in flight:
/// read and typed in parallel, then keys and measures in file order (derived dimension members
/// get keys in order of first appearance), then straight to Parquet files of the fact table.
pub(super) async fn load_fact_files(
    loader: &Loader<'_>,
    target: &FactTarget<'_>,
    dims: &mut Dims,
    fact_files: &[NewFile],
    acc: &mut Accounts<'_>,
) -> Result<FactOutput> {
    let mart = target.mart;
    let mut keys = facts::existing_keys(mart, target.batch_id).await?;
    // Writers are opened at the first batch of rows (creating the table if needed), and not at
    // all for a table that already holds this batch (a rerun after a crash).
    let mut out = FactOutput::default();
    for table in ["fact_sales", "fact_contacts"] {
        if mart.has_batch(table, target.seq).await? {
            out.writers.insert(table, None);
        }
    }
    let chunks: Vec<&[NewFile]> = fact_files.chunks(1).collect();
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
            .map(|c| c.par_iter().map(|f| loader.load(f)).collect())
            .unwrap_or_default()
    };
    let handle = tokio::runtime::Handle::current();
    let slice_rows = fact_slice_rows();
    let mut pending = load_chunk(0);
    for k in 0..chunks.len() {
        let current = std::mem::take(&mut pending);
        let conform = || -> Result<()> {
            let _runtime = handle.enter();
            for r in current {
                let (f, secs) = r?;
                let late = conform_file(target, dims, &mut keys, &f, slice_rows, &mut out)?;
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
    Ok(out)
}

/// One typed fact file: a slice of rows at a time, each slice's rows straight into the table's
/// open Parquet files, so that the keys and measures of a whole month are never all in memory at
/// once. Returns the rows rejected late (keys, references).
fn conform_file(
    target: &FactTarget,
    dims: &mut Dims,
    keys: &mut facts::FactKeys,
    f: &Loaded,
    slice_rows: usize,
    out: &mut FactOutput,
) -> Result<Vec<(usize, read::Reject)>> {
    let mut late = Vec::new();
    let table = match f.entity {
        "sales" => "fact_sales",
        _ => "fact_contacts",
    };
    let mut next_line = HashMap::new();
    let height = f.typed.df.height();
    for start in (0..height).step_by(slice_rows) {
        let part = f.typed.df.slice(start as i64, slice_rows);
        let mut ctx = facts::FactContext {
            batch_id: target.batch_id,
            has_source: target.has_source,
            customers: &mut dims.customer,
            products: &mut dims.product,
            stores: &mut dims.store,
            campaigns: &mut dims.campaign,
            keys,
        };
        let slice = match f.entity {
            "sales" => facts::sales(
                &mut ctx,
                f,
                &part,
                &mut next_line,
                target.settings.mapping("sales"),
                &mut late,
            )?,
            _ => facts::contacts(&mut ctx, f, &part, &mut late)?,
        };
        out.dates.extend(slice.days);
        if let Some(rows) = slice.restated {
            out.restated
                .entry(table)
                .or_default()
                .parts
                .push((rows, f.rel.clone()));
        }
        if let Some(batch) = slice.rows {
            if !out.writers.contains_key(table) {
                let w = futures::executor::block_on(target.mart.append_writer(table))?;
                out.writers.insert(table, Some(w));
            }
            if let Some(Some(w)) = out.writers.get_mut(table) {
                futures::executor::block_on(w.write(&batch))?;
            }
        }
    }
    if let Some(Some(w)) = out.writers.get_mut(table) {
        futures::executor::block_on(w.end_files())?;
    }
    Ok(late)
}

/// What a batch's files are loaded against.
pub(super) struct Batch<'a> {
    pub settings: &'a Settings,
    pub lookups: &'a BTreeMap<&'static str, Vec<lookup::Lookup>>,
    pub cfg_path: &'a Path,
    pub mart: &'a Mart,
    pub batch_id: &'a str,
    pub seq: i64,
    pub has_source: &'a BTreeMap<&'static str, bool>,
    /// When the run started (µs), the change time of customers without `updated_at` when the
    /// batch has no sales.
    pub started_at: i64,
    /// Progress bars on stderr.
    pub progress: bool,
}

/// Steps 2 and 3: the dimension files applied, then the fact files to Parquet.
pub(super) async fn load_files(
    b: &Batch<'_>,
    new_files: Vec<NewFile>,
    acc: &mut Accounts<'_>,
) -> Result<(Dims, FactOutput)> {
    let started = Instant::now();
    let loader = Loader {
        settings: b.settings,
        lookups: b.lookups,
        cfg_path: b.cfg_path,
        bar: super::progress_bar(b.progress, new_files.len() as u64, "loading"),
    };
    let (fact_files, dim_files): (Vec<_>, Vec<_>) = new_files
        .into_iter()
        .partition(|(e, _, _)| *e == "sales" || *e == "contacts");
    let mut dims = Dims::read(b.mart).await?;
    apply_dimension_files(
        &loader,
        &mut dims,
        &dim_files,
        &fact_files,
        b.started_at,
        acc,
    )?;
    tracing::info!(
        elapsed_s = started.elapsed().as_secs_f64(),
        "dimensions applied"
    );
    let target = FactTarget {
        settings: b.settings,
        mart: b.mart,
        batch_id: b.batch_id,
        seq: b.seq,
        has_source: b.has_source,
    };
    let facts = load_fact_files(&loader, &target, &mut dims, &fact_files, acc).await?;
    tracing::info!(
        elapsed_s = started.elapsed().as_secs_f64(),
        "fact files processed"
    );
    if let Some(bar) = &loader.bar {
        bar.finish_and_clear();
    }
    Ok((dims, facts))
}
