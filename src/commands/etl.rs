//! `crm-mart etl`: one batch of new source files into the mart.

use std::io::Write;

use anyhow::Result;
use crm_mart::etl::EtlReport;
use crm_mart::pipeline::{self, Ctx, EtlParams};

use crate::cli::Cli;

/// Runs the command.
pub fn run(cli: &Cli, ctx: &Ctx) -> Result<()> {
    let report = pipeline::etl(
        ctx,
        &EtlParams {
            progress: !cli.quiet,
        },
    )?;
    if !cli.quiet {
        render(ctx, &report)?;
    }
    Ok(())
}

/// The per-entity summary on stdout and the batch on stderr.
pub fn render(ctx: &Ctx, report: &EtlReport) -> Result<()> {
    let mut out = std::io::stdout().lock();
    write_summary(&mut out, report)?;
    let s = &ctx.settings;
    match &report.batch_id {
        None => eprintln!(
            "nothing to load: all {} source files in {} were loaded by earlier batches",
            report.files_already_loaded,
            s.source_dir.display()
        ),
        Some(id) => eprintln!(
            "batch {id} (#{}) loaded into {} in {:.1}s; committed: {}{}",
            report.seq,
            s.mart_dir.display(),
            report.seconds,
            report.tables_committed.join(", "),
            if report.files_already_loaded > 0 {
                format!(
                    "; {} files skipped (already loaded)",
                    report.files_already_loaded
                )
            } else {
                String::new()
            }
        ),
    }
    Ok(())
}

/// Writes the per-entity summary table.
pub fn write_summary(out: &mut impl Write, report: &EtlReport) -> Result<()> {
    if report.entities.is_empty() {
        return Ok(());
    }
    let mut t = super::table([
        "entity",
        "files",
        "read",
        "loaded",
        "of which updated",
        "unchanged",
        "quarantined",
        "rows/s",
    ]);
    for e in &report.entities {
        let rate = if e.seconds > 0.0 {
            e.rows_read as f64 / e.seconds
        } else {
            0.0
        };
        t.add_row(vec![
            e.entity.clone(),
            e.files.len().to_string(),
            e.rows_read.to_string(),
            e.rows_loaded.to_string(),
            e.rows_updated.to_string(),
            e.rows_unchanged.to_string(),
            e.rows_quarantined.to_string(),
            format!("{rate:.0}"),
        ]);
    }
    writeln!(out, "{t}")?;
    Ok(())
}
