//! The model file: save, load, the model card, the registry; and the scores as churn_scores rows.

use super::*;

impl ChurnModel {
    /// Writes `<dir>/<version>.json` and the model card `<dir>/<version>.md`; returns the JSON path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        crate::ml::save_model(dir, &self.version, self, &self.card())
    }

    /// Reads a model file, with a clear error for anything that is not one.
    pub fn load(path: &Path) -> Result<ChurnModel> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let m: ChurnModel = serde_json::from_str(&text).map_err(|e| {
            Error::usage(format!(
                "{}: not a readable crm-mart churn model ({e}); retrain with `crm-mart churn train`",
                path.display()
            ))
        })?;
        let inputs_fit = match &m.model {
            Fitted::Logistic { coefficients, .. } => coefficients.len() == m.features.len(),
            Fitted::RandomForest { trees } => trees
                .iter()
                .all(|(_, cols)| cols.iter().all(|c| *c < m.features.len())),
            Fitted::GradientBoosting(b) => b.trees.iter().all(|t| {
                !t.is_empty()
                    && t.iter().all(|n| match n {
                        FlatNode::Split {
                            column,
                            left,
                            right,
                            ..
                        } => *column < m.features.len() && *left < t.len() && *right < t.len(),
                        FlatNode::Leaf(_) => true,
                    })
            }),
        };
        if !inputs_fit {
            return Err(Error::usage(format!(
                "{}: the model's parameters do not fit its {} features (trained on other features, or edited); retrain with `crm-mart churn train`",
                path.display(),
                m.features.len()
            )));
        }
        if m.features.len() != m.scaler.mean.len() || m.features.len() != m.scaler.sd.len() {
            return Err(Error::usage(format!(
                "{}: the model's feature list and scaler disagree; retrain with `crm-mart churn train`",
                path.display()
            )));
        }
        Ok(m)
    }

    /// The model card in Markdown.
    pub fn card(&self) -> String {
        let m = &self.metrics;
        let mut s = format!(
            "# Churn model {}\n\n\
             - Family: {}\n- Trained: {}\n- Mart version (ETL batch): {}\n\
             - Label: no order in the {} days after the cut\n\
             - Training cut: {} ({} active customers, labels observed by {})\n\
             - Test cut: {} ({} active customers, churn rate {:.1}%)\n\
             - Population: customers with an order in the 365 days before the cut\n\n\
             ## Test metrics\n\n| metric | value |\n|---|---|\n\
             | ROC AUC | {:.4} |\n| PR AUC | {:.4} |\n| lift, top decile | {:.2} |\n| Brier score | {:.4} |\n\n\
             ## Families compared (test ROC AUC)\n\n",
            self.version,
            self.model.family(),
            self.created_at,
            self.mart_version.map_or("-".into(), |v| v.to_string()),
            self.horizon_days,
            self.train_as_of,
            self.train_customers,
            self.test_as_of,
            self.test_as_of,
            m.test_customers,
            m.test_churn_rate * 100.0,
            m.roc_auc,
            m.pr_auc,
            m.lift_top_decile,
            m.brier,
        );
        for (f, a) in &self.candidates {
            s.push_str(&format!("- {f}: {a:.4}\n"));
        }
        s.push_str("\n## Calibration (test cut)\n\n| predicted | customers | mean predicted | observed |\n|---|---|---|---|\n");
        for b in &m.calibration {
            s.push_str(&format!(
                "| {:.1}–{:.1} | {} | {:.3} | {:.3} |\n",
                b.from, b.to, b.count, b.predicted, b.observed
            ));
        }
        s.push_str("\n## Features\n\n");
        for f in &self.features {
            s.push_str(&format!("- `{f}`\n"));
        }
        s
    }
}

/// Stored models in `dir`, oldest first (by creation time, then name).
pub fn list(dir: &Path) -> Result<Vec<(PathBuf, Result<ChurnModel>)>> {
    crate::ml::list_models(dir, ChurnModel::load, |m| m.created_at.clone())
}

/// The `churn_scores` table rows.
pub fn to_batch(
    as_of: NaiveDate,
    scores: &[Score],
    model: &ChurnModel,
    mart_version: Option<i64>,
) -> Result<RecordBatch> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let day = (as_of - epoch).num_days() as i32;
    let n = scores.len();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            scores.iter().map(|s| s.customer_id.as_str()),
        )),
        Arc::new(Date32Array::from(vec![day; n])),
        Arc::new(Float64Array::from_iter_values(
            scores.iter().map(|s| s.probability),
        )),
        Arc::new(StringArray::from_iter_values(
            scores.iter().map(|s| s.band.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            scores.iter().map(|s| s.reasons.join("; ")),
        )),
        Arc::new(StringArray::from(vec![model.version.as_str(); n])),
        Arc::new(Int64Array::from(vec![mart_version; n])),
    ];
    Ok(RecordBatch::try_new(schema::schema("churn_scores"), cols)?)
}
