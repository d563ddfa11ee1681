//! Normalized exports: columns joined onto each row of an entity's file from lookup files.
//!
//! A CRM or shop database exports order headers, order lines and customers as separate files.
//! `[sources.sales.lookup.<name>]` declares a file whose columns are brought onto each line by a
//! key (`key` in the lookup file, matched against `on`, by default the same name, in the rows),
//! so that the canonical columns can be mapped from any of them. Lookups are applied in an
//! order in which each one's `on` column exists: a lookup may match on a column an earlier one
//! brought in (lines → orders → customers).
//!
//! Contracts: a lookup file holds each key once (a second row with the same key and other
//! content refuses the batch, naming the key and both lines); a row whose key has no match is
//! quarantined as `unknown_reference` with its own file and line; every lookup row is accounted
//! for (matched by a row, unused, or quarantined with its lookup's name as the source).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use polars::prelude::*;

use super::read::{self, FileRows, LINE_COL, RawText, Reject};
use crate::config::{LookupMapping, SourceMapping};
use crate::error::{Error, Result};

/// One lookup file of a lookup, for accounting.
#[derive(Debug, Clone)]
pub struct LookupFile {
    /// Path relative to the source directory.
    pub rel: String,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Records read.
    pub rows_read: u64,
    /// Records set aside (structural problems, an empty key).
    pub rejects: Vec<Reject>,
}

/// A lookup, read: its rows indexed by key.
pub struct Lookup {
    /// The lookup's name (`[sources.<entity>.lookup.<name>]`).
    pub name: String,
    /// Key column of the lookup file.
    pub key: String,
    /// Column of the rows matched against the key.
    pub on: String,
    /// The lookup's files.
    pub files: Vec<LookupFile>,
    /// Text columns of every valid row (the key included), in file order.
    df: DataFrame,
    /// Key → row of `df`.
    index: HashMap<String, IdxSize, foldhash::fast::RandomState>,
    /// (file, line) of each row of `df`.
    origin: Vec<(usize, u64)>,
    /// Whether a row of the entity matched each row of `df`.
    used: Vec<AtomicBool>,
}

impl Lookup {
    /// Reads the files of lookup `name` of `mapping` (each (path, rel, sha256)).
    pub fn read(
        name: &str,
        lookup: &LookupMapping,
        parent: &SourceMapping,
        files: &[(std::path::PathBuf, String, String)],
        cfg: &Path,
        max_invalid_share: f64,
    ) -> Result<Lookup> {
        let reading = lookup.reading(parent);
        let mut frames: Vec<DataFrame> = Vec::new();
        let mut keys = KeyIndex {
            name,
            lookup,
            files: Vec::new(),
            index: HashMap::default(),
            origin: Vec::new(),
        };
        let mut columns: Option<Vec<String>> = None;
        for (k, (path, rel, sha)) in files.iter().enumerate() {
            let rows = read::read_file(path, &reading, cfg, max_invalid_share)?;
            keys.check_header(path, &rows.columns, &mut columns)?;
            let (keep, rejects) = keys.add_file(path, k, &rows)?;
            frames.push(text_frame(&rows.df, &keep)?);
            keys.files.push(LookupFile {
                rel: rel.clone(),
                sha256: sha.clone(),
                rows_read: rows.rows_read,
                rejects,
            });
        }
        let df = stack(frames)?;
        let used = (0..df.height()).map(|_| AtomicBool::new(false)).collect();
        Ok(Lookup {
            name: name.to_string(),
            key: lookup.key.clone(),
            on: lookup.on().to_string(),
            files: keys.files,
            df,
            index: keys.index,
            origin: keys.origin,
            used,
        })
    }

    /// Column names of the lookup's rows.
    pub fn columns(&self) -> Vec<String> {
        self.df
            .get_column_names()
            .iter()
            .map(|c| c.to_string())
            .collect()
    }

