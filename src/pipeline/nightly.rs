//! The scheduled job: etl → segment → churn (retrain when due, else score) → value → basket →
//! recommend (with the configured CRM sinks) → report. One run at a time; each stage commits on
//! its own, so a failure leaves the earlier stages in place and the next run starts over (the
//! ETL loads only what is new). Every stage appends a JSON line to the run log.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use super::{
    BasketInput, BasketParams, ChurnScoreParams, ChurnStageReport, Ctx, EtlParams, RecommendParams,
    ReportParams, Stage, StageReport,
};
use crate::error::{Error, Result};
use crate::ml::churn::TrainOptions;
use crate::ml::clv::ValueOptions;
use crate::ml::segment::SegmentOptions;
use crate::util::fs::lock_file;

/// Params of a nightly run.
#[derive(Debug, Clone)]
pub struct NightlyParams {
    /// Train a new churn model whatever the newest one's age.
    pub retrain: bool,
    /// The run log (default: `[nightly] log`).
    pub log: Option<PathBuf>,
    /// Progress bars of the stages on stderr.
    pub progress: bool,
    /// How a failed stage's error reads in the run log (the binary names parameters by their
    /// flags there, as on stderr); [`error_chain`] by default.
    pub error_text: fn(&Error) -> String,
}

impl Default for NightlyParams {
    fn default() -> Self {
        NightlyParams {
            retrain: false,
            log: None,
            progress: false,
            error_text: error_chain,
        }
    }
}

/// What a run will do.
pub struct Plan {
    /// Each stage with what it does, in words.
    pub steps: Vec<(Stage, String)>,
    /// Whether the churn stage trains first, and why.
    pub retrain_why: Option<String>,
    /// The run log.
    pub log_path: PathBuf,
}

