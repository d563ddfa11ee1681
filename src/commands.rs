//! One function per command: settings → library call → output. stdout is data, stderr is talk.

use std::io::Write;

use anyhow::{Context, Result};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use crm_mart::cli::{Cli, Command, EtlArgs, GenerateArgs};
use crm_mart::config::Settings;
use crm_mart::etl::{self, EtlReport};
use crm_mart::sample::{self, GenerateSettings};

/// Runs the parsed command.
pub fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Generate(a) => generate(cli, a),
        Command::Etl(a) => run_etl(cli, a),
        Command::Nightly(a) => run_etl(cli, a),
    }
}

fn generate(cli: &Cli, a: &GenerateArgs) -> Result<()> {
    let s = GenerateSettings {
        out: a.out.clone(),
        customers: a.customers,
        months: a.months,
        start: a.start,
        seed: a.seed,
        dirty_rate: a.dirty_rate,
    };
    let t = std::time::Instant::now();
    let summary =
        sample::generate(&s).with_context(|| format!("generating into {}", a.out.display()))?;
    if !cli.quiet {
        eprintln!(
            "wrote {} customers, {} order lines, {} contacts ({} planted defects) to {} in {:.1}s",
            summary.customers,
            summary.sales_lines,
            summary.contacts,
            summary.defects,
            a.out.display(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn run_etl(cli: &Cli, a: &EtlArgs) -> Result<()> {
    let settings = Settings::resolve(
        cli.config.as_deref(),
        a.source.as_deref(),
        a.mart.as_deref(),
    )?;
    let report = etl::run(&settings, !cli.quiet)?;
    if cli.quiet {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    write_summary(&mut out, &report)?;
    match &report.batch_id {
        None => eprintln!(
            "nothing to load: all {} source files in {} were loaded by earlier batches",
            report.files_already_loaded,
            settings.source_dir.display()
        ),
        Some(id) => eprintln!(
            "batch {id} (#{}) loaded into {} in {:.1}s; committed: {}{}",
            report.seq,
            settings.mart_dir.display(),
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
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["entity", "files", "read", "loaded", "quarantined", "rows/s"]);
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
            e.rows_quarantined.to_string(),
            format!("{rate:.0}"),
        ]);
    }
    writeln!(out, "{t}")?;
    Ok(())
}
