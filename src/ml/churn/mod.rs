//! Churn prediction: will a customer place no order in the next `horizon` days?
//!
//! Time-based validation: a model is trained on the features as of (as_of − horizon) with labels
//! observed by as_of, and tested on the features as of as_of with labels observed by
//! as_of + horizon. Two model families compete on test ROC AUC: linfa's L2-regularised logistic
//! regression on standardised features (the interpretable one), and gradient-boosted trees
//! (`gbdt`); a random forest of linfa's trees can be asked for by name. The population is every customer
//! with an order in the 365 days before the cut (those gone longer are lost, not at risk).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2, Axis};
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::features::{self, ACTIVE_DAYS, FeatureTable};
use super::metrics::{self, CalibrationBin};
use crate::error::{Error, Result};
use crate::mart::catalog::Catalog;
use crate::mart::schema;

mod gbdt;
pub use gbdt::{BoostParams, Boosted};
mod model;
pub mod registry;
pub use model::*;
mod artifact;
pub use artifact::*;
#[cfg(test)]
mod tests;

/// Test-cut quality of a model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChurnMetrics {
    /// ROC AUC.
    pub roc_auc: f64,
    /// Average precision.
    pub pr_auc: f64,
    /// Churn rate in the top 10% of scores over the base rate.
    pub lift_top_decile: f64,
    /// Brier score.
    pub brier: f64,
    /// Customers in the test cut.
    pub test_customers: usize,
    /// Churn rate in the test cut.
    pub test_churn_rate: f64,
    /// Predicted against observed, 10 bins.
    pub calibration: Vec<CalibrationBin>,
}

/// A stored churn model: everything needed to score and to judge it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChurnModel {
    /// Artifact format.
    pub kind: String,
    /// Version (file stem).
    pub version: String,
    /// When it was trained (UTC, RFC 3339).
    pub created_at: String,
    /// Features, in column order.
    pub features: Vec<String>,
    /// Standardisation.
    pub scaler: Scaler,
    /// The chosen model.
    pub model: Fitted,
    /// Test metrics of the chosen model.
    pub metrics: ChurnMetrics,
    /// Test ROC AUC of every family tried.
    pub candidates: Vec<(String, f64)>,
    /// Training cut.
    pub train_as_of: NaiveDate,
    /// Test cut (the `--as-of` of `train`).
    pub test_as_of: NaiveDate,
    /// Customers in the training cut.
    pub train_customers: usize,
    /// Horizon in days.
    pub horizon_days: u32,
    /// Mart version (ETL batch) trained on.
    pub mart_version: Option<i64>,
    /// Seed of the forest.
    pub seed: u64,
}

impl TrainOptions {
    /// The defaults (`churn train` and the nightly stage).
    pub const DEFAULT: Self = TrainOptions {
        as_of: None,
        horizon_days: 90,
        seed: 42,
        family: None,
    };

    /// The options, or the first that cannot work.
    pub fn check(&self) -> Result<&Self> {
        if !(7..=730).contains(&self.horizon_days) {
            return Err(Error::params(
                "horizon_days",
                format!("{}: use 7 to 730 days", self.horizon_days),
            ));
        }
        Ok(self)
    }
}

/// `crm-mart churn train` options.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Test cut (default: the last order day − horizon).
    pub as_of: Option<NaiveDate>,
    /// Horizon in days.
    pub horizon_days: u32,
    /// Seed of the forest.
    pub seed: u64,
    /// The model family (None: the better of `Family::DEFAULT` on the test cut).
    pub family: Option<Family>,
}

/// A model family of `churn train`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Logistic regression (linfa): interpretable coefficients.
    Logistic,
    /// A random forest of linfa's decision trees.
    RandomForest,
    /// Gradient-boosted trees on feature histograms (`gbdt`).
    GradientBoosting,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 3] = [
        Family::Logistic,
        Family::RandomForest,
        Family::GradientBoosting,
    ];

    /// The families compared when none is named: the interpretable one and the strongest. The
    /// forest is as good as the boosted trees only on small marts, and slower on large ones.
    pub const DEFAULT: [Family; 2] = [Family::Logistic, Family::GradientBoosting];

    /// Its name on the command line and in model files.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Logistic => "logistic_regression",
            Family::RandomForest => "random_forest",
            Family::GradientBoosting => "gradient_boosting",
        }
    }
}

fn labels(ft: &FeatureTable) -> Vec<bool> {
    ft.churned.clone()
}

/// The scoring population of a cut.
fn active(ft: &FeatureTable) -> Result<FeatureTable> {
    let j = ft
        .column("recency_days")
        .ok_or_else(|| Error::Invariant("recency_days missing".into()))?;
    Ok(ft.filter_rows(|r| r[j] <= ACTIVE_DAYS))
}

