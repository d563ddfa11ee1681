//! Customer features as of a date, computed by the named query `customer_features` (SQL over the
//! mart, history up to the cut only) and loaded into a matrix for the models.

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use chrono::NaiveDate;
use datafusion::common::ScalarValue;
use ndarray::Array2;

use crate::error::{Error, Result};
use crate::mart::catalog::Catalog;
use crate::query::{self, Prepared};

/// The active population: customers whose last order is at most this many days before the cut
/// (the churn model scores and exports only them).
pub const ACTIVE_DAYS: f64 = 365.0;

/// Columns of `customer_features` that are not model inputs.
const NOT_FEATURES: &[&str] = &["customer_id", "as_of", "churned", "label_known"];

/// Contact types and channels that name contact-count features (`complaint_90d`, `email_365d`).
const CONTACT_KINDS: &[&str] = &[
    "inquiry",
    "complaint",
    "service",
    "campaign",
    "sales_call",
    "phone",
    "email",
    "visit",
    "web",
    "chat",
    "sms",
];

/// Whether feature `name` is computed from contacts.
pub fn is_contact_feature(name: &str) -> bool {
    CONTACT_KINDS.iter().any(|k| {
        name.strip_prefix(k)
            .is_some_and(|rest| rest.starts_with('_'))
    }) || name.starts_with("unresolved_complaints")
        || name.starts_with("satisfaction_")
        || matches!(
            name,
            "complaints" | "days_since_last_contact" | "campaign_response_rate"
        )
}

/// One cut of the feature table.
#[derive(Debug, Clone)]
pub struct FeatureTable {
    /// The cut.
    pub as_of: NaiveDate,
    /// Customer ids, one per row.
    pub customer_ids: Vec<String>,
    /// Feature names, one per column of `x`.
    pub names: Vec<String>,
    /// The features (rows: customers).
    pub x: Array2<f64>,
    /// Churned within the horizon (meaningful only when `label_known`).
    pub churned: Vec<bool>,
    /// Whether the mart's data covers the whole horizon after the cut.
    pub label_known: bool,
}

impl FeatureTable {
    /// Index of feature `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Rows whose feature `name` passes `keep`.
    pub fn filter_rows(&self, keep: impl Fn(&[f64]) -> bool) -> FeatureTable {
        let rows: Vec<usize> = (0..self.x.nrows())
            .filter(|r| keep(self.x.row(*r).as_slice().expect("row-major")))
            .collect();
        FeatureTable {
            as_of: self.as_of,
            customer_ids: rows.iter().map(|r| self.customer_ids[*r].clone()).collect(),
            names: self.names.clone(),
            x: self.x.select(ndarray::Axis(0), &rows),
            churned: rows.iter().map(|r| self.churned[*r]).collect(),
            label_known: self.label_known,
        }
    }
}

/// First and last order day in the mart, or an error for an empty one.
pub async fn data_range(catalog: &Catalog) -> Result<(NaiveDate, NaiveDate)> {
    let batches =
        query::collect(catalog, &query::builtin("sales_range", Default::default())?).await?;
    let b = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| Error::usage("the mart has no sales; run crm-mart etl first"))?;
    let day = |i: usize| -> Option<NaiveDate> {
        let a = b.column(i).as_primitive::<arrow::datatypes::Date32Type>();
        if a.is_null(0) {
            return None;
        }
        NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|e| e.checked_add_signed(chrono::Duration::days(a.value(0) as i64)))
    };
    match (day(0), day(1)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(Error::usage(
            "the mart has no sales; run crm-mart etl first",
        )),
    }
}

/// The features of every customer who bought on or before `as_of`.
pub async fn load(catalog: &Catalog, as_of: NaiveDate, horizon_days: u32) -> Result<FeatureTable> {
    // One process often needs the same cut twice (the nightly job: segment, then churn score,
    // both as of the last order day); the query is the costliest part of both.
    let key = cache_key(catalog, as_of, horizon_days);
    if let Some(ft) = FEATURE_CACHE
        .lock()
        .ok()
        .and_then(|c| c.iter().find(|(k, _)| *k == key).map(|(_, ft)| ft.clone()))
    {
        return Ok(ft);
    }
    let ft = load_uncached(catalog, as_of, horizon_days).await?;
    if let Ok(mut cache) = FEATURE_CACHE.lock() {
        cache.push((key, ft.clone()));
        // At most three cuts, and at most 48M values (384 MB) held.
        while cache.len() > 3 || cache.iter().map(|(_, f)| f.x.len()).sum::<usize>() > 48 << 20 {
            cache.remove(0);
        }
    }
    Ok(ft)
}

