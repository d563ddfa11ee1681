//! The library's entry points: one function per stage of the scheduled job, each taking the
//! context and its typed params and returning a typed report. `crm-mart nightly` runs
//! [`Stage::ALL`] in order ([`nightly`]); each subcommand calls one of these functions and renders
//! what it returns. A stage's defaults are the `DEFAULT` consts of its params, which the command
//! line reuses, so a subcommand and its nightly stage cannot drift apart.
//!
//! The layers (docs/design.md): sources → etl → mart → query / ml / basket → recommend → crm /
//! report; this module sits on top of all of them and nothing below imports it.

mod basket;
mod churn;
mod etl;
mod features;
mod forget;
mod maintain;
pub mod nightly;
mod quarantine;
mod query;
mod recommend;
mod report;
pub mod runs;
mod segment;
mod session;
mod value;

use std::future::Future;

pub use basket::{BasketInput, BasketParams, BasketReport, Mined, basket, itemsets, mine};
pub use churn::{
    ChurnScoreParams, ChurnScoreReport, ChurnStageReport, ChurnTrainReport, Retrain, churn_score,
    churn_train, retrain_decision,
};
pub use etl::{EtlParams, etl};
pub use features::export_features;
pub use forget::{ForgetReport, forget};
pub use maintain::maintain;
pub use quarantine::{QuarantineParams, QuarantineSummary, quarantine_summary};
pub use query::{QueryParams, QueryRun, run_query};
pub use recommend::{EvaluationParams, RecommendParams, RecommendReport, evaluate, recommend};
pub use report::{ReportOutput, ReportParams, report};
pub use segment::{SegmentReport, segment};
pub use session::{Session, open_session};
pub use value::{ValueFile, ValueReport, value, value_from_file};

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::mart::catalog::{self, Catalog};
use crate::mart::delta::Mart;

/// What every entry point runs in: the settings, resolved once, and one async runtime.
pub struct Ctx {
    /// The resolved configuration.
    pub settings: Settings,
    runtime: tokio::runtime::Runtime,
}

impl Ctx {
    /// A context over `settings`. The runtime's threads get deep stacks: serialising and
    /// planning a long query (a Ballista job's plan goes through protobuf recursively) outgrows
    /// the default 2 MiB.
    pub fn new(settings: Settings) -> Result<Ctx> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_stack_size(32 << 20)
            .build()
            .map_err(|e| Error::Invariant(format!("starting the async runtime: {e}")))?;
        Ok(Ctx { settings, runtime })
    }

    /// Runs `f` to completion on the context's runtime.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// The mart of the settings.
    pub fn mart(&self) -> Mart {
        Mart::new(&self.settings.mart_dir)
    }

    /// The mart's tables, at their latest versions, on the configured engine.
    pub async fn catalog(&self, mart: &Mart) -> Result<Catalog> {
        catalog::open(&self.settings.engine, mart, None, &[]).await
    }
}

/// The stages of the scheduled job, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Load new source files into the mart.
    Etl,
    /// RFM scores and k-means clusters.
    Segment,
    /// Train (when due) and score the churn model.
    Churn,
    /// Customer lifetime value.
    Value,
    /// Association rules.
    Basket,
    /// Recommendations and next-best actions, written to the CRM.
    Recommend,
    /// The decision report.
    Report,
    /// Compaction, checkpoints and vacuum of the mart.
    Maintain,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 8] = [
        Stage::Etl,
        Stage::Segment,
        Stage::Churn,
        Stage::Value,
        Stage::Basket,
        Stage::Recommend,
        Stage::Report,
        Stage::Maintain,
    ];

    /// Its name in the run log.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Etl => "etl",
            Stage::Segment => "segment",
            Stage::Churn => "churn",
            Stage::Value => "value",
            Stage::Basket => "basket",
            Stage::Recommend => "recommend",
            Stage::Report => "report",
            Stage::Maintain => "maintain",
        }
    }

    /// The tables it writes, whose row counts the run log records after it.
    pub fn tables(self) -> &'static [crate::mart::schema::MartTable] {
        use crate::mart::schema::MartTable::*;
        match self {
            Stage::Etl => &[FactSales, FactContacts, Quarantine],
            Stage::Segment => &[CustomerSegments],
            Stage::Churn => &[ChurnScores],
            Stage::Value => &[CustomerValue],
            Stage::Basket => &[BasketRules],
            Stage::Recommend => &[Recommendations],
            Stage::Report | Stage::Maintain => &[],
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a stage returns.
pub enum StageReport {
    /// The ETL batch.
    Etl(crate::etl::EtlReport),
    /// The segmentation.
    Segment(SegmentReport),
    /// Training (when due) and scoring.
    Churn(Box<ChurnStageReport>),
    /// The value run.
    Value(Box<ValueReport>),
    /// The rules.
    Basket(Box<BasketReport>),
    /// The recommendations.
    Recommend(Box<RecommendReport>),
    /// The report files.
    Report(Box<ReportOutput>),
    /// The maintenance.
    Maintain(Box<crate::mart::maintain::MaintainReport>),
}

impl StageReport {
    /// What the run log says about the stage besides its status and rows: a retrained model
    /// that was not promoted, the maintenance's files and bytes.
    pub fn note(&self) -> Option<String> {
        match self {
            StageReport::Churn(r) => r.trained.as_ref().map(|t| t.decision()),
            StageReport::Maintain(r) => {
                let t = r.total();
                Some(format!(
                    "data files {} → {}, on disk {} → {} bytes, {} files vacuumed",
                    t.files.0, t.files.1, t.disk_bytes.0, t.disk_bytes.1, t.vacuumed
                ))
            }
            _ => None,
        }
    }
}
