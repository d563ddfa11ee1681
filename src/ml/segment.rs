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

/// Squared Euclidean distance over contiguous rows, for linfa's k-means: the same metric as
/// linfa's `L2Dist`, without its per-call shape checks and iterator set-up, which dominate the
/// assignment step on low-dimensional data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SquaredEuclid;

impl linfa_nn::distance::Distance<f64> for SquaredEuclid {
    #[inline]
    fn distance<D: ndarray::Dimension>(
        &self,
        a: ndarray::ArrayView<f64, D>,
        b: ndarray::ArrayView<f64, D>,
    ) -> f64 {
        self.rdistance(a, b).sqrt()
    }

    #[inline]
    fn rdistance<D: ndarray::Dimension>(
        &self,
        a: ndarray::ArrayView<f64, D>,
        b: ndarray::ArrayView<f64, D>,
    ) -> f64 {
        match (a.as_slice(), b.as_slice()) {
            (Some(x), Some(y)) => {
                assert_eq!(x.len(), y.len(), "points of different dimensions");
                x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum()
            }
            _ => ndarray::Zip::from(&a)
                .and(&b)
                .fold(0.0, |acc, p, q| acc + (p - q) * (p - q)),
        }
    }

    #[inline]
    fn rdist_to_dist(&self, rdist: f64) -> f64 {
        rdist.sqrt()
    }

    #[inline]
    fn dist_to_rdist(&self, dist: f64) -> f64 {
        dist * dist
    }
}

