//! The recommend stage: both lists (replenish, cross-sell) and a next-best action under the
//! contact policy per customer → `recommendations` and the CRM sinks; and the baseline ladder
//! that judges the lists on past holdouts.

use chrono::NaiveDate;

use super::Ctx;
use crate::crm::{self, Sink};
use crate::error::Result;
use crate::mart::schema::MartTable;
use crate::query::output::{self, Format};
use crate::recommend::evaluate::{self, Fold};
use crate::recommend::{self, CustomerAction, Picks, RecOptions};
use crate::util::dates::{epoch_day, from_epoch_day};

/// Params of the recommend stage.
#[derive(Debug, Clone)]
pub struct RecommendParams {
    /// The cut (default: the last order day).
    pub as_of: Option<NaiveDate>,
    /// The models' options.
    pub options: RecOptions,
    /// Where the rows go besides the mart (None: the configured `[crm] sinks`).
    pub sinks: Option<Vec<Sink>>,
}

impl RecommendParams {
    /// The defaults (`recommend` and the nightly stage).
    pub const DEFAULT: Self = RecommendParams {
        as_of: None,
        options: RecOptions::DEFAULT,
        sinks: None,
    };
}

/// What the recommend stage did.
pub struct RecommendReport {
    /// The cut.
    pub cut: NaiveDate,
    /// Both lists per customer.
    pub picks: Picks,
    /// The next-best action per customer (None: not a customer at the cut).
    pub actions: Vec<Option<CustomerAction>>,
    /// The version of `recommendations` written.
    pub table_version: i64,
    /// The run's id in every row and sink.
    pub run_id: String,
    /// Per sink: "N rows to SINK".
    pub written: Vec<String>,
}

/// Ranks both lists, chooses the actions, replaces `recommendations` and writes the sinks.
pub fn recommend(ctx: &Ctx, p: &RecommendParams) -> Result<RecommendReport> {
    let settings = &ctx.settings;
    let mart = ctx.mart();
    let (history, cut, actions, version) = ctx.block_on(async {
        let cat = ctx.catalog(&mart).await?;
        let history = recommend::load_history(&cat, p.as_of).await?;
        let cut = p.as_of.map(epoch_day).unwrap_or_else(|| history.last_day());
        let segments = recommend::segments(&cat, &history).await?;
        let churn =
            recommend::lookup_f64(&cat, MartTable::ChurnScores, "churn_probability").await?;
        let clv = recommend::lookup_f64(&cat, MartTable::CustomerValue, "clv_12m").await?;
        let contacts = recommend::policy::contact_states(&cat, &settings.policy, cut).await?;
        let actions = recommend::actions(
            &history,
            cut,
            &churn,
            &clv,
            &segments,
            &settings.policy,
            &contacts,
        );
        Ok::<_, crate::error::Error>((history, cut, actions, cat.mart_version))
    })?;
    let picks = recommend::recommend(&history, cut, &p.options, true);
    let now = chrono::Utc::now();
    let generated_at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let run_id = format!(
        "rec-{}-v{}-{}",
        from_epoch_day(cut).format("%Y%m%d"),
        version.unwrap_or(0),
        now.format("%Y%m%dT%H%M%SZ")
    );
    let batch = recommend::to_batch(&history, &picks, &actions, &generated_at, &run_id)?;
    let table_version = ctx.block_on(mart.replace(
        MartTable::Recommendations,
        vec![batch.clone()],
        "crm-mart-recommend",
    ))?;
    let mut written = Vec::new();
    for sink in p.sinks.as_ref().unwrap_or(&settings.sinks) {
        let rows = match sink {
            Sink::Csv(path) => {
                ctx.block_on(output::write_batch(batch.clone(), Format::Csv, path))?
                    .rows
            }
            Sink::Jsonl(path) => {
                ctx.block_on(output::write_batch(batch.clone(), Format::Jsonl, path))?
                    .rows
            }
            other => crm::write(other, &batch, &run_id, &generated_at)? as u64,
        };
        written.push(format!("{rows} rows to {sink}"));
    }
    Ok(RecommendReport {
        cut: from_epoch_day(cut),
        picks,
        actions,
        table_version,
        run_id,
        written,
    })
}

/// Params of the baseline ladder.
#[derive(Debug, Clone, Copy)]
pub struct EvaluationParams {
    /// The cut the holdouts end at (default: the last order day).
    pub as_of: Option<NaiveDate>,
    /// The models' options (the holdout is `replenish.window_days` long).
    pub options: RecOptions,
    /// Number of successive holdouts.
    pub folds: u32,
}

impl EvaluationParams {
    /// Holdouts by default.
    pub const DEFAULT_FOLDS: u32 = 3;
}

/// The baseline ladder: fold 1 is the last holdout, fold 2 the days before, …; each is predicted
/// from the history before it. Returned oldest first.
pub fn evaluate(ctx: &Ctx, p: &EvaluationParams) -> Result<Vec<Fold>> {
    let history = ctx.block_on(async {
        let mart = ctx.mart();
        let cat = ctx.catalog(&mart).await?;
        recommend::load_history(&cat, p.as_of).await
    })?;
    let holdout = p.options.replenish.window_days;
    (1..=p.folds as i32)
        .rev()
        .map(|fold| {
            let cut = history.last_day() - fold * holdout;
            evaluate::evaluate(&history, cut, holdout, &p.options)
        })
        .collect()
}