/// The (training, test) cuts for a test cut `as_of` (default: the last order day − horizon),
/// checked against the mart's sales.
pub async fn cuts(
    catalog: &Catalog,
    as_of: Option<NaiveDate>,
    horizon_days: u32,
) -> Result<(NaiveDate, NaiveDate)> {
    let (first, last) = features::data_range(catalog).await?;
    let h = horizon_days as i64;
    let as_of = as_of.unwrap_or(last - chrono::Duration::days(h));
    let train_as_of = as_of - chrono::Duration::days(h);
    if as_of + chrono::Duration::days(h) > last || train_as_of < first {
        return Err(Error::params(
            "as_of",
            format!(
                "{as_of} with {} {h}: training needs history before {train_as_of} and sales up to {}, but the mart's sales run from {first} to {last}; choose {} between {} and {}",
                crate::error::param("horizon_days"),
                as_of + chrono::Duration::days(h),
                crate::error::param("as_of"),
                first + chrono::Duration::days(h + 1),
                last - chrono::Duration::days(h),
            ),
        ));
    }
    Ok((train_as_of, as_of))
}

/// A tree of the forest and the feature columns it was grown on.
pub type ForestTree = (DecisionTree<f64, usize>, Vec<usize>);

/// Trees in the forest, the share of rows each is grown on, and the share of features it sees.
const FOREST_TREES: usize = 100;
const FOREST_ROWS: f64 = 0.7;
const FOREST_FEATURES: f64 = 0.5;
/// At most this many rows per tree: a linfa tree visits every row of its sample at every node,
/// so a tree's time grows with its sample; 100 trees of 12,500 rows still see every customer
/// many times over.
const FOREST_MAX_ROWS: usize = 12_500;

/// A random forest of linfa decision trees, grown in parallel: each tree on a bootstrap sample of
/// the rows and a random subset (without repetition) of the features, from its own seeded
/// generator, so the forest depends only on the data and `seed`, never on thread timing.
///
/// A linfa tree picks a leaf's class from a hash map of class weights, so a leaf with as many
/// churners as stayers would get a class that changes from process to process. Churners weigh
/// 1 + 2⁻¹³ and stayers 1: a tie needs a multiple of 8,192 churners in one leaf, and leaves that
/// tie on counts go to churn. Retraining on the same data gives the same forest.
fn random_forest(z: &Array2<f64>, y: &Array1<usize>, seed: u64) -> Result<Vec<ForestTree>> {
    const CHURNER_WEIGHT: f32 = 1.0 + 1.0 / 8192.0;
    let n = z.nrows();
    let p = z.ncols();
    let rows = (((n as f64) * FOREST_ROWS).ceil() as usize).min(FOREST_MAX_ROWS);
    let features = (((p as f64) * FOREST_FEATURES).ceil() as usize).clamp(1, p);
    (0..FOREST_TREES as u64)
        .into_par_iter()
        .map(|t| {
            let mut rng =
                Xoshiro256Plus::seed_from_u64(seed ^ t.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut draw = |bound: usize| {
                ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * bound as f64) as usize
            };
            let picked: Vec<usize> = (0..rows).map(|_| draw(n).min(n - 1)).collect();
            // A partial Fisher-Yates shuffle: `features` distinct columns, kept in column order.
            let mut cols: Vec<usize> = (0..p).collect();
            for k in 0..features {
                let j = k + draw(p - k).min(p - k - 1);
                cols.swap(k, j);
            }
            let mut cols = cols[..features].to_vec();
            cols.sort_unstable();
            let records = z.select(Axis(0), &picked).select(Axis(1), &cols);
            let targets = y.select(Axis(0), &picked);
            let weights: Array1<f32> = targets
                .iter()
                .map(|c| if *c == 1 { CHURNER_WEIGHT } else { 1.0 })
                .collect();
            let data = Dataset::new(records, targets).with_weights(weights);
            let tree = DecisionTree::params()
                .max_depth(Some(8))
                .min_weight_leaf(5.0)
                .fit(&data)
                .map_err(|e| Error::usage(format!("random forest tree {t} did not fit: {e}")))?;
            Ok((tree, cols))
        })
        .collect()
}

/// L2-regularised logistic regression (linfa) on standardised features, as a fitted model
/// whose score is P(churn).
fn fit_logistic(z: &Array2<f64>, y: &Array1<usize>) -> Result<Fitted> {
    let data = Dataset::new(z.clone(), y.clone());
    let lr = LogisticRegression::default()
        .alpha(1.0)
        .max_iterations(100)
        .fit(&data)
        .map_err(|e| Error::usage(format!("logistic regression did not fit: {e}")))?;
    let sign = if lr.labels().pos.class == 1 {
        1.0
    } else {
        -1.0
    };
    Ok(Fitted::Logistic {
        intercept: sign * lr.intercept(),
        coefficients: lr.params().iter().map(|c| sign * c).collect(),
    })
}

