//! The catalog: every mart table registered in a DataFusion session under its contract name,
//! at the current version or as the mart was after an earlier ETL batch (time travel), plus any
//! external Parquet / CSV / Delta paths the user attaches.
//!
//! A *mart version* is the sequence number (`seq` in `_etl_runs`) of an ETL batch: the mart
//! "as of version N" is every table as it was when batch N had been committed. ETL tables are
//! found exactly by the batch number each of their commits carries (the Delta application
//! transaction); tables written by later stages are taken as they were when batch N + 1 started.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::Int64Array;
use arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::view::ViewTable;
use datafusion::datasource::TableProvider;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};
use deltalake::DeltaTable;

use super::delta::Mart;

mod stats;
mod time_travel;
use super::engine::{self, EngineSpec};
use super::schema::MartTable;
use crate::error::{Error, Result};
use time_travel::{etl_batches, load, mart_version, table_as_of};

/// An external table named on the command line: `NAME=PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The name it is queried by.
    pub name: String,
    /// A Delta table directory, a Parquet file or directory, or a CSV file or directory.
    pub path: PathBuf,
}

impl FromStr for Attachment {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let Some((name, path)) = s.split_once('=') else {
            return Err(Error::params(
                "table",
                format!(
                    "'{s}' has no '='; use NAME=PATH, e.g. {} targets=targets.csv",
                    crate::error::param("table")
                ),
            ));
        };
        if !is_identifier(name) {
            return Err(Error::params(
                "table",
                format!(
                    "name '{name}' is not a plain SQL name; use lower-case letters, digits and _ (starting with a letter or _)"
                ),
            ));
        }
        if path.is_empty() {
            return Err(Error::params("table", format!("{name}= has no path")));
        }
        Ok(Attachment {
            name: name.to_string(),
            path: PathBuf::from(path),
        })
    }
}

/// Whether `s` is a lower-case SQL identifier that needs no quoting.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Where a registered table's rows come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableSource {
    /// A Delta table (mart table or attachment) at a version.
    Delta {
        /// The Delta version read.
        version: i64,
    },
    /// Parquet files.
    Parquet,
    /// CSV files with a header line.
    Csv,
    /// The nightly run log (JSON lines), read into memory.
    RunLog,
}

/// One registered table.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// Name in SQL.
    pub name: String,
    /// Its location.
    pub path: PathBuf,
    /// Its format and version.
    pub source: TableSource,
    /// Whether it was attached with `--table` (rather than being a mart table).
    pub attached: bool,
}

/// A session with the mart registered.
pub struct Catalog {
    /// The DataFusion session holding the tables.
    pub ctx: SessionContext,
    /// What is registered, mart tables first, sorted by name.
    pub tables: Vec<TableInfo>,
    /// The mart version (ETL batch number) the tables show; None for an empty mart.
    pub mart_version: Option<i64>,
    /// Model outputs left out because their version at the requested batch was vacuumed:
    /// (table, the reason).
    pub unavailable: Vec<(String, String)>,
    /// Every table of the mart, registered or not ([`open_only`] registers those a statement
    /// names).
    pub mart_tables: Vec<String>,
}

impl Catalog {
    /// Names of the tables a statement can read: the mart's and the attached ones.
    pub fn table_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.mart_tables.iter().map(String::as_str).collect();
        for t in &self.tables {
            if !names.contains(&t.name.as_str()) {
                names.push(&t.name);
            }
        }
        names
    }
}

/// Registers every table of `mart` (at `as_of`, a batch number, or the latest) and every
/// attachment in a new session on `engine`.
pub async fn open(
    engine: &EngineSpec,
    mart: &Mart,
    as_of: Option<i64>,
    attachments: &[Attachment],
) -> Result<Catalog> {
    open_only(engine, mart, as_of, attachments, None).await
}

/// [`open`], registering of the mart's tables only those in `only` (when given): each Delta
/// snapshot costs a read of its log, and a statement that names two tables need not pay for
/// sixteen.
pub async fn open_only(
    engine: &EngineSpec,
    mart: &Mart,
    as_of: Option<i64>,
    attachments: &[Attachment],
    only: Option<&[String]>,
) -> Result<Catalog> {
    let root = mart.root();
    if !root.is_dir() {
        return Err(Error::usage(format!(
            "mart {} does not exist; load one with `crm-mart etl`, or point {} at one",
            root.display(),
            crate::error::param("mart")
        )));
    }
    let ctx = engine::session(engine).await?;
    let names = table_names(root)?;
    let batches = etl_batches(mart).await?;
    let mart_version = mart_version(&batches, as_of, root)?;
    // Tables not written by the ETL are cut at the start of the next batch.
    let cut = as_of.and_then(|n| batches.iter().find(|b| b.0 > n).map(|b| b.1));

    let mut tables = Vec::new();
    let mut unavailable = Vec::new();
    for name in &names {
        if only.is_some_and(|o| !o.contains(name)) {
            continue;
        }
        let dir = mart.table_dir(name);
        let table = match as_of {
            None => Some(load(&dir, None).await?),
            Some(n) => match table_as_of(mart, name, &batches, n, cut).await {
                Ok(t) => t,
                // A model output past its shorter window: the facts of batch n are still
                // readable; a statement that names the table is told why it is missing.
                Err(e) if MartTable::from_name(name).is_some_and(MartTable::is_model_output) => {
                    let why = match e {
                        Error::Params { field, why } => {
                            format!("{} {why}", crate::error::param(field))
                        }
                        e => e.to_string(),
                    };
                    unavailable.push((name.clone(), why));
                    None
                }
                Err(e) => return Err(e),
            },
        };
        let Some(table) = table else { continue };
        let version = table.version().unwrap_or_default() as i64;
        register_delta(&ctx, name, &table, engine.is_distributed()).await?;
        tables.push(TableInfo {
            name: name.clone(),
            path: dir,
            source: TableSource::Delta { version },
            attached: false,
        });
    }
    attach_all(
        &ctx,
        &mut tables,
        &names,
        attachments,
        engine.is_distributed(),
    )
    .await?;
    Ok(Catalog {
        ctx,
        tables,
        mart_version,
        unavailable,
        mart_tables: names,
    })
}

