//! The purchase history the recommender reads, with interned ids, and the per-customer lookups
//! (segment, churn probability, CLV) it joins.

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Date32Type, Float64Type};
use chrono::NaiveDate;
use datafusion::scalar::ScalarValue;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{Error, Result};
use crate::mart::catalog::Catalog;
use crate::mart::schema::MartTable;
use crate::util::dates::epoch_day;

/// One purchased product line.
#[derive(Debug, Clone, Copy)]
pub struct Line {
    /// Customer index.
    pub customer: u32,
    /// Order index.
    pub order: u32,
    /// Epoch day.
    pub day: i32,
    /// Product index.
    pub product: u32,
}

/// Customers' purchase history with interned ids.
#[derive(Debug, Default)]
pub struct History {
    /// Customer ids.
    pub customers: Vec<String>,
    /// Product ids.
    pub products: Vec<String>,
    /// Product names.
    pub product_names: Vec<String>,
    /// Value of one line of each product: its mean margin where every line has a cost, else its
    /// mean revenue.
    pub product_value: Vec<f64>,
    /// Whether `product_value` is a margin (else revenue).
    pub value_is_margin: Vec<bool>,
    /// Purchase lines (returns excluded), by customer, order and product.
    pub lines: Vec<Line>,
    /// Return lines: a product returned is not recommended as new to the customer.
    pub returns: Vec<Line>,
}

impl History {
    /// Last purchase day.
    pub fn last_day(&self) -> i32 {
        self.lines.iter().map(|l| l.day).max().unwrap_or(0)
    }

    /// The orders of every customer up to and including `cut`.
    pub fn orders_until(&self, cut: i32) -> Vec<CustomerOrders> {
        let mut by_order: FxHashMap<u32, (u32, i32, Vec<u32>)> = FxHashMap::default();
        for l in self.lines.iter().filter(|l| l.day <= cut) {
            let e = by_order
                .entry(l.order)
                .or_insert_with(|| (l.customer, l.day, Vec::new()));
            e.2.push(l.product);
        }
        let mut out: Vec<CustomerOrders> = (0..self.customers.len())
            .map(|_| CustomerOrders::default())
            .collect();
        for (_, (c, day, mut items)) in by_order {
            items.sort_unstable();
            items.dedup();
            out[c as usize].orders.push((day, items));
        }
        for v in &mut out {
            v.orders.sort();
        }
        out
    }

    /// Products each customer returned up to and including `cut`.
    pub fn returned_until(&self, cut: i32) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); self.customers.len()];
        for l in self.returns.iter().filter(|l| l.day <= cut) {
            out[l.customer as usize].push(l.product);
        }
        out
    }

    /// Products each customer bought in the `days` days after `cut` (empty sets for the others).
    pub fn bought_after(&self, cut: i32, days: i32) -> Vec<FxHashSet<u32>> {
        let mut truth = vec![FxHashSet::default(); self.customers.len()];
        for l in &self.lines {
            if l.day > cut && l.day <= cut + days {
                truth[l.customer as usize].insert(l.product);
            }
        }
        truth
    }
}

/// One customer's orders before a cut.
#[derive(Debug, Default, Clone)]
pub struct CustomerOrders {
    /// (day, distinct products) of each order, oldest first.
    pub orders: Vec<(i32, Vec<u32>)>,
}

impl CustomerOrders {
    /// Orders on days 0, 1, 2, … holding the given products (for tests).
    pub fn from_baskets(baskets: &[&[u32]]) -> CustomerOrders {
        CustomerOrders {
            orders: baskets
                .iter()
                .enumerate()
                .map(|(d, o)| (d as i32, o.to_vec()))
                .collect(),
        }
    }

