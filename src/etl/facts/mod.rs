//! Fact rows: natural-key and reference checks, surrogate keys, measures.
//!
//! A fact whose natural key was loaded before (by an earlier batch, or earlier in this one) or
//! that references a customer, product, store or campaign unknown to a dimension that has its
//! own source is quarantined. When a dimension has no source at all, its members are derived
//! from the facts instead (e.g. products from the ids and descriptions on invoice lines).

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int32Array, Int64Array};
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Datelike};
use polars::prelude::{DataFrame, DataType as PlType};

use super::Loaded;
use super::dims::Dim;
use super::read::{LINE_COL, Reject};
use super::validate::ROW_COL;
use crate::error::{Error, Result};
use crate::mart::delta::Mart;
use crate::mart::schema::{self, MartTable};

mod contacts;
mod sales;

pub use contacts::contacts;
pub use sales::sales;

/// Natural keys of facts already in the mart (from other batches), and of those loaded in this
/// batch. A key of the first kind is a restatement (an update, if its content changed); a key
/// seen twice in one batch is a duplicate.
#[derive(Default)]
pub struct FactKeys {
    sales: HashSet<u64, BuildKeyHasher>,
    contacts: HashSet<u64, BuildKeyHasher>,
    batch_sales: HashSet<u64, BuildKeyHasher>,
    batch_contacts: HashSet<u64, BuildKeyHasher>,
}

impl FactKeys {
    /// Claims an order line's key for this batch; false when an earlier batch loaded it (the
    /// row restates it).
    fn claim_sales(&mut self, h: u64) -> bool {
        self.batch_sales.insert(h);
        !self.sales.contains(&h)
    }

    /// Claims a contact's key for this batch; false when an earlier batch loaded it.
    fn claim_contacts(&mut self, h: u64) -> bool {
        self.batch_contacts.insert(h);
        !self.contacts.contains(&h)
    }
}

/// Fact rows built from a slice of a file.
#[derive(Default)]
pub struct FactRows {
    /// New rows.
    pub rows: Option<RecordBatch>,
    /// Rows whose natural key an earlier batch loaded: updates or unchanged, decided by
    /// [`super::restate`].
    pub restated: Option<RecordBatch>,
    /// (min, max) date keys of the rows.
    pub days: Vec<i32>,
}

/// The key sets hold hashes already: hashing them again would be wasted work.
#[derive(Default, Clone, Copy)]
pub struct BuildKeyHasher;

impl std::hash::BuildHasher for BuildKeyHasher {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

/// Passes a u64 through unchanged.
pub struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Hash of a natural key; a fixed-seed fast hash (the set lives only for one run).
fn key_hash(key: impl Hash) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x6372_6d2d_6d61_7274).hash_one(key)
}

/// Loads the natural keys of facts loaded by batches other than `batch_id`. (Rows of this very
/// batch may already be committed if an earlier attempt crashed; they must not count as
/// duplicates of themselves.)
pub async fn existing_keys(mart: &Mart, batch_id: &str) -> Result<FactKeys> {
    let mut keys = FactKeys::default();
    for b in super::utf8(mart.fact_keys(MartTable::FactSales, batch_id).await?)? {
        let o = super::str_col(&b, "order_id")?;
        let l = b
            .column_by_name("line_no")
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .ok_or_else(|| Error::Invariant("fact_sales.line_no is not Int64".into()))?;
        for i in 0..b.num_rows() {
            keys.sales.insert(key_hash((o.value(i), l.value(i))));
        }
    }
    for b in super::utf8(mart.fact_keys(MartTable::FactContacts, batch_id).await?)? {
        let c = super::str_col(&b, "contact_id")?;
        for i in 0..b.num_rows() {
            keys.contacts.insert(key_hash(c.value(i)));
        }
    }
    Ok(keys)
}

/// Everything the fact builders need besides the file.
pub struct FactContext<'a> {
    /// The batch being loaded.
    pub batch_id: &'a str,
    /// Whether each entity has source files (if not, its members are derived).
    pub has_source: &'a BTreeMap<&'static str, bool>,
    /// Customer dimension (SCD2).
    pub customers: &'a mut Dim,
    /// Product dimension.
    pub products: &'a mut Dim,
    /// Store dimension.
    pub stores: &'a mut Dim,
    /// Campaign dimension.
    pub campaigns: &'a mut Dim,
    /// Natural keys seen.
    pub keys: &'a mut FactKeys,
}

/// Earliest value of timestamp column `name`, in µs.
pub fn min_timestamp(df: &DataFrame, name: &str) -> Option<i64> {
    let c = df.column(name).ok()?.cast(&PlType::Int64).ok()?;
    c.i64().ok()?.iter().flatten().min()
}

fn ts_column(df: &DataFrame, name: &str) -> Result<Vec<i64>> {
    let c = df.column(name)?.cast(&PlType::Int64)?;
    Ok(c.i64()?.iter().map(|v| v.unwrap_or(0)).collect())
}

fn strs<'a>(df: &'a DataFrame, name: &str) -> Result<Vec<Option<&'a str>>> {
    Ok(df.column(name)?.str()?.iter().collect())
}

fn floats(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    Ok(df.column(name)?.f64()?.iter().collect())
}