/// The plan of a run at `now`.
pub fn plan(ctx: &Ctx, p: &NightlyParams, now: chrono::DateTime<chrono::Utc>) -> Result<Plan> {
    let s = &ctx.settings;
    let retrain = super::retrain_decision(ctx, p.retrain, now)?;
    let sinks = if s.sinks.is_empty() {
        "no CRM sink".to_string()
    } else {
        s.sinks
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let churn = match (&retrain.why, &retrain.newest) {
        (Some(why), _) => format!("train a new model ({why}), then score → churn_scores"),
        (None, None) => unreachable!("no model means retrain"),
        (None, Some(m)) => format!(
            "score with {} ({} days old) → churn_scores",
            m.version,
            retrain.age_days.unwrap_or(0)
        ),
    };
    let steps = Stage::ALL
        .into_iter()
        // `[maintain] nightly = false`: maintenance runs on its own schedule (`crm-mart maintain`).
        .filter(|stage| *stage != Stage::Maintain || s.maintain_nightly)
        .map(|stage| {
            let what = match stage {
                Stage::Etl => format!(
                    "load new source files from {} into {}",
                    s.source_dir.display(),
                    s.mart_dir.display()
                ),
                Stage::Segment => "RFM scores and k-means clusters (k by silhouette) as of the last order day → customer_segments".into(),
                Stage::Churn => churn.clone(),
                Stage::Value => format!(
                    "BG/NBD + Gamma-Gamma with a {}-day holdout check → customer_value, models/clv/",
                    ValueOptions::DEFAULT.holdout_days
                ),
                Stage::Basket => "product-level association rules → basket_rules".into(),
                Stage::Recommend => format!("replenish and cross-sell lists and a next-best action under the contact policy per customer → recommendations; {sinks}"),
                Stage::Report => format!(
                    "decision-report.html, .xlsx and .md in {}",
                    s.reports_dir().display()
                ),
                Stage::Maintain => format!(
                    "compaction of small files, checkpoints, vacuum of files older than {} days (model outputs {} days) → _maintenance",
                    s.maintain.retain_days, s.maintain.outputs_retain_days
                ),
            };
            (stage, what)
        })
        .collect();
    Ok(Plan {
        steps,
        retrain_why: retrain.why,
        log_path: p.log.clone().unwrap_or_else(|| s.nightly_log.clone()),
    })
}

/// Runs one stage with its defaults.
pub fn run_stage(ctx: &Ctx, stage: Stage, retrain: bool, progress: bool) -> Result<StageReport> {
    Ok(match stage {
        Stage::Etl => StageReport::Etl(super::etl(ctx, &EtlParams { progress })?),
        Stage::Segment => StageReport::Segment(super::segment(ctx, &SegmentOptions::DEFAULT)?),
        Stage::Churn => {
            let trained = if retrain {
                Some(super::churn_train(ctx, &TrainOptions::DEFAULT)?)
            } else {
                None
            };
            let scored = super::churn_score(ctx, &ChurnScoreParams::default())?;
            StageReport::Churn(Box::new(ChurnStageReport { trained, scored }))
        }
        Stage::Value => StageReport::Value(Box::new(super::value(ctx, &ValueOptions::DEFAULT)?)),
        Stage::Basket => StageReport::Basket(Box::new(super::basket(
            ctx,
            &BasketInput::Mart,
            &BasketParams::DEFAULT,
        )?)),
        Stage::Recommend => {
            StageReport::Recommend(Box::new(super::recommend(ctx, &RecommendParams::DEFAULT)?))
        }
        Stage::Report => {
            StageReport::Report(Box::new(super::report(ctx, &ReportParams::nightly(ctx))?))
        }
        Stage::Maintain => {
            StageReport::Maintain(Box::new(super::maintain(ctx, &ctx.settings.maintain)?))
        }
    })
}

/// What the caller is told as the run goes.
pub enum Event<'a> {
    /// Stage `k` of `n` starts.
    Starting {
        /// 1-based.
        k: usize,
        /// The stage.
        stage: Stage,
        /// What it does.
        what: &'a str,
    },
    /// A stage finished.
    Finished {
        /// The stage.
        stage: Stage,
        /// Its report.
        report: &'a StageReport,
        /// Its wall time.
        seconds: f64,
    },
    /// The sources have stopped arriving.
    Warning(&'a str),
}

/// A finished run.
pub struct NightlyRun {
    /// Its id in the run log.
    pub run_id: String,
    /// Wall time.
    pub seconds: f64,
    /// The run log.
    pub log_path: PathBuf,
}

/// A failed run: the stage (None before the first) and its error.
pub struct Failed {
    /// The stage that failed.
    pub stage: Option<Stage>,
    /// Why.
    pub error: Error,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Failed { stage: None, error }
    }
}

/// Runs every stage in order under the job's lock, appending to the run log.
pub fn run(
    ctx: &Ctx,
    p: &NightlyParams,
    plan: &Plan,
    now: chrono::DateTime<chrono::Utc>,
    observe: &mut dyn FnMut(Event),
) -> std::result::Result<NightlyRun, Failed> {
    let started = Instant::now();
    let s = &ctx.settings;
    let _lock = lock_file(&s.mart_dir, ".nightly.lock", |path, holder| {
        Error::Running { path, holder }
    })?;
    let run_id = format!(
        "nightly-{}-{}",
        now.format("%Y%m%dT%H%M%SZ"),
        std::process::id()
    );
    let mut log = RunLog::open(plan.log_path.clone())?;
    let mart = ctx.mart();
    for (k, (stage, what)) in plan.steps.iter().enumerate() {
        let stage = *stage;
        observe(Event::Starting {
            k: k + 1,
            stage,
            what,
        });
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let t = Instant::now();
        reset_peak_rss();
        let result = run_stage(ctx, stage, plan.retrain_why.is_some(), p.progress);
        let peak_rss_mb = peak_rss_mb();
        let rows = row_counts(ctx, &mart, stage);
        let elapsed = t.elapsed().as_secs_f64();
        let error = match &result {
            Ok(_) => serde_json::Value::Null,
            Err(e) => (p.error_text)(e).into(),
        };
        // After the load: are the sources still arriving?
        let warning = if stage == Stage::Etl && result.is_ok() {
            staleness(ctx, &mart)?
        } else {
            None
        };
        if let Some(w) = &warning {
            observe(Event::Warning(w));
        }
        let status = if result.is_ok() { "ok" } else { "failed" };
        let mut line = serde_json::json!({
            "run_id": run_id, "stage": stage.as_str(), "started_at": at,
            "elapsed_s": millis(elapsed), "status": status, "rows": rows,
            "peak_rss_mb": peak_rss_mb, "error": error, "warning": warning,
        });
        add_report(&mut line, &result);
        log.line(line)?;
        match result {
            Ok(report) => observe(Event::Finished {
                stage,
                report: &report,
                seconds: elapsed,
            }),
            Err(e) => {
                log.line(closing(&run_id, Some(stage), started))?;
                return Err(Failed {
                    stage: Some(stage),
                    error: e,
                });
            }
        }
    }
    log.line(closing(&run_id, None, started))?;
    Ok(NightlyRun {
        run_id,
        seconds: started.elapsed().as_secs_f64(),
        log_path: plan.log_path.clone(),
    })
}