/// Fits one family to standardised rows.
fn fit(family: Family, z: &Array2<f64>, y: &Array1<usize>, seed: u64) -> Result<Fitted> {
    Ok(match family {
        Family::Logistic => fit_logistic(z, y)?,
        Family::RandomForest => Fitted::RandomForest {
            trees: random_forest(z, y, seed)?,
        },
        Family::GradientBoosting => Fitted::GradientBoosting(gbdt::fit(
            z,
            y.as_slice().expect("contiguous labels"),
            &BoostParams::DEFAULT,
        )),
    })
}

/// The chosen model's metrics on the test cut.
fn test_metrics(p: &[f64], y_test: &[bool]) -> ChurnMetrics {
    ChurnMetrics {
        roc_auc: metrics::roc_auc(p, y_test).unwrap_or(0.5),
        pr_auc: metrics::pr_auc(p, y_test).unwrap_or(0.0),
        lift_top_decile: metrics::lift_at(p, y_test, 0.1).unwrap_or(0.0),
        brier: metrics::brier(p, y_test),
        test_customers: y_test.len(),
        test_churn_rate: y_test.iter().filter(|c| **c).count() as f64 / y_test.len() as f64,
        calibration: metrics::calibration(p, y_test, 10),
    }
}

/// Trains, compares and returns the better model (not yet saved).
pub async fn train(catalog: &Catalog, opts: &TrainOptions) -> Result<ChurnModel> {
    opts.check()?;
    let (train_as_of, as_of) = cuts(catalog, opts.as_of, opts.horizon_days).await?;
    let train_ft = active(&features::load(catalog, train_as_of, opts.horizon_days).await?)?;
    let test_ft = active(&features::load(catalog, as_of, opts.horizon_days).await?)?;
    for (what, ft) in [("training", &train_ft), ("test", &test_ft)] {
        let pos = ft.churned.iter().filter(|c| **c).count();
        if ft.customer_ids.len() < 20 || pos == 0 || pos == ft.churned.len() {
            return Err(Error::usage(format!(
                "the {what} cut ({}) has {} active customers of whom {pos} churned: too few, or a single class; a model needs both churners and stayers",
                ft.as_of,
                ft.customer_ids.len()
            )));
        }
    }
    let scaler = Scaler::fit(&train_ft.x);
    let z_train = scaler.apply(&train_ft.x);
    let z_test = scaler.apply(&test_ft.x);
    let y_train: Array1<usize> = labels(&train_ft).iter().map(|c| usize::from(*c)).collect();
    let y_test = labels(&test_ft);

    let families: Vec<Family> = opts.family.map_or(Family::DEFAULT.to_vec(), |f| vec![f]);
    let mut candidates: Vec<(Fitted, f64)> = Vec::new();
    for family in families {
        let model = fit(family, &z_train, &y_train, opts.seed)?;
        let auc = metrics::roc_auc(&model.predict(&z_test), &y_test).unwrap_or(0.5);
        tracing::info!(family = family.as_str(), test_roc_auc = auc, "fitted");
        candidates.push((model, auc));
    }

    let summary: Vec<(String, f64)> = candidates
        .iter()
        .map(|(m, a)| (m.family().to_string(), *a))
        .collect();
    let (model, _) = candidates
        .into_iter()
        .fold(None, |best: Option<(Fitted, f64)>, c| match best {
            Some(b) if b.1 >= c.1 => Some(b),
            _ => Some(c),
        })
        .expect("at least one candidate");
    let p = model.predict(&z_test);
    let metrics = test_metrics(&p, &y_test);
    let version = format!(
        "churn-{}-h{}-v{}",
        as_of.format("%Y%m%d"),
        opts.horizon_days,
        catalog.mart_version.unwrap_or(0)
    );
    Ok(ChurnModel {
        kind: "crm-mart churn model".into(),
        version,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        features: train_ft.names.clone(),
        scaler,
        model,
        metrics,
        candidates: summary,
        train_as_of,
        test_as_of: as_of,
        train_customers: train_ft.customer_ids.len(),
        horizon_days: opts.horizon_days,
        mart_version: catalog.mart_version,
        seed: opts.seed,
    })
}