    /// Per file: (rows matched by at least one row of the entity, valid rows no row matched).
    pub fn usage(&self) -> Vec<(u64, u64)> {
        let mut out = vec![(0u64, 0u64); self.files.len()];
        for (r, &(f, _)) in self.origin.iter().enumerate() {
            if self.used[r].load(Ordering::Relaxed) {
                out[f].0 += 1;
            } else {
                out[f].1 += 1;
            }
        }
        out
    }
}

/// Joins `lookups` onto `rows` (one file `file` of the entity): the lookups' columns that the
/// rows do not already have are added; rows whose key has no match become `unknown_reference`
/// rejects and leave the frame (their raw text stays available through the rejects).
pub fn apply(file: &Path, rows: &mut FileRows, lookups: &[Lookup]) -> Result<()> {
    let mut pending: Vec<&Lookup> = lookups.iter().collect();
    while !pending.is_empty() {
        let Some(pos) = pending.iter().position(|l| rows.columns.contains(&l.on)) else {
            let l = pending[0];
            return Err(Error::source(
                file,
                format!(
                    "lookup '{}' matches on column '{}', which is neither in this file nor brought in by another lookup; columns available: {}. Set on = \"<column>\" in [sources.<entity>.lookup.{}]",
                    l.name,
                    l.on,
                    rows.columns.join(", "),
                    l.name
                ),
            ));
        };
        let lookup = pending.remove(pos);
        join_one(rows, lookup)?;
    }
    Ok(())
}

fn join_one(rows: &mut FileRows, lookup: &Lookup) -> Result<()> {
    let keys = rows.df.column(&lookup.on)?.cast(&DataType::String)?;
    let keys = keys.str()?.clone();
    let lines = rows.df.column(LINE_COL)?.u64()?.clone();
    let n = keys.len();
    let mut matched = Vec::with_capacity(n);
    let mut take: Vec<IdxSize> = Vec::with_capacity(n);
    let mut rejected = Vec::new();
    for i in 0..n {
        let key = keys.get(i).map(str::trim).filter(|k| !k.is_empty());
        match key.and_then(|k| lookup.index.get(k)) {
            Some(&r) => {
                lookup.used[r as usize].store(true, Ordering::Relaxed);
                take.push(r);
                matched.push(true);
            }
            None => {
                matched.push(false);
                let files: Vec<&str> = lookup.files.iter().map(|f| f.rel.as_str()).collect();
                rejected.push(Reject {
                    line: lines.get(i).unwrap_or(0),
                    raw: rows.raw_of(i),
                    code: "unknown_reference",
                    column: Some(lookup.on.clone()),
                    value: key.map(str::to_string),
                    message: match key {
                        Some(k) => format!(
                            "{} '{k}' is not in lookup '{}' ({}); each row needs a match there",
                            lookup.on,
                            lookup.name,
                            files.join(", ")
                        ),
                        None => format!(
                            "{} is empty, so the row cannot be matched in lookup '{}'",
                            lookup.on, lookup.name
                        ),
                    },
                });
            }
        }
    }
    if !rejected.is_empty() {
        let mask = BooleanChunked::from_slice("matched".into(), &matched);
        rows.df = rows.df.filter(&mask)?;
        if let RawText::Bytes { spans, .. } = &mut rows.raw {
            let mut k = 0;
            spans.retain(|_| {
                k += 1;
                matched[k - 1]
            });
        }
        rows.rejects.extend(rejected);
        rows.rejects.sort_by_key(|r| r.line);
    }
    let idx = IdxCa::from_vec("idx".into(), take);
    let brought = lookup.df.take(&idx)?;
    for c in brought.columns() {
        let name = c.name().to_string();
        if rows.columns.contains(&name) {
            continue; // the entity's own column (or an earlier lookup's) wins
        }
        rows.df.with_column(c.clone())?;
        rows.columns.push(name);
    }
    Ok(())
}

/// A lookup's keys while its files are read.
struct KeyIndex<'a> {
    name: &'a str,
    lookup: &'a LookupMapping,
    files: Vec<LookupFile>,
    index: HashMap<String, IdxSize, foldhash::fast::RandomState>,
    origin: Vec<(usize, u64)>,
}

