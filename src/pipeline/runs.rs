//! Run history: the nightly run log (`[nightly] log`, JSON lines) read back as runs, joined with
//! the ETL batch each run loaded (`_etl_runs`), and the log as the SQL table `_runs`.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use serde::Deserialize;

use super::Ctx;
use crate::error::{Error, Result};
use crate::mart::catalog::{Catalog, TableInfo, TableSource};

/// The name the run log is queried by.
pub const RUNS_TABLE: &str = "_runs";

/// One line of the run log.
#[derive(Debug, Clone, Deserialize)]
pub struct LogLine {
    /// The run.
    pub run_id: String,
    /// A stage, or `run` for the run's closing line.
    pub stage: String,
    /// When the stage started (RFC 3339); absent on the closing line.
    #[serde(default)]
    pub started_at: Option<String>,
    /// Seconds the stage (or, on the closing line, the run) took.
    #[serde(default)]
    pub elapsed_s: Option<f64>,
    /// `ok` or `failed`.
    pub status: String,
    /// Rows of the tables the stage writes, after it.
    #[serde(default)]
    pub rows: Option<serde_json::Value>,
    /// Peak resident memory of the stage, MB.
    #[serde(default)]
    pub peak_rss_mb: Option<f64>,
    /// Why the stage failed.
    #[serde(default)]
    pub error: Option<String>,
    /// A warning (stale sources).
    #[serde(default)]
    pub warning: Option<String>,
    /// The ETL batch loaded: `{"batch_id": …, "seq": …}`.
    #[serde(default)]
    pub batch: Option<serde_json::Value>,
    /// What else the stage reported (a model not promoted, the maintenance's numbers).
    #[serde(default)]
    pub note: Option<String>,
    /// On a failed run's closing line: the stage that failed.
    #[serde(default)]
    pub failed_stage: Option<String>,
}

/// One nightly run.
#[derive(Debug, Clone)]
pub struct Run {
    /// Its id.
    pub run_id: String,
    /// When its first stage started.
    pub started_at: String,
    /// `ok`, `failed`, or `running` (no closing line yet: running, or killed).
    pub status: String,
    /// Wall time, seconds (of the stages logged when the run did not close).
    pub seconds: f64,
    /// Its stages' lines, in order.
    pub stages: Vec<LogLine>,
    /// The ETL batch it loaded: (batch id, seq).
    pub batch: Option<(String, i64)>,
}

impl Run {
    /// Warnings of its stages.
    pub fn warnings(&self) -> Vec<&str> {
        self.stages
            .iter()
            .filter_map(|s| s.warning.as_deref())
            .collect()
    }
}

/// Reads the run log at `path` (none when it does not exist yet). A line that is not a log line
/// is an error naming the file and line.
pub fn read_log(path: &Path) -> Result<Vec<LogLine>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut lines = Vec::new();
    for (k, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: LogLine = serde_json::from_str(line).map_err(|e| {
            Error::source(
                path,
                format!(
                    "line {}: not a run-log line ({e}); the run log holds one JSON object per line as `crm-mart nightly` writes them",
                    k + 1
                ),
            )
        })?;
        lines.push(parsed);
    }
    Ok(lines)
}

/// The runs of `lines`, oldest first.
pub fn runs_of(lines: Vec<LogLine>) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for line in lines {
        let k = match runs.iter().position(|r| r.run_id == line.run_id) {
            Some(k) => k,
            None => {
                runs.push(Run {
                    run_id: line.run_id.clone(),
                    started_at: line.started_at.clone().unwrap_or_default(),
                    status: "running".into(),
                    seconds: 0.0,
                    stages: Vec::new(),
                    batch: None,
                });
                runs.len() - 1
            }
        };
        let run = &mut runs[k];
        if line.stage == "run" {
            run.status = line.status.clone();
            run.seconds = line.elapsed_s.unwrap_or(run.seconds);
            continue;
        }
        if let Some(b) = &line.batch
            && let (Some(id), Some(seq)) = (b["batch_id"].as_str(), b["seq"].as_i64())
        {
            run.batch = Some((id.to_string(), seq));
        }
        if run.status == "running" {
            run.seconds += line.elapsed_s.unwrap_or(0.0);
        }
        run.stages.push(line);
    }
    runs
}

/// The nightly runs of the configured run log, oldest first.
pub fn runs(ctx: &Ctx) -> Result<Vec<Run>> {
    Ok(runs_of(read_log(&ctx.settings.nightly_log)?))
}

/// Run `run_id` (or an error listing the latest ones).
pub fn run(ctx: &Ctx, run_id: &str) -> Result<Run> {
    let all = runs(ctx)?;
    let latest: Vec<&str> = all
        .iter()
        .rev()
        .take(5)
        .map(|r| r.run_id.as_str())
        .collect();
    all.iter()
        .find(|r| r.run_id == run_id)
        .cloned()
        .ok_or_else(|| {
            Error::usage(format!(
                "{run_id}: no such run in {}; the latest are: {}",
                ctx.settings.nightly_log.display(),
                if latest.is_empty() {
                    "none (no nightly run yet)".to_string()
                } else {
                    latest.join(", ")
                }
            ))
        })
}

