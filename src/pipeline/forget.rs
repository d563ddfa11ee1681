//! Erasure: the mart (see [`crate::mart::erasure`]) and the CRM sinks.

use super::Ctx;
use crate::error::Result;
use crate::mart::erasure::{self, ErasureReport};

/// What `forget` did.
pub struct ForgetReport {
    /// In the mart.
    pub mart: ErasureReport,
    /// Rows removed from each CRM sink.
    pub sinks: Vec<(String, usize)>,
}

/// Forgets customers `ids` in the mart and in every configured CRM sink.
pub fn forget(ctx: &Ctx, ids: &[String]) -> Result<ForgetReport> {
    let mart = ctx.mart();
    let report = ctx.block_on(erasure::forget(&mart, ids))?;
    let mut sinks = Vec::new();
    for s in &ctx.settings.sinks {
        sinks.push((s.to_string(), crate::crm::forget(s, ids)?));
    }
    Ok(ForgetReport {
        mart: report,
        sinks,
    })
}
