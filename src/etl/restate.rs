//! Restated facts: a later export repeats an order line or a contact whose natural key is
//! already in the mart (a complaint now resolved, a corrected price).
//!
//! Such a row is not a duplicate but an update. The fact builders set these rows aside (they
//! know only that the key was loaded by an earlier batch); here each one is compared with the
//! row in the mart. Identical content is counted as unchanged and written nowhere. Changed
//! content replaces the old row the way a Delta MERGE does (copy on write): every data file
//! holding a replaced row is rewritten without it, and the new row joins the batch's appended
//! files, so that the table's one commit for the batch removes the old files and adds the new
//! ones. Time travel to the version before shows the old row.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int32Array, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::row::{RowConverter, SortField};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::mart::delta::{AppendWriter, Mart};
use crate::mart::schema;

/// Natural-key columns of a fact table.
fn key_columns(table: &str) -> &'static [&'static str] {
    match table {
        "fact_sales" => &["order_id", "line_no"],
        _ => &["contact_id"],
    }
}

/// Columns that are the row's content (not where or when it was loaded).
fn is_content(name: &str) -> bool {
    !matches!(name, "batch_id" | "month_key")
}

/// Rows set aside by the fact builders for one table, with the file each came from.
#[derive(Default)]
pub struct Candidates {
    /// (rows, source file relative path).
    pub parts: Vec<(RecordBatch, String)>,
}

/// What the comparison found, per source file: (updated, unchanged).
pub type Outcome = HashMap<String, (u64, u64)>;

/// The natural key of every row of `batch` as text (order id and line number joined by a
/// byte no id contains).
fn keys_of(batch: &RecordBatch, keys: &[&str]) -> Result<Vec<String>> {
    let mut out = vec![String::new(); batch.num_rows()];
    for (n, k) in keys.iter().enumerate() {
        let c = batch
            .column_by_name(k)
            .ok_or_else(|| Error::Invariant(format!("restated rows lack {k}")))?;
        let c = cast(c, &arrow::datatypes::DataType::Utf8)?;
        let s = c
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .ok_or_else(|| Error::Invariant(format!("{k} is not text")))?;
        for (i, key) in out.iter_mut().enumerate() {
            if n > 0 {
                key.push('\u{1f}');
            }
            key.push_str(s.value(i));
        }
    }
    Ok(out)
}

/// `batch` with the table's schema: columns cast to the mart's types and the partition column
/// (not stored in the data file) filled from `month`.
fn conform(table: &str, batch: &RecordBatch, month: Option<i32>) -> Result<RecordBatch> {
    let target = schema::schema(table);
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(target.fields().len());
    for f in target.fields() {
        match batch.column_by_name(f.name()) {
            Some(c) => cols.push(cast(c, f.data_type())?),
            None if f.name() == "month_key" => {
                let m = month.ok_or_else(|| {
                    Error::Invariant(format!("{table}: a data file without its month partition"))
                })?;
                cols.push(Arc::new(Int32Array::from(vec![m; batch.num_rows()])));
            }
            None => {
                return Err(Error::Invariant(format!(
                    "{table}: a data file lacks column {}",
                    f.name()
                )));
            }
        }
    }
    Ok(RecordBatch::try_new(target, cols)?)
}

/// Row-comparable encodings of the content columns of `batch` (in the table's schema).
fn content_rows(conv: &RowConverter, table: &str, batch: &RecordBatch) -> Result<arrow::row::Rows> {
    let target = schema::schema(table);
    let cols: Vec<ArrayRef> = target
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| is_content(f.name()))
        .map(|(j, _)| batch.column(j).clone())
        .collect();
    Ok(conv.convert_columns(&cols)?)
}

/// A file of `table` that holds a key of the restated rows: its removal, its month partition
/// and its path.
type Affected = (deltalake::kernel::Remove, Option<i32>, std::path::PathBuf);

