//! Command-line types (clap only; no logic), in the binary only: one Args struct per command.
//! Defaults come from the library's params (`default_value_t = SegmentOptions::DEFAULT.seed`),
//! and the library's closed sets are parsed by their names ([`one_of`]).

mod examples;
mod query;
mod tools;
mod value;

use std::path::PathBuf;

pub use query::{QueryArgs, ShellArgs};
pub use tools::{CompletionsArgs, ManArgs, QuarantineArgs, SummaryFormat};
pub use value::{ValueArgs, ValueInput};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};
use crm_mart::basket::Level;
use crm_mart::basket::input::BasketFormat;
use crm_mart::basket::rules::RuleOptions;
use crm_mart::ml::churn::TrainOptions;
use crm_mart::ml::segment::SegmentOptions;
use crm_mart::pipeline::{BasketParams, EvaluationParams};
use crm_mart::recommend::RecOptions;
use crm_mart::report::Format as ReportFormat;

/// crm-mart: sales and contact history → a Delta Lake star schema → decisions.
#[derive(Debug, Clone, Parser)]
#[command(name = "crm-mart", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (default: ./crm-mart.toml if present).
    #[arg(long, global = true, value_name = "FILE", env = "CRM_MART_CONFIG")]
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
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Generate a synthetic source dataset with planted patterns.
    #[command(after_help = examples::GENERATE)]
    Generate(GenerateArgs),
    /// Load new source files into the mart (idempotent, incremental).
    #[command(after_help = examples::ETL)]
    Etl(EtlArgs),
    /// The scheduled job: etl, segment, churn, value, basket, recommend, report and maintain, in
    /// order.
    #[command(after_help = examples::NIGHTLY)]
    Nightly(NightlyArgs),
    /// Ask the mart: ad-hoc SQL, a SQL file, or a named query with parameters.
    #[command(after_help = examples::QUERY)]
    Query(QueryArgs),
    /// An interactive SQL shell on the mart (or a script of statements from standard input).
    #[command(after_help = examples::SHELL)]
    Shell(ShellArgs),
    /// Segment customers: RFM scores and segments, and k-means clusters with names.
    #[command(after_help = examples::SEGMENT)]
    Segment(SegmentArgs),
    /// Export the model features (both validation cuts, with the churn label and split).
    #[command(after_help = examples::FEATURES)]
    Features(FeaturesArgs),
    /// Churn prediction: train and compare models, or score customers.
    #[command(after_help = examples::CHURN)]
    Churn(ChurnArgs),
    /// Customer lifetime value: BG/NBD + Gamma-Gamma on the mart, a transaction log or a
    /// per-customer summary.
    #[command(after_help = examples::VALUE)]
    Value(ValueArgs),
    /// Market-basket analysis: frequent itemsets (FP-Growth) and association rules.
    #[command(after_help = examples::BASKET)]
    Basket(BasketArgs),
    /// Ranked product recommendations and a next-best action per customer, written back to the CRM.
    #[command(after_help = examples::RECOMMEND)]
    Recommend(RecommendArgs),
    /// The decision report for managers (HTML, XLSX and Markdown).
    #[command(after_help = examples::REPORT)]
    Report(ReportArgs),
    /// Stored model artifacts.
    #[command(after_help = examples::MODELS)]
    Models(ModelsArgs),
    /// Compact small files, checkpoint the logs and vacuum old versions' files.
    #[command(after_help = examples::MAINTAIN)]
    Maintain(MaintainArgs),
    /// Nightly runs from the run log: status, stage times, rows, warnings.
    #[command(after_help = examples::RUNS)]
    Runs(RunsArgs),
    /// Erase customers' personal data from the mart, its history and the CRM sinks.
    #[command(after_help = examples::FORGET)]
    Forget(ForgetArgs),
    /// What the ETL held back in a batch: rows by entity and reason code, with samples.
    #[command(after_help = examples::QUARANTINE)]
    Quarantine(QuarantineArgs),
    /// Shell completions for bash, zsh, fish, elvish or PowerShell, on stdout.
    #[command(after_help = examples::COMPLETIONS)]
    Completions(CompletionsArgs),
    /// The manual page (roff), on stdout or as files.
    #[command(after_help = examples::MAN)]
    Man(ManArgs),
}

