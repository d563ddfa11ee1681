//! The segment stage: RFM scores and k-means clusters → `customer_segments`.

use std::collections::HashMap;

use super::Ctx;
use crate::error::Result;
use crate::mart::schema::MartTable;
use crate::ml::segment::{self, SegmentOptions, Segmentation};

/// What the segment stage did.
pub struct SegmentReport {
    /// The segmentation written.
    pub segmentation: Segmentation,
    /// The version of `customer_segments` written.
    pub table_version: i64,
    /// The churn probability of each scored customer, for the profile (empty before scoring).
    pub churn_risk: HashMap<String, f64>,
}

/// Segments the customers as of the cut and replaces `customer_segments`.
pub fn segment(ctx: &Ctx, opts: &SegmentOptions) -> Result<SegmentReport> {
    ctx.block_on(async {
        let mart = ctx.mart();
        let cat = ctx.catalog(&mart).await?;
        let seg = segment::run(&cat, opts).await?;
        let model_version = format!("kmeans-k{}-seed{}-{}", seg.k, opts.seed, seg.as_of);
        let batch = seg.to_batch(&model_version, cat.mart_version)?;
        let table_version = mart
            .replace(MartTable::CustomerSegments, vec![batch], "crm-mart-segment")
            .await?;
        let churn_risk =
            crate::recommend::lookup_f64(&cat, MartTable::ChurnScores, "churn_probability").await?;
        Ok(SegmentReport {
            segmentation: seg,
            table_version,
            churn_risk,
        })
    })
}
