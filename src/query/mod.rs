//! Questions to the mart: ad-hoc SQL, SQL files and named queries with typed parameters, run on
//! a [`Catalog`](crate::mart::catalog::Catalog) and written in the format asked for.
//!
//! Statements are planned read-only: DDL, DML and `SET` are refused, so a query can never change
//! the session or the mart.

pub mod named;
pub mod output;
pub mod params;
pub mod script;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::mart::catalog::Catalog;
use named::NamedQuery;

/// The SQL to run.
#[derive(Debug, Clone)]
pub enum QueryText {
    /// SQL given on the command line.
    Adhoc(String),
    /// A file of SQL, optionally with a named-query header declaring parameters.
    File(PathBuf),
    /// A named query.
    Named(String),
}

/// A query with its parameters resolved and bound.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// What to call it in messages.
    pub label: String,
    /// The SQL text.
    pub sql: String,
    /// Bound parameter values.
    pub values: HashMap<String, ScalarValue>,
}

/// Resolves `text` (looking named queries up in the built-ins and `queries_dir`) and binds
/// `params` (`key=value`) to its declared parameters.
pub fn prepare(
    text: &QueryText,
    queries_dir: Option<&Path>,
    params: &[String],
) -> Result<Prepared> {
    let q: NamedQuery = match text {
        QueryText::Adhoc(sql) => {
            if !params.is_empty() {
                return Err(Error::params(
                    "param",
                    format!(
                        "needs a named query ({}) or a SQL file ({}) whose header declares its parameters",
                        crate::error::param("name"),
                        crate::error::param("file")
                    ),
                ));
            }
            NamedQuery {
                name: "query".into(),
                description: String::new(),
                params: Vec::new(),
                sql: sql.clone(),
                origin: "command line".into(),
            }
        }
        QueryText::File(path) => named::load_file(path)?,
        QueryText::Named(name) => {
            let all = named::all(queries_dir)?;
            match all.iter().find(|q| &q.name == name) {
                Some(q) => q.clone(),
                None => {
                    return Err(Error::usage(format!(
                        "no named query '{name}'; the named queries are: {} (crm-mart query --list describes them)",
                        all.iter()
                            .map(|q| q.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
    };
    let values = params::bind(&q.name, &q.params, params)?;
    Ok(Prepared {
        label: q.name,
        sql: q.sql,
        values,
    })
}

/// A built-in named query with the given parameter values (the rest at their defaults is not
/// supported: library callers bind every parameter they use).
pub fn builtin(name: &str, values: HashMap<String, ScalarValue>) -> Result<Prepared> {
    let q = named::all(None)?
        .into_iter()
        .find(|q| q.name == name)
        .ok_or_else(|| Error::Invariant(format!("built-in query {name} missing")))?;
    Ok(Prepared {
        label: q.name,
        sql: q.sql,
        values,
    })
}

/// The tables statement `sql` reads (names as written, common table expressions left out), or
/// None when every table should be registered: the statement does not parse (the planner then
/// reports it as usual) or it reads `information_schema`, which lists what is registered.
pub fn tables_read(sql: &str) -> Option<Vec<String>> {
    let state = datafusion::prelude::SessionContext::new().state();
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state.sql_to_statement(sql, &dialect).ok()?;
    let refs = state.resolve_table_references(&statement).ok()?;
    if refs.iter().any(|r| {
        r.schema()
            .is_some_and(|s| s.eq_ignore_ascii_case("information_schema"))
    }) {
        return None;
    }
    let mut names: Vec<String> = refs.iter().map(|r| r.table().to_string()).collect();
    names.sort();
    names.dedup();
    Some(names)
}

/// Plans and runs `p`, collecting the result; errors name the query.
pub async fn collect(
    catalog: &Catalog,
    p: &Prepared,
) -> Result<Vec<arrow::record_batch::RecordBatch>> {
    plan(catalog, p)
        .await?
        .collect()
        .await
        .map_err(|e| query_error(catalog, &p.label, e))
}

/// Plans `p` on `catalog` (read-only), with its parameters bound.
pub async fn plan(catalog: &Catalog, p: &Prepared) -> Result<DataFrame> {
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = catalog
        .ctx
        .sql_with_options(&p.sql, options)
        .await
        .map_err(|e| query_error(catalog, &p.label, e))?;
    if p.values.is_empty() {
        return Ok(df);
    }
    df.with_param_values(p.values.clone())
        .map_err(|e| query_error(catalog, &p.label, e))
}

/// The plan of `df` as text (logical and physical).
pub async fn explain(catalog: &Catalog, label: &str, df: DataFrame) -> Result<String> {
    let batches = df
        .explain(false, false)
        .map_err(|e| query_error(catalog, label, e))?
        .collect()
        .await
        .map_err(|e| query_error(catalog, label, e))?;
    let mut out = String::new();
    for b in &batches {
        let kind = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?;
        let plan = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Utf8)?;
        let kind = arrow::array::AsArray::as_string::<i32>(&kind);
        let plan = arrow::array::AsArray::as_string::<i32>(&plan);
        for i in 0..b.num_rows() {
            out.push_str(&format!("{}:\n{}\n\n", kind.value(i), plan.value(i)));
        }
    }
    Ok(out)
}

/// A DataFusion error in the user's query, as a clear message: an unknown table lists the tables
/// that exist. Resource and I/O failures stay internal errors.
pub fn query_error(catalog: &Catalog, label: &str, e: DataFusionError) -> Error {
    let root = e.find_root();
    match root {
        DataFusionError::IoError(_)
        | DataFusionError::ResourcesExhausted(_)
        | DataFusionError::Internal(_)
        | DataFusionError::ObjectStore(_) => return Error::DataFusion(e),
        _ => {}
    }
    let msg = root.to_string();
    let mut message = format!("{label}: {msg}");
    if msg.contains("table '") && msg.contains("not found") {
        if let Some((_, why)) = catalog.unavailable.iter().find(|(name, _)| {
            msg.contains(&format!("table '{name}'")) || msg.contains(&format!(".{name}'"))
        }) {
            return Error::query(format!("{label}: {why}"));
        }
        message.push_str(&format!(
            "; the tables are: {}",
            catalog.table_names().join(", ")
        ));
    }
    Error::query(message)
}
