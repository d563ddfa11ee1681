//! Fact rows: natural-key and reference checks, surrogate keys, measures.
//!
//! A fact whose natural key was loaded before (by an earlier batch, or earlier in this one) or
//! that references a customer, product, store or campaign unknown to a dimension that has its
//! own source is quarantined. When a dimension has no source at all, its members are derived
//! from the facts instead (e.g. products from the ids and descriptions on invoice lines).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Datelike};
use polars::prelude::{DataFrame, DataType as PlType};

use super::dims::{Cell, Dim};
use super::read::{LINE_COL, Reject};
use super::validate::ROW_COL;
use super::{Loaded, bridge};
use crate::config::SourceMapping;
use crate::error::{Error, Result};
use crate::mart::delta::Mart;
use crate::mart::schema::{self, MartTable};

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

/// A reference resolved against its dimension.
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

/// Builds `fact_sales` rows from `df`, a slice of the typed rows of sales file `f` (slices of a
/// file are given in order; `next_line` carries the line numbering of orders without line
/// numbers across them). Returns the batch and the (min, max) date keys.
pub fn sales(
    ctx: &mut FactContext,
    f: &Loaded,
    df: &DataFrame,
    next_line: &mut HashMap<String, i64>,
    mapping: &SourceMapping,
    rejects: &mut Vec<(usize, Reject)>,
) -> Result<FactRows> {
    let n = df.height();
    if n == 0 {
        return Ok(FactRows::default());
    }
    let order_id = strs(df, "order_id")?;
    let line_no: Vec<Option<i64>> = df.column("line_no")?.i64()?.iter().collect();
    let ts = ts_column(df, "order_ts")?;
    let customer = strs(df, "customer_id")?;
    let product = strs(df, "product_id")?;
    let store = strs(df, "store_id")?;
    let qty = floats(df, "quantity")?;
    let price = floats(df, "unit_price")?;
    let discount = floats(df, "discount")?;
    let product_name = strs(df, "product_name")?;
    let country = strs(df, "customer_country")?;

    let mut keep = vec![true; n];
    let mut restated = vec![false; n];
    let mut line_out = vec![0i64; n];
    let mut cust_key = vec![0i64; n];
    let mut prod_key = vec![0i64; n];
    let mut store_key = vec![0i64; n];
    let mut net = vec![0f64; n];
    let mut cost: Vec<Option<f64>> = vec![None; n];
    let mut margin: Vec<Option<f64>> = vec![None; n];
    let mut disc_out = vec![0f64; n];
    let mut is_return = vec![false; n];
    let mut date_key = vec![0i32; n];
    let mut month_key = vec![0i32; n];
    let (customers_src, products_src, stores_src) = (
        ctx.has_source["customers"],
        ctx.has_source["products"],
        ctx.has_source["stores"],
    );
    let mut days = DayCache::default();
    let mut last_customer: Option<(&str, i64, i64)> = None;
    let (mut lo, mut hi) = (i32::MAX, i32::MIN);
    for i in 0..n {
        let oid = order_id[i].unwrap_or_default();
        // Exports without line numbers (invoice lines) number lines in file order per order.
        let ln = match line_no[i] {
            Some(l) => l,
            None => {
                let counter = next_line.entry(oid.to_string()).or_insert(0);
                *counter += 1;
                *counter
            }
        };
        line_out[i] = ln;
        let h = key_hash((oid, ln));
        if ctx.keys.batch_sales.contains(&h) {
            rejects.push(late_reject(f, df, i, "duplicate_key", "order_id", oid, format!(
                "order line (order_id '{oid}', line_no {ln}) appears twice in this batch; which one is right is unknown (a restated line belongs in a later export)"
            )));
            keep[i] = false;
            continue;
        }
        // One dimension lookup per reference; consecutive lines of an order share customer and
        // timestamp, so the customer's version is remembered from the line before.
        let cref = customer[i].map(|c| {
            let found = match last_customer {
                Some((lc, lts, k)) if lc == c && lts == ts[i] => Found::Known(k),
                _ => found(ctx.customers.key_at(c, ts[i]), customers_src),
            };
            (c, found)
        });
        let pid = product[i].unwrap_or_default();
        let (pref, unit_cost) = match ctx.products.key_and_number(pid, 5) {
            Some((k, cost)) => (Found::Known(k), cost),
            None => (found(None, products_src), None),
        };
        let sref = store[i].map(|s| (s, found(ctx.stores.key(s), stores_src)));
        let problem = if let Some((c, Found::Unknown)) = cref {
            Some(("customer_id", c, unknown("customers", "customer_id", c)))
        } else if let Found::Unknown = pref {
            Some(("product_id", pid, unknown("products", "product_id", pid)))
        } else if let Some((s, Found::Unknown)) = sref {
            Some(("store_id", s, unknown("stores", "store_id", s)))
        } else {
            None
        };
        if let Some((column, value, message)) = problem {
            rejects.push(late_reject(
                f,
                df,
                i,
                "unknown_reference",
                column,
                value,
                message,
            ));
            keep[i] = false;
            continue;
        }
        if !ctx.keys.claim_sales(h) {
            keep[i] = false;
            restated[i] = true;
        }
        cust_key[i] = match cref {
            None => ctx.customers.ensure_reserved("(anonymous)"),
            Some((c, Found::Derive)) => {
                let mut attrs = vec![Cell::Null; ctx.customers.attribute_names().len()];
                attrs[5] = country[i]
                    .map(|c| Cell::Str(c.into()))
                    .unwrap_or(Cell::Null);
                ctx.customers.ensure(c, attrs)
            }
            Some((c, Found::Known(k))) => {
                last_customer = Some((c, ts[i], k));
                k
            }
            Some((_, Found::Unknown)) => unreachable!("unknown references were quarantined"),
        };
        prod_key[i] = match pref {
            Found::Known(k) => k,
            _ => ctx.products.ensure(
                pid,
                vec![
                    product_name[i]
                        .map(|n| Cell::Str(n.into()))
                        .unwrap_or(Cell::Null),
                    Cell::Null,
                    Cell::Null,
                    Cell::Null,
                    price[i].map(Cell::F64).unwrap_or(Cell::Null),
                    Cell::Null,
                ],
            ),
        };
        store_key[i] = match sref {
            None => ctx.stores.ensure_reserved("(unspecified)"),
            Some((_, Found::Known(k))) => k,
            Some((s, _)) => ctx.stores.ensure(s, vec![Cell::Null; 4]),
        };
        let q = qty[i].unwrap_or(0.0);
        let p = price[i].unwrap_or(0.0);
        let d = discount[i].unwrap_or(0.0);
        disc_out[i] = d;
        net[i] = q * p * (1.0 - d);
        if let Some(uc) = unit_cost {
            cost[i] = Some(q * uc);
            margin[i] = Some(net[i] - q * uc);
        }
        is_return[i] = (mapping.return_when_negative_quantity && q < 0.0)
            || mapping
                .return_when_order_id_starts_with
                .as_deref()
                .is_some_and(|p| !p.is_empty() && oid.starts_with(p));
        let (dk, mk) = days.keys(ts[i]);
        date_key[i] = dk;
        month_key[i] = mk;
        lo = lo.min(dk);
        hi = hi.max(dk);
    }
    let columns: Vec<ArrayRef> = vec![
        bridge::to_arrow(df.column("order_id")?, &DataType::Utf8)?,
        Arc::new(Int64Array::from(line_out)),
        Arc::new(Int32Array::from(date_key)),
        Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        Arc::new(Int64Array::from(cust_key)),
        Arc::new(Int64Array::from(prod_key)),
        Arc::new(Int64Array::from(store_key)),
        bridge::to_arrow(df.column("quantity")?, &DataType::Float64)?,
        bridge::to_arrow(df.column("unit_price")?, &DataType::Float64)?,
        Arc::new(Float64Array::from(disc_out)),
        Arc::new(Float64Array::from(net)),
        Arc::new(Float64Array::from(cost)),
        Arc::new(Float64Array::from(margin)),
        Arc::new(BooleanArray::from(is_return)),
        Arc::new(StringArray::from(vec![ctx.batch_id; n])),
        Arc::new(Int32Array::from(month_key)),
    ];
    finish("fact_sales", columns, keep, restated, lo, hi)
}

