//! Market-basket analysis: frequent itemsets by FP-Growth and association rules.

pub mod fpgrowth;
pub mod input;
pub mod rules;

/// A support threshold given as a fraction of the transactions (< 1) or a count (≥ 1), as a count:
/// the smallest count whose support is at least the fraction.
pub fn min_count(min_support: f64, transactions: usize) -> u64 {
    if min_support >= 1.0 {
        min_support.ceil() as u64
    } else {
        // ceil with a tolerance for the binary representation of the fraction
        ((min_support * transactions as f64) - 1e-9).ceil().max(1.0) as u64
    }
}

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use chrono::NaiveDate;
use datafusion::scalar::ScalarValue;

use crate::error::{Error, Result};
use crate::mart::catalog::Catalog;
use input::{Baskets, Interner};
use rules::Rule;

/// Item level of a mart basket analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Products (rules name product ids and names).
    Product,
    /// Product subcategories.
    Subcategory,
    /// Product categories.
    Category,
}

impl Level {
    /// Every level.
    pub const ALL: [Level; 3] = [Level::Product, Level::Subcategory, Level::Category];

    /// The name used in queries and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Product => "product",
            Level::Subcategory => "subcategory",
            Level::Category => "category",
        }
    }
}

/// Baskets from the mart (named query `basket_lines`), with readable item names.
pub async fn from_mart(
    catalog: &Catalog,
    level: Level,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<(Baskets, Vec<String>)> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::DataType;
    let day = |d: NaiveDate| ScalarValue::Date32(Some(crate::util::dates::epoch_day(d)));
    let mut values = HashMap::new();
    values.insert(
        "level".to_string(),
        ScalarValue::Utf8(Some(level.as_str().into())),
    );
    values.insert(
        "from_date".to_string(),
        day(from.unwrap_or(NaiveDate::from_ymd_opt(1900, 1, 1).expect("date"))),
    );
    values.insert(
        "to_date".to_string(),
        day(to.unwrap_or(NaiveDate::from_ymd_opt(2199, 12, 31).expect("date"))),
    );
    let prepared = crate::query::builtin("basket_lines", values)?;
    let batches = crate::query::collect(catalog, &prepared).await?;
    let mut items = Interner::default();
    let mut names: Vec<String> = Vec::new();
    let mut by_order: rustc_hash::FxHashMap<String, usize> = Default::default();
    let mut transactions: Vec<Vec<u32>> = Vec::new();
    for b in &batches {
        let cols: Vec<ArrayRef> = (0..3)
            .map(|i| arrow::compute::cast(b.column(i), &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()?;
        let (o, it, nm) = (
            cols[0].as_string::<i32>(),
            cols[1].as_string::<i32>(),
            cols[2].as_string::<i32>(),
        );
        for i in 0..b.num_rows() {
            if o.is_null(i) || it.is_null(i) {
                continue;
            }
            let id = items.id(it.value(i));
            if id as usize == names.len() {
                names.push(nm.value(i).to_string());
            }
            let k = *by_order.entry(o.value(i).to_string()).or_insert_with(|| {
                transactions.push(Vec::new());
                transactions.len() - 1
            });
            transactions[k].push(id);
        }
    }
    if transactions.is_empty() {
        return Err(Error::usage(
            "no orders in the mart for the chosen dates; run crm-mart etl first or widen the dates",
        ));
    }
    for t in &mut transactions {
        t.sort_unstable();
        t.dedup();
    }
    let (baskets, names) = Baskets {
        items: items.names,
        transactions,
    }
    .canonical(Some(names));
    Ok((baskets, names.expect("names given")))
}

/// The `basket_rules` rows: rule_id is the rank (1 = highest lift); `antecedent` and `consequent`
/// are readable names, `antecedent_items` / `consequent_item` the ids (product ids at product
/// level). Conviction is null where it is infinite (confidence 1).
pub fn to_batch(
    rules: &[Rule],
    ids: &[String],
    names: &[String],
    level: &str,
    mart_version: Option<i64>,
) -> Result<RecordBatch> {
    let join = |v: &[u32], what: &[String]| {
        v.iter()
            .map(|i| what[*i as usize].as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let n = rules.len();
    let f = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
    let i = |v: Vec<i64>| Arc::new(Int64Array::from(v)) as ArrayRef;
    let cols: Vec<ArrayRef> = vec![
        i((1..=n as i64).collect()),
        Arc::new(StringArray::from_iter_values(
            rules.iter().map(|r| join(&r.antecedent, names)),
        )),
        Arc::new(StringArray::from_iter_values(
            rules.iter().map(|r| names[r.consequent as usize].clone()),
        )),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(level, n))),
        f(rules.iter().map(|r| r.support()).collect()),
        f(rules.iter().map(|r| r.confidence()).collect()),
        f(rules.iter().map(|r| r.lift()).collect()),
        f(rules.iter().map(|r| r.leverage()).collect()),
        Arc::new(Float64Array::from(
            rules
                .iter()
                .map(|r| Some(r.conviction()).filter(|c| c.is_finite()))
                .collect::<Vec<_>>(),
        )),
        i(rules.iter().map(|r| r.antecedent_count as i64).collect()),
        i(rules.iter().map(|r| r.rule_count as i64).collect()),
        Arc::new(StringArray::from_iter_values(
            rules.iter().map(|r| join(&r.antecedent, ids)),
        )),
        Arc::new(StringArray::from_iter_values(
            rules.iter().map(|r| ids[r.consequent as usize].clone()),
        )),
        i(rules.iter().map(|r| r.consequent_count as i64).collect()),
        i(rules.iter().map(|r| r.transactions as i64).collect()),
        Arc::new(Int64Array::from(vec![mart_version; n])),
    ];
    Ok(RecordBatch::try_new(
        crate::mart::schema::schema("basket_rules"),
        cols,
    )?)
}

/// Frequent itemsets as rows (items by name, size, count, support), the most frequent first.
pub fn itemsets_to_batch(
    sets: &[fpgrowth::Itemset],
    names: &[String],
    transactions: usize,
) -> Result<RecordBatch> {
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = Arc::new(Schema::new(vec![
        Field::new("items", DataType::Utf8, false),
        Field::new("size", DataType::Int64, false),
        Field::new("count", DataType::Int64, false),
        Field::new("support", DataType::Float64, false),
    ]));
    let items = sets.iter().map(|s| {
        s.items
            .iter()
            .map(|i| names[*i as usize].as_str())
            .collect::<Vec<_>>()
            .join(", ")
    });
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(items)),
            Arc::new(Int64Array::from_iter_values(
                sets.iter().map(|s| s.items.len() as i64),
            )),
            Arc::new(Int64Array::from_iter_values(
                sets.iter().map(|s| s.count as i64),
            )),
            Arc::new(Float64Array::from_iter_values(
                sets.iter().map(|s| s.count as f64 / transactions as f64),
            )),
        ],
    )?)
}
