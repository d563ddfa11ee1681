//! Running one query (ad hoc, from a file, or named) over the mart, optionally at an earlier
//! version and with attached files, to the terminal or a file.

use super::Ctx;
use crate::error::{Error, Result};
use crate::mart::catalog::{self, Attachment};
use crate::mart::engine::EngineSpec;
use crate::query::output::{self, OutputOptions, Written};
use crate::query::{self, Prepared};

/// A query and where its result goes.
pub struct QueryParams {
    /// The prepared statement.
    pub prepared: Prepared,
    /// The engine (default: the configured one).
    pub engine: Option<EngineSpec>,
    /// The mart version to read (default: the latest).
    pub as_of_version: Option<i64>,
    /// Files registered as tables beside the mart's.
    pub attachments: Vec<Attachment>,
    /// Print the plan instead of running it.
    pub explain: bool,
    /// The output.
    pub output: OutputOptions,
}

/// What a query produced.
pub enum QueryRun {
    /// The plan (`explain`).
    Explained(String),
    /// The result, written.
    Written(Written),
}

/// Plans and runs the query, and writes its result (or returns its plan).
pub fn run_query(ctx: &Ctx, p: &QueryParams) -> Result<QueryRun> {
    let engine = p.engine.as_ref().unwrap_or(&ctx.settings.engine);
    ctx.block_on(async {
        let mart = ctx.mart();
        // Only the tables the statement reads are opened (each costs a read of its Delta log).
        let read = query::tables_read(&p.prepared.sql);
        let mut cat = catalog::open_only(
            engine,
            &mart,
            p.as_of_version,
            &p.attachments,
            read.as_deref(),
        )
        .await?;
        // The run log is read into this process's memory, so only for a statement that names it
        // (not on every query's start-up); a distributed engine's executors could not read it.
        let names_runs = read
            .as_ref()
            .is_none_or(|r| r.iter().any(|t| t.as_str() == super::runs::RUNS_TABLE));
        if !engine.is_distributed() && names_runs {
            super::runs::register_log(&mut cat, &ctx.settings.nightly_log)?;
        }
        let label = &p.prepared.label;
        let df = query::plan(&cat, &p.prepared).await?;
        if p.explain {
            return Ok(QueryRun::Explained(query::explain(&cat, label, df).await?));
        }
        let stream = df
            .execute_stream()
            .await
            .map_err(|e| query::query_error(&cat, label, e))?;
        match output::write(stream, &p.output).await {
            Ok(w) => Ok(QueryRun::Written(w)),
            Err(Error::DataFusion(e)) => Err(query::query_error(&cat, label, e)),
            Err(e) => Err(e),
        }
    })
}
