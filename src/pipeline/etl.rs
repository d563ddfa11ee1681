//! The etl stage: one batch of new source files into the mart.

use super::Ctx;
use crate::error::Result;
use crate::etl::{self, EtlReport};

/// Params of the etl stage.
#[derive(Debug, Clone, Copy)]
pub struct EtlParams {
    /// Progress bars on stderr.
    pub progress: bool,
}

/// Loads what is new in the source directory (see [`crate::etl`]).
pub fn etl(ctx: &Ctx, p: &EtlParams) -> Result<EtlReport> {
    ctx.block_on(etl::run(&ctx.settings, p.progress))
}
