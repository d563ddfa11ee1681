//! k-means on arrays (linfa, squared Euclidean distance) and the naming of clusters by their centroids.

use super::*;

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
pub(crate) fn sample_rows(n: usize, max: usize, seed: u64) -> Vec<usize> {
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
