//! The report stage: the decision report at one mart version, in the chosen formats.

use std::path::PathBuf;

use super::Ctx;
use crate::error::{Error, Result};
use crate::report::{self, Format, Report};
use crate::util::fs::write_atomic;

/// Params of the report stage.
#[derive(Debug, Clone)]
pub struct ReportParams {
    /// The directory the files go to.
    pub out: PathBuf,
    /// The formats.
    pub formats: Vec<Format>,
    /// E-mail addresses and phone numbers shown instead of masked.
    pub show_pii: bool,
}

impl ReportParams {
    /// The nightly job's report: every format, in `reports/` beside the mart.
    pub fn nightly(ctx: &Ctx) -> ReportParams {
        ReportParams {
            out: ctx.settings.reports_dir(),
            formats: Format::ALL.to_vec(),
            show_pii: false,
        }
    }
}

/// The report and its files.
pub struct ReportOutput {
    /// What the files show.
    pub report: Report,
    /// The files written, in the order of the formats.
    pub written: Vec<PathBuf>,
}

/// Builds the report (with a warning when the sources have stopped arriving) and writes one
/// file per format.
pub fn report(ctx: &Ctx, p: &ReportParams) -> Result<ReportOutput> {
    let settings = &ctx.settings;
    let report = ctx.block_on(async {
        let mart = ctx.mart();
        let cat = ctx.catalog(&mart).await?;
        let last = crate::etl::last_batch_at(&mart).await?;
        let warnings: Vec<String> =
            crate::etl::stale_warning(last, chrono::Utc::now(), settings.quality.stale_after_days)
                .into_iter()
                .collect();
        report::build(&cat, &settings.models_dir, p.show_pii, warnings).await
    })?;
    std::fs::create_dir_all(&p.out).map_err(|e| Error::io(&p.out, e))?;
    let mut written = Vec::new();
    for f in &p.formats {
        let path = p.out.join(f.file_name());
        match f {
            Format::Html => write_atomic(&path, report::html(&report).as_bytes())?,
            Format::Md => write_atomic(&path, report::markdown(&report).as_bytes())?,
            Format::Xlsx => report::xlsx(&report, &path)?,
        }
        written.push(path);
    }
    Ok(ReportOutput { report, written })
}