/// Test ROC AUC of `model` on the active customers of cut `as_of` with labels over
/// `horizon_days` (the cut and horizon of a challenger: both models judged on the same rows).
pub async fn auc_on_cut(
    catalog: &Catalog,
    model: &ChurnModel,
    as_of: NaiveDate,
    horizon_days: u32,
) -> Result<f64> {
    let ft = active(&features::load(catalog, as_of, horizon_days).await?)?;
    let ft = ft.select(&model.features).map_err(|missing| {
        Error::usage(format!(
            "model {} needs features the mart no longer gives ({missing:?})",
            model.version
        ))
    })?;
    let p = model.model.predict(&model.scaler.apply(&ft.x));
    metrics::roc_auc(&p, &labels(&ft)).ok_or_else(|| {
        Error::usage(format!(
            "the cut {as_of} has a single class: no ROC AUC for {}",
            model.version
        ))
    })
}

/// One scored customer.
#[derive(Debug, Clone)]
pub struct Score {
    /// Customer id.
    pub customer_id: String,
    /// P(no order in the horizon).
    pub probability: f64,
    /// Its risk band.
    pub band: RiskBand,
    /// The three features that push this customer's score up most, in words.
    pub reasons: Vec<String>,
}

/// The risk band of a churn probability: high (≥ 0.5), medium (≥ 0.25) or low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RiskBand {
    /// P(churn) ≥ 0.5.
    High,
    /// 0.25 ≤ P(churn) < 0.5.
    Medium,
    /// P(churn) < 0.25.
    Low,
}

impl RiskBand {
    /// Every band, the riskiest first.
    pub const ALL: [RiskBand; 3] = [RiskBand::High, RiskBand::Medium, RiskBand::Low];

    /// The band of probability `p`.
    pub fn of(p: f64) -> RiskBand {
        if p >= 0.5 {
            RiskBand::High
        } else if p >= 0.25 {
            RiskBand::Medium
        } else {
            RiskBand::Low
        }
    }

    /// Its name in `churn_scores.risk_band`.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskBand::High => "high",
            RiskBand::Medium => "medium",
            RiskBand::Low => "low",
        }
    }
}

impl std::fmt::Display for RiskBand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Scores the active customers as of `as_of` (default: the last order day).
pub async fn score(
    catalog: &Catalog,
    model: &ChurnModel,
    as_of: Option<NaiveDate>,
) -> Result<(NaiveDate, Vec<Score>)> {
    let (first, last) = features::data_range(catalog).await?;
    let as_of = as_of.unwrap_or(last);
    if as_of < first || as_of > last {
        return Err(Error::params(
            "as_of",
            format!("{as_of} is outside the mart's sales ({first} to {last})"),
        ));
    }
    let ft = active(&features::load(catalog, as_of, model.horizon_days).await?)?;
    // The model's features by name: a mart that has since gained contacts offers more
    // features than the model knows, which it ignores; one it lacks cannot be scored.
    let ft = if ft.names == model.features {
        ft
    } else {
        ft.select(&model.features).map_err(|missing| {
            Error::usage(format!(
                "model {} was trained on features the mart no longer gives ({missing:?}); retrain with `crm-mart churn train`",
                model.version
            ))
        })?
    };
    let z = model.scaler.apply(&ft.x);
    let p = model.model.predict(&z);
    let reasons = reasons(model, &ft, &z);
    let scores = ft
        .customer_ids
        .iter()
        .zip(p.iter().zip(reasons))
        .map(|(id, (p, r))| Score {
            customer_id: id.clone(),
            probability: *p,
            band: RiskBand::of(*p),
            reasons: r,
        })
        .collect();
    Ok((as_of, scores))
}

/// For each row, the three features that raise its churn probability most: for logistic
/// regression the terms coefficient × standardised value; for trees the drop in probability
/// when the feature is set to the training mean.
fn reasons(model: &ChurnModel, ft: &FeatureTable, z: &Array2<f64>) -> Vec<Vec<String>> {
    let n = z.nrows();
    let f = z.ncols();
    let mut push: Vec<Vec<(f64, usize)>> = vec![Vec::new(); n];
    match &model.model {
        Fitted::Logistic { coefficients, .. } => {
            for i in 0..n {
                for j in 0..f {
                    push[i].push((coefficients[j] * z[[i, j]], j));
                }
            }
        }
        trees => {
            // The training mean is 0 on the standardised scale.
            let flat = FlatForest::of(trees).expect("a tree family");
            let z = z.as_standard_layout();
            push = (0..n)
                .into_par_iter()
                .map(|i| {
                    let row = z.row(i);
                    let drops = flat.drops(row.as_slice().expect("standard layout"), 0.0);
                    drops.into_iter().enumerate().map(|(j, d)| (d, j)).collect()
                })
                .collect();
        }
    }
    push.into_iter()
        .enumerate()
        .map(|(i, mut v)| {
            v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            v.into_iter()
                .filter(|(c, _)| *c > 0.0)
                .take(3)
                .map(|(_, j)| features::describe(&ft.names[j], ft.x[[i, j]]))
                .collect()
        })
        .collect()
}
