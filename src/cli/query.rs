//! `crm-mart query` and `crm-mart shell`.

use std::path::PathBuf;

/// `crm-mart query`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("what").args(["sql", "file", "name", "list"])))]
pub struct QueryArgs {
    /// SQL to run (one statement; read-only). Without SQL, --file, --name or --list: the
    /// interactive shell on a terminal, else the statements on standard input.
    #[arg(value_name = "SQL")]
    pub sql: Option<String>,
    /// Run the SQL in FILE (its header may declare parameters, as named queries do).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Run the named query NAME (see --list).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A parameter of the named query or file: key=value (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// List the named queries with their descriptions and parameters.
    #[arg(long)]
    pub list: bool,
    /// Attach a Delta table, Parquet or CSV file (or directory) as table NAME (repeatable).
    #[arg(long = "table", value_name = "NAME=PATH")]
    pub tables: Vec<String>,
    /// Query the mart as it was after ETL batch N (the seq column of _etl_runs).
    #[arg(long, value_name = "N")]
    pub as_of_version: Option<i64>,
    /// Output format (default: from --output's extension, else table).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Write to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Rows a table shows (default: 40 on a terminal, all otherwise; 0 for all).
    #[arg(long, value_name = "N")]
    pub max_rows: Option<usize>,
    /// Print the logical and physical plan instead of running the query.
    #[arg(long)]
    pub explain: bool,
    /// SQL engine: local or ballista://HOST:PORT (overrides crm-mart.toml).
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// Mart directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
}

/// `crm-mart shell`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShellArgs {
    /// Mart directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
    /// Attach a Delta table, Parquet or CSV file (or directory) as table NAME (repeatable).
    #[arg(long = "table", value_name = "NAME=PATH")]
    pub tables: Vec<String>,
    /// SQL engine: local or ballista://HOST:PORT (overrides crm-mart.toml).
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// History file of the interactive shell (default: ~/.crm_mart_history).
    #[arg(long, value_name = "FILE", env = "CRM_MART_HISTORY")]
    pub history: Option<PathBuf>,
}
