//! `fact_sales` rows: line numbers, references, surrogate keys, measures.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::DataType;
use polars::prelude::DataFrame;

use super::{
    FactContext, FactRows, Found, Marks, Unresolved, floats, found, key_hash, late_reject, strs,
    ts_column, unknown,
};
use crate::config::SourceMapping;
use crate::error::Result;
use crate::etl::dims::Cell;
use crate::etl::read::Reject;
use crate::etl::{Loaded, bridge};

/// The typed columns of a slice of a sales file.
struct SalesIn<'a> {
    order_id: Vec<Option<&'a str>>,
    line_no: Vec<Option<i64>>,
    ts: Vec<i64>,
    customer: Vec<Option<&'a str>>,
    product: Vec<Option<&'a str>>,
    store: Vec<Option<&'a str>>,
    qty: Vec<Option<f64>>,
    price: Vec<Option<f64>>,
    discount: Vec<Option<f64>>,
    product_name: Vec<Option<&'a str>>,
    country: Vec<Option<&'a str>>,
}

impl<'a> SalesIn<'a> {
    fn read(df: &'a DataFrame) -> Result<Self> {
        Ok(SalesIn {
            order_id: strs(df, "order_id")?,
            line_no: df.column("line_no")?.i64()?.iter().collect(),
            ts: ts_column(df, "order_ts")?,
            customer: strs(df, "customer_id")?,
            product: strs(df, "product_id")?,
            store: strs(df, "store_id")?,
            qty: floats(df, "quantity")?,
            price: floats(df, "unit_price")?,
            discount: floats(df, "discount")?,
            product_name: strs(df, "product_name")?,
            country: strs(df, "customer_country")?,
        })
    }
}

/// A sales line's references, looked up in their dimensions.
struct SalesRefs<'a> {
    customer: Option<(&'a str, Found)>,
    product: Found,
    unit_cost: Option<f64>,
    store: Option<(&'a str, Found)>,
}

/// The last customer resolved: (id, timestamp, key).
type LastCustomer<'a> = Option<(&'a str, i64, i64)>;

/// Looks up line `i`'s references; consecutive lines of an order share customer and timestamp,
/// so the customer's version is remembered from the line before.
fn sales_refs<'a>(
    ctx: &FactContext,
    input: &SalesIn<'a>,
    i: usize,
    last_customer: LastCustomer<'a>,
) -> std::result::Result<SalesRefs<'a>, Unresolved<'a>> {
    let has = |entity: &str| ctx.has_source[entity];
    let ts = input.ts[i];
    let customer = input.customer[i].map(|c| {
        let found = match last_customer {
            Some((lc, lts, k)) if lc == c && lts == ts => Found::Known(k),
            _ => found(ctx.customers.key_at(c, ts), has("customers")),
        };
        (c, found)
    });
    let pid = input.product[i].unwrap_or_default();
    let (product, unit_cost) = match ctx.products.key_and_number(pid, 5) {
        Some((k, cost)) => (Found::Known(k), cost),
        None => (found(None, has("products")), None),
    };
    let store = input.store[i].map(|s| (s, found(ctx.stores.key(s), has("stores"))));
    if let Some((c, Found::Unknown)) = customer {
        return Err(("customer_id", c, unknown("customers", "customer_id", c)));
    }
    if let Found::Unknown = product {
        return Err(("product_id", pid, unknown("products", "product_id", pid)));
    }
    if let Some((s, Found::Unknown)) = store {
        return Err(("store_id", s, unknown("stores", "store_id", s)));
    }
    Ok(SalesRefs {
        customer,
        product,
        unit_cost,
        store,
    })
}

/// The (customer, product, store) keys of line `i`, deriving members that dimensions without a
/// source lack.
fn sales_keys<'a>(
    ctx: &mut FactContext,
    input: &SalesIn<'a>,
    i: usize,
    refs: &SalesRefs<'a>,
    last_customer: &mut LastCustomer<'a>,
) -> (i64, i64, i64) {
    let cell = |v: Option<&str>| v.map(|v| Cell::Str(v.into())).unwrap_or(Cell::Null);
    let customer = match refs.customer {
        None => ctx.customers.ensure_reserved("(anonymous)"),
        Some((c, Found::Derive)) => {
            let mut attrs = vec![Cell::Null; ctx.customers.attribute_names().len()];
            attrs[5] = cell(input.country[i]);
            ctx.customers.ensure(c, attrs)
        }
        Some((c, Found::Known(k))) => {
            *last_customer = Some((c, input.ts[i], k));
            k
        }
        Some((_, Found::Unknown)) => unreachable!("unknown references were quarantined"),
    };
    let product = match refs.product {
        Found::Known(k) => k,
        _ => {
            let mut attrs = vec![Cell::Null; 6];
            attrs[0] = cell(input.product_name[i]);
            attrs[4] = input.price[i].map(Cell::F64).unwrap_or(Cell::Null);
            ctx.products
                .ensure(input.product[i].unwrap_or_default(), attrs)
        }
    };
    let store = match refs.store {
        None => ctx.stores.ensure_reserved("(unspecified)"),
        Some((_, Found::Known(k))) => k,
        Some((s, _)) => ctx.stores.ensure(s, vec![Cell::Null; 4]),
    };
    (customer, product, store)
}

