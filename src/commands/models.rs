//! `crm-mart models list`: the trained models in `models/`.

use std::io::Write;

use anyhow::Result;
use crm_mart::ml::{churn, clv};
use crm_mart::pipeline::Ctx;

use crate::cli::Cli;

/// `models list`: every stored model with its metrics, oldest first.
pub fn list(cli: &Cli, ctx: &Ctx) -> Result<()> {
    let settings = &ctx.settings;
    let mut tb = super::table([
        "kind",
        "version",
        "model",
        "created",
        "mart version",
        "as of",
        "metrics",
    ]);
    let mut count = 0;
    let unreadable = |kind: &str, path: &std::path::Path, e: &crm_mart::error::Error| {
        vec![
            kind.to_string(),
            path.display().to_string(),
            format!("unreadable: {e}"),
        ]
    };
    for (path, m) in churn::list(&settings.models_dir.join("churn"))? {
        count += 1;
        tb.add_row(match &m {
            Ok(m) => vec![
                "churn".to_string(),
                m.version.clone(),
                m.model.family().to_string(),
                m.created_at.clone(),
                m.mart_version.map_or("-".into(), |v| v.to_string()),
                m.test_as_of.to_string(),
                format!(
                    "test ROC AUC {:.4}, PR AUC {:.4}",
                    m.metrics.roc_auc, m.metrics.pr_auc
                ),
            ],
            Err(e) => unreadable("churn", &path, e),
        });
    }
    for (path, m) in clv::list(&settings.models_dir.join("clv"))? {
        count += 1;
        tb.add_row(match &m {
            Ok(m) => vec![
                "clv".to_string(),
                m.version.clone(),
                if m.gamma_gamma.is_some() {
                    "BG/NBD + Gamma-Gamma".to_string()
                } else {
                    "BG/NBD".to_string()
                },
                m.created_at.clone(),
                m.mart_version.map_or("-".into(), |v| v.to_string()),
                m.as_of.map_or("-".into(), |d| d.to_string()),
                match &m.holdout {
                    Ok(h) => format!(
                        "LL {:.1}; holdout {:.0} actual / {:.1} predicted",
                        m.bgnbd_fit.log_likelihood, h.total_actual, h.total_predicted
                    ),
                    Err(_) => format!("LL {:.1}", m.bgnbd_fit.log_likelihood),
                },
            ],
            Err(e) => unreadable("clv", &path, e),
        });
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{tb}")?;
    if !cli.quiet {
        eprintln!("{count} models in {}", settings.models_dir.display());
    }
    Ok(())
}