/// The files of `table` holding a key in `wanted` (only the key columns are read).
async fn affected_files(
    mart: &Mart,
    table: &'static str,
    keys: &[&str],
    wanted: &HashMap<String, (usize, usize)>,
) -> Result<Vec<Affected>> {
    let dir = mart.table_dir(table);
    let Some(delta) = mart.open(table).await? else {
        return Err(Error::Invariant(format!(
            "{table}: restated rows but no table"
        )));
    };
    let mut affected: Vec<Affected> = Vec::new();
    for view in delta.snapshot()?.log_data().iter() {
        let path = dir.join(view.path().as_ref());
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), keys.iter().copied());
        let mut holds = false;
        for b in builder.with_projection(mask).build()? {
            holds |= keys_of(&b?, keys)?.iter().any(|k| wanted.contains_key(k));
        }
        if holds {
            let month = view
                .partition_values_map()
                .get("month_key")
                .cloned()
                .flatten()
                .and_then(|v| v.parse::<i32>().ok());
            affected.push((view.remove_action(true), month, path));
        }
    }
    Ok(affected)
}

/// The rows of `batch` that replace a row or whose key was not really loaded.
async fn write_new_rows(
    batch: &RecordBatch,
    keys: &[&str],
    replaced: &HashSet<String>,
    found: &HashSet<String>,
    writer: &mut AppendWriter,
) -> Result<()> {
    let take: Vec<bool> = keys_of(batch, keys)?
        .iter()
        .map(|key| replaced.contains(key) || !found.contains(key))
        .collect();
    let rows = filter_record_batch(batch, &BooleanArray::from(take))?;
    if rows.num_rows() > 0 {
        writer.write(&rows).await?;
    }
    Ok(())
}

/// Compares the restated rows of `table` with the mart and queues the updates in `writer`
/// (new rows, and the rewritten rest of every file that held a replaced row, whose removal is
/// part of the writer's commit). Returns the per-file counts.
pub async fn resolve(
    mart: &Mart,
    table: &'static str,
    candidates: Candidates,
    writer: &mut AppendWriter,
) -> Result<Outcome> {
    let keys = key_columns(table);
    let target = schema::schema(table);
    let conv = RowConverter::new(
        target
            .fields()
            .iter()
            .filter(|f| is_content(f.name()))
            .map(|f| SortField::new(f.data_type().clone()))
            .collect(),
    )?;
    // Key → (part, row) of the restated rows.
    let mut wanted: HashMap<String, (usize, usize)> = HashMap::new();
    for (p, (batch, _)) in candidates.parts.iter().enumerate() {
        for (i, key) in keys_of(batch, keys)?.into_iter().enumerate() {
            wanted.insert(key, (p, i));
        }
    }
    let encoded: Vec<arrow::row::Rows> = candidates
        .parts
        .iter()
        .map(|(b, _)| content_rows(&conv, table, b))
        .collect::<Result<_>>()?;
    let mut outcome: Outcome = HashMap::new();
    let mut found: HashSet<String> = HashSet::new();
    let mut replaced: HashSet<String> = HashSet::new();
    let affected = affected_files(mart, table, keys, &wanted).await?;
    let mut removes = Vec::new();
    for (remove, month, path) in affected {
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut old_batches = Vec::new();
        for b in ParquetRecordBatchReaderBuilder::try_new(file)?.build()? {
            old_batches.push(conform(table, &b?, month)?);
        }
        let mut keep_parts = Vec::new();
        let mut rewrite = false;
        for old in &old_batches {
            let old_rows = content_rows(&conv, table, old)?;
            let mut keep = vec![true; old.num_rows()];
            for (i, (k, key)) in keep.iter_mut().zip(keys_of(old, keys)?).enumerate() {
                let Some(&(p, j)) = wanted.get(&key) else {
                    continue;
                };
                found.insert(key.clone());
                let counts = outcome.entry(candidates.parts[p].1.clone()).or_default();
                if old_rows.row(i) == encoded[p].row(j) {
                    counts.1 += 1;
                } else {
                    counts.0 += 1;
                    replaced.insert(key);
                    *k = false;
                    rewrite = true;
                }
            }
            keep_parts.push(filter_record_batch(old, &BooleanArray::from(keep))?);
        }
        if rewrite {
            for part in keep_parts.iter().filter(|p| p.num_rows() > 0) {
                writer.write(part).await?;
            }
            removes.push(remove);
        }
    }
    writer.end_files().await?;
    // The new content of replaced rows, and rows whose key only seemed loaded (the key set
    // holds hashes): both are written as rows of this batch.
    for (batch, _) in &candidates.parts {
        write_new_rows(batch, keys, &replaced, &found, writer).await?;
    }
    writer.end_files().await?;
    writer.remove_files(removes);
    Ok(outcome)
}