/// The measures of a sales line.
#[derive(Default)]
struct SalesMeasures {
    net: Vec<f64>,
    cost: Vec<Option<f64>>,
    margin: Vec<Option<f64>>,
    discount: Vec<f64>,
    is_return: Vec<bool>,
}

impl SalesMeasures {
    fn new(n: usize) -> Self {
        SalesMeasures {
            net: vec![0.0; n],
            cost: vec![None; n],
            margin: vec![None; n],
            discount: vec![0.0; n],
            is_return: vec![false; n],
        }
    }

    fn set(&mut self, i: usize, input: &SalesIn, unit_cost: Option<f64>, mapping: &SourceMapping) {
        let q = input.qty[i].unwrap_or(0.0);
        let p = input.price[i].unwrap_or(0.0);
        let d = input.discount[i].unwrap_or(0.0);
        self.discount[i] = d;
        self.net[i] = q * p * (1.0 - d);
        if let Some(uc) = unit_cost {
            self.cost[i] = Some(q * uc);
            self.margin[i] = Some(self.net[i] - q * uc);
        }
        let oid = input.order_id[i].unwrap_or_default();
        self.is_return[i] = (mapping.return_when_negative_quantity && q < 0.0)
            || mapping
                .return_when_order_id_starts_with
                .as_deref()
                .is_some_and(|p| !p.is_empty() && oid.starts_with(p));
    }
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
    let input = SalesIn::read(df)?;
    let mut marks = Marks::new(n);
    let mut line_out = vec![0i64; n];
    let (mut cust_key, mut prod_key, mut store_key) = (vec![0i64; n], vec![0i64; n], vec![0; n]);
    let mut measures = SalesMeasures::new(n);
    let mut last_customer: LastCustomer = None;
    for i in 0..n {
        let oid = input.order_id[i].unwrap_or_default();
        // Exports without line numbers (invoice lines) number lines in file order per order.
        let ln = match input.line_no[i] {
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
            marks.reject(i, late_reject(f, df, i, "duplicate_key", "order_id", oid, format!(
                "order line (order_id '{oid}', line_no {ln}) appears twice in this batch; which one is right is unknown (a restated line belongs in a later export)"
            )), rejects);
            continue;
        }
        let refs = match sales_refs(ctx, &input, i, last_customer) {
            Ok(refs) => refs,
            Err((column, value, message)) => {
                let r = late_reject(f, df, i, "unknown_reference", column, value, message);
                marks.reject(i, r, rejects);
                continue;
            }
        };
        if !ctx.keys.claim_sales(h) {
            marks.restate(i);
        }
        (cust_key[i], prod_key[i], store_key[i]) =
            sales_keys(ctx, &input, i, &refs, &mut last_customer);
        measures.set(i, &input, refs.unit_cost, mapping);
        marks.date(i, input.ts[i]);
    }
    let (date_key, month_key) = marks.key_columns();
    let columns: Vec<ArrayRef> = vec![
        bridge::to_arrow(df.column("order_id")?, &DataType::Utf8)?,
        Arc::new(Int64Array::from(line_out)),
        date_key,
        Arc::new(TimestampMicrosecondArray::from(input.ts).with_timezone("UTC")),
        Arc::new(Int64Array::from(cust_key)),
        Arc::new(Int64Array::from(prod_key)),
        Arc::new(Int64Array::from(store_key)),
        bridge::to_arrow(df.column("quantity")?, &DataType::Float64)?,
        bridge::to_arrow(df.column("unit_price")?, &DataType::Float64)?,
        Arc::new(Float64Array::from(measures.discount)),
        Arc::new(Float64Array::from(measures.net)),
        Arc::new(Float64Array::from(measures.cost)),
        Arc::new(Float64Array::from(measures.margin)),
        Arc::new(BooleanArray::from(measures.is_return)),
        Arc::new(StringArray::from(vec![ctx.batch_id; n])),
        month_key,
    ];
    marks.finish("fact_sales", columns)
}