/// Feature tables computed in this process, newest last, by [`cache_key`].
static FEATURE_CACHE: std::sync::Mutex<Vec<(String, FeatureTable)>> =
    std::sync::Mutex::new(Vec::new());

/// What a feature table depends on: the cut, the horizon, and the location and version of every
/// table the features query reads.
fn cache_key(catalog: &Catalog, as_of: NaiveDate, horizon_days: u32) -> String {
    let inputs = ["dim_customer", "dim_product", "fact_contacts", "fact_sales"];
    let tables: Vec<String> = catalog
        .tables
        .iter()
        .filter(|t| inputs.contains(&t.name.as_str()))
        .map(|t| format!("{}={}@{:?}", t.name, t.path.display(), t.source))
        .collect();
    format!("{as_of}|{horizon_days}|{}", tables.join("|"))
}

/// (features, customer ids, churn labels, whether every label is known).
type Arrays = (Array2<f64>, Vec<String>, Vec<bool>, bool);

/// The feature matrix (NULL and non-finite values as 0), customer ids, churn labels and whether
/// every label is known, from the query's batches.
fn to_arrays(
    batches: &[arrow::record_batch::RecordBatch],
    names: &[String],
    n: usize,
) -> Result<Arrays> {
    let column = |b: &arrow::record_batch::RecordBatch, name: &str, to: &DataType| {
        arrow::compute::cast(b.column_by_name(name).expect("feature query column"), to)
    };
    let mut x = Array2::<f64>::zeros((n, names.len()));
    let mut ids = Vec::with_capacity(n);
    let mut churned = Vec::with_capacity(n);
    let mut label_known = true;
    let mut row = 0;
    for b in batches {
        let id = column(b, "customer_id", &DataType::Utf8)?;
        let id = id.as_string::<i32>();
        let ch = column(b, "churned", &DataType::Int64)?;
        let ch = ch.as_primitive::<arrow::datatypes::Int64Type>();
        let known = column(b, "label_known", &DataType::Int64)?;
        let known = known.as_primitive::<arrow::datatypes::Int64Type>();
        let cols: Vec<_> = names
            .iter()
            .map(|nm| column(b, nm, &DataType::Float64))
            .collect::<std::result::Result<_, _>>()?;
        for i in 0..b.num_rows() {
            ids.push(id.value(i).to_string());
            churned.push(ch.value(i) == 1);
            label_known &= known.value(i) == 1;
            for (j, c) in cols.iter().enumerate() {
                let c = c.as_primitive::<Float64Type>();
                let v = if c.is_null(i) { 0.0 } else { c.value(i) };
                x[[row, j]] = if v.is_finite() { v } else { 0.0 };
            }
            row += 1;
        }
    }
    Ok((x, ids, churned, label_known))
}

async fn load_uncached(
    catalog: &Catalog,
    as_of: NaiveDate,
    horizon_days: u32,
) -> Result<FeatureTable> {
    let prepared = prepare(as_of, horizon_days)?;
    let df = query::plan(catalog, &prepared).await?;
    let batches = df
        .collect()
        .await
        .map_err(|e| query::query_error(catalog, &prepared.label, e))?;
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => {
            return Err(Error::usage(format!(
                "no customer bought on or before {as_of}; choose a later {}",
                crate::error::param("as_of")
            )));
        }
    };
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| !NOT_FEATURES.contains(&n.as_str()))
        .collect();
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    if n == 0 {
        return Err(Error::usage(format!(
            "no customer bought on or before {as_of}; choose a later {}",
            crate::error::param("as_of")
        )));
    }
    let (x, ids, churned, label_known) = to_arrays(&batches, &names, n)?;
    // A fixed row order (by customer id), whatever order the parallel query returned: models
    // that sample rows (the forest's bootstraps, k-means initialisation) depend on it.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| ids[*a].cmp(&ids[*b]));
    let table = FeatureTable {
        as_of,
        customer_ids: order.iter().map(|i| ids[*i].clone()).collect(),
        names,
        x: x.select(ndarray::Axis(0), &order),
        churned: order.iter().map(|i| churned[*i]).collect(),
        label_known,
    };
    Ok(without_absent_contacts(table))
}

