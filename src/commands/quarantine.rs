//! `crm-mart quarantine`: what the ETL held back in one batch, by entity and reason code, with
//! sample rows.

use std::io::Write;

use anyhow::Result;
use crm_mart::pipeline::{self, Ctx, QuarantineParams};

use crate::cli::{QuarantineArgs, SummaryFormat};

/// Runs the command.
pub fn run(ctx: &Ctx, a: &QuarantineArgs) -> Result<()> {
    let s = pipeline::quarantine_summary(
        ctx,
        &QuarantineParams {
            seq: a.batch,
            samples: a.samples,
        },
    )?;
    let mut out = std::io::stdout().lock();
    if a.format == SummaryFormat::Json {
        serde_json::to_writer_pretty(&mut out, &s)?;
        writeln!(out)?;
        return Ok(());
    }
    let share = s.rows_quarantined as f64 / s.rows_read.max(1) as f64;
    writeln!(
        out,
        "batch {} ({}): {} of {} rows read quarantined ({:.2}%)",
        s.seq,
        s.batch_id,
        s.rows_quarantined,
        s.rows_read,
        share * 100.0
    )?;
    if s.groups.is_empty() {
        return Ok(());
    }
    let mut t = super::table(["entity", "source", "reason_code", "rows", "% of entity"]);
    for g in &s.groups {
        t.add_row(vec![
            g.entity.clone(),
            g.source.clone(),
            g.code.clone(),
            g.rows.to_string(),
            format!("{:.2}", g.share * 100.0),
        ]);
    }
    writeln!(out, "{t}")?;
    for g in s.groups.iter().filter(|g| !g.samples.is_empty()) {
        writeln!(out, "\n{} {} ({} rows):", g.source, g.code, g.rows)?;
        for r in &g.samples {
            let at = match (&r.column, &r.value) {
                (Some(c), Some(v)) => format!(" {c}={v:?}"),
                (Some(c), None) => format!(" {c}"),
                _ => String::new(),
            };
            writeln!(out, "  {} line {}{at}: {}", r.file, r.line, r.reason)?;
        }
    }
    Ok(())
}
