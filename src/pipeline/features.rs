//! The churn model's features at its training and test cuts, for modelling elsewhere.

use chrono::NaiveDate;

use super::Ctx;
use crate::error::Result;
use crate::ml::{churn, features};
use crate::query::output::{self, OutputOptions, Written};

/// Writes the feature rows of both cuts of a test cut `as_of` (default: the last order day −
/// horizon), labelled train and test.
pub fn export_features(
    ctx: &Ctx,
    as_of: Option<NaiveDate>,
    horizon_days: u32,
    out: &OutputOptions,
) -> Result<Written> {
    ctx.block_on(async {
        let mart = ctx.mart();
        let cat = ctx.catalog(&mart).await?;
        let (train, test) = churn::cuts(&cat, as_of, horizon_days).await?;
        let stream =
            features::export(&cat, &[(train, "train"), (test, "test")], horizon_days).await?;
        output::write(stream, out).await
    })
}
