//! `crm-mart models list`: the trained models in `models/`.

use std::io::Write;

use anyhow::Result;
use crm_mart::ml::{churn, clv};
use crm_mart::pipeline::Ctx;

use crate::cli::Cli;

/// A row of the table for a model that cannot be read.
fn unreadable(kind: &str, path: &std::path::Path, e: &crm_mart::error::Error) -> Vec<String> {
    vec![
        kind.to_string(),
        path.display().to_string(),
        format!("unreadable: {e}"),
    ]
}

/// The churn models' rows, the champion marked.
fn churn_rows(
    dir: &std::path::Path,
    registry: &churn::registry::Registry,
) -> Result<Vec<Vec<String>>> {
    let champion = churn::registry::champion(dir)?.map(|(_, m)| m.version);
    let mut rows = Vec::new();
    for (path, m) in churn::list(dir)? {
        rows.push(match &m {
            Ok(m) => vec![
                "churn".to_string(),
                match (&champion, registry.pinned) {
                    (Some(c), true) if *c == m.version => {
                        format!("{} (champion, pinned)", m.version)
                    }
                    (Some(c), _) if *c == m.version => format!("{} (champion)", m.version),
                    _ => m.version.clone(),
                },
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
    Ok(rows)
}

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
    let churn_dir = settings.models_dir.join("churn");
    let registry = churn::registry::Registry::load(&churn_dir)?;
    for row in churn_rows(&churn_dir, &registry)? {
        count += 1;
        tb.add_row(row);
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
    if let Some(d) = registry.history.last() {
        writeln!(
            out,
            "last decision ({}): {} {}: {}",
            d.at,
            d.version,
            d.event.as_str(),
            d.why
        )?;
    }
    if !cli.quiet {
        eprintln!("{count} models in {}", settings.models_dir.display());
    }
    Ok(())
}

/// `models promote VERSION` and `models pin VERSION`.
pub fn promote(ctx: &Ctx, version: &str, pin: bool) -> Result<()> {
    let dir = ctx.settings.models_dir.join("churn");
    let reg = churn::registry::promote(&dir, version, pin)?;
    println!(
        "champion: {}{}; churn scoring uses it from now on",
        reg.champion.as_deref().unwrap_or("-"),
        if reg.pinned {
            " (pinned: retrained models are not promoted)"
        } else {
            ""
        }
    );
    Ok(())
}

/// `models rollback`.
pub fn rollback(ctx: &Ctx) -> Result<()> {
    let dir = ctx.settings.models_dir.join("churn");
    let reg = churn::registry::rollback(&dir)?;
    let why = reg.history.last().map_or("", |d| d.why.as_str());
    println!(
        "champion: {} ({why}); churn scoring uses it from now on",
        reg.champion.as_deref().unwrap_or("-")
    );
    Ok(())
}
