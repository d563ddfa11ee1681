//! `crm-mart value`.

use std::path::PathBuf;

use clap::ValueEnum;
use crm_mart::ml::clv::ValueOptions;
use crm_mart::ml::clv::input::{Column, Delimiter};

use super::{one_of, parse_date};

/// What `value --input` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValueInput {
    /// A summary when the header names frequency, recency and T; else transactions.
    Auto,
    /// One row per transaction: customer, date, amount.
    Transactions,
    /// One row per customer: id, frequency, recency, T (weeks), optional monetary_value.
    Summary,
}

/// `crm-mart value`.
#[derive(Debug, Clone, clap::Args)]
pub struct ValueArgs {
    /// Mart directory (overrides crm-mart.toml); ignored with --input.
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
    /// End of the observation, YYYY-MM-DD (default: the last transaction day).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Read a file instead of the mart (nothing is written to the mart).
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Layout of --input.
    #[arg(long, value_enum, default_value_t = ValueInput::Auto)]
    pub input_format: ValueInput,
    /// Field separator of --input.
    #[arg(long, default_value = "auto", value_parser = one_of(&Delimiter::ALL, Delimiter::as_str))]
    pub delimiter: Delimiter,
    /// --input has no header line (columns are then given by position).
    #[arg(long)]
    pub no_header: bool,
    /// Customer id column of --input: a header name or a 1-based position.
    #[arg(long, value_name = "COL", default_value = "customer_id")]
    pub customer_col: Column,
    /// Transaction date column of --input.
    #[arg(long, value_name = "COL", default_value = "date")]
    pub date_col: Column,
    /// Transaction amount column of --input.
    #[arg(long, value_name = "COL", default_value = "amount")]
    pub amount_col: Column,
    /// chrono format of the dates in --input (default: YYYY-MM-DD[ time] or YYYYMMDD).
    #[arg(long, value_name = "FORMAT")]
    pub date_format: Option<String>,
    /// Last day of the calibration period of the holdout check (default: as-of − holdout days).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub calibration_end: Option<chrono::NaiveDate>,
    /// Length of the holdout period of the check when --calibration-end is not given; 0 skips it.
    #[arg(long, default_value_t = ValueOptions::DEFAULT.holdout_days)]
    pub holdout_days: u32,
    /// Monthly discount rate of the 12-month CLV.
    #[arg(long, default_value_t = ValueOptions::DEFAULT.discount_rate)]
    pub discount_rate: f64,
    /// L2 penalty on the model parameters (0 = plain maximum likelihood).
    #[arg(long, default_value_t = ValueOptions::DEFAULT.penalizer)]
    pub penalizer: f64,
    /// Write the per-customer values to FILE (csv, json, jsonl, parquet or xlsx by extension).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format when --output has no telling extension.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Directory the model of an --input run is saved to (default: [paths] models of
    /// crm-mart.toml, under clv/; without a configuration file the model is not saved).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
}