/// The run's closing line: ok, or failed at `failed`.
fn closing(run_id: &str, failed: Option<Stage>, started: Instant) -> serde_json::Value {
    let mut line = serde_json::json!({
        "run_id": run_id, "stage": "run", "status": if failed.is_some() { "failed" } else { "ok" },
        "elapsed_s": millis(started.elapsed().as_secs_f64()),
    });
    if let Some(s) = failed {
        line["failed_stage"] = s.as_str().into();
    }
    line
}

/// Adds what a stage's report says besides its status to its run-log line: the ETL batch
/// loaded, and the report's note (a model not promoted, the maintenance's numbers).
fn add_report(line: &mut serde_json::Value, result: &Result<StageReport>) {
    let batch = match result {
        Ok(StageReport::Etl(r)) => r
            .batch_id
            .as_ref()
            .map(|b| serde_json::json!({"batch_id": b, "seq": r.seq})),
        _ => None,
    };
    line["batch"] = serde_json::json!(batch);
    line["note"] = serde_json::json!(result.as_ref().ok().and_then(StageReport::note));
}

/// The warning when no new source file arrived for longer than `[quality] stale_after_days`.
fn staleness(ctx: &Ctx, mart: &crate::mart::delta::Mart) -> Result<Option<String>> {
    let last = ctx.block_on(crate::etl::last_batch_at(mart))?;
    Ok(crate::etl::stale_warning(
        last,
        chrono::Utc::now(),
        ctx.settings.quality.stale_after_days,
    ))
}

/// The rows of each table `stage` writes, as the run log records them.
fn row_counts(
    ctx: &Ctx,
    mart: &crate::mart::delta::Mart,
    stage: Stage,
) -> serde_json::Map<String, serde_json::Value> {
    let mut rows = serde_json::Map::new();
    for table in stage.tables() {
        if let Ok(Some(n)) = ctx.block_on(mart.row_count(*table)) {
            rows.insert(table.name().to_string(), n.into());
        }
    }
    rows
}

/// An error with its causes, as `error: cause: cause`.
pub fn error_chain(e: &Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// The run log: one JSON object per line, appended.
struct RunLog {
    path: PathBuf,
    file: std::fs::File,
}

impl RunLog {
    fn open(path: PathBuf) -> Result<RunLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(RunLog { path, file })
    }

    fn line(&mut self, v: serde_json::Value) -> Result<()> {
        writeln!(self.file, "{v}").map_err(|e| Error::io(&self.path, e))
    }
}

/// Starts a new peak of this process's resident memory (Linux: `/proc/self/clear_refs`; elsewhere
/// nothing happens and the peak is the process's).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory of this process since the last [`reset_peak_rss`], in MB (Linux
/// `VmHWM`; `null` in the run log where unknown).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}
