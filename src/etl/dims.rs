//! Dimensions in memory: surrogate keys, type-1 upserts, SCD type 2 for customers.
//!
//! Dimensions are small next to facts, so they are held as rows of [`Cell`]s laid out exactly as
//! the mart schema, read from the mart at the start of a batch and written back whole (one
//! overwrite commit) when the batch changed them. Surrogate keys are never reused: an id keeps
//! its key across runs; new ids get the next key in the order they first appear, which is
//! deterministic because files are processed in path order.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Date32Array, Date32Builder, Float64Array,
    Float64Builder, Int32Array, Int32Builder, Int64Array, Int64Builder, StringArray, StringBuilder,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use hashbrown::HashTable;

use crate::error::{Error, Result};
use crate::mart::schema;

/// One value of a dimension row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// Text (boxed: a dimension holds millions of these, and a `String`'s spare capacity
    /// field would make every cell of every row 8 bytes larger).
    Str(Box<str>),
    /// 64-bit integer (keys).
    I64(i64),
    /// 32-bit integer.
    I32(i32),
    /// Double.
    F64(f64),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00:00.
    Ts(i64),
    /// Boolean.
    Bool(bool),
}

impl Cell {
    /// The text, if this is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Cell::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The number as f64, if numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::F64(v) => Some(*v),
            Cell::I64(v) => Some(*v as f64),
            Cell::I32(v) => Some(*v as f64),
            _ => None,
        }
    }
}

/// Start of time for the first version of a customer.
pub const VALID_FROM_MIN: i64 = -2_208_988_800_000_000; // 1900-01-01T00:00:00
/// End of time for the current version of a customer: 2199-12-31, not 9999-12-31, so that
/// tools with nanosecond timestamps (pandas, DataFusion literals) can compare against it.
pub const VALID_TO_MAX: i64 = 7_258_032_000_000_000; // 2199-12-31T00:00:00