fn finish(
    table: &str,
    columns: Vec<ArrayRef>,
    keep: Vec<bool>,
    restated: Vec<bool>,
    lo: i32,
    hi: i32,
) -> Result<FactRows> {
    let batch = RecordBatch::try_new(schema::schema(table), columns)
        .map_err(|e| Error::Invariant(format!("building {table}: {e}")))?;
    let part = |mask: Vec<bool>| -> Result<Option<RecordBatch>> {
        let b = filter_record_batch(&batch, &BooleanArray::from(mask))?;
        Ok((b.num_rows() > 0).then_some(b))
    };
    let restated = if restated.iter().any(|r| *r) {
        part(restated)?
    } else {
        None
    };
    let rows = part(keep)?;
    let days = if rows.is_some() || restated.is_some() {
        vec![lo, hi]
    } else {
        Vec::new()
    };
    Ok(FactRows {
        rows,
        restated,
        days,
    })
}

/// Builds `fact_contacts` rows from `df`, a slice of the typed rows of contacts file `f`.
pub fn contacts(
    ctx: &mut FactContext,
    f: &Loaded,
    df: &DataFrame,
    rejects: &mut Vec<(usize, Reject)>,
) -> Result<FactRows> {
    let n = df.height();
    if n == 0 {
        return Ok(FactRows::default());
    }
    let contact_id = strs(df, "contact_id")?;
    let ts = ts_column(df, "contact_ts")?;
    let customer = strs(df, "customer_id")?;
    let campaign = strs(df, "campaign_id")?;
    let mut keep = vec![true; n];
    let mut restated = vec![false; n];
    let mut cust_key = vec![0i64; n];
    let mut camp_key: Vec<Option<i64>> = vec![None; n];
    let (customers_src, campaigns_src) = (ctx.has_source["customers"], ctx.has_source["campaigns"]);
    let mut days = DayCache::default();
    let mut date_key = vec![0i32; n];
    let mut month_key = vec![0i32; n];
    let (mut lo, mut hi) = (i32::MAX, i32::MIN);
    for i in 0..n {
        let cid = contact_id[i].unwrap_or_default();
        let h = key_hash(cid);
        if ctx.keys.batch_contacts.contains(&h) {
            rejects.push(late_reject(
                f,
                df,
                i,
                "duplicate_key",
                "contact_id",
                cid,
                format!(
                    "contact '{cid}' appears twice in this batch; which one is right is unknown (a restated contact belongs in a later export)"
                ),
            ));
            keep[i] = false;
            continue;
        }
        let cust = customer[i].unwrap_or_default();
        let cref = found(ctx.customers.key_at(cust, ts[i]), customers_src);
        let kref = campaign[i].map(|k| (k, found(ctx.campaigns.key(k), campaigns_src)));
        let problem = if let Found::Unknown = cref {
            Some((
                "customer_id",
                cust.to_string(),
                unknown("customers", "customer_id", cust),
            ))
        } else if let Some((k, Found::Unknown)) = kref {
            Some((
                "campaign_id",
                k.to_string(),
                unknown("campaigns", "campaign_id", k),
            ))
        } else {
            None
        };
        if let Some((column, value, message)) = problem {
            rejects.push(late_reject(
                f,
                df,
                i,
                "unknown_reference",
                column,
                &value,
                message,
            ));
            keep[i] = false;
            continue;
        }
        if !ctx.keys.claim_contacts(h) {
            keep[i] = false;
            restated[i] = true;
        }
        cust_key[i] = match cref {
            Found::Known(k) => k,
            _ => {
                let n_attrs = ctx.customers.attribute_names().len();
                ctx.customers.ensure(cust, vec![Cell::Null; n_attrs])
            }
        };
        camp_key[i] = match kref {
            None => None,
            Some((_, Found::Known(k))) => Some(k),
            Some((k, _)) => Some(ctx.campaigns.ensure(k, vec![Cell::Null; 5])),
        };
        let (dk, mk) = days.keys(ts[i]);
        date_key[i] = dk;
        month_key[i] = mk;
        lo = lo.min(dk);
        hi = hi.max(dk);
    }
    let satisfaction: Vec<Option<i32>> = df
        .column("satisfaction")?
        .i64()?
        .iter()
        .map(|v| v.map(|x| x as i32))
        .collect();
    let columns: Vec<ArrayRef> = vec![
        bridge::to_arrow(df.column("contact_id")?, &DataType::Utf8)?,
        Arc::new(Int32Array::from(date_key)),
        Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        Arc::new(Int64Array::from(cust_key)),
        Arc::new(Int64Array::from(camp_key)),
        bridge::to_arrow(df.column("channel")?, &DataType::Utf8)?,
        bridge::to_arrow(df.column("direction")?, &DataType::Utf8)?,
        bridge::to_arrow(df.column("contact_type")?, &DataType::Utf8)?,
        bridge::to_arrow(df.column("outcome")?, &DataType::Utf8)?,
        bridge::to_arrow(df.column("duration_s")?, &DataType::Float64)?,
        Arc::new(Int32Array::from(satisfaction)),
        Arc::new(StringArray::from(vec![ctx.batch_id; n])),
        Arc::new(Int32Array::from(month_key)),
    ];
    finish("fact_contacts", columns, keep, restated, lo, hi)
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