/// A mart without contacts (an invoice-line export) gives every customer the same contact
/// counts of zero and a "days since last contact" that is only the tenure again; offered to a
/// model, they would become reasons like "last contact 25 days ago" about contacts that never
/// happened. When no customer of the cut has a contact, those features are left out.
fn without_absent_contacts(table: FeatureTable) -> FeatureTable {
    let counts: Vec<usize> = table
        .names
        .iter()
        .enumerate()
        // Contact counts (`complaint_365d`, `email_365d`); satisfaction has a neutral default
        // for customers without contacts and says nothing here.
        .filter(|(_, n)| {
            n.ends_with("_365d")
                && CONTACT_KINDS
                    .iter()
                    .any(|k| n.strip_prefix(k).is_some_and(|r| r == "_365d"))
        })
        .map(|(j, _)| j)
        .collect();
    if counts.is_empty() {
        return table;
    }
    let any_contact = counts
        .iter()
        .any(|&j| table.x.column(j).iter().any(|v| *v != 0.0));
    if any_contact {
        return table;
    }
    let keep: Vec<usize> = (0..table.names.len())
        .filter(|j| !is_contact_feature(&table.names[*j]))
        .collect();
    FeatureTable {
        names: keep.iter().map(|j| table.names[*j].clone()).collect(),
        // Selecting columns may give a column-major array; the models read rows.
        x: table
            .x
            .select(ndarray::Axis(1), &keep)
            .as_standard_layout()
            .into_owned(),
        ..table
    }
}

impl FeatureTable {
    /// The columns `names`, in that order, or the names that are missing.
    pub fn select(&self, names: &[String]) -> std::result::Result<FeatureTable, Vec<String>> {
        let mut idx = Vec::with_capacity(names.len());
        let mut missing = Vec::new();
        for n in names {
            match self.column(n) {
                Some(j) => idx.push(j),
                None => missing.push(n.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(missing);
        }
        Ok(FeatureTable {
            as_of: self.as_of,
            customer_ids: self.customer_ids.clone(),
            names: names.to_vec(),
            x: self
                .x
                .select(ndarray::Axis(1), &idx)
                .as_standard_layout()
                .into_owned(),
            churned: self.churned.clone(),
            label_known: self.label_known,
        })
    }
}

/// The feature rows of the churn population (an order in the last 365 days) at each cut, with a
/// `split` column naming the cut's role, as one stream for export.
pub async fn export(
    catalog: &Catalog,
    cuts: &[(NaiveDate, &str)],
    horizon_days: u32,
) -> Result<datafusion::physical_plan::SendableRecordBatchStream> {
    use datafusion::prelude::{col, lit};
    let mut all = Vec::new();
    let mut schema = None;
    for (as_of, split) in cuts {
        let prepared = prepare(*as_of, horizon_days)?;
        let df = query::plan(catalog, &prepared)
            .await?
            .filter(col("recency_days").lt_eq(lit(ACTIVE_DAYS)))?
            .with_column("split", lit(*split))?;
        let batches = df
            .collect()
            .await
            .map_err(|e| query::query_error(catalog, &prepared.label, e))?;
        if let Some(b) = batches.first() {
            schema.get_or_insert(b.schema());
        }
        all.extend(batches);
    }
    let schema = schema.ok_or_else(|| Error::usage("no customer bought before the cuts"))?;
    let stream = futures::stream::iter(all.into_iter().map(Ok));
    Ok(Box::pin(
        datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, stream),
    ))
}

/// The feature query with its parameters bound.
pub fn prepare(as_of: NaiveDate, horizon_days: u32) -> Result<Prepared> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let mut values = HashMap::new();
    values.insert(
        "as_of".to_string(),
        ScalarValue::Date32(Some((as_of - epoch).num_days() as i32)),
    );
    values.insert(
        "horizon_days".to_string(),
        ScalarValue::Int64(Some(horizon_days as i64)),
    );
    query::builtin("customer_features", values)
}

