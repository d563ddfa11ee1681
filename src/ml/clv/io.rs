//! The mart side of a value run: transactions from the mart, the customer_value rows, and the model file (save, load, card, registry).

use super::*;

/// Purchases per customer and day from the mart, up to as_of (the named query
/// `customer_daily_purchases`).
pub async fn from_mart(catalog: &Catalog, as_of: Option<NaiveDate>) -> Result<Transactions> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Date32Type, Float64Type};
    let mut values = std::collections::HashMap::new();
    let cut = as_of.unwrap_or(NaiveDate::from_ymd_opt(2199, 12, 31).expect("date"));
    values.insert(
        "as_of".to_string(),
        datafusion::scalar::ScalarValue::Date32(Some(epoch_day(cut))),
    );
    let prepared = crate::query::builtin("customer_daily_purchases", values)?;
    let batches = crate::query::collect(catalog, &prepared).await?;
    let mut txns = Transactions::default();
    let mut index = std::collections::HashMap::new();
    for b in &batches {
        let id = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let id = id.as_string::<i32>();
        let day = b.column(1).as_primitive::<Date32Type>();
        let amount = arrow::compute::cast(b.column(2), &DataType::Float64)?;
        let amount = amount.as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            txns.push(
                &mut index,
                id.value(i),
                day.value(i),
                if amount.is_null(i) {
                    0.0
                } else {
                    amount.value(i)
                },
            );
        }
    }
    if txns.rows.is_empty() {
        return Err(match as_of {
            Some(d) => Error::usage(format!(
                "no purchases in the mart on or before {d}; choose a later {}",
                crate::error::param("as_of")
            )),
            None => Error::usage("the mart has no sales; run crm-mart etl first"),
        });
    }
    Ok(txns)
}

/// The `customer_value` rows of a run.
pub fn to_batch(run: &ValueRun) -> Result<RecordBatch> {
    let s = &run.summary;
    let p = &run.predictions;
    let n = s.ids.len();
    let as_of: Date32Array = (0..n).map(|_| run.model.as_of.map(epoch_day)).collect();
    let f = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(s.ids.iter())),
        Arc::new(as_of),
        Arc::new(Int64Array::from_iter_values(s.x.iter().map(|x| *x as i64))),
        f(s.t_x.clone()),
        f(s.t.clone()),
        f(s.m.clone()),
        f(p.iter().map(|p| p.p_alive).collect()),
        f(p.iter().map(|p| p.purchases_90d).collect()),
        f(p.iter().map(|p| p.purchases_12m).collect()),
        f(p.iter().map(|p| p.avg_value).collect()),
        f(p.iter().map(|p| p.clv_12m).collect()),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            run.model.version.as_str(),
            n,
        ))),
        Arc::new(Int64Array::from(vec![run.model.mart_version; n])),
    ];
    Ok(RecordBatch::try_new(
        crate::mart::schema::schema("customer_value"),
        cols,
    )?)
}

impl ClvModel {
    /// Writes `<dir>/<version>.json` and the model card `<dir>/<version>.md`; returns the JSON path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        crate::ml::save_model(dir, &self.version, self, &self.card())
    }

    /// Reads a model file, with a clear error for anything that is not one.
    pub fn load(path: &Path) -> Result<ClvModel> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| {
            Error::usage(format!(
                "{}: not a readable crm-mart value model ({e}); refit with `crm-mart value`",
                path.display()
            ))
        })
    }

    /// The model card in Markdown.
    pub fn card(&self) -> String {
        let b = &self.bgnbd;
        let mut s = format!(
            "# Customer value model {}\n\n\
             - Models: BG/NBD (repeat purchases) and Gamma-Gamma (spend per purchase)\n\
             - Created: {}\n- Data: {}{}\n- As of: {}\n- Time unit: {}\n\
             - CLV: 12 months, monthly discount rate {}\n- L2 penalty: {}\n\n\
             ## BG/NBD\n\n| r | alpha | a | b | log-likelihood | customers |\n|---|---|---|---|---|---|\n\
             | {:.4} | {:.4} | {:.4} | {:.4} | {:.2} | {} |\n\n## Gamma-Gamma\n\n",
            self.version,
            self.created_at,
            self.source,
            self.mart_version
                .map_or(String::new(), |v| format!(" (mart version {v})")),
            self.as_of.map_or("-".into(), |d| d.to_string()),
            self.time_unit,
            self.discount_rate,
            self.penalizer,
            b.r,
            b.alpha,
            b.a,
            b.b,
            self.bgnbd_fit.log_likelihood,
            self.bgnbd_fit.customers,
        );
        match (&self.gamma_gamma, &self.gamma_gamma_fit) {
            (Some(g), Some(f)) => s.push_str(&format!(
                "| p | q | v | log-likelihood | repeat buyers |\n|---|---|---|---|---|\n| {:.4} | {:.4} | {:.4} | {:.2} | {} |\n",
                g.p, g.q, g.v, f.log_likelihood, f.customers
            )),
            _ => s.push_str("Not fitted.\n"),
        }
        if self.gamma_gamma_excluded > 0 {
            s.push_str(&format!(
                "\n{} repeat buyers with a mean spend ≤ 0 were left out of the Gamma-Gamma fit and get the population mean.\n",
                self.gamma_gamma_excluded
            ));
        }
        if let Some(f) = &self.value_fallback {
            s.push_str(&format!("\nFallback: {f}\n"));
        }
        s.push_str("\n## Calibration / holdout check\n\n");
        match &self.holdout {
            Ok(h) => {
                s.push_str(&format!(
                    "Fitted up to {}, predicted {} .. {}: r = {:.4}, alpha = {:.4}, a = {:.4}, b = {:.4}.\n\n\
                     | calibration repeat purchases | customers | actual holdout purchases (mean) | predicted (mean) |\n|---|---|---|---|\n",
                    h.calibration_end,
                    h.calibration_end.succ_opt().unwrap_or(h.calibration_end),
                    h.holdout_end,
                    h.bgnbd.r,
                    h.bgnbd.alpha,
                    h.bgnbd.a,
                    h.bgnbd.b
                ));
                for r in &h.rows {
                    s.push_str(&format!(
                        "| {} | {} | {:.3} | {:.3} |\n",
                        r.frequency, r.customers, r.actual, r.predicted
                    ));
                }
                s.push_str(&format!(
                    "\nTotal: {:.0} actual, {:.1} predicted; mean absolute error per customer {:.3}.\n",
                    h.total_actual, h.total_predicted, h.mean_absolute_error
                ));
            }
            Err(why) => s.push_str(&format!("Not run: {why}.\n")),
        }
        s
    }
}

/// Stored value models in `dir`, oldest first.
pub fn list(dir: &Path) -> Result<Vec<(PathBuf, Result<ClvModel>)>> {
    crate::ml::list_models(dir, ClvModel::load, |m| m.created_at.clone())
}
