//! Customer segmentation: RFM quintile scores with the standard named RFM segments, and k-means
//! (linfa) on standardised, log-scaled behaviour features with k given or chosen by silhouette.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int32Array, Int64Array, StringArray,
};
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use linfa::prelude::*;
use linfa_clustering::{KMeans, KMeansInit};
use ndarray::{Array2, Axis};
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;
use rayon::prelude::*;

use super::features::{self, FeatureTable};
use super::metrics;
use crate::error::{Error, Result};
use crate::mart::catalog::Catalog;
use crate::mart::schema;
use crate::query::{self, Prepared};

mod model;
pub use model::*;
#[cfg(test)]
mod tests;

/// What `crm-mart segment` was asked for.
#[derive(Debug, Clone)]
pub struct SegmentOptions {
    /// The cut (default: the last order day in the mart).
    pub as_of: Option<NaiveDate>,
    /// Number of clusters; None chooses k in 2..=10 by silhouette.
    pub k: Option<usize>,
    /// Seed of k-means' initialisation and of the silhouette sample.
    pub seed: u64,
    /// k-means initialisations per k (best inertia kept).
    pub n_runs: usize,
}

impl SegmentOptions {
    /// The defaults (`segment` and the nightly stage).
    pub const DEFAULT: Self = SegmentOptions {
        as_of: None,
        k: None,
        seed: 42,
        n_runs: 4,
    };

    /// The options, or the first that cannot work.
    pub fn check(&self) -> Result<&Self> {
        if let Some(k) = self.k
            && !(1..=50).contains(&k)
        {
            return Err(Error::params("k", format!("{k}: use 1 to 50, or auto")));
        }
        if !(1..=100).contains(&self.n_runs) {
            return Err(Error::params(
                "n_runs",
                format!("{}: use 1 to 100 initialisations per k", self.n_runs),
            ));
        }
        Ok(self)
    }
}

/// One customer's segment.
#[derive(Debug, Clone)]
pub struct SegmentRow {
    /// Customer id.
    pub customer_id: String,
    /// Days since the last order at the cut.
    pub recency_days: f64,
    /// Orders.
    pub frequency: i64,
    /// Net sales.
    pub monetary: f64,
    /// Margin (for the profile).
    pub margin: f64,
    /// RFM scores, 5 = best.
    pub r: i32,
    /// Frequency score.
    pub f: i32,
    /// Monetary score.
    pub m: i32,
    /// Named RFM segment.
    pub rfm_segment: &'static str,
    /// k-means cluster (0-based).
    pub cluster: usize,
}

/// The outcome of a segmentation.
#[derive(Debug, Clone)]
pub struct Segmentation {
    /// The cut.
    pub as_of: NaiveDate,
    /// One row per customer who bought on or before the cut.
    pub rows: Vec<SegmentRow>,
    /// Chosen k.
    pub k: usize,
    /// Silhouette (on the sample) for every k tried.
    pub silhouettes: Vec<(usize, f64)>,
    /// k-means inertia of the chosen clustering.
    pub inertia: f64,
    /// Descriptive cluster names, by cluster number.
    pub cluster_names: Vec<String>,
    /// Names of the clustering inputs.
    pub inputs: Vec<String>,
}

/// The RFM segment of recency score `r` and the rounded mean `fm` of the frequency and monetary
/// scores (both 1..=5).
pub fn rfm_segment(r: i32, fm: i32) -> &'static str {
    const GRID: [[&str; 5]; 5] = [
        // fm:  1                 2                     3                     4            5
        ["Lost", "Lost", "At Risk", "At Risk", "Can't Lose Them"], // r = 1
        [
            "Hibernating",
            "Hibernating",
            "At Risk",
            "At Risk",
            "Can't Lose Them",
        ], // r = 2
        [
            "About to Sleep",
            "Need Attention",
            "Need Attention",
            "Loyal",
            "Loyal",
        ], // r = 3
        [
            "Promising",
            "Potential Loyalist",
            "Loyal",
            "Loyal",
            "Champions",
        ], // r = 4
        [
            "New",
            "Potential Loyalist",
            "Potential Loyalist",
            "Champions",
            "Champions",
        ], // r = 5
    ];
    GRID[(r.clamp(1, 5) - 1) as usize][(fm.clamp(1, 5) - 1) as usize]
}

