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
    /// Whether it became the champion (the model that scores).
    pub promoted: bool,
    /// Why (or why not), in words.
    pub why: String,
}

impl ChurnTrainReport {
    /// The decision in one line: `<version> promoted: …` or `<version> not promoted: …`.
    pub fn decision(&self) -> String {
        format!(
            "{} {}: {}",
            self.model.version,
            if self.promoted {
                "promoted"
            } else {
                "not promoted"
            },
            self.why
        )
    }
}

/// A version for a new model in `dir`: `version`, else `version-r2`, `-r3`, … when a model of
/// that version was already judged (a model retrained on the same mart version must not
/// overwrite the champion it is judged against). A stored model no decision names — left by a
/// run killed between saving and judging it, or from before the registry — is replaced, as a
/// rerun of the same training.
fn free_version(
    dir: &std::path::Path,
    version: &str,
    registry: &churn::registry::Registry,
) -> String {
    let judged = |v: &str| registry.history.iter().any(|d| d.version == v);
    let mut v = version.to_string();
    let mut k = 2;
    while dir.join(format!("{v}.json")).exists() && judged(&v) {
        v = format!("{version}-r{k}");
        k += 1;
    }
    v
}

/// Trains a model on the mart, saves it with its card in `models/churn/`, and makes it the
/// champion if it is no worse than the champion on the same cut by more than
/// `[models] max_auc_drop` (see [`churn::registry`]).
pub fn churn_train(ctx: &Ctx, opts: &TrainOptions) -> Result<ChurnTrainReport> {
    let dir = ctx.settings.models_dir.join("churn");
    let champion = churn::registry::champion(&dir)?;
    let (mut model, champion_auc) = ctx.block_on(async {
        let mart = ctx.mart();
        let cat = ctx.catalog(&mart).await?;
        let model = churn::train(&cat, opts).await?;
        let champion_auc = match &champion {
            None => None,
            Some((_, c)) => {
                let auc = churn::auc_on_cut(&cat, c, model.test_as_of, model.horizon_days).await;
                Some((c.version.clone(), auc.ok()))
            }
        };
        Ok::<_, Error>((model, champion_auc))
    })?;
    let registry = churn::registry::Registry::load(&dir)?;
    model.version = free_version(&dir, &model.version, &registry);
    // A champion of the same version is the file this model replaces: no rival.
    let champion_auc = champion_auc.filter(|(v, _)| *v != model.version);
    let path = model.save(&dir)?;
    let (promoted, why) = churn::registry::decide(
        &dir,
        &model,
        champion_auc.as_ref().map(|(v, a)| (v.as_str(), *a)),
        ctx.settings.max_auc_drop,
    )?;
    Ok(ChurnTrainReport {
        model,
        path,
        promoted,
        why,
    })
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
        None => churn::registry::champion(&dir)?
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