/// Reads record batches of `schema` into rows.
pub fn rows_from_batches(batches: &[RecordBatch], schema: &SchemaRef) -> Result<Vec<Vec<Cell>>> {
    let mut rows = Vec::new();
    for b in batches {
        let cols: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| match b.column_by_name(f.name()) {
                Some(c) => Ok(c.clone()),
                // A column added to the contract later (a mart written by an older version):
                // empty until the next write fills it.
                None if f.is_nullable() => {
                    Ok(arrow::array::new_null_array(f.data_type(), b.num_rows()))
                }
                None => Err(Error::Invariant(format!(
                    "mart table lacks column {}",
                    f.name()
                ))),
            })
            .collect::<Result<_>>()?;
        for i in 0..b.num_rows() {
            let mut row = Vec::with_capacity(cols.len());
            for c in &cols {
                row.push(cell_at(c, i)?);
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

fn cell_at(a: &ArrayRef, i: usize) -> Result<Cell> {
    if a.is_null(i) {
        return Ok(Cell::Null);
    }
    let any = a.as_any();
    Ok(match a.data_type() {
        DataType::Utf8 => Cell::Str(any.downcast_ref::<StringArray>().unwrap().value(i).into()),
        DataType::Utf8View | DataType::LargeUtf8 => {
            let c = arrow::compute::cast(a, &DataType::Utf8)?;
            Cell::Str(
                c.as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap()
                    .value(i)
                    .into(),
            )
        }
        DataType::Int64 => Cell::I64(any.downcast_ref::<Int64Array>().unwrap().value(i)),
        DataType::Int32 => Cell::I32(any.downcast_ref::<Int32Array>().unwrap().value(i)),
        DataType::Float64 => Cell::F64(any.downcast_ref::<Float64Array>().unwrap().value(i)),
        DataType::Date32 => Cell::Date(any.downcast_ref::<Date32Array>().unwrap().value(i)),
        DataType::Timestamp(_, _) => {
            let c = arrow::compute::cast(a, &schema::ts())?;
            Cell::Ts(
                c.as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
                    .unwrap()
                    .value(i),
            )
        }
        DataType::Boolean => Cell::Bool(any.downcast_ref::<BooleanArray>().unwrap().value(i)),
        other => return Err(Error::Invariant(format!("unexpected mart type {other}"))),
    })
}

/// Builds a record batch of `schema` from rows.
pub fn batch_from_rows<R: AsRef<[Cell]>>(schema: &SchemaRef, rows: &[R]) -> Result<RecordBatch> {
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (j, f) in schema.fields().iter().enumerate() {
        let it = rows.iter().map(|r| &r.as_ref()[j]);
        let arr: ArrayRef = match f.data_type() {
            DataType::Utf8 => {
                let mut b = StringBuilder::new();
                it.for_each(|c| b.append_option(c.as_str()));
                Arc::new(b.finish())
            }
            DataType::Int64 => {
                let mut b = Int64Builder::new();
                it.for_each(|c| {
                    b.append_option(if let Cell::I64(v) = c { Some(*v) } else { None })
                });
                Arc::new(b.finish())
            }
            DataType::Int32 => {
                let mut b = Int32Builder::new();
                it.for_each(|c| {
                    b.append_option(if let Cell::I32(v) = c { Some(*v) } else { None })
                });
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::new();
                it.for_each(|c| b.append_option(c.as_f64()));
                Arc::new(b.finish())
            }
            DataType::Date32 => {
                let mut b = Date32Builder::new();
                it.for_each(|c| {
                    b.append_option(if let Cell::Date(v) = c {
                        Some(*v)
                    } else {
                        None
                    })
                });
                Arc::new(b.finish())
            }
            DataType::Timestamp(_, _) => {
                let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
                it.for_each(|c| b.append_option(if let Cell::Ts(v) = c { Some(*v) } else { None }));
                Arc::new(b.finish())
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::new();
                it.for_each(|c| {
                    b.append_option(if let Cell::Bool(v) = c {
                        Some(*v)
                    } else {
                        None
                    })
                });
                Arc::new(b.finish())
            }
            other => return Err(Error::Invariant(format!("unexpected mart type {other}"))),
        };
        cols.push(arr);
    }
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

/// No row: the end of a chain of versions.
const NONE: u32 = u32::MAX;

/// A type-1 dimension (or, with `scd2`, the customer dimension).
///
/// Laid out for a million customers in well under half a gigabyte: each row is one boxed slice
/// of cells, and the natural-id index holds row numbers only (the id itself is read from the
/// row), with the older versions of an id chained through `prev`.
pub struct Dim {
    /// Mart table name.
    pub table: &'static str,
    /// Its schema.
    pub schema: SchemaRef,
    /// Rows in schema order: key, natural id, attributes[, valid_from, valid_to, is_current].
    pub rows: Vec<Box<[Cell]>>,
    /// Row of the newest version of each natural id, hashed by the id.
    index: HashTable<u32>,
    /// For each row, the row of the previous version of its id (or [`NONE`]).
    prev: Vec<u32>,
    hasher: foldhash::fast::FixedState,
    next_key: i64,
    /// Whether this batch changed the dimension.
    pub changed: bool,
    scd2: bool,
    /// Hashes of the ids of customers who asked to be forgotten (`_erasures`), and the
    /// attribute positions of their personal data, which is never loaded for them.
    erased: std::collections::HashSet<String>,
    pii: Vec<usize>,
}

fn id_of(row: &[Cell]) -> &str {
    row[1].as_str().unwrap_or_default()
}

impl Dim {
    /// A dimension from its current mart rows.
    pub fn new(table: &'static str, batches: &[RecordBatch]) -> Result<Dim> {
        let schema = schema::schema(table);
        let mut rows: Vec<Box<[Cell]>> = rows_from_batches(batches, &schema)?
            .into_iter()
            .map(Vec::into_boxed_slice)
            .collect();
        // Stable row order (by key), whatever order the files returned them in.
        rows.sort_by_key(|r| if let Cell::I64(k) = r[0] { k } else { i64::MAX });
        let mut dim = Dim {
            table,
            schema,
            rows: Vec::with_capacity(rows.len()),
            index: HashTable::with_capacity(rows.len()),
            prev: Vec::with_capacity(rows.len()),
            hasher: foldhash::fast::FixedState::default(),
            next_key: 1,
            changed: false,
            scd2: table == "dim_customer",
            erased: Default::default(),
            pii: Vec::new(),
        };
        for row in rows {
            if let (Cell::I64(k), Some(_)) = (&row[0], row[1].as_str()) {
                dim.next_key = dim.next_key.max(k + 1);
                dim.add_row(row);
            }
        }
        Ok(dim)
    }

    /// The customers whose personal data is not loaded (hashes of their ids).
    pub fn set_erased(&mut self, erased: std::collections::HashSet<String>) {
        let names = self.attribute_names();
        self.pii = crate::mart::erasure::PII_COLUMNS
            .iter()
            .filter_map(|c| names.iter().position(|n| n == c))
            .collect();
        self.erased = erased;
    }

    /// The hashes of erased ids.
    pub fn erased_ids(&self) -> &std::collections::HashSet<String> {
        &self.erased
    }

    /// Whether `id` was erased.
    pub fn is_erased(&self, id: &str) -> bool {
        !self.erased.is_empty() && self.erased.contains(&crate::mart::erasure::id_hash(id))
    }

    /// `attrs` without the personal data when `id` was erased.
    fn scrub(&self, id: &str, mut attrs: Vec<Cell>) -> Vec<Cell> {
        if self.is_erased(id) {
            for &j in &self.pii {
                if let Some(c) = attrs.get_mut(j) {
                    *c = Cell::Null;
                }
            }
        }
        attrs
    }

    /// Row of the newest version of `id`.
    fn find(&self, id: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(id);
        self.index
            .find(hash, |&r| id_of(&self.rows[r as usize]) == id)
            .map(|&r| r as usize)
    }

    /// Appends `row` as the newest version of its id.
    fn add_row(&mut self, row: Box<[Cell]>) {
        let r = u32::try_from(self.rows.len()).expect("fewer than 4 billion dimension rows");
        let hash = self.hasher.hash_one(id_of(&row));
        let (rows, hasher) = (&self.rows, &self.hasher);
        let prev = match self
            .index
            .find_mut(hash, |&i| id_of(&rows[i as usize]) == id_of(&row))
        {
            Some(slot) => std::mem::replace(slot, r),
            None => {
                self.index
                    .insert_unique(hash, r, |&i| hasher.hash_one(id_of(&rows[i as usize])));
                NONE
            }
        };
        self.prev.push(prev);
        self.rows.push(row);
    }

    /// Names of the attribute columns (after key and id; for customers, before the validity
    /// columns).
    pub fn attribute_names(&self) -> Vec<String> {
        let n = self.schema.fields().len() - if self.scd2 { 3 } else { 0 };
        self.schema.fields()[2..n]
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Whether `id` is known.
    pub fn contains(&self, id: &str) -> bool {
        self.find(id).is_some()
    }

    /// Key of `id` (its current version).
    pub fn key(&self, id: &str) -> Option<i64> {
        match self.rows[self.find(id)?][0] {
            Cell::I64(k) => Some(k),
            _ => None,
        }
    }

    /// Key of `id` and its numeric attribute `j`, with one lookup.
    pub fn key_and_number(&self, id: &str, j: usize) -> Option<(i64, Option<f64>)> {
        let row = &self.rows[self.find(id)?];
        match row[0] {
            Cell::I64(k) => Some((k, row.get(2 + j).and_then(Cell::as_f64))),
            _ => None,
        }
    }

    /// Attribute `j` (0-based, after key and id) of the current version of `id`.
    pub fn attr(&self, id: &str, j: usize) -> Option<&Cell> {
        self.rows[self.find(id)?].get(2 + j)
    }

    /// Key of the version of `id` valid at `ts` (µs); for type-1 dimensions, the key. Before
    /// the first version's start, the first version.
    pub fn key_at(&self, id: &str, ts: i64) -> Option<i64> {
        if !self.scd2 {
            return self.key(id);
        }
        let n = self.schema.fields().len();
        let mut r = self.find(id)?;
        loop {
            let valid = matches!(self.rows[r][n - 3], Cell::Ts(from) if from <= ts);
            let prev = self.prev[r];
            if valid || prev == NONE {
                break;
            }
            r = prev as usize;
        }
        match self.rows[r][0] {
            Cell::I64(k) => Some(k),
            _ => None,
        }
    }

    fn push(&mut self, key: i64, id: &str, attrs: Vec<Cell>, valid_from: i64) {
        let mut row = Vec::with_capacity(self.schema.fields().len());
        row.extend([Cell::I64(key), Cell::Str(id.into())]);
        row.extend(attrs);
        if self.scd2 {
            row.extend([
                Cell::Ts(valid_from),
                Cell::Ts(VALID_TO_MAX),
                Cell::Bool(true),
            ]);
        }
        self.add_row(row.into_boxed_slice());
        self.changed = true;
    }

    /// Adds `id` with `attrs` if it is not known yet (derived dimension members); returns its key.
    pub fn ensure(&mut self, id: &str, attrs: Vec<Cell>) -> i64 {
        let attrs = self.scrub(id, attrs);
        match self.key(id) {
            Some(k) => k,
            None => self.insert_new(id, attrs),
        }
    }

    /// Adds `id`, known not to be there yet, under the next key; returns the key.
    fn insert_new(&mut self, id: &str, attrs: Vec<Cell>) -> i64 {
        let key = self.next_key;
        self.next_key += 1;
        self.push(key, id, attrs, VALID_FROM_MIN);
        key
    }

    /// Adds a reserved member with key 0 (anonymous customer, unspecified store).
    pub fn ensure_reserved(&mut self, id: &str) -> i64 {
        if self.contains(id) {
            return 0;
        }
        let n = self.attribute_names().len();
        self.push(0, id, vec![Cell::Null; n], VALID_FROM_MIN);
        0
    }

    /// Overwrites the attributes of row `r` with `attrs` if they differ.
    fn overwrite(&mut self, r: usize, attrs: Vec<Cell>) {
        let end = 2 + attrs.len();
        if self.rows[r][2..end] != attrs[..] {
            for (cell, value) in self.rows[r][2..end].iter_mut().zip(attrs) {
                *cell = value;
            }
            self.changed = true;
        }
    }

    /// Type-1 upsert: inserts `id` or overwrites its attributes.
    pub fn upsert(&mut self, id: &str, attrs: Vec<Cell>) {
        let attrs = self.scrub(id, attrs);
        match self.find(id) {
            None => {
                self.insert_new(id, attrs);
            }
            Some(r) => self.overwrite(r, attrs),
        }
    }

    /// SCD type 2 upsert for customers: a change in a `tracked` attribute closes the current
    /// version at `change_ts` and opens a new one; other attributes are overwritten in place.
    pub fn upsert_scd2(&mut self, id: &str, attrs: Vec<Cell>, tracked: &[usize], change_ts: i64) {
        let attrs = self.scrub(id, attrs);
        let Some(cur) = self.find(id) else {
            self.insert_new(id, attrs);
            return;
        };
        let n = self.schema.fields().len();
        let tracked_changed = tracked.iter().any(|&t| self.rows[cur][2 + t] != attrs[t]);
        if tracked_changed {
            let from = match self.rows[cur][n - 3] {
                Cell::Ts(f) => f,
                _ => VALID_FROM_MIN,
            };
            let at = change_ts.max(from + 1);
            self.rows[cur][n - 2] = Cell::Ts(at);
            self.rows[cur][n - 1] = Cell::Bool(false);
            let key = self.next_key;
            self.next_key += 1;
            self.push(key, id, attrs, at);
        } else {
            self.overwrite(cur, attrs);
        }
    }

    /// The dimension as one record batch, ordered by key.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let mut rows: Vec<&[Cell]> = self.rows.iter().map(|r| &r[..]).collect();
        rows.sort_by_key(|r| if let Cell::I64(k) = r[0] { k } else { i64::MAX });
        batch_from_rows(&self.schema, &rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(city: &str, name: &str) -> Vec<Cell> {
        let mut a = vec![Cell::Null; 13];
        a[0] = Cell::Str(name.into());
        a[3] = Cell::Str(city.into());
        a
    }

    #[test]
    fn scd2_change_closes_old_version_and_facts_find_the_right_one() {
        let mut d = Dim::new("dim_customer", &[]).unwrap();
        d.upsert_scd2("C1", customer("Berlin", "Ann"), &[3], 0);
        assert_eq!(d.attribute_names()[3], "city");
        // Name change only: overwritten in place, no new version.
        d.upsert_scd2("C1", customer("Berlin", "Anna"), &[3], 100);
        assert_eq!(d.rows.len(), 1);
        // City change: new version from ts 1_000.
        d.upsert_scd2("C1", customer("Munich", "Anna"), &[3], 1_000);
        assert_eq!(d.rows.len(), 2);
        assert_eq!(d.key_at("C1", 999), Some(1));
        assert_eq!(d.key_at("C1", 1_000), Some(2));
        assert_eq!(d.key("C1"), Some(2));
        // The same snapshot again changes nothing.
        d.changed = false;
        d.upsert_scd2("C1", customer("Munich", "Anna"), &[3], 2_000);
        assert!(!d.changed);
        let b = d.to_batch().unwrap();
        let back = Dim::new("dim_customer", &[b]).unwrap();
        assert_eq!(back.key_at("C1", 5), Some(1));
        assert_eq!(back.ensure_key_probe(), 3);
    }

    impl Dim {
        fn ensure_key_probe(&self) -> i64 {
            self.next_key
        }
    }
}
