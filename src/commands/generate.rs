//! `crm-mart generate`: a realistic source dataset with planted patterns (and defects).

use anyhow::{Context, Result};
use crm_mart::sample::{self, GenerateSettings};

use crate::cli::{Cli, GenerateArgs};

/// Runs the command.
pub fn run(cli: &Cli, a: &GenerateArgs) -> Result<()> {
    let s = GenerateSettings {
        out: a.out.clone(),
        customers: a.customers,
        months: a.months,
        start: a.start,
        seed: a.seed,
        dirty_rate: a.dirty_rate,
        period: a.period,
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
