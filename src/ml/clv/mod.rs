//! Customer lifetime value: the BG/NBD model of repeat purchases with the Gamma-Gamma model of
//! spend, fitted by maximum likelihood on a per-customer summary of a transaction log (the mart's
//! sales, or any file), with a calibration/holdout check.
//!
//! Time is measured in weeks, as in the papers; purchases are counted per calendar day (several
//! transactions of a customer on one day are one purchase, their amounts summed).

pub mod bgnbd;
pub mod gamma_gamma;
pub mod input;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use chrono::NaiveDate;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mart::catalog::Catalog;
use crate::util::dates::{epoch_day, from_epoch_day};
use bgnbd::{BgNbd, Rft};
use gamma_gamma::GammaGamma;
use input::Transactions;

mod holdout;
pub use holdout::*;
mod io;
pub use io::*;

/// Days per time unit of the models (weeks).
pub const DAYS_PER_UNIT: f64 = 7.0;
/// A month, in days (365.25 / 12).
pub const DAYS_PER_MONTH: f64 = 365.25 / 12.0;

/// Terms of the likelihood that depend on x only, for each distinct x.
pub(crate) struct PerX {
    /// The distinct x values.
    pub(crate) values: Vec<f64>,
    /// Index into `values` for each row.
    pub(crate) index: Vec<u32>,
    /// How many rows have each value.
    pub(crate) counts: Vec<f64>,
}

impl PerX {
    pub(crate) fn new(x: &[f64]) -> PerX {
        let mut values: Vec<f64> = x.to_vec();
        values.sort_by(f64::total_cmp);
        values.dedup();
        let index = x
            .iter()
            .map(|v| values.partition_point(|u| u < v) as u32)
            .collect();
        let mut counts = vec![0.0; values.len()];
        for v in x {
            counts[values.partition_point(|u| u < v)] += 1.0;
        }
        PerX {
            values,
            index,
            counts,
        }
    }
}

/// Σ f(i) for i in 0..n, computed in parallel with a fixed grouping (blocks of 4096 summed in
/// order, then the block sums in order), so that the result, and with it every fit, does not
/// depend on thread scheduling: the same data give the same parameters to the last bit.
pub(crate) fn det_sum<const K: usize>(
    n: usize,
    f: impl Fn(usize) -> (f64, [f64; K]) + Sync,
) -> (f64, [f64; K]) {
    const BLOCK: usize = 4096;
    let add = |mut a: (f64, [f64; K]), b: (f64, [f64; K])| {
        a.0 += b.0;
        for k in 0..K {
            a.1[k] += b.1[k];
        }
        a
    };
    let blocks: Vec<(f64, [f64; K])> = (0..n.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            (b * BLOCK..((b + 1) * BLOCK).min(n))
                .map(&f)
                .fold((0.0, [0.0; K]), add)
        })
        .collect();
    blocks.into_iter().fold((0.0, [0.0; K]), add)
}

/// How a maximum-likelihood fit ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FitReport {
    /// Log-likelihood at the optimum (without the penalty).
    pub log_likelihood: f64,
    /// Optimiser iterations.
    pub iterations: usize,
    /// Largest gradient component of the objective at the end.
    pub grad_norm: f64,
    /// Customers in the fit.
    pub customers: usize,
}

/// Per-customer summary: repeat purchases x, recency t_x and age T (weeks since the first
/// purchase), mean value of the repeat purchases m (0 without repeats) and, for a calibration
/// summary, the purchases in the holdout period.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Customer ids.
    pub ids: Vec<String>,
    /// Repeat purchases (purchase days after the first).
    pub x: Vec<f64>,
    /// Weeks from the first to the last purchase.
    pub t_x: Vec<f64>,
    /// Weeks from the first purchase to the end of the period.
    pub t: Vec<f64>,
    /// Mean value of the repeat purchases (0 when x = 0).
    pub m: Vec<f64>,
    /// Purchases in the holdout period (empty when there is none).
    pub holdout: Vec<f64>,
}

