//! The churn stage: train a model when the newest is too old (or none exists, or it is asked
//! for), then score the active customers → `churn_scores`.

use std::path::PathBuf;

use chrono::NaiveDate;

use super::Ctx;
use crate::error::{Error, Result};
use crate::mart::schema::MartTable;
use crate::ml::churn::{self, ChurnModel, Score, TrainOptions};

/// A trained and saved model.
pub struct ChurnTrainReport {
    /// The model.
    pub model: ChurnModel,
    /// Its JSON file.
    pub path: PathBuf,
}

/// Trains a model on the mart and saves it with its card in `models/churn/`.
pub fn churn_train(ctx: &Ctx, opts: &TrainOptions) -> Result<ChurnTrainReport> {
    let model = ctx.block_on(async {
        let mart = ctx.mart();
        let cat = ctx.catalog(&mart).await?;
        churn::train(&cat, opts).await
    })?;
    let path = model.save(&ctx.settings.models_dir.join("churn"))?;
    Ok(ChurnTrainReport { model, path })
}

/// Params of scoring.
#[derive(Debug, Clone, Default)]
pub struct ChurnScoreParams {
    /// The cut (default: the last order day).
    pub as_of: Option<NaiveDate>,
    /// The model file (default: the newest readable model in `models/churn/`).
    pub model: Option<PathBuf>,
}

/// The scores written.
pub struct ChurnScoreReport {
    /// The cut.
    pub as_of: NaiveDate,
    /// One per active customer.
    pub scores: Vec<Score>,
    /// The model used.
    pub model: ChurnModel,
    /// The version of `churn_scores` written.
    pub table_version: i64,
}

/// Scores the active customers and replaces `churn_scores`.
pub fn churn_score(ctx: &Ctx, p: &ChurnScoreParams) -> Result<ChurnScoreReport> {
    let dir = ctx.settings.models_dir.join("churn");
    let path = match &p.model {
        Some(path) => path.clone(),
        None => churn::list(&dir)?
            .into_iter()
            .rev()
            .find(|(_, m)| m.is_ok())
            .map(|(p, _)| p)
            .ok_or_else(|| {
                Error::usage(format!(
                    "no churn model in {}; train one with `crm-mart churn train`",
                    dir.display()
                ))
            })?,
    };
    let model = ChurnModel::load(&path)?;
    ctx.block_on(async {
        let mart = ctx.mart();
        let cat = ctx.catalog(&mart).await?;
        let (as_of, scores) = churn::score(&cat, &model, p.as_of).await?;
        let batch = churn::to_batch(as_of, &scores, &model, cat.mart_version)?;
        let table_version = mart
            .replace(MartTable::ChurnScores, vec![batch], "crm-mart-churn")
            .await?;
        Ok(ChurnScoreReport {
            as_of,
            scores,
            model,
            table_version,
        })
    })
}

/// Whether the nightly job trains a new model before scoring.
pub struct Retrain {
    /// Why it trains (None: it scores with `newest`).
    pub why: Option<String>,
    /// The newest readable model.
    pub newest: Option<ChurnModel>,
    /// Its age in days.
    pub age_days: Option<i64>,
}

/// Trains when `forced`, when there is no model yet, or when the newest is older than
/// `[nightly] retrain_after_days`.
pub fn retrain_decision(
    ctx: &Ctx,
    forced: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Retrain> {
    let newest = churn::list(&ctx.settings.models_dir.join("churn"))?
        .into_iter()
        .rev()
        .find_map(|(_, m)| m.ok());
    let age_days = newest.as_ref().and_then(|m| {
        chrono::DateTime::parse_from_rfc3339(&m.created_at)
            .ok()
            .map(|t| (now - t.with_timezone(&chrono::Utc)).num_days())
    });
    let limit = ctx.settings.retrain_after_days;
    let why = if forced {
        // The field of NightlyParams; the command line names it by its flag.
        Some("retrain".to_string())
    } else {
        match (&newest, age_days) {
            (None, _) => Some("no model yet".to_string()),
            (Some(_), Some(d)) if d > limit as i64 => Some(format!(
                "the newest model is {d} days old, more than {limit}"
            )),
            _ => None,
        }
    };
    Ok(Retrain {
        why,
        newest,
        age_days,
    })
}

/// What the churn stage did.
pub struct ChurnStageReport {
    /// The model trained, when one was.
    pub trained: Option<ChurnTrainReport>,
    /// The scores.
    pub scored: ChurnScoreReport,
}
