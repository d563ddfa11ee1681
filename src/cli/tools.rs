//! Commands about the tool and the data's quality: `quarantine`, `completions`, `man`.

use std::path::PathBuf;

use clap::ValueEnum;
use crm_mart::pipeline::QuarantineParams;

/// `crm-mart quarantine`.
#[derive(Debug, Clone, clap::Args)]
pub struct QuarantineArgs {
    /// Mart directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
    /// The ETL batch (the seq column of _etl_runs; default: the last).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    pub batch: Option<i64>,
    /// Sample rows shown per entity and reason code.
    #[arg(long, value_name = "N", default_value_t = QuarantineParams::DEFAULT.samples)]
    pub samples: usize,
    /// Output: a table and samples for reading, or one JSON object for tools.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    pub format: SummaryFormat,
}

/// How `quarantine` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    /// For reading.
    Table,
    /// One JSON object.
    Json,
}

/// `crm-mart completions`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `crm-mart man`.
#[derive(Debug, Clone, clap::Args)]
pub struct ManArgs {
    /// Write crm-mart.1 and one page per command (crm-mart-etl.1, …) to DIR instead of printing
    /// crm-mart.1 on stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}
