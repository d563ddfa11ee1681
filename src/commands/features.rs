//! `crm-mart features`: the churn model's features at its training and test cuts, to a file or
//! stdout.

use anyhow::Result;
use crm_mart::pipeline::{self, Ctx};
use crm_mart::query::output::{Format, OutputOptions};

use crate::cli::{Cli, FeaturesArgs};

/// Runs the command.
pub fn run(cli: &Cli, ctx: &Ctx, a: &FeaturesArgs) -> Result<()> {
    let format = Format::choose(a.format.as_deref(), a.output.as_deref(), Format::Csv)?;
    let out = OutputOptions {
        format,
        path: a.output.clone(),
        max_rows: None,
        width: None,
    };
    let written = pipeline::export_features(ctx, a.cut.as_of, a.cut.horizon_days, &out)?;
    if !cli.quiet {
        eprintln!(
            "{} feature rows{}",
            written.rows,
            a.output
                .as_ref()
                .map(|p| format!(" to {}", p.display()))
                .unwrap_or_default()
        );
    }
    Ok(())
}