/// `crm-mart forget`.
#[derive(Debug, Clone, clap::Args)]
pub struct ForgetArgs {
    /// Mart directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
    /// A customer id to forget (repeat for several).
    #[arg(long = "customer", value_name = "ID", required = true)]
    pub customers: Vec<String>,
}

/// `crm-mart runs`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunsArgs {
    /// Mart directory (overrides crm-mart.toml; the run log lies beside it by default).
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
    /// Show the last N runs.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub last: usize,
    /// One run in detail.
    #[command(subcommand)]
    pub action: Option<RunsAction>,
}

/// `crm-mart runs show`.
#[derive(Debug, Clone, Subcommand)]
pub enum RunsAction {
    /// Every stage of one run: status, time, rows, memory, errors and warnings, and the ETL
    /// batch's files.
    Show {
        /// The run (see `crm-mart runs`).
        run_id: String,
    },
}

/// `crm-mart maintain`.
#[derive(Debug, Clone, clap::Args)]
pub struct MaintainArgs {
    /// Mart directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
    /// Days of history time travel keeps (overrides [maintain] retain_days; default 30).
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub retain_days: Option<u32>,
    /// Days of history of the model outputs replaced every night (overrides [maintain]
    /// outputs_retain_days; default 7).
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub outputs_retain_days: Option<u32>,
    /// Compact a table once it has this many files beyond one per partition (overrides
    /// [maintain] compact_min_files; default 8; 1 compacts any partition with two files).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub compact_min_files: Option<u32>,
}

/// `crm-mart report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Mart directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
    /// Directory the report files go to.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Formats, comma-separated: html, xlsx, md.
    #[arg(long, value_delimiter = ',', default_value = "html,xlsx,md",
          value_parser = one_of(&ReportFormat::ALL, ReportFormat::as_str))]
    pub format: Vec<ReportFormat>,
    /// Show e-mail addresses and phone numbers instead of masking them.
    #[arg(long)]
    pub show_pii: bool,
}

/// `crm-mart nightly`.
#[derive(Debug, Clone, clap::Args)]
pub struct NightlyArgs {
    /// Source directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_SOURCE")]
    pub source: Option<PathBuf>,
    /// Mart directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
    /// Retrain the churn model even if the newest one is recent.
    #[arg(long)]
    pub retrain: bool,
    /// Print the plan (stages, what each would do) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Append the run log (JSON lines) to FILE (default: [nightly] log, else nightly.jsonl
    /// beside the mart).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
}

/// `crm-mart recommend`.
#[derive(Debug, Clone, clap::Args)]
pub struct RecommendArgs {
    /// Mart directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
    /// Cut, YYYY-MM-DD (default: the last order day).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Products per customer and kind (replenish, cross_sell).
    #[arg(long, default_value_t = RecOptions::DEFAULT.top as u32, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub top: u32,
    /// Also write to SINK: sqlite:PATH, postgres://…, csv:PATH or jsonl:PATH (repeatable;
    /// replaces the `[crm] sinks` of crm-mart.toml).
    #[arg(long, value_name = "SINK")]
    pub sink: Vec<crm_mart::crm::Sink>,
    /// Compare both lists with the baselines (global popularity, personal popularity, item
    /// co-occurrence) on --folds successive holdouts of --holdout-days at the end of the history
    /// (hit rate and precision at --top, per kind, per holdout and pooled); writes nothing.
    #[arg(long)]
    pub evaluate: bool,
    /// Length of each of the evaluation's holdouts, and the window the repurchase model predicts.
    #[arg(long, default_value_t = RecOptions::DEFAULT.replenish.window_days as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub holdout_days: u32,
    /// Number of holdouts: the last --holdout-days, the ones before, and so on; each is
    /// predicted from the history before it.
    #[arg(long, default_value_t = EvaluationParams::DEFAULT_FOLDS, value_parser = clap::value_parser!(u32).range(1..=24))]
    pub folds: u32,
    /// Products the cross-sell model covers (the most-bought ones): its cost grows with the cube
    /// of this once per run and linearly per customer, whatever the catalogue's size.
    #[arg(long, default_value_t = RecOptions::DEFAULT.cross_sell.max_products as u32, value_parser = clap::value_parser!(u32).range(1..=20000))]
    pub cross_sell_products: u32,
}