impl Summary {
    fn rft(&self) -> Rft<'_> {
        Rft {
            x: &self.x,
            t_x: &self.t_x,
            t: &self.t,
        }
    }
}

/// What went into a summary.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SummaryCounts {
    /// Transactions read.
    pub transactions: usize,
    /// Transactions after the end of the observation (not used).
    pub after_end: usize,
    /// Customers whose first purchase is after the calibration end (not in the summary).
    pub customers_after_calibration: usize,
}

/// Summarises `txns` for a calibration period ending on `cal_end` (inclusive) and a holdout period
/// (`cal_end`, `obs_end`]. With `cal_end == obs_end` there is no holdout.
pub fn summarize(txns: &Transactions, cal_end: i32, obs_end: i32) -> (Summary, SummaryCounts) {
    // Customers in id order and each one's transactions in (day, amount) order, whatever order
    // the log came in: the summary, and the sums over it, are then the same on every run.
    let mut by_id: Vec<u32> = (0..txns.ids.len() as u32).collect();
    by_id.par_sort_unstable_by(|a, b| txns.ids[*a as usize].cmp(&txns.ids[*b as usize]));
    let mut rank = vec![0u32; txns.ids.len()];
    for (r, c) in by_id.iter().enumerate() {
        rank[*c as usize] = r as u32;
    }
    let mut rows: Vec<(u32, i32, f64)> = txns
        .rows
        .iter()
        .map(|t| (rank[t.customer as usize], t.day, t.amount))
        .collect();
    rows.par_sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
    let mut counts = SummaryCounts {
        transactions: rows.len(),
        ..Default::default()
    };
    let mut s = Summary::default();
    let with_holdout = obs_end > cal_end;
    let mut i = 0;
    while i < rows.len() {
        let c = rows[i].0;
        let mut j = i;
        // Purchase days of this customer: (day, amount summed over the day).
        let mut days: Vec<(i32, f64)> = Vec::new();
        while j < rows.len() && rows[j].0 == c {
            let (_, d, a) = rows[j];
            if d > obs_end {
                counts.after_end += 1;
            } else if let Some(last) = days.last_mut().filter(|l| l.0 == d) {
                last.1 += a;
            } else {
                days.push((d, a));
            }
            j += 1;
        }
        i = j;
        let Some(&(first, _)) = days.first() else {
            continue;
        };
        if first > cal_end {
            counts.customers_after_calibration += 1;
            continue;
        }
        let cal: Vec<&(i32, f64)> = days.iter().take_while(|d| d.0 <= cal_end).collect();
        let x = cal.len() - 1;
        let last = cal.last().expect("first is in calibration").0;
        s.ids.push(txns.ids[by_id[c as usize] as usize].clone());
        s.x.push(x as f64);
        s.t_x.push((last - first) as f64 / DAYS_PER_UNIT);
        s.t.push((cal_end - first) as f64 / DAYS_PER_UNIT);
        s.m.push(if x > 0 {
            cal[1..].iter().map(|d| d.1).sum::<f64>() / x as f64
        } else {
            0.0
        });
        if with_holdout {
            s.holdout.push((days.len() - cal.len()) as f64);
        }
    }
    (s, counts)
}

/// Options of a value run.
#[derive(Debug, Clone)]
pub struct ValueOptions {
    /// End of the observation (default: the last transaction day).
    pub as_of: Option<NaiveDate>,
    /// End of the calibration period for the holdout check (default: as_of − holdout_days).
    pub calibration_end: Option<NaiveDate>,
    /// Length of the holdout period when no calibration end is given; 0 skips the check.
    pub holdout_days: u32,
    /// Monthly discount rate of the CLV.
    pub discount_rate: f64,
    /// L2 penalty on the parameters.
    pub penalizer: f64,
}

impl ValueOptions {
    /// The defaults (`value` and the nightly stage).
    pub const DEFAULT: Self = ValueOptions {
        as_of: None,
        calibration_end: None,
        holdout_days: 182,
        discount_rate: 0.01,
        penalizer: 0.0,
    };
}