/// Quintile scores 1..=5 of `values`, 5 for the best; `higher_is_better` says which end is best.
/// Equal values get equal scores (the score of the first of them in rank order).
pub fn quintiles(values: &[f64], higher_is_better: bool) -> Vec<i32> {
    let n = values.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|a, b| {
        let o = values[*a].total_cmp(&values[*b]);
        if higher_is_better { o.reverse() } else { o }
    });
    let mut scores = vec![0; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && values[idx[j + 1]] == values[idx[i]] {
            j += 1;
        }
        let score = 5 - (i * 5 / n) as i32;
        for k in &idx[i..=j] {
            scores[*k] = score;
        }
        i = j + 1;
    }
    scores
}

/// Spend share per category for every customer, from history up to the cut.
const CATEGORY_SHARES: &str = "
SELECT c.customer_id, coalesce(p.category, '(unknown)') AS category, sum(s.net_amount) AS amount
FROM fact_sales s
JOIN dim_customer c ON c.customer_key = s.customer_key
JOIN dim_product p ON p.product_key = s.product_key
WHERE s.customer_key <> 0
  AND date_part('epoch', s.order_ts) < date_part('epoch', CAST($as_of AS TIMESTAMP)) + 86400
GROUP BY c.customer_id, coalesce(p.category, '(unknown)')";

pub async fn category_shares(
    catalog: &Catalog,
    as_of: NaiveDate,
) -> Result<(Vec<String>, HashMap<String, Vec<f64>>)> {
    let mut prepared: Prepared = features::prepare(as_of, 90)?;
    prepared.label = "category shares".into();
    prepared.sql = CATEGORY_SHARES.to_string();
    prepared.values.retain(|k, _| k == "as_of");
    let batches = query::plan(catalog, &prepared)
        .await?
        .collect()
        .await
        .map_err(|e| query::query_error(catalog, &prepared.label, e))?;
    let mut amounts: HashMap<String, HashMap<String, f64>> = HashMap::new();
    let mut categories: Vec<String> = Vec::new();
    for b in &batches {
        let id = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let cat = arrow::compute::cast(b.column(1), &DataType::Utf8)?;
        let amt = arrow::compute::cast(b.column(2), &DataType::Float64)?;
        let (id, cat, amt) = (
            id.as_string::<i32>(),
            cat.as_string::<i32>(),
            amt.as_primitive::<Float64Type>(),
        );
        for i in 0..b.num_rows() {
            let c = cat.value(i).to_string();
            if !categories.contains(&c) {
                categories.push(c.clone());
            }
            let v = if amt.is_null(i) { 0.0 } else { amt.value(i) };
            *amounts
                .entry(id.value(i).to_string())
                .or_default()
                .entry(c)
                .or_default() += v.max(0.0);
        }
    }
    categories.sort();
    let shares = amounts
        .into_iter()
        .map(|(id, m)| {
            let total: f64 = m.values().sum();
            let v = categories
                .iter()
                .map(|c| {
                    if total > 0.0 {
                        m.get(c).copied().unwrap_or(0.0) / total
                    } else {
                        0.0
                    }
                })
                .collect();
            (id, v)
        })
        .collect();
    Ok((categories, shares))
}

/// Orders' worth of weight the population's category mix gets in a customer's shares.
pub const SHARE_PRIOR_ORDERS: f64 = 5.0;