    /// Every product bought, once each, ascending.
    pub fn products(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .orders
            .iter()
            .flat_map(|o| o.1.iter().copied())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Loads the purchase history up to `as_of` (named query `customer_purchases`).
pub async fn load_history(catalog: &Catalog, as_of: Option<NaiveDate>) -> Result<History> {
    let mut values = HashMap::new();
    let cut = as_of.unwrap_or(NaiveDate::from_ymd_opt(2199, 12, 31).expect("date"));
    values.insert(
        "as_of".to_string(),
        ScalarValue::Date32(Some(epoch_day(cut))),
    );
    let prepared = crate::query::builtin("customer_purchases", values)?;
    let batches = crate::query::collect(catalog, &prepared).await?;
    let (mut h, orders, value) = read_lines(&batches)?;
    if h.lines.is_empty() {
        return Err(Error::usage(
            "no purchases of known customers in the mart; run crm-mart etl first",
        ));
    }
    in_id_order(&mut h, &orders, value);
    Ok(h)
}

/// Per product: lines, Σ revenue, Σ margin, whether every line had a margin.
type ProductValue = (f64, f64, f64, bool);

/// The lines and returns of `customer_purchases`, with customers, products and orders interned
/// in the order the scan returned them.
fn read_lines(
    batches: &[arrow::array::RecordBatch],
) -> Result<(History, FxHashMap<String, u32>, Vec<ProductValue>)> {
    let mut h = History::default();
    let mut cust: FxHashMap<String, u32> = FxHashMap::default();
    let mut prod: FxHashMap<String, u32> = FxHashMap::default();
    let mut ord: FxHashMap<String, u32> = FxHashMap::default();
    let mut value: Vec<ProductValue> = Vec::new();
    for b in batches {
        let s = |i: usize| arrow::compute::cast(b.column(i), &DataType::Utf8);
        let f = |i: usize| arrow::compute::cast(b.column(i), &DataType::Float64);
        let (c, o, p, n) = (s(0)?, s(1)?, s(3)?, s(4)?);
        let (net, margin) = (f(7)?, f(8)?);
        let (c, o, p, n) = (
            c.as_string::<i32>(),
            o.as_string::<i32>(),
            p.as_string::<i32>(),
            n.as_string::<i32>(),
        );
        let (net, margin) = (
            net.as_primitive::<Float64Type>(),
            margin.as_primitive::<Float64Type>(),
        );
        let day = b.column(2).as_primitive::<Date32Type>();
        let is_return = b.column(9).as_boolean();
        for i in 0..b.num_rows() {
            if c.is_null(i) || o.is_null(i) || p.is_null(i) {
                continue;
            }
            let next = h.customers.len() as u32;
            let customer = *cust.entry(c.value(i).to_string()).or_insert_with(|| {
                h.customers.push(c.value(i).to_string());
                next
            });
            let next = h.products.len() as u32;
            let product = *prod.entry(p.value(i).to_string()).or_insert_with(|| {
                h.products.push(p.value(i).to_string());
                h.product_names.push(n.value(i).to_string());
                value.push((0.0, 0.0, 0.0, true));
                next
            });
            let next = ord.len() as u32;
            let order = *ord.entry(o.value(i).to_string()).or_insert(next);
            let line = Line {
                customer,
                order,
                day: day.value(i),
                product,
            };
            if is_return.value(i) {
                h.returns.push(line);
                continue;
            }
            let v = &mut value[product as usize];
            v.0 += 1.0;
            v.1 += if net.is_null(i) { 0.0 } else { net.value(i) };
            if margin.is_null(i) {
                v.3 = false;
            } else {
                v.2 += margin.value(i);
            }
            h.lines.push(line);
        }
    }
    Ok((h, ord, value))
}

/// Indices in id order, whatever order the scan returned the rows in: ties between products and
/// customers are then broken the same way on every run. Sets each product's value per line
/// (margin where every line had one, else revenue).
fn in_id_order(h: &mut History, ord: &FxHashMap<String, u32>, value: Vec<ProductValue>) {
    let perm = |ids: &[String]| -> (Vec<u32>, Vec<usize>) {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by(|a, b| ids[*a].cmp(&ids[*b]));
        let mut new = vec![0u32; ids.len()];
        for (k, old) in order.iter().enumerate() {
            new[*old] = k as u32;
        }
        (new, order)
    };
    let (pnew, porder) = perm(&h.products);
    let (cnew, corder) = perm(&h.customers);
    let mut order_ids: Vec<(&String, u32)> = ord.iter().map(|(k, v)| (k, *v)).collect();
    order_ids.sort();
    let mut onew = vec![0u32; order_ids.len()];
    for (k, (_, old)) in order_ids.iter().enumerate() {
        onew[*old as usize] = k as u32;
    }
    for l in h.lines.iter_mut().chain(h.returns.iter_mut()) {
        l.product = pnew[l.product as usize];
        l.customer = cnew[l.customer as usize];
        l.order = onew[l.order as usize];
    }
    h.lines
        .sort_unstable_by_key(|l| (l.customer, l.order, l.product));
    h.products = porder.iter().map(|i| h.products[*i].clone()).collect();
    h.product_names = porder.iter().map(|i| h.product_names[*i].clone()).collect();
    let value: Vec<ProductValue> = porder.iter().map(|i| value[*i]).collect();
    h.customers = corder.iter().map(|i| h.customers[*i].clone()).collect();
    h.product_value = value
        .iter()
        .map(|v| {
            if v.0 == 0.0 {
                0.0
            } else if v.3 {
                v.2 / v.0
            } else {
                v.1 / v.0
            }
        })
        .collect();
    h.value_is_margin = value.iter().map(|v| v.3).collect();
}

/// `customer_id → value` of a float column of a mart table, empty when the table is missing.
pub async fn lookup_f64(
    catalog: &Catalog,
    table: MartTable,
    column: &str,
) -> Result<HashMap<String, f64>> {
    let mut out = HashMap::new();
    if !catalog.tables.iter().any(|t| t.name == table.name()) {
        return Ok(out);
    }
    let batches = catalog
        .ctx
        .table(table.name())
        .await?
        .select_columns(&["customer_id", column])?
        .collect()
        .await?;
    for b in &batches {
        let id = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let v = arrow::compute::cast(b.column(1), &DataType::Float64)?;
        let (id, v) = (id.as_string::<i32>(), v.as_primitive::<Float64Type>());
        for i in 0..b.num_rows() {
            if !v.is_null(i) {
                out.insert(id.value(i).to_string(), v.value(i));
            }
        }
    }
    Ok(out)
}

/// Segment (cluster name) by customer index, from `customer_segments` when present.
pub async fn segments(catalog: &Catalog, h: &History) -> Result<HashMap<u32, String>> {
    let mut out = HashMap::new();
    if !catalog.tables.iter().any(|t| t.name == "customer_segments") {
        return Ok(out);
    }
    let index: HashMap<&str, u32> = h
        .customers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u32))
        .collect();
    let prepared = crate::query::builtin("customer_clusters", HashMap::new())?;
    let batches = crate::query::collect(catalog, &prepared).await?;
    for b in &batches {
        let id = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let s = arrow::compute::cast(b.column(1), &DataType::Utf8)?;
        let (id, s) = (id.as_string::<i32>(), s.as_string::<i32>());
        for i in 0..b.num_rows() {
            if let Some(c) = index.get(id.value(i))
                && !s.is_null(i)
            {
                out.insert(*c, s.value(i).to_string());
            }
        }
    }
    Ok(out)
}