/// The mart's tables: directories of `root` with a Delta log and an identifier for a name, sorted.
fn table_names(root: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .map_err(|e| Error::io(root, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("_delta_log").is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| is_identifier(n))
        .collect();
    names.sort();
    Ok(names)
}

/// Registers the attachments after the mart's tables, refusing a name already taken.
async fn attach_all(
    ctx: &SessionContext,
    tables: &mut Vec<TableInfo>,
    mart_tables: &[String],
    attachments: &[Attachment],
    distributed: bool,
) -> Result<()> {
    for a in attachments {
        // A mart table the statement does not read is still taken.
        if mart_tables.contains(&a.name) || tables.iter().any(|t| t.name == a.name) {
            return Err(Error::params(
                "table",
                format!(
                    "{}: a table of that name is already registered; choose another name",
                    a.name
                ),
            ));
        }
        let source = attach(ctx, a, distributed).await?;
        tables.push(TableInfo {
            name: a.name.clone(),
            path: a.path.clone(),
            source,
            attached: true,
        });
    }
    Ok(())
}

/// Registers a Delta table. Locally that is delta-rs' own provider with the column statistics of
/// its log (`stats`: so joins are estimated from the keys' ranges); on a distributed engine it is
/// a view over plain Parquet listing tables of exactly the files of the loaded version (one per
/// partition, the partition value as a constant column), which any Ballista scheduler and
/// executor can serialise and read without knowing Delta.
async fn register_delta(
    ctx: &SessionContext,
    name: &str,
    table: &DeltaTable,
    distributed: bool,
) -> Result<()> {
    table.update_datafusion_session(&ctx.state())?;
    let provider: Arc<dyn TableProvider> = table.table_provider().await?;
    if distributed {
        let view = files_view(ctx, name, table, provider.schema())?;
        ctx.register_table(name, Arc::new(view))?;
    } else {
        let stats = stats::statistics(table, &provider.schema())?;
        ctx.register_table(
            name,
            Arc::new(stats::StatsTable {
                inner: provider,
                stats,
            }),
        )?;
    }
    Ok(())
}

/// The Parquet files of `table`'s loaded version grouped by their partition values (in
/// partition-column order).
fn partition_groups(
    name: &str,
    table: &DeltaTable,
    partition_cols: &[String],
) -> Result<std::collections::BTreeMap<Vec<Option<String>>, Vec<ListingTableUrl>>> {
    let mut root = table.table_url().clone();
    if !root.path().ends_with('/') {
        root.set_path(&format!("{}/", root.path()));
    }
    let mut groups: std::collections::BTreeMap<_, Vec<ListingTableUrl>> = Default::default();
    for file in table.snapshot()?.log_data().iter() {
        let values = file.partition_values_map();
        let key = partition_cols
            .iter()
            .map(|c| values.get(c).cloned().flatten())
            .collect();
        let url = root.join(&file.path()).map_err(|e| {
            Error::usage(format!(
                "table {name}: file {} has no URL: {e}",
                file.path()
            ))
        })?;
        groups
            .entry(key)
            .or_default()
            .push(ListingTableUrl::parse(url.as_str())?);
    }
    Ok(groups)
}

/// The columns of `schema` over one partition's files: file columns as they are, partition
/// columns as the partition's values.
fn partition_columns(
    schema: &SchemaRef,
    partition_cols: &[String],
    values: &[Option<String>],
) -> Result<Vec<datafusion::logical_expr::Expr>> {
    use datafusion::logical_expr::lit;
    use datafusion::prelude::col;
    use datafusion::scalar::ScalarValue;
    let mut exprs = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        match partition_cols.iter().position(|c| c == f.name()) {
            Some(i) => {
                let v = match &values[i] {
                    Some(text) => ScalarValue::try_from_string(text.clone(), f.data_type())?,
                    None => ScalarValue::try_from(f.data_type())?,
                };
                exprs.push(lit(v).alias(f.name()));
            }
            None => exprs.push(col(format!("\"{}\"", f.name()))),
        }
    }
    Ok(exprs)
}