/// The clustering inputs: log-scaled behaviour features and category spend shares, each
/// standardised to mean 0 and standard deviation 1.
///
/// Recency is left out: it says where a customer is in their life cycle (which the RFM segments
/// cover), not how they buy. A customer's category shares are shrunk towards the population's in
/// proportion to how little we know: with f orders, share' = (f · share + κ · population share) /
/// (f + κ), κ = [`SHARE_PRIOR_ORDERS`], so that one basket does not make a "baby buyer".
pub fn clustering_matrix(
    ft: &FeatureTable,
    categories: &[String],
    shares: &HashMap<String, Vec<f64>>,
) -> Result<(Array2<f64>, Vec<String>)> {
    const LOGGED: &[&str] = &[
        "frequency",
        "monetary",
        "tenure_days",
        "avg_basket",
        "mean_interpurchase_days",
    ];
    const PLAIN: &[&str] = &["category_breadth", "discount_share"];
    let mut names: Vec<String> = Vec::new();
    let mut cols: Vec<Vec<f64>> = Vec::new();
    for name in LOGGED.iter().chain(PLAIN) {
        let j = ft
            .column(name)
            .ok_or_else(|| Error::Invariant(format!("feature {name} missing")))?;
        let logged = LOGGED.contains(name);
        cols.push(
            ft.x.column(j)
                .iter()
                .map(|v| if logged { v.max(0.0).ln_1p() } else { *v })
                .collect(),
        );
        names.push(name.to_string());
    }
    let freq = ft
        .column("frequency")
        .ok_or_else(|| Error::Invariant("feature frequency missing".into()))?;
    let population: Vec<f64> = (0..categories.len())
        .map(|c| {
            let known: Vec<f64> = ft
                .customer_ids
                .iter()
                .filter_map(|id| shares.get(id).map(|v| v[c]))
                .collect();
            known.iter().sum::<f64>() / known.len().max(1) as f64
        })
        .collect();
    for (c, cat) in categories.iter().enumerate() {
        cols.push(
            ft.customer_ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let f = ft.x[[i, freq]].max(0.0);
                    let own = shares.get(id).map_or(population[c], |v| v[c]);
                    (f * own + SHARE_PRIOR_ORDERS * population[c]) / (f + SHARE_PRIOR_ORDERS)
                })
                .collect(),
        );
        names.push(format!("share_{cat}"));
    }
    let n = ft.customer_ids.len();
    let mut x = Array2::<f64>::zeros((n, cols.len()));
    for (j, col) in cols.iter().enumerate() {
        let mean = col.iter().sum::<f64>() / n as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        let sd = if var > 1e-12 { var.sqrt() } else { 1.0 };
        for (i, v) in col.iter().enumerate() {
            x[[i, j]] = (v - mean) / sd;
        }
    }
    Ok((x, names))
}

/// Relative convergence tolerance of k-means: a run stops when the centroids moved, in total
/// squared distance, less than this times the mean variance of the inputs (scikit-learn's rule
/// and default).
pub const KMEANS_TOL: f64 = 1e-4;

/// The k-means fit of the chosen k.
pub struct KFit {
    /// Clusters.
    pub k: usize,
    /// Each row's cluster.
    pub labels: Vec<usize>,
    /// Within-cluster sum of squares.
    pub inertia: f64,
    /// k × inputs.
    pub centroids: Array2<f64>,
    /// The silhouette of each k tried (on a sample of 2,000 rows).
    pub silhouettes: Vec<(usize, f64)>,
}

/// k-means of the rows of `x` with `opts.k` clusters, or the k in 2..=10 of the best silhouette.
/// Choosing k fits k-means nine times: on more than K_SEARCH_ROWS rows that search runs on a
/// seeded sample of them, and the chosen k is then fitted on every row.
pub fn choose_k(x: &Array2<f64>, opts: &SegmentOptions) -> Result<KFit> {
    let n = x.nrows();
    let search = (opts.k.is_none() && n > K_SEARCH_ROWS).then(|| {
        x.select(
            Axis(0),
            &sample_rows(n, K_SEARCH_ROWS, opts.seed ^ 0x5EA7C4),
        )
    });
    let xk = search.as_ref().unwrap_or(x);
    let sample = sample_rows(xk.nrows(), 2000, opts.seed);
    let xs = xk.select(Axis(0), &sample);
    let flat: Vec<f64> = xs.iter().copied().collect();
    let candidates: Vec<usize> = match opts.k {
        Some(k) => vec![k],
        None => (2..=10).collect(),
    };
    // (k, silhouette, labels, inertia, centroids) of the best k so far.
    type Fit = (usize, f64, Vec<usize>, f64, Array2<f64>);
    let mut best: Option<Fit> = None;
    let mut silhouettes = Vec::new();
    for k in candidates {
        let (labels, inertia, centroids) = kmeans(xk, k, opts.seed, opts.n_runs)?;
        let sl: Vec<usize> = sample.iter().map(|i| labels[*i]).collect();
        let s = metrics::silhouette(&flat, xs.ncols(), &sl).unwrap_or(0.0);
        silhouettes.push((k, s));
        if best.as_ref().is_none_or(|b| s > b.1) {
            best = Some((k, s, labels, inertia, centroids));
        }
    }
    let (k, _, labels, inertia, centroids) = match best.expect("at least one k") {
        (k, _, _, _, _) if search.is_some() => {
            let (labels, inertia, centroids) = kmeans(x, k, opts.seed, opts.n_runs)?;
            (k, 0.0, labels, inertia, centroids)
        }
        fit => fit,
    };
    Ok(KFit {
        k,
        labels,
        inertia,
        centroids,
        silhouettes,
    })
}