/// k-means with `k` clusters: (labels, inertia = sum of squared distances to the centroids,
/// centroids). At most 300 iterations per run; see [`KMEANS_TOL`] for the stopping rule.
pub fn kmeans(
    x: &Array2<f64>,
    k: usize,
    seed: u64,
    n_runs: usize,
) -> Result<(Vec<usize>, f64, Array2<f64>)> {
    let data = DatasetBase::from(x.view());
    let mean_var = x.var_axis(Axis(0), 0.0).mean().unwrap_or(1.0);
    // linfa compares the (unsquared) Frobenius distance between successive centroid matrices.
    let tolerance = (KMEANS_TOL * mean_var).sqrt().max(1e-12);
    // The initialisations run side by side, each from its own seeded generator (linfa runs
    // them one after another); the fit with the lowest inertia wins, the first on a tie.
    let fits = (0..n_runs.max(1) as u64)
        .into_par_iter()
        .map(|r| {
            let seed_r = seed ^ r.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let params = |rng: Xoshiro256Plus| {
                KMeans::params_with(k, rng, SquaredEuclid)
                    .n_runs(1)
                    .max_n_iterations(300)
                    .tolerance(tolerance)
            };
            let rng = Xoshiro256Plus::seed_from_u64(seed_r);
            let fitted = if x.nrows() > KMEANS_SEED_ROWS {
                let rows = sample_rows(x.nrows(), KMEANS_SEED_ROWS, seed_r);
                let sample = x.select(Axis(0), &rows);
                let warm = params(rng.clone())
                    .fit(&DatasetBase::from(sample.view()))
                    .map_err(|e| Error::usage(format!("k-means with k = {k}: {e}")))?;
                params(rng)
                    .init_method(KMeansInit::Precomputed(warm.centroids().clone()))
                    .fit(&data)
            } else {
                params(rng).fit(&data)
            };
            fitted.map_err(|e| Error::usage(format!("k-means with k = {k}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let model = fits
        .into_iter()
        .reduce(|best, m| {
            if m.inertia() < best.inertia() {
                m
            } else {
                best
            }
        })
        .expect("at least one run");
    let labels = model.predict(x).to_vec();
    // linfa reports the mean squared distance; inertia is the sum (as scikit-learn reports it).
    let inertia = model.inertia() * x.nrows() as f64;
    Ok((labels, inertia, model.centroids().clone()))
}

/// Rows above which each k-means run starts from the centroids of a k-means fit on a seeded
/// sample of this many rows (k-means++ seeding, Lloyd iterations to the same tolerance) instead
/// of from k-means++ seeds: the full-data Lloyd iterations then start close to where they end
/// and need a few passes over millions of rows instead of tens. The result is still a full-data
/// fit, stopped by the same rule.
pub const KMEANS_SEED_ROWS: usize = 100_000;

/// Customers on which the automatic choice of k runs at most (a seeded sample of them).
pub const K_SEARCH_ROWS: usize = 20_000;

/// Rows (at most `max`) picked by a seeded shuffle, for silhouettes.
fn sample_rows(n: usize, max: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    if n <= max {
        return idx;
    }
    let mut s = seed ^ 0x9E37_79B9_7F4A_7C15;
    for i in (1..n).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((s >> 33) as usize) % (i + 1);
        idx.swap(i, j);
    }
    idx.truncate(max);
    idx.sort_unstable();
    idx
}

/// Names clusters from their centroids (standardised inputs): each cluster takes the most
/// distinctive description not already taken by a larger cluster.
pub fn name_clusters(centroids: &Array2<f64>, inputs: &[String], sizes: &[usize]) -> Vec<String> {
    let k = centroids.nrows();
    let describe = |j: usize, high: bool| -> String {
        let name = inputs[j].as_str();
        match (name, high) {
            ("monetary", true) => "High spenders".into(),
            ("monetary", false) => "Low spenders".into(),
            ("frequency", true) => "Frequent buyers".into(),
            ("frequency", false) => "Occasional buyers".into(),
            ("recency_days", true) => "Lapsed customers".into(),
            ("recency_days", false) => "Recently active".into(),
            ("tenure_days", false) => "New customers".into(),
            ("tenure_days", true) => "Long-standing customers".into(),
            ("avg_basket", true) => "Big baskets".into(),
            ("avg_basket", false) => "Small baskets".into(),
            ("discount_share", true) => "Bargain hunters".into(),
            ("discount_share", false) => "Full-price buyers".into(),
            ("category_breadth", true) => "Broad assortment buyers".into(),
            ("category_breadth", false) => "Narrow assortment buyers".into(),
            ("mean_interpurchase_days", true) => "Long gaps between orders".into(),
            ("mean_interpurchase_days", false) => "Short gaps between orders".into(),
            (other, true) if other.starts_with("share_") => {
                format!("{} buyers", &other["share_".len()..])
            }
            (other, false) if other.starts_with("share_") => {
                format!("Few {} purchases", &other["share_".len()..])
            }
            (other, h) => format!("{} {other}", if h { "High" } else { "Low" }),
        }
    };
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|a, b| sizes[*b].cmp(&sizes[*a]).then(a.cmp(b)));
    let mut names = vec![String::new(); k];
    let mut taken: Vec<String> = Vec::new();
    for c in order {
        let mut cands: Vec<(f64, usize)> = centroids
            .row(c)
            .iter()
            .enumerate()
            .map(|(j, z)| (z.abs(), j))
            .collect();
        cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut picked = None;
        for (_, j) in &cands {
            let d = describe(*j, centroids[[c, *j]] > 0.0);
            if !taken.contains(&d) {
                picked = Some(d);
                break;
            }
        }
        let name = picked.unwrap_or_else(|| format!("Cluster {c}"));
        taken.push(name.clone());
        names[c] = name;
    }
    names
}

/// Runs the segmentation over `catalog`.
pub async fn run(catalog: &Catalog, opts: &SegmentOptions) -> Result<Segmentation> {
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
    if let Some(k) = opts.k
        && !(1..=50).contains(&k)
    {
        return Err(Error::params("k", format!("{k}: use 1 to 50, or auto")));
    }
    let (categories, shares) = category_shares(catalog, as_of).await?;
    let (x, inputs) = clustering_matrix(&ft, &categories, &shares)?;
    // Choosing k fits k-means nine times: on more than K_SEARCH_ROWS customers that search runs
    // on a seeded sample of them, and the chosen k is then fitted on everyone.
    let search = (opts.k.is_none() && n > K_SEARCH_ROWS).then(|| {
        x.select(
            Axis(0),
            &sample_rows(n, K_SEARCH_ROWS, opts.seed ^ 0x5EA7C4),
        )
    });
    let xk = search.as_ref().unwrap_or(&x);
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
            let (labels, inertia, centroids) = kmeans(&x, k, opts.seed, opts.n_runs)?;
            (k, 0.0, labels, inertia, centroids)
        }
        fit => fit,
    };
    let mut sizes = vec![0usize; k];
    for l in &labels {
        sizes[*l] += 1;
    }
    let cluster_names = name_clusters(&centroids, &inputs, &sizes);

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
    let rows = (0..n)
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
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quintiles_score_the_best_five() {
        let v = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0];
        assert_eq!(quintiles(&v, true), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert_eq!(quintiles(&v, false), [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]);
        // Ties share the score of the first of them.
        assert_eq!(quintiles(&[1.0, 1.0, 1.0, 2.0, 3.0], true), [3, 3, 3, 4, 5]);
    }

    #[test]
    fn rfm_grid_names_every_cell_and_all_eleven_segments() {
        let mut seen = std::collections::BTreeSet::new();
        for r in 1..=5 {
            for fm in 1..=5 {
                seen.insert(rfm_segment(r, fm));
            }
        }
        assert_eq!(seen.len(), 11, "{seen:?}");
        assert_eq!(rfm_segment(5, 5), "Champions");
        assert_eq!(rfm_segment(1, 1), "Lost");
        assert_eq!(rfm_segment(1, 5), "Can't Lose Them");
        assert_eq!(rfm_segment(5, 1), "New");
    }

    #[test]
    fn kmeans_separates_obvious_clusters_and_names_them() {
        // Two blobs in (monetary, discount_share) space.
        let mut x = Array2::<f64>::zeros((40, 2));
        for i in 0..40 {
            let hi = i < 20;
            x[[i, 0]] = if hi { 2.0 } else { -2.0 } + (i % 5) as f64 * 0.01;
            x[[i, 1]] = if hi { -1.0 } else { 1.0 };
        }
        let (labels, _, centroids) = kmeans(&x, 2, 1, 3).unwrap();
        assert!(labels[..20].iter().all(|l| *l == labels[0]));
        assert!(labels[20..].iter().all(|l| *l == labels[20]));
        assert_ne!(labels[0], labels[20]);
        let names = name_clusters(
            &centroids,
            &["monetary".into(), "discount_share".into()],
            &[20, 20],
        );
        assert!(names.contains(&"High spenders".to_string()), "{names:?}");
        let other = &names[labels[20]];
        assert!(
            other == "Low spenders" || other == "Bargain hunters",
            "{names:?}"
        );
    }
    #[test]
    fn kmeans_on_more_rows_than_the_warm_start_sample_finds_the_planted_blobs() {
        // 150,000 points around 5 centres in 4 dimensions, unit-variance noise: above
        // KMEANS_SEED_ROWS, so each run starts from a fit on a sample.
        let (n, dims, k) = (150_000usize, 4usize, 5usize);
        assert!(n > KMEANS_SEED_ROWS);
        let centres = [
            [0.0, 0.0, 0.0, 0.0],
            [8.0, 0.0, 0.0, 0.0],
            [0.0, 8.0, 0.0, 0.0],
            [0.0, 0.0, 8.0, 0.0],
            [4.0, 4.0, 4.0, 8.0],
        ];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mut x = Array2::<f64>::zeros((n, dims));
        let mut truth = vec![0usize; n];
        let mut planted_ss = 0.0;
        for i in 0..n {
            let c = i % k;
            truth[i] = c;
            for j in 0..dims {
                // Box-Muller.
                let z =
                    (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
                x[[i, j]] = centres[c][j] + z;
                planted_ss += z * z;
            }
        }
        let (labels, inertia, centroids) = kmeans(&x, k, 42, 2).unwrap();
        // Every planted centre has a fitted centroid next to it.
        for c in &centres {
            let nearest = (0..k)
                .map(|r| {
                    (0..dims)
                        .map(|j| (centroids[[r, j]] - c[j]).powi(2))
                        .sum::<f64>()
                })
                .fold(f64::INFINITY, f64::min);
            assert!(
                nearest < 0.01,
                "centre {c:?}: nearest centroid at {nearest}"
            );
        }
        // The partition is the planted one, and the inertia is the planted noise's (a fit can
        // only be at or just below it).
        let ari = metrics::adjusted_rand_index(&labels, &truth);
        assert!(ari > 0.99, "adjusted Rand index {ari}");
        assert!(
            inertia <= planted_ss * 1.001 && inertia >= planted_ss * 0.99,
            "inertia {inertia} against the planted {planted_ss}"
        );
    }
}