/// Per entity of the ETL batch run `r` loaded: (entity, rows read, loaded, quarantined,
/// updated), from `_etl_runs`.
pub fn batch_rows(ctx: &Ctx, r: &Run) -> Result<Vec<crate::mart::EntityRows>> {
    let Some((_, seq)) = &r.batch else {
        return Ok(Vec::new());
    };
    ctx.block_on(ctx.mart().batch_rows(*seq))
}

/// The run log as a batch: one row per line, rows as JSON text.
fn log_batch(lines: &[LogLine]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&LogLine) -> Option<String>| -> ArrayRef {
        Arc::new(lines.iter().map(f).collect::<StringArray>())
    };
    let num = |f: &dyn Fn(&LogLine) -> Option<f64>| -> ArrayRef {
        Arc::new(lines.iter().map(f).collect::<Float64Array>())
    };
    let fields = [
        "run_id",
        "stage",
        "started_at",
        "status",
        "elapsed_s",
        "peak_rss_mb",
        "rows",
        "batch_id",
        "error",
        "warning",
        "note",
    ];
    let schema = Schema::new(
        fields
            .iter()
            .map(|n| {
                let dt = if n.ends_with("_s") || n.ends_with("_mb") {
                    DataType::Float64
                } else {
                    DataType::Utf8
                };
                Field::new(*n, dt, true)
            })
            .collect::<Vec<_>>(),
    );
    let columns = vec![
        text(&|l| Some(l.run_id.clone())),
        text(&|l| Some(l.stage.clone())),
        text(&|l| l.started_at.clone()),
        text(&|l| Some(l.status.clone())),
        num(&|l| l.elapsed_s),
        num(&|l| l.peak_rss_mb),
        text(&|l| l.rows.as_ref().map(|r| r.to_string())),
        text(&|l| {
            l.batch
                .as_ref()
                .and_then(|b| b["batch_id"].as_str().map(str::to_string))
        }),
        text(&|l| l.error.clone().or_else(|| l.failed_stage.clone())),
        text(&|l| l.warning.clone()),
        text(&|l| l.note.clone()),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

/// Registers the run log at `path` as table [`RUNS_TABLE`] of `catalog`, unless a table of that
/// name is registered already or there is no log.
pub fn register_log(catalog: &mut Catalog, path: &Path) -> Result<()> {
    if catalog.tables.iter().any(|t| t.name == RUNS_TABLE) || !path.is_file() {
        return Ok(());
    }
    let batch = log_batch(&read_log(path)?)?;
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    catalog.ctx.register_table(RUNS_TABLE, Arc::new(table))?;
    catalog.tables.push(TableInfo {
        name: RUNS_TABLE.to_string(),
        path: path.to_path_buf(),
        source: TableSource::RunLog,
        attached: true,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_group_into_runs_with_their_batch_and_status() {
        let log = [
            r#"{"run_id":"a","stage":"etl","started_at":"2026-01-01T02:00:00Z","elapsed_s":2.5,"status":"ok","batch":{"batch_id":"b1","seq":1}}"#,
            r#"{"run_id":"a","stage":"segment","started_at":"2026-01-01T02:00:03Z","elapsed_s":1.0,"status":"ok","warning":"stale"}"#,
            r#"{"run_id":"a","stage":"run","status":"ok","elapsed_s":3.75}"#,
            r#"{"run_id":"b","stage":"etl","started_at":"2026-01-02T02:00:00Z","elapsed_s":0.5,"status":"failed","error":"boom"}"#,
            r#"{"run_id":"b","stage":"run","status":"failed","failed_stage":"etl","elapsed_s":0.6}"#,
            r#"{"run_id":"c","stage":"etl","started_at":"2026-01-03T02:00:00Z","elapsed_s":1.5,"status":"ok"}"#,
        ];
        let lines: Vec<LogLine> = log
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let runs = runs_of(lines.clone());
        let summary: Vec<(&str, &str, f64, usize)> = runs
            .iter()
            .map(|r| {
                (
                    r.run_id.as_str(),
                    r.status.as_str(),
                    r.seconds,
                    r.stages.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("a", "ok", 3.75, 2),
                ("b", "failed", 0.6, 1),
                ("c", "running", 1.5, 1)
            ]
        );
        assert_eq!(runs[0].batch, Some(("b1".to_string(), 1)));
        assert_eq!(runs[0].warnings(), vec!["stale"]);
        let b = log_batch(&lines).unwrap();
        assert_eq!((b.num_rows(), b.num_columns()), (6, 11));
    }

    #[test]
    fn a_line_that_is_not_a_log_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nightly.jsonl");
        std::fs::write(
            &p,
            "{\"run_id\":\"a\",\"stage\":\"run\",\"status\":\"ok\"}\nnot json\n",
        )
        .unwrap();
        let e = read_log(&p).unwrap_err().to_string();
        assert!(e.contains("nightly.jsonl") && e.contains("line 2"), "{e}");
    }
}
