//! The maintenance stage: compaction, checkpoints and vacuum (see [`crate::mart::maintain`]).

use super::Ctx;
use crate::error::Result;
use crate::mart::maintain::{self, MaintainParams, MaintainReport};

/// Maintains the mart with `params` (the nightly stage passes `[maintain]` of the settings).
pub fn maintain(ctx: &Ctx, params: &MaintainParams) -> Result<MaintainReport> {
    let mart = ctx.mart();
    ctx.block_on(maintain::maintain(&mart, params))
}