/// Predictions for one customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// P(alive) at the end of the observation.
    pub p_alive: f64,
    /// Expected purchases in the next 90 days.
    pub purchases_90d: f64,
    /// Expected purchases in the next 12 months.
    pub purchases_12m: f64,
    /// Expected value of a purchase.
    pub avg_value: f64,
    /// Discounted expected value of the purchases in the next 12 months.
    pub clv_12m: f64,
}

/// The stored value model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClvModel {
    /// Always "crm-mart clv model".
    pub kind: String,
    /// Version name (file stem).
    pub version: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// What the data was: "mart" or the input file.
    pub source: String,
    /// Mart version (ETL batch) for mart runs.
    pub mart_version: Option<i64>,
    /// End of the observation; None for a summary file without dates.
    pub as_of: Option<NaiveDate>,
    /// Time unit of the parameters.
    pub time_unit: String,
    /// Customers and transactions read.
    pub counts: SummaryCounts,
    /// BG/NBD parameters fitted on all data up to as_of.
    pub bgnbd: BgNbd,
    /// That fit.
    pub bgnbd_fit: FitReport,
    /// Gamma-Gamma parameters on the repeat buyers, when they could be fitted.
    pub gamma_gamma: Option<GammaGamma>,
    /// That fit.
    pub gamma_gamma_fit: Option<FitReport>,
    /// Repeat buyers left out of the Gamma-Gamma fit because their mean spend is not positive.
    pub gamma_gamma_excluded: usize,
    /// Why the Gamma-Gamma model was not used, and what was used instead.
    pub value_fallback: Option<String>,
    /// Monthly discount rate of the CLV.
    pub discount_rate: f64,
    /// L2 penalty used.
    pub penalizer: f64,
    /// The calibration/holdout check, or why there is none.
    pub holdout: std::result::Result<HoldoutCheck, String>,
}

/// A fitted model with its per-customer summary and predictions.
#[derive(Debug)]
pub struct ValueRun {
    /// The model.
    pub model: ClvModel,
    /// The summary the predictions are for.
    pub summary: Summary,
    /// One per summary row.
    pub predictions: Vec<Prediction>,
}

impl ValueOptions {
    /// The options, or the first that cannot work.
    pub fn check(&self) -> Result<&Self> {
        let opts = self;
        if !(0.0..1.0).contains(&opts.discount_rate) {
            return Err(Error::params(
                "discount_rate",
                format!(
                    "{} must be in [0, 1) (a monthly rate, e.g. 0.01)",
                    opts.discount_rate
                ),
            ));
        }
        if !(opts.penalizer >= 0.0 && opts.penalizer.is_finite()) {
            return Err(Error::params("penalizer", "must be ≥ 0"));
        }
        Ok(self)
    }
}

/// The spend model: Gamma-Gamma on the repeat buyers with a positive mean spend, or, where it
/// cannot be fitted, their mean spend for everyone.
struct SpendFit {
    model: Option<GammaGamma>,
    fit: Option<FitReport>,
    /// Why the model is not used.
    fallback: Option<String>,
    /// The value used without a model.
    fallback_value: f64,
    /// Repeat buyers left out (no positive, finite spend).
    excluded: usize,
}