/// Each customer's RFM scores (quintiles, 5 = best), named segment and cluster.
fn rfm_rows(ft: &FeatureTable, labels: &[usize]) -> Result<Vec<SegmentRow>> {
    let n = ft.customer_ids.len();
    let col = |name: &str| -> Result<Vec<f64>> {
        let j = ft
            .column(name)
            .ok_or_else(|| Error::Invariant(format!("feature {name} missing")))?;
        Ok(ft.x.column(j).to_vec())
    };
    let (rec, freq, mon, margin) = (
        col("recency_days")?,
        col("frequency")?,
        col("monetary")?,
        col("margin")?,
    );
    let (r, f, m) = (
        quintiles(&rec, false),
        quintiles(&freq, true),
        quintiles(&mon, true),
    );
    Ok((0..n)
        .map(|i| SegmentRow {
            customer_id: ft.customer_ids[i].clone(),
            recency_days: rec[i],
            frequency: freq[i] as i64,
            monetary: mon[i],
            margin: margin[i],
            r: r[i],
            f: f[i],
            m: m[i],
            rfm_segment: rfm_segment(r[i], ((f[i] + m[i]) as f64 / 2.0).round() as i32),
            cluster: labels[i],
        })
        .collect())
}

/// Runs the segmentation over `catalog`.
pub async fn run(catalog: &Catalog, opts: &SegmentOptions) -> Result<Segmentation> {
    opts.check()?;
    let (first, last) = features::data_range(catalog).await?;
    let as_of = opts.as_of.unwrap_or(last);
    if as_of < first || as_of > last {
        return Err(Error::params(
            "as_of",
            format!("{as_of} is outside the mart's sales ({first} to {last})"),
        ));
    }
    let ft = features::load(catalog, as_of, 90).await?;
    let n = ft.customer_ids.len();
    let max_k = opts.k.unwrap_or(10);
    if n < 2 * max_k.max(2) {
        return Err(Error::usage(format!(
            "{n} customers bought by {as_of}: too few to segment into {max_k} clusters (need at least {})",
            2 * max_k.max(2)
        )));
    }
    let (categories, shares) = category_shares(catalog, as_of).await?;
    let (x, inputs) = clustering_matrix(&ft, &categories, &shares)?;
    let fit = choose_k(&x, opts)?;
    let (k, labels, inertia, centroids) = (fit.k, fit.labels, fit.inertia, fit.centroids);
    let silhouettes = fit.silhouettes;
    let mut sizes = vec![0usize; k];
    for l in &labels {
        sizes[*l] += 1;
    }
    let cluster_names = name_clusters(&centroids, &inputs, &sizes);

    let rows = rfm_rows(&ft, &labels)?;
    Ok(Segmentation {
        as_of,
        rows,
        k,
        silhouettes,
        inertia,
        cluster_names,
        inputs,
    })
}

impl Segmentation {
    /// The `customer_segments` table rows.
    pub fn to_batch(&self, model_version: &str, mart_version: Option<i64>) -> Result<RecordBatch> {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
        let day = (self.as_of - epoch).num_days() as i32;
        let n = self.rows.len();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                self.rows.iter().map(|r| r.customer_id.as_str()),
            )),
            Arc::new(Date32Array::from(vec![day; n])),
            Arc::new(Float64Array::from_iter_values(
                self.rows.iter().map(|r| r.recency_days),
            )),
            Arc::new(Int64Array::from_iter_values(
                self.rows.iter().map(|r| r.frequency),
            )),
            Arc::new(Float64Array::from_iter_values(
                self.rows.iter().map(|r| r.monetary),
            )),
            Arc::new(Int32Array::from_iter_values(self.rows.iter().map(|r| r.r))),
            Arc::new(Int32Array::from_iter_values(self.rows.iter().map(|r| r.f))),
            Arc::new(Int32Array::from_iter_values(self.rows.iter().map(|r| r.m))),
            Arc::new(StringArray::from_iter_values(
                self.rows.iter().map(|r| r.rfm_segment),
            )),
            Arc::new(Int32Array::from_iter_values(
                self.rows.iter().map(|r| r.cluster as i32),
            )),
            Arc::new(StringArray::from_iter_values(
                self.rows
                    .iter()
                    .map(|r| self.cluster_names[r.cluster].as_str()),
            )),
            Arc::new(StringArray::from(vec![model_version; n])),
            Arc::new(Int64Array::from(vec![mart_version; n])),
        ];
        Ok(RecordBatch::try_new(
            schema::schema("customer_segments"),
            cols,
        )?)
    }
}
