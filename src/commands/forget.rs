//! `crm-mart forget --customer ID`: erasure of customers' personal data (see
//! [`crm_mart::mart::erasure`]).

use std::io::Write;

use anyhow::Result;
use crm_mart::pipeline::{self, Ctx};

use crate::cli::ForgetArgs;

/// Runs the command.
pub fn run(ctx: &Ctx, a: &ForgetArgs) -> Result<()> {
    let r = pipeline::forget(ctx, &a.customers)?;
    let m = &r.mart;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "forgot {} of {} customers asked for ({} not in the mart; recorded all, so a later load does not bring them back)",
        m.found,
        m.requested,
        m.requested - m.found
    )?;
    let mut tb = super::table(["where", "rows"]);
    tb.add_row(vec![
        "dim_customer: versions without name, email, phone, city, birth year".to_string(),
        m.customer_rows.to_string(),
    ]);
    tb.add_row(vec![
        "_quarantine: raw text erased".to_string(),
        m.quarantine_rows.to_string(),
    ]);
    for (t, n) in &m.output_rows {
        tb.add_row(vec![format!("{t}: rows removed"), n.to_string()]);
    }
    for (s, n) in &r.sinks {
        tb.add_row(vec![format!("CRM sink {s}: rows removed"), n.to_string()]);
    }
    writeln!(out, "{tb}")?;
    writeln!(
        out,
        "deleted {} files of earlier versions and checkpoints, dropped value statistics from {} log files; facts keep their keys and amounts",
        m.files_deleted, m.log_files_rewritten
    )?;
    Ok(())
}