impl KeyIndex<'_> {
    /// Every file of a lookup has the key column and the first file's columns.
    fn check_header(
        &self,
        path: &Path,
        found: &[String],
        columns: &mut Option<Vec<String>>,
    ) -> Result<()> {
        let name = self.name;
        if !found.iter().any(|c| c == &self.lookup.key) {
            return Err(Error::source(
                path,
                format!(
                    "lookup '{name}': key column '{}' is not in the file; columns found: {}. Set key = \"<column in this file>\" in [sources.<entity>.lookup.{name}]",
                    self.lookup.key,
                    found.join(", ")
                ),
            ));
        }
        match columns {
            Some(c) if c.as_slice() != found => Err(Error::source(
                path,
                format!(
                    "lookup '{name}': the columns differ from those of {} ({}); every file of a lookup has the same header",
                    self.files.first().map(|f| f.rel.as_str()).unwrap_or(""),
                    c.join(", ")
                ),
            )),
            Some(_) => Ok(()),
            None => {
                *columns = Some(found.to_vec());
                Ok(())
            }
        }
    }

    /// Indexes the keys of file `k`'s rows: which rows are kept, and the file's rejects (its
    /// structural ones and the rows with an empty key). A key seen before refuses the batch.
    fn add_file(
        &mut self,
        path: &Path,
        k: usize,
        rows: &FileRows,
    ) -> Result<(Vec<bool>, Vec<Reject>)> {
        let (name, key_col) = (self.name, &self.lookup.key);
        let mut rejects = rows.rejects.clone();
        let keys = rows.df.column(key_col)?.cast(&DataType::String)?;
        let keys = keys.str()?;
        let lines = rows.df.column(LINE_COL)?.u64()?;
        let mut keep = Vec::with_capacity(keys.len());
        for i in 0..keys.len() {
            let line = lines.get(i).unwrap_or(0);
            let key = keys.get(i).map(str::trim).filter(|k| !k.is_empty());
            let Some(key) = key else {
                rejects.push(Reject {
                    line,
                    raw: rows.raw_of(i),
                    code: "missing_value",
                    column: Some(key_col.clone()),
                    value: None,
                    message: format!(
                        "the key '{key_col}' of lookup '{name}' is empty; no row can match it"
                    ),
                });
                keep.push(false);
                continue;
            };
            if let Some(&prev) = self.index.get(key) {
                let (pf, pl) = self.origin[prev as usize];
                let prev_file: &str = if pf == k {
                    "this file"
                } else {
                    self.files[pf].rel.as_str()
                };
                return Err(Error::source(
                    path,
                    format!(
                        "line {line}: lookup '{name}' has key {key_col} = '{key}' twice (first on line {pl} of {prev_file}) with different content; a lookup file holds each key once. Remove or merge one of the rows"
                    ),
                ));
            }
            self.index
                .insert(key.to_string(), self.origin.len() as IdxSize);
            self.origin.push((k, line));
            keep.push(true);
        }
        rejects.sort_by_key(|r| r.line);
        Ok((keep, rejects))
    }
}

/// The kept rows of a lookup file with every column as text, so that files of one lookup stack
/// and its values are typed once, with the entity's own columns.
fn text_frame(df: &DataFrame, keep: &[bool]) -> Result<DataFrame> {
    let mask = BooleanChunked::from_slice("keep".into(), keep);
    let mut df = df.filter(&mask)?;
    df.drop_in_place(LINE_COL)?;
    let text: Vec<Column> = df
        .columns()
        .iter()
        .map(|c| c.cast(&DataType::String))
        .collect::<PolarsResult<_>>()?;
    Ok(DataFrame::new_infer_height(text)?)
}

/// The files' rows, one after the other.
fn stack(frames: Vec<DataFrame>) -> Result<DataFrame> {
    let mut df = match frames.split_first() {
        None => DataFrame::empty(),
        Some((first, rest)) => {
            let mut df = first.clone();
            for f in rest {
                df.vstack_mut(f)?;
            }
            df
        }
    };
    df.rechunk_mut();
    Ok(df)
}