/// Remembers the keys of the last day seen: facts come in runs of the same day.
#[derive(Default)]
struct DayCache {
    day: Option<i64>,
    keys: (i32, i32),
}

impl DayCache {
    fn keys(&mut self, ts: i64) -> (i32, i32) {
        let day = ts.div_euclid(86_400_000_000);
        if self.day != Some(day) {
            self.day = Some(day);
            self.keys = date_keys(ts);
        }
        self.keys
    }
}

/// (date_key yyyymmdd, month_key yyyymm) of a µs timestamp.
fn date_keys(ts: i64) -> (i32, i32) {
    let d = DateTime::from_timestamp_micros(ts)
        .map(|t| t.date_naive())
        .unwrap_or_default();
    let month = d.year() * 100 + d.month() as i32;
    (month * 100 + d.day() as i32, month)
}

fn late_reject(
    f: &Loaded,
    df: &DataFrame,
    i: usize,
    code: &'static str,
    column: &str,
    value: &str,
    message: String,
) -> (usize, Reject) {
    let row = df
        .column(ROW_COL)
        .ok()
        .and_then(|c| c.u32().ok().and_then(|c| c.get(i)))
        .unwrap_or(0);
    let line = df
        .column(LINE_COL)
        .ok()
        .and_then(|c| c.u64().ok().and_then(|c| c.get(i)))
        .unwrap_or(0);
    (
        i,
        Reject {
            line,
            raw: f.rows.raw_of(row as usize),
            code,
            column: Some(column.to_string()),
            value: Some(value.to_string()),
            message,
        },
    )
}

/// A reference that cannot be resolved: (column, value, message).
type Unresolved<'a> = (&'static str, &'a str, String);

/// A reference resolved against its dimension.
#[derive(Clone, Copy)]
enum Found {
    /// The member's key.
    Known(i64),
    /// Not there, and the dimension has no source: derive the member.
    Derive,
    /// Not there, but the dimension has a source: quarantine the row.
    Unknown,
}

fn found(key: Option<i64>, has_source: bool) -> Found {
    match (key, has_source) {
        (Some(k), _) => Found::Known(k),
        (None, true) => Found::Unknown,
        (None, false) => Found::Derive,
    }
}

fn unknown(entity: &str, column: &str, id: &str) -> String {
    format!(
        "{column} '{id}' is not in {entity} (neither in the mart nor in this batch's {entity} files)"
    )
}

/// Per-row outcome and date keys, shared by the fact builders.
struct Marks {
    keep: Vec<bool>,
    restated: Vec<bool>,
    date_key: Vec<i32>,
    month_key: Vec<i32>,
    days: DayCache,
    lo: i32,
    hi: i32,
}

impl Marks {
    fn new(n: usize) -> Self {
        Marks {
            keep: vec![true; n],
            restated: vec![false; n],
            date_key: vec![0; n],
            month_key: vec![0; n],
            days: DayCache::default(),
            lo: i32::MAX,
            hi: i32::MIN,
        }
    }

    /// Row `i` is quarantined, for `reject`.
    fn reject(&mut self, i: usize, reject: (usize, Reject), rejects: &mut Vec<(usize, Reject)>) {
        self.keep[i] = false;
        rejects.push(reject);
    }

    /// Row `i` restates a fact an earlier batch loaded.
    fn restate(&mut self, i: usize) {
        self.keep[i] = false;
        self.restated[i] = true;
    }

    /// Sets row `i`'s date and month keys from its timestamp.
    fn date(&mut self, i: usize, ts: i64) {
        let (dk, mk) = self.days.keys(ts);
        self.date_key[i] = dk;
        self.month_key[i] = mk;
        self.lo = self.lo.min(dk);
        self.hi = self.hi.max(dk);
    }

    /// The date-key and month-key columns.
    fn key_columns(&mut self) -> (ArrayRef, ArrayRef) {
        (
            Arc::new(Int32Array::from(std::mem::take(&mut self.date_key))),
            Arc::new(Int32Array::from(std::mem::take(&mut self.month_key))),
        )
    }

    /// Splits the built rows of `table` into new and restated ones.
    fn finish(self, table: &str, columns: Vec<ArrayRef>) -> Result<FactRows> {
        let batch = RecordBatch::try_new(schema::schema(table), columns)
            .map_err(|e| Error::Invariant(format!("building {table}: {e}")))?;
        let part = |mask: Vec<bool>| -> Result<Option<RecordBatch>> {
            let b = filter_record_batch(&batch, &BooleanArray::from(mask))?;
            Ok((b.num_rows() > 0).then_some(b))
        };
        let restated = if self.restated.iter().any(|r| *r) {
            part(self.restated)?
        } else {
            None
        };
        let rows = part(self.keep)?;
        let days = if rows.is_some() || restated.is_some() {
            vec![self.lo, self.hi]
        } else {
            Vec::new()
        };
        Ok(FactRows {
            rows,
            restated,
            days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_and_month_keys_come_from_the_timestamp() {
        // 2024-02-29T23:59:59
        assert_eq!(date_keys(1_709_251_199_000_000), (20240229, 202402));
    }

    #[test]
    fn fact_keys_hash_both_parts() {
        assert_ne!(key_hash(("A1", 1i64)), key_hash(("A", 11i64)));
    }
}
