//! The holdout check: fitted on the calibration period, predicted purchases in the holdout against the actual ones, by calibration frequency.

use super::*;

/// One row of the calibration/holdout comparison: customers with a given number of repeat
/// purchases in the calibration period, their mean actual and predicted holdout purchases.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HoldoutRow {
    /// Calibration repeat purchases ("0", "1", …, "7+").
    pub frequency: String,
    /// Customers.
    pub customers: usize,
    /// Mean actual purchases in the holdout period.
    pub actual: f64,
    /// Mean expected purchases in the holdout period.
    pub predicted: f64,
}

/// The calibration/holdout check stored with a model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HoldoutCheck {
    /// Last day of the calibration period.
    pub calibration_end: NaiveDate,
    /// Last day of the holdout period.
    pub holdout_end: NaiveDate,
    /// BG/NBD fitted on the calibration period.
    pub bgnbd: BgNbd,
    /// That fit.
    pub fit: FitReport,
    /// By calibration frequency.
    pub rows: Vec<HoldoutRow>,
    /// Total actual holdout purchases.
    pub total_actual: f64,
    /// Total expected holdout purchases.
    pub total_predicted: f64,
    /// Mean absolute error of the per-customer prediction.
    pub mean_absolute_error: f64,
}

/// Fits BG/NBD on the calibration period up to `cal_end` and compares its predictions with the
/// purchases in (`cal_end`, `obs_end`].
pub fn holdout_check(
    txns: &Transactions,
    cal_end: i32,
    obs_end: i32,
    penalizer: f64,
) -> Result<HoldoutCheck> {
    let (s, _) = summarize(txns, cal_end, obs_end);
    bgnbd::validate(s.rft(), &s.ids)?;
    let (p, fit) = BgNbd::fit(s.rft(), penalizer)?;
    let horizon = (obs_end - cal_end) as f64 / DAYS_PER_UNIT;
    let predicted: Vec<f64> = (0..s.ids.len())
        .into_par_iter()
        .map(|i| p.expected_purchases(horizon, s.x[i], s.t_x[i], s.t[i]))
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(|| {
            Error::usage(format!(
                "the holdout prediction did not converge (r = {:.4}, alpha = {:.4}, a = {:.4}, b = {:.4})",
                p.r, p.alpha, p.a, p.b
            ))
        })?;
    let mut groups = [(0usize, 0.0, 0.0); 8];
    for i in 0..s.ids.len() {
        let g = &mut groups[(s.x[i] as usize).min(7)];
        g.0 += 1;
        g.1 += s.holdout[i];
        g.2 += predicted[i];
    }
    let rows = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.0 > 0)
        .map(|(k, g)| HoldoutRow {
            frequency: if k == 7 { "7+".into() } else { k.to_string() },
            customers: g.0,
            actual: g.1 / g.0 as f64,
            predicted: g.2 / g.0 as f64,
        })
        .collect();
    let mae = predicted
        .iter()
        .zip(&s.holdout)
        .map(|(p, a)| (p - a).abs())
        .sum::<f64>()
        / s.ids.len() as f64;
    Ok(HoldoutCheck {
        calibration_end: from_epoch_day(cal_end),
        holdout_end: from_epoch_day(obs_end),
        bgnbd: p,
        fit,
        rows,
        total_actual: s.holdout.iter().sum(),
        total_predicted: predicted.iter().sum(),
        mean_absolute_error: mae,
    })
}