/// An empty plan with `schema`'s columns: typed NULLs filtered away.
fn empty_plan(schema: &SchemaRef) -> Result<datafusion::logical_expr::LogicalPlan> {
    use datafusion::logical_expr::{LogicalPlanBuilder, lit};
    use datafusion::scalar::ScalarValue;
    Ok(LogicalPlanBuilder::empty(true)
        .project(
            schema
                .fields()
                .iter()
                .map(|f| Ok(lit(ScalarValue::try_from(f.data_type())?).alias(f.name())))
                .collect::<Result<Vec<_>>>()?,
        )?
        .filter(lit(false))?
        .build()?)
}

/// The rows of `table`'s loaded version as a view over its Parquet files, with the columns,
/// order and types of `schema` (what the Delta provider shows).
fn files_view(
    ctx: &SessionContext,
    name: &str,
    table: &DeltaTable,
    schema: SchemaRef,
) -> Result<ViewTable> {
    use datafusion::datasource::file_format::parquet::ParquetFormat;
    use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig};
    use datafusion::logical_expr::LogicalPlanBuilder;

    let partition_cols: Vec<String> = table.snapshot()?.metadata().partition_columns().to_vec();
    let file_schema = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| !partition_cols.contains(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    ));
    let format =
        ParquetFormat::default().with_options(ctx.state().default_table_options().parquet.clone());
    let options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
    let mut plan: Option<LogicalPlanBuilder> = None;
    for (values, urls) in partition_groups(name, table, &partition_cols)? {
        let listing = ListingTable::try_new(
            ListingTableConfig::new_with_multi_paths(urls)
                .with_listing_options(options.clone())
                .with_schema(file_schema.clone()),
        )?;
        let part = LogicalPlanBuilder::scan(
            format!("{name}_files"),
            datafusion::datasource::provider_as_source(Arc::new(listing)),
            None,
        )?
        .project(partition_columns(&schema, &partition_cols, &values)?)?;
        plan = Some(match plan {
            None => part,
            Some(p) => p.union(part.build()?)?,
        });
    }
    let plan = match plan {
        Some(p) => p.build()?,
        // No files: the view still has the table's schema.
        None => empty_plan(&schema)?,
    };
    Ok(ViewTable::new(plan, None))
}

async fn attach(ctx: &SessionContext, a: &Attachment, distributed: bool) -> Result<TableSource> {
    let p = &a.path;
    if !p.exists() {
        return Err(Error::params(
            "table",
            format!("{}={}: no such file or directory", a.name, p.display()),
        ));
    }
    let bad = |what: String| Error::params("table", format!("{}={}: {what}", a.name, p.display()));
    if p.join("_delta_log").is_dir() {
        let table = load(p, None)
            .await
            .map_err(|e| bad(format!("not a readable Delta table: {e}")))?;
        let version = table.version().unwrap_or_default() as i64;
        register_delta(ctx, &a.name, &table, distributed).await?;
        return Ok(TableSource::Delta { version });
    }
    let ext = if p.is_dir() {
        dir_extension(p)?
    } else {
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default()
    };
    let path = p.to_string_lossy();
    match ext.as_str() {
        "parquet" => {
            ctx.register_parquet(&a.name, path.as_ref(), ParquetReadOptions::default())
                .await
                .map_err(|e| bad(format!("not readable as Parquet: {e}")))?;
            Ok(TableSource::Parquet)
        }
        "csv" => {
            ctx.register_csv(
                &a.name,
                path.as_ref(),
                CsvReadOptions::new().has_header(true),
            )
            .await
            .map_err(|e| bad(format!("not readable as CSV: {e}")))?;
            Ok(TableSource::Csv)
        }
        _ => Err(bad(
            "is neither a Delta table, nor .parquet, nor .csv (file or directory of them)".into(),
        )),
    }
}

/// The one extension of the data files in directory `dir`.
fn dir_extension(dir: &Path) -> Result<String> {
    let mut exts: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.path()
                .extension()
                .and_then(|x| x.to_str())
                .map(str::to_ascii_lowercase)
        })
        .filter(|x| x == "parquet" || x == "csv")
        .collect();
    exts.sort();
    exts.dedup();
    Ok(exts.pop().unwrap_or_default())
}

/// Row count of an Int64 column (used by tests and callers that need a scalar).
pub fn first_i64(batches: &[arrow::record_batch::RecordBatch]) -> Option<i64> {
    batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| b.column(0).as_any().downcast_ref::<Int64Array>())
        .map(|a| a.value(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_parse() {
        let a: Attachment = "targets=data/t.csv".parse().unwrap();
        assert_eq!(a.name, "targets");
        assert_eq!(a.path, PathBuf::from("data/t.csv"));
        for bad in [
            "targets",
            "=x.csv",
            "Bad=x.csv",
            "a b=x.csv",
            "t;drop=x",
            "x=",
        ] {
            assert!(bad.parse::<Attachment>().is_err(), "{bad}");
        }
    }
}