fn fit_spend(s: &Summary, penalizer: f64) -> SpendFit {
    // Gamma-Gamma on repeat buyers with a positive mean spend.
    let (mut gx, mut gm) = (Vec::new(), Vec::new());
    let mut excluded = 0;
    for i in 0..s.ids.len() {
        if s.x[i] > 0.0 {
            if s.m[i] > 0.0 && s.m[i].is_finite() {
                gx.push(s.x[i]);
                gm.push(s.m[i]);
            } else {
                excluded += 1;
            }
        }
    }
    let mean_spend = if gm.is_empty() {
        None
    } else {
        Some(gm.iter().sum::<f64>() / gm.len() as f64)
    };
    let (gg, gg_fit, fallback) = match GammaGamma::fit(&gx, &gm, penalizer) {
        Ok((g, f)) => (Some(g), Some(f), None),
        Err(e) => (
            None,
            None,
            Some(match mean_spend {
                Some(v) => format!(
                    "{e}; every customer's expected purchase value is the repeat buyers' mean spend {v:.2}"
                ),
                None => format!("{e}; no spend data, so expected values and CLV are 0"),
            }),
        ),
    };
    let fallback_value = mean_spend.unwrap_or(0.0);
    SpendFit {
        model: gg,
        fit: gg_fit,
        fallback,
        fallback_value,
        excluded,
    }
}

/// Each customer's P(alive), expected purchases in 90 days and 12 months, expected value and
/// 12-month CLV discounted monthly at `discount_rate`; an error names the first customer whose
/// expectation did not converge.
fn predict(
    s: &Summary,
    bg: &BgNbd,
    spend: &SpendFit,
    discount_rate: f64,
) -> Result<Vec<Prediction>> {
    let (gg, fallback_value) = (spend.model, spend.fallback_value);
    let h90 = 90.0 / DAYS_PER_UNIT;
    let month = DAYS_PER_MONTH / DAYS_PER_UNIT;
    let d = discount_rate;
    let predictions = (0..s.ids.len())
        .into_par_iter()
        .map(|i| {
            let (x, tx, t) = (s.x[i], s.t_x[i], s.t[i]);
            let e = |h: f64| bg.expected_purchases(h, x, tx, t);
            let avg_value = match gg {
                Some(g) if s.m[i] > 0.0 || x == 0.0 => g.expected_value(x, s.m[i]),
                Some(g) => g.expected_value(0.0, 0.0),
                None => fallback_value,
            };
            let mut clv = 0.0;
            let mut prev = 0.0;
            for k in 1..=12 {
                let cum = e(month * k as f64)?;
                clv += (cum - prev) * avg_value / (1.0 + d).powi(k);
                prev = cum;
            }
            let p = Prediction {
                p_alive: bg.p_alive(x, tx, t),
                purchases_90d: e(h90)?,
                purchases_12m: prev,
                avg_value,
                clv_12m: clv,
            };
            let finite = [
                p.p_alive,
                p.purchases_90d,
                p.purchases_12m,
                p.avg_value,
                p.clv_12m,
            ]
            .iter()
            .all(|v| v.is_finite());
            finite.then_some(p)
        })
        .collect::<Vec<Option<Prediction>>>();
    predictions
    .into_iter()
    .enumerate()
    .map(|(i, p)| {
        p.ok_or_else(|| {
            Error::usage(format!(
                "customer {}: the expected purchases could not be computed (the hypergeometric series did not converge for frequency {}, recency {:.2}, T {:.2} with r = {:.4}, alpha = {:.4}, a = {:.4}, b = {:.4})",
                s.ids[i], s.x[i], s.t_x[i], s.t[i], bg.r, bg.alpha, bg.a, bg.b
            ))
        })
    })
    .collect::<Result<Vec<_>>>()
}

/// The model's version: the cut and the mart version, or the input file's name.
fn model_version(source: &str, mart_version: Option<i64>, as_of: Option<NaiveDate>) -> String {
    let stem = Path::new(source)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "input".into());
    match (mart_version, as_of) {
        (Some(v), Some(a)) => format!("clv-{}-v{v}", a.format("%Y%m%d")),
        (_, Some(a)) => format!("clv-{}-{}", a.format("%Y%m%d"), sanitize(&stem)),
        _ => format!("clv-{}", sanitize(&stem)),
    }
}