/// A per-feature sentence fragment for reasons: how a high value of the feature reads.
pub fn describe(name: &str, value: f64) -> String {
    let n = value.round() as i64;
    match name {
        "recency_days" => format!("no purchase for {n} days"),
        "frequency" => format!("{n} orders so far"),
        "monetary" => format!("spent {value:.0} in total"),
        "tenure_days" => format!("customer for {n} days"),
        "avg_basket" => format!("average basket {value:.2}"),
        "mean_interpurchase_days" => format!("buys every {n} days on average"),
        "trend" => {
            if value < 0.0 {
                "buying less in the last 90 days than in the 90 before".to_string()
            } else {
                "buying more in the last 90 days than in the 90 before".to_string()
            }
        }
        "orders_90d" => format!("{n} orders in the last 90 days"),
        "orders_prev_90d" => format!("{n} orders in the 90 days before that"),
        "category_breadth" => format!("buys in {n} categories"),
        "discount_share" => format!("{:.0}% of lines bought on discount", value * 100.0),
        "return_rate" => format!("{:.0}% of lines returned", value * 100.0),
        "complaints" => format!("{n} complaints in total"),
        "unresolved_complaints" => format!("{n} unresolved complaints in total"),
        "unresolved_complaints_365d" => format!("{n} unresolved complaints in the last year"),
        "satisfaction_mean_365d" => format!("mean satisfaction {value:.1} of 5 in the last year"),
        "satisfaction_min_365d" => format!("lowest satisfaction {n} of 5 in the last year"),
        "days_since_last_contact" => format!("last contact {n} days ago"),
        "campaign_response_rate" => {
            format!("responded to {:.0}% of campaign contacts", value * 100.0)
        }
        other => {
            // <type or channel>_<window>: contact counts.
            if let Some((what, window)) = other.rsplit_once('_') {
                let window = match window {
                    "90d" => "the last 90 days",
                    "365d" => "the last year",
                    w => w,
                };
                format!("{n} {} contacts in {window}", what.replace('_', " "))
            } else {
                format!("{other} = {value:.2}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(names: &[&str], rows: Vec<Vec<f64>>) -> FeatureTable {
        let n = rows.len();
        let x = Array2::from_shape_vec((n, names.len()), rows.concat()).unwrap();
        FeatureTable {
            as_of: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            customer_ids: (0..n).map(|i| format!("C{i}")).collect(),
            names: names.iter().map(|s| s.to_string()).collect(),
            x,
            churned: vec![false; n],
            label_known: true,
        }
    }

    #[test]
    fn contact_features_are_left_out_only_when_no_customer_has_a_contact() {
        let names = [
            "recency_days",
            "complaint_365d",
            "email_365d",
            "satisfaction_mean_365d",
            "days_since_last_contact",
            "orders_365d",
        ];
        // Satisfaction defaults to a neutral 3 and days since last contact to the tenure.
        let none = table(&names, vec![vec![5.0, 0.0, 0.0, 3.0, 40.0, 2.0]; 3]);
        let kept = without_absent_contacts(none);
        assert_eq!(kept.names, vec!["recency_days", "orders_365d"]);
        assert_eq!(kept.x.row(0).to_vec(), vec![5.0, 2.0]);
        assert!(kept.x.is_standard_layout());
        let mut rows = vec![vec![5.0, 0.0, 0.0, 3.0, 40.0, 2.0]; 3];
        rows[1][2] = 1.0;
        let some = without_absent_contacts(table(&names, rows));
        assert_eq!(some.names.len(), names.len());
        assert!(is_contact_feature("unresolved_complaints_365d"));
        assert!(!is_contact_feature("orders_365d"));
    }
}
