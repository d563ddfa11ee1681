//! Command-line types (clap only; no logic). One Args struct per command.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// crm-mart: sales and contact history → a Delta Lake star schema → decisions.
#[derive(Debug, Parser)]
#[command(name = "crm-mart", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (default: ./crm-mart.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print nothing but errors on stderr (for scheduled runs).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Format of log lines on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a synthetic source dataset with planted patterns.
    Generate(GenerateArgs),
    /// Load new source files into the mart (idempotent, incremental).
    Etl(EtlArgs),
    /// The scheduled job: every stage that exists, in order (today: etl).
    Nightly(EtlArgs),
}

/// `crm-mart generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Customers in the population.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub customers: u64,
    /// Months of history.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=600))]
    pub months: u32,
    /// First month, YYYY-MM.
    #[arg(long, default_value = "2023-01", value_parser = parse_month)]
    pub start: chrono::NaiveDate,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Share of sales and contact rows written malformed, 0..=0.5.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub dirty_rate: f64,
}

/// `crm-mart etl` and `crm-mart nightly`.
#[derive(Debug, clap::Args)]
pub struct EtlArgs {
    /// Source directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// Mart directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR")]
    pub mart: Option<PathBuf>,
}

fn parse_month(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        .map_err(|_| format!("'{s}' is not a month; use YYYY-MM, e.g. 2023-01"))
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=0.5).contains(&r) => Ok(r),
        _ => Err(format!("'{s}' is not a share between 0 and 0.5, e.g. 0.02")),
    }
}
