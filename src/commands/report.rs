//! `crm-mart report`: the decision report (HTML, XLSX, Markdown) at one mart version.

use anyhow::Result;
use crm_mart::pipeline::{self, Ctx, ReportOutput, ReportParams};

use crate::cli::{Cli, ReportArgs};

/// Runs the command.
pub fn run(cli: &Cli, ctx: &Ctx, a: &ReportArgs) -> Result<()> {
    let t = std::time::Instant::now();
    let p = ReportParams {
        out: a.out.clone(),
        formats: a.format.clone(),
        show_pii: a.show_pii,
    };
    let output = pipeline::report(ctx, &p)?;
    if !cli.quiet {
        render(&output, t.elapsed().as_secs_f64());
    }
    Ok(())
}

/// The report's sections and files on stderr.
pub fn render(o: &ReportOutput, seconds: f64) {
    let r = &o.report;
    let missing = r.sections.iter().filter(|s| s.missing.is_some()).count();
    let written: Vec<String> = o.written.iter().map(|p| p.display().to_string()).collect();
    eprintln!(
        "report of mart version {}: {} sections ({missing} without data), {} model cards → {}; {seconds:.1}s",
        r.mart_version.map_or("-".into(), |v| v.to_string()),
        r.sections.len(),
        r.models.len(),
        written.join(", "),
    );
}
