//! `crm-mart runs` and `crm-mart runs show RUN_ID`: the nightly runs from the run log (see
//! [`crm_mart::pipeline::runs`]).

use std::io::Write;

use anyhow::Result;
use crm_mart::pipeline::Ctx;
use crm_mart::pipeline::runs::{self, Run};

use crate::cli::{RunsAction, RunsArgs};

/// Runs the command.
pub fn run(ctx: &Ctx, a: &RunsArgs) -> Result<()> {
    match &a.action {
        None => list(ctx, a.last),
        Some(RunsAction::Show { run_id }) => show(ctx, &runs::run(ctx, run_id)?),
    }
}

/// The rows of the ETL stage's tables, as `fact_sales 1,234`.
fn rows_text(rows: &Option<serde_json::Value>) -> String {
    let Some(serde_json::Value::Object(m)) = rows else {
        return String::new();
    };
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(ctx: &Ctx, last: usize) -> Result<()> {
    let all = runs::runs(ctx)?;
    let mut out = std::io::stdout().lock();
    if all.is_empty() {
        writeln!(
            out,
            "no nightly run in {} yet",
            ctx.settings.nightly_log.display()
        )?;
        return Ok(());
    }
    let mut tb = super::table([
        "run", "started", "status", "seconds", "stages", "batch", "warnings",
    ]);
    for r in all.iter().skip(all.len().saturating_sub(last)) {
        let stages = r
            .stages
            .iter()
            .map(|s| {
                if s.status == "ok" {
                    s.stage.clone()
                } else {
                    format!("{} {}", s.stage, s.status.to_uppercase())
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        tb.add_row(vec![
            r.run_id.clone(),
            r.started_at.clone(),
            r.status.clone(),
            format!("{:.1}", r.seconds),
            stages,
            r.batch
                .as_ref()
                .map_or("-".into(), |(_, seq)| seq.to_string()),
            r.warnings().len().to_string(),
        ]);
    }
    writeln!(out, "{tb}")?;
    writeln!(
        out,
        "{} runs in {} (showing the last {}); details: crm-mart runs show RUN_ID; in SQL: SELECT * FROM _runs",
        all.len(),
        ctx.settings.nightly_log.display(),
        last.min(all.len())
    )?;
    Ok(())
}

fn show(ctx: &Ctx, r: &Run) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "run {}: {}, started {}, {:.1} s{}",
        r.run_id,
        r.status,
        r.started_at,
        r.seconds,
        r.batch.as_ref().map_or(String::new(), |(id, seq)| format!(
            ", ETL batch {seq} ({id})"
        ))
    )?;
    let mut tb = super::table([
        "stage",
        "status",
        "seconds",
        "peak MB",
        "rows",
        "error / warning / note",
    ]);
    for s in &r.stages {
        let said = [s.error.as_deref(), s.warning.as_deref(), s.note.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        tb.add_row(vec![
            s.stage.clone(),
            s.status.clone(),
            s.elapsed_s.map_or("-".into(), |v| format!("{v:.2}")),
            s.peak_rss_mb.map_or("-".into(), |v| format!("{v:.0}")),
            rows_text(&s.rows),
            said,
        ]);
    }
    writeln!(out, "{tb}")?;
    let entities = runs::batch_rows(ctx, r)?;
    if !entities.is_empty() {
        let mut tb = super::table(["entity", "rows read", "loaded", "quarantined", "updated"]);
        for (e, read, loaded, quarantined, updated) in entities {
            tb.add_row(vec![
                e,
                read.to_string(),
                loaded.to_string(),
                quarantined.to_string(),
                updated.to_string(),
            ]);
        }
        writeln!(out, "ETL batch (from _etl_runs):\n{tb}")?;
    }
    Ok(())
}