/// `crm-mart basket`.
#[derive(Debug, Clone, clap::Args)]
pub struct BasketArgs {
    /// Mart directory (overrides crm-mart.toml); ignored with --input.
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
    /// Item level of the mart's baskets.
    #[arg(long, default_value = "product", value_parser = one_of(&Level::ALL, Level::as_str))]
    pub level: Level,
    /// First order day of the mart's baskets, YYYY-MM-DD.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub from: Option<chrono::NaiveDate>,
    /// Last order day of the mart's baskets, YYYY-MM-DD.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub to: Option<chrono::NaiveDate>,
    /// Read baskets from FILE instead of the mart (nothing is written to the mart).
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Layout of --input.
    #[arg(long, default_value = "basket", value_parser = one_of(&BasketFormat::ALL, BasketFormat::as_str))]
    pub input_format: BasketFormat,
    /// Basket id column of a `long` --input.
    #[arg(long, value_name = "COL", default_value = "basket")]
    pub basket_col: String,
    /// Item column of a `long` --input.
    #[arg(long, value_name = "COL", default_value = "item")]
    pub item_col: String,
    /// Minimum support: a fraction of the baskets (< 1) or a count of baskets (≥ 1).
    #[arg(long, default_value_t = BasketParams::DEFAULT.min_support)]
    pub min_support: f64,
    /// Minimum confidence of a rule.
    #[arg(long, default_value_t = RuleOptions::DEFAULT.min_confidence)]
    pub min_confidence: f64,
    /// Minimum lift of a rule (0 = none).
    #[arg(long, default_value_t = RuleOptions::DEFAULT.min_lift)]
    pub min_lift: f64,
    /// Largest itemset (0 = no limit).
    #[arg(long, default_value_t = BasketParams::DEFAULT.max_len)]
    pub max_len: usize,
    /// Largest antecedent of a rule (0 = no limit).
    #[arg(long, default_value_t = RuleOptions::DEFAULT.max_antecedent)]
    pub max_antecedent: usize,
    /// Keep at most this many rules, the best by lift (0 = all); bounds memory.
    #[arg(long, default_value_t = RuleOptions::DEFAULT.max_rules)]
    pub max_rules: usize,
    /// Keep rules whose confidence does not beat a more general rule with the same consequent.
    #[arg(long)]
    pub keep_redundant: bool,
    /// Write the frequent itemsets instead of rules.
    #[arg(long)]
    pub itemsets: bool,
    /// Write the rules (or itemsets) to FILE; the format follows the extension or --format.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format when --output has no telling extension.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Rules printed on the terminal.
    #[arg(long, default_value_t = crate::commands::basket::TOP_RULES)]
    pub top: usize,
}

/// The mart and the churn validation cuts, shared by `features` and `churn train`.
#[derive(Debug, Clone, clap::Args)]
pub struct CutArgs {
    /// Mart directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
    /// Test cut, YYYY-MM-DD (default: the last order day − horizon); training uses the cut one
    /// horizon earlier.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Days without an order that count as churned.
    #[arg(long, default_value_t = TrainOptions::DEFAULT.horizon_days, value_parser = clap::value_parser!(u32).range(7..=730))]
    pub horizon_days: u32,
}

/// `crm-mart features`.
#[derive(Debug, Clone, clap::Args)]
pub struct FeaturesArgs {
    /// The mart and the validation cuts.
    #[command(flatten)]
    pub cut: CutArgs,
    /// Output format (default: from --output's extension, else csv).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Write to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `crm-mart churn`.
#[derive(Debug, Clone, clap::Args)]
pub struct ChurnArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ChurnAction,
}

/// `crm-mart churn train | score`.
#[derive(Debug, Clone, Subcommand)]
pub enum ChurnAction {
    /// Train on the cut as_of − horizon, test on as_of, keep the better model family.
    Train(ChurnTrainArgs),
    /// Score the active customers with the latest (or a given) model.
    Score(ChurnScoreArgs),
}