fn fit_and_predict(
    s: Summary,
    counts: SummaryCounts,
    opts: &ValueOptions,
    source: &str,
    as_of: Option<NaiveDate>,
    holdout: std::result::Result<HoldoutCheck, String>,
    mart_version: Option<i64>,
) -> Result<ValueRun> {
    opts.check()?;
    bgnbd::validate(s.rft(), &s.ids)?;
    let started = std::time::Instant::now();
    let (bg, bg_fit) = BgNbd::fit(s.rft(), opts.penalizer)?;
    let bg_s = started.elapsed().as_secs_f64();
    let spend = fit_spend(&s, opts.penalizer);
    let gg_s = started.elapsed().as_secs_f64() - bg_s;
    let predictions = predict(&s, &bg, &spend, opts.discount_rate)?;
    tracing::info!(
        customers = s.ids.len(),
        bgnbd_fit_s = bg_s,
        bgnbd_iterations = bg_fit.iterations,
        gamma_gamma_fit_s = gg_s,
        predict_s = started.elapsed().as_secs_f64() - bg_s - gg_s,
        "value models fitted and applied"
    );
    let version = model_version(source, mart_version, as_of);
    Ok(ValueRun {
        model: ClvModel {
            kind: "crm-mart clv model".into(),
            version,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            source: source.to_string(),
            mart_version,
            as_of,
            time_unit: "weeks".into(),
            counts,
            bgnbd: bg,
            bgnbd_fit: bg_fit,
            gamma_gamma: spend.model,
            gamma_gamma_fit: spend.fit,
            gamma_gamma_excluded: spend.excluded,
            value_fallback: spend.fallback,
            discount_rate: opts.discount_rate,
            penalizer: opts.penalizer,
            holdout,
        },
        summary: s,
        predictions,
    })
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Fits and predicts from a transaction log: the summary at as_of, the holdout check, the models
/// and the per-customer predictions.
pub fn run_transactions(
    txns: &Transactions,
    opts: &ValueOptions,
    source: &str,
    mart_version: Option<i64>,
) -> Result<ValueRun> {
    let first = txns.rows.iter().map(|t| t.day).min().expect("non-empty");
    let last = txns.rows.iter().map(|t| t.day).max().expect("non-empty");
    let as_of = opts.as_of.map(epoch_day).unwrap_or(last);
    if as_of < first {
        return Err(Error::params(
            "as_of",
            format!(
                "{} is before the first transaction ({})",
                from_epoch_day(as_of),
                from_epoch_day(first)
            ),
        ));
    }
    let cal_end = match opts.calibration_end {
        Some(c) => {
            let c = epoch_day(c);
            if c < first || c >= as_of {
                return Err(Error::params(
                    "calibration_end",
                    format!(
                        "{} must fall between the first transaction ({}) and the as-of date ({})",
                        from_epoch_day(c),
                        from_epoch_day(first),
                        from_epoch_day(as_of)
                    ),
                ));
            }
            Some(c)
        }
        None if opts.holdout_days > 0 => Some(as_of - opts.holdout_days as i32),
        None => None,
    };
    let holdout = match cal_end {
        None => Err("no holdout period requested".to_string()),
        Some(c) if c - first < opts.holdout_days.min(28) as i32 => Err(format!(
            "history before {} is too short for a calibration period",
            from_epoch_day(c)
        )),
        Some(c) => holdout_check(txns, c, as_of, opts.penalizer).map_err(|e| e.to_string()),
    };
    let started = std::time::Instant::now();
    let (s, counts) = summarize(txns, as_of, as_of);
    tracing::info!(
        transactions = counts.transactions,
        customers = s.ids.len(),
        summary_s = started.elapsed().as_secs_f64(),
        "summary"
    );
    fit_and_predict(
        s,
        counts,
        opts,
        source,
        Some(from_epoch_day(as_of)),
        holdout,
        mart_version,
    )
}

/// Fits and predicts from a ready-made summary (no dates, so no holdout check).
pub fn run_summary(s: Summary, opts: &ValueOptions, source: &str) -> Result<ValueRun> {
    let counts = SummaryCounts::default();
    fit_and_predict(
        s,
        counts,
        opts,
        source,
        opts.as_of,
        Err("a summary file has no transaction dates".into()),
        None,
    )
}
