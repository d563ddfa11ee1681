//! `crm-mart churn train` and `crm-mart churn score`.

use std::io::Write;

use anyhow::Result;
use crm_mart::ml::churn::{RiskBand, TrainOptions};
use crm_mart::pipeline::{self, ChurnScoreParams, ChurnScoreReport, ChurnTrainReport, Ctx};

use crate::cli::{ChurnScoreArgs, ChurnTrainArgs, Cli};

/// `churn train`.
pub fn train(cli: &Cli, ctx: &Ctx, a: &ChurnTrainArgs) -> Result<()> {
    let t = std::time::Instant::now();
    let opts = TrainOptions {
        as_of: a.cut.as_of,
        horizon_days: a.cut.horizon_days,
        seed: a.seed,
        family: a.family,
    };
    let report = pipeline::churn_train(ctx, &opts)?;
    if !cli.quiet {
        render_training(&report, t.elapsed().as_secs_f64())?;
    }
    Ok(())
}

/// `churn score`.
pub fn score(cli: &Cli, ctx: &Ctx, a: &ChurnScoreArgs) -> Result<()> {
    let t = std::time::Instant::now();
    let p = ChurnScoreParams {
        as_of: a.as_of,
        model: a.model.clone(),
    };
    let report = pipeline::churn_score(ctx, &p)?;
    if !cli.quiet {
        render_scores(&report, t.elapsed().as_secs_f64())?;
    }
    Ok(())
}

/// The candidates' test ROC AUC and the chosen model's metrics.
pub fn render_training(r: &ChurnTrainReport, seconds: f64) -> Result<()> {
    let (model, m) = (&r.model, &r.model.metrics);
    let mut out = std::io::stdout().lock();
    let mut tb = super::table(["model family", "test ROC AUC"]);
    for (f, auc) in &model.candidates {
        tb.add_row(vec![f.clone(), format!("{auc:.4}")]);
    }
    writeln!(out, "{tb}")?;
    writeln!(
        out,
        "chosen: {}  ROC AUC {:.4}  PR AUC {:.4}  lift@10% {:.2}  Brier {:.4}  ({} test customers, churn rate {:.1}%)",
        model.model.family(),
        m.roc_auc,
        m.pr_auc,
        m.lift_top_decile,
        m.brier,
        m.test_customers,
        m.test_churn_rate * 100.0
    )?;
    writeln!(out, "{}", r.decision())?;
    eprintln!(
        "trained on {} (test {}), wrote {} and its model card in {seconds:.1}s",
        model.train_as_of,
        model.test_as_of,
        r.path.display(),
    );
    Ok(())
}

/// Customers and mean probability per risk band.
pub fn render_scores(r: &ChurnScoreReport, seconds: f64) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut tb = super::table(["risk band", "customers", "mean probability"]);
    for b in RiskBand::ALL {
        let v: Vec<f64> = r
            .scores
            .iter()
            .filter(|s| s.band == b)
            .map(|s| s.probability)
            .collect();
        let mean = if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        };
        tb.add_row(vec![
            b.to_string(),
            v.len().to_string(),
            format!("{mean:.3}"),
        ]);
    }
    writeln!(out, "{tb}")?;
    eprintln!(
        "scored {} customers as of {} with {}; churn_scores version {}; {seconds:.1}s",
        r.scores.len(),
        r.as_of,
        r.model.version,
        r.table_version,
    );
    Ok(())
}