/// `crm-mart churn train`.
#[derive(Debug, Clone, clap::Args)]
pub struct ChurnTrainArgs {
    /// The mart and the validation cuts.
    #[command(flatten)]
    pub cut: CutArgs,
    /// Seed of the random forest (the other families are deterministic without one).
    #[arg(long, default_value_t = TrainOptions::DEFAULT.seed)]
    pub seed: u64,
    /// Train one family only (default: logistic regression and gradient boosting, keep the
    /// better on the test cut; random_forest only when named).
    #[arg(long, value_parser = one_of(&crm_mart::ml::churn::Family::ALL, crm_mart::ml::churn::Family::as_str))]
    pub family: Option<crm_mart::ml::churn::Family>,
}

/// `crm-mart churn score`.
#[derive(Debug, Clone, clap::Args)]
pub struct ChurnScoreArgs {
    /// Mart directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
    /// Cut, YYYY-MM-DD (default: the last order day).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Model file (default: the champion, see `crm-mart models list`).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
}

/// `crm-mart models`.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelsArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ModelsAction,
}

/// `crm-mart models list`.
#[derive(Debug, Clone, Subcommand)]
pub enum ModelsAction {
    /// List stored models with their metrics and mart versions, and which churn model scores.
    List,
    /// Make a stored churn model the champion (the one that scores).
    Promote {
        /// Its version (see `models list`).
        #[arg(value_name = "VERSION")]
        model_version: String,
    },
    /// Make a churn model the champion and keep retrained models from replacing it.
    Pin {
        /// Its version (see `models list`).
        #[arg(value_name = "VERSION")]
        model_version: String,
    },
    /// Bring back the champion before the current one (and unpin).
    Rollback,
}

/// `crm-mart segment`.
#[derive(Debug, Clone, clap::Args)]
pub struct SegmentArgs {
    /// Mart directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
    pub mart: Option<PathBuf>,
    /// The cut, YYYY-MM-DD: history up to this day (default: the last order day).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Number of k-means clusters, or auto (k in 2..=10 by silhouette).
    #[arg(long, default_value = "auto", value_parser = parse_k)]
    pub k: KChoice,
    /// Seed of the k-means initialisation and the silhouette sample.
    #[arg(long, default_value_t = SegmentOptions::DEFAULT.seed)]
    pub seed: u64,
    /// k-means initialisations per k (the best is kept).
    #[arg(long, default_value_t = SegmentOptions::DEFAULT.n_runs as u64, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub n_runs: u64,
}

pub(crate) fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("'{s}' is not a date; use YYYY-MM-DD, e.g. 2024-06-30"))
}

/// `--k`: a number of clusters or automatic choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KChoice {
    /// Chosen by silhouette.
    Auto,
    /// This many.
    Fixed(usize),
}

fn parse_k(s: &str) -> Result<KChoice, String> {
    if s == "auto" {
        return Ok(KChoice::Auto);
    }
    match s.parse::<usize>() {
        Ok(k) if (1..=50).contains(&k) => Ok(KChoice::Fixed(k)),
        _ => Err(format!(
            "'{s}' is not a number of clusters; use 1 to 50, or auto"
        )),
    }
}

/// `crm-mart generate`.
#[derive(Debug, Clone, clap::Args)]
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
    /// One sales and contacts file per month, or per day (a nightly export's shape).
    #[arg(long, default_value = "month", value_parser = one_of(&crm_mart::sample::Period::ALL, crm_mart::sample::Period::as_str))]
    pub period: crm_mart::sample::Period,
}

/// `crm-mart etl` and `crm-mart nightly`.
#[derive(Debug, Clone, clap::Args)]
pub struct EtlArgs {
    /// Source directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_SOURCE")]
    pub source: Option<PathBuf>,
    /// Mart directory (overrides crm-mart.toml).
    #[arg(long, value_name = "DIR", env = "CRM_MART_MART")]
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

/// A parser of one of a library enum's values by name (`possible values` in the help).
pub fn one_of<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|t| name(*t))).map(move |s| {
        *all.iter()
            .find(|t| name(**t) == s)
            .expect("a possible value")
    })
}

/// The command-line flag of a library parameter: `as_of` → `--as-of`.
pub fn flag(field: &str) -> String {
    format!("--{}", field.replace('_', "-"))
}
