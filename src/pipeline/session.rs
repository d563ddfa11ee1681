//! A SQL session over the mart for the shell: the tables opened once (their Delta snapshots
//! reused by every statement) and reopened on request, statements planned read-only as
//! `crm-mart query` plans them.

use std::io::Write;

use arrow::datatypes::SchemaRef;

use super::Ctx;
use crate::error::{Error, Result};
use crate::mart::catalog::{self, Attachment, Catalog, TableInfo};
use crate::mart::engine::EngineSpec;
use crate::query::output::{self, OutputOptions, Written};
use crate::query::{self, Prepared};

/// An open session.
pub struct Session {
    catalog: Catalog,
    engine: EngineSpec,
    attachments: Vec<Attachment>,
}

/// Opens a session on `engine` (default: the configured one) with the mart's tables at their
/// latest versions, the `attachments` and the run log.
pub fn open_session(
    ctx: &Ctx,
    engine: Option<EngineSpec>,
    attachments: Vec<Attachment>,
) -> Result<Session> {
    let engine = engine.unwrap_or_else(|| ctx.settings.engine.clone());
    let catalog = open_catalog(ctx, &engine, &attachments)?;
    Ok(Session {
        catalog,
        engine,
        attachments,
    })
}

fn open_catalog(ctx: &Ctx, engine: &EngineSpec, attachments: &[Attachment]) -> Result<Catalog> {
    let mut cat = ctx.block_on(catalog::open(engine, &ctx.mart(), None, attachments))?;
    if !engine.is_distributed() {
        super::runs::register_log(&mut cat, &ctx.settings.nightly_log)?;
    }
    Ok(cat)
}

impl Session {
    /// Reopens every table at its latest version (after an ETL or nightly run committed).
    pub fn refresh(&mut self, ctx: &Ctx) -> Result<()> {
        self.catalog = open_catalog(ctx, &self.engine, &self.attachments)?;
        Ok(())
    }

    /// The registered tables, mart tables first.
    pub fn tables(&self) -> &[TableInfo] {
        &self.catalog.tables
    }

    /// The ETL batch the mart's tables show (None for an empty mart).
    pub fn mart_version(&self) -> Option<i64> {
        self.catalog.mart_version
    }

    /// The columns of table `name`.
    pub fn schema(&self, ctx: &Ctx, name: &str) -> Result<SchemaRef> {
        ctx.block_on(async {
            match self.catalog.ctx.table_provider(name).await {
                Ok(t) => Ok(t.schema()),
                Err(_) => Err(Error::query(format!(
                    "no table '{name}'; the tables are: {}",
                    self.catalog.table_names().join(", ")
                ))),
            }
        })
    }

    /// Plans and runs `p`, writing its result into `out` as `opts` says.
    pub fn run(
        &self,
        ctx: &Ctx,
        p: &Prepared,
        opts: &OutputOptions,
        out: Box<dyn Write + Send>,
    ) -> Result<Written> {
        let cat = &self.catalog;
        ctx.block_on(async {
            let df = query::plan(cat, p).await?;
            let stream = df
                .execute_stream()
                .await
                .map_err(|e| query::query_error(cat, &p.label, e))?;
            match output::write_to(stream, opts, out).await {
                Err(Error::DataFusion(e)) => Err(query::query_error(cat, &p.label, e)),
                r => r,
            }
        })
    }
}
