//! `crm-mart maintain`: compaction, checkpoints and vacuum of every table, with files and bytes
//! before and after (see [`crm_mart::mart::maintain`]).

use std::io::Write;

use anyhow::Result;
use crm_mart::mart::maintain::{MaintainParams, MaintainReport, TableMaintenance};
use crm_mart::pipeline::{self, Ctx};

use crate::cli::{Cli, MaintainArgs};

/// Runs the command.
pub fn run(cli: &Cli, ctx: &Ctx, a: &MaintainArgs) -> Result<()> {
    let p = MaintainParams {
        retain_days: a.retain_days.unwrap_or(ctx.settings.maintain.retain_days),
        outputs_retain_days: a
            .outputs_retain_days
            .unwrap_or(ctx.settings.maintain.outputs_retain_days),
        compact_min_files: a
            .compact_min_files
            .unwrap_or(ctx.settings.maintain.compact_min_files),
    };
    let t = std::time::Instant::now();
    let report = pipeline::maintain(ctx, &p)?;
    if !cli.quiet {
        render(&report, t.elapsed().as_secs_f64())?;
    }
    Ok(())
}

/// Bytes for reading: 1.2 MB, 340 kB, 512 B.
fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.2} GB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.0} kB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn row(t: &TableMaintenance) -> Vec<String> {
    let pair = |(a, b): (u64, u64), f: &dyn Fn(u64) -> String| format!("{} → {}", f(a), f(b));
    vec![
        t.table.clone(),
        pair(t.files, &|n| n.to_string()),
        pair(t.data_bytes, &bytes),
        pair(t.disk_bytes, &bytes),
        pair(t.log_bytes, &bytes),
        t.compacted.to_string(),
        t.vacuumed.to_string(),
    ]
}

/// The tables' files and bytes before → after, and a total.
pub fn render(r: &MaintainReport, seconds: f64) -> Result<()> {
    let mut tb = super::table([
        "table",
        "data files",
        "data bytes",
        "on disk",
        "log",
        "compacted",
        "vacuumed",
    ]);
    for t in &r.tables {
        tb.add_row(row(t));
    }
    tb.add_row(row(&r.total()));
    let mut out = std::io::stdout().lock();
    writeln!(out, "{tb}")?;
    writeln!(
        out,
        "maintained {} tables in {seconds:.1} s; time travel keeps {} days ({}), the model outputs {} days; recorded in _maintenance",
        r.tables.len(),
        r.retain_days,
        if r.retain_days == 0 {
            "only the latest versions are readable".to_string()
        } else {
            format!(
                "versions replaced in the last {} days stay readable",
                r.retain_days
            )
        },
        r.outputs_retain_days
    )?;
    Ok(())
}
