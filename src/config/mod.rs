//! `crm-mart.toml` + command line → resolved settings.
//!
//! The file is optional: without it, the source directory is `sample-data/` and the mart is
//! `mart/`, and every entity is looked up as `<entity>.csv` or `<entity>/*.csv` in canonical
//! column names. Relative paths in the file are relative to the file's own directory, so a
//! scheduled job can run from anywhere with `--config /path/to/crm-mart.toml`.

mod policy;
mod sink;
pub mod spec;

pub use policy::Policy;
pub use sink::Sink;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The six source entities of the source contract.
pub const ENTITIES: &[&str] = &[
    "customers",
    "products",
    "stores",
    "campaigns",
    "sales",
    "contacts",
];

/// The configuration file as written by the user.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The SQL engine: "local" (default) or "ballista://HOST:PORT".
    pub engine: Option<String>,
    /// Where sources and the mart live.
    #[serde(default)]
    pub paths: PathsSection,
    /// Per-entity source mappings, keyed by entity name.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceMapping>,
    /// Where recommendations are written back.
    #[serde(default)]
    pub crm: CrmSection,
    /// The scheduled job.
    #[serde(default)]
    pub nightly: NightlySection,
    /// Data-quality limits of a batch.
    #[serde(default)]
    pub quality: QualitySection,
    /// Who may be contacted, and when not.
    #[serde(default)]
    pub policy: PolicySection,
}

/// `[quality]`: when a batch is refused, and when the sources count as stale.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualitySection {
    /// Largest share of an entity's rows in one batch that may be quarantined (default 0.05);
    /// above it the batch is not committed.
    pub max_quarantine_share: Option<f64>,
    /// `nightly` warns when no new source file arrived for this many days.
    pub stale_after_days: Option<u32>,
}

/// The resolved `[quality]` limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Largest share of an entity's rows in one batch that may be quarantined.
    pub max_quarantine_share: f64,
    /// Days without a new source file after which `nightly` warns.
    pub stale_after_days: Option<u32>,
}

impl Quality {
    /// The default share of quarantined rows above which a batch is refused.
    pub const DEFAULT_MAX_QUARANTINE_SHARE: f64 = 0.05;
}

impl Default for Quality {
    fn default() -> Self {
        Quality {
            max_quarantine_share: Self::DEFAULT_MAX_QUARANTINE_SHARE,
            stale_after_days: None,
        }
    }
}

/// `[policy]`: the contact policy of the next-best action (defaults in
/// [`Policy`]).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// A complaint at most this many days old whose outcome is `unresolved` → `service_recovery`.
    pub service_recovery_days: Option<u32>,
    /// More outbound contacts than this in `contact_window_days` → `rest`.
    pub max_outbound_contacts: Option<u32>,
    /// The window of the contact-fatigue cap, in days.
    pub contact_window_days: Option<u32>,
    /// Market only to customers with an explicit opt-in (`email_opt_in` or `phone_opt_in` true);
    /// by default an unknown consent does not suppress, an explicit `false` on both does.
    pub require_opt_in: Option<bool>,
}

/// `[nightly]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NightlySection {
    /// Retrain the churn model when the newest one is older than this many days (default 30).
    pub retrain_after_days: Option<u32>,
    /// The run log (JSON lines), relative to the configuration file; default `nightly.jsonl`
    /// beside the mart.
    pub log: Option<PathBuf>,
}

/// `[crm]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmSection {
    /// Sinks of `recommend` (and `nightly`) when no `--sink` is given: `sqlite:PATH`,
    /// `postgres://USER@HOST/DB` (password from `PGPASSWORD`), `csv:PATH`, `jsonl:PATH`; relative
    /// paths are relative to the configuration file.
    #[serde(default)]
    pub sinks: Vec<String>,
}

/// `[paths]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsSection {
    /// Source directory.
    pub source: Option<PathBuf>,
    /// Mart directory.
    pub mart: Option<PathBuf>,
    /// A directory of further named queries (`*.sql`); default `queries` beside the config.
    pub queries: Option<PathBuf>,
    /// Where trained model artifacts go; default `models` beside the config.
    pub models: Option<PathBuf>,
}

/// File format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// Delimited text with a header line.
    #[default]
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet.
    Parquet,
}

/// Text encoding of a CSV or JSON-lines source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Encoding {
    /// UTF-8 (a byte-order mark is allowed).
    #[default]
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    /// Windows-1252, what Excel writes on Western-European Windows.
    #[serde(rename = "windows-1252", alias = "cp1252", alias = "Windows-1252")]
    Windows1252,
    /// ISO-8859-1 (Latin-1); decoded as its superset Windows-1252, as browsers do.
    #[serde(
        rename = "iso-8859-1",
        alias = "latin1",
        alias = "latin-1",
        alias = "ISO-8859-1"
    )]
    Iso8859_1,
    /// UTF-16 with a byte-order mark (little or big endian).
    #[serde(rename = "utf-16", alias = "utf16", alias = "UTF-16")]
    Utf16,
}

impl Encoding {
    /// The name users write in `crm-mart.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Windows1252 => "windows-1252",
            Encoding::Iso8859_1 => "iso-8859-1",
            Encoding::Utf16 => "utf-16",
        }
    }
}

/// `[sources.<entity>.lookup.<name>]`: columns brought in from another file, matched on a key.
/// Dialect keys left out are the entity's own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupMapping {
    /// File name or glob, relative to the source directory.
    pub path: String,
    /// The key column of the lookup file; each value appears at most once in it.
    pub key: String,
    /// The column of the rows it is matched against, when its name differs from `key` (it may
    /// be a column an earlier lookup brought in).
    pub on: Option<String>,
    /// File format; guessed from the extension when absent.
    pub format: Option<SourceFormat>,
    /// Field delimiter.
    pub delimiter: Option<String>,
    /// Text encoding.
    pub encoding: Option<Encoding>,
    /// Quote character, or "" for none.
    pub quote: Option<String>,
    /// Escape character inside quoted fields.
    pub escape: Option<String>,
    /// Lines before the header.
    pub skip_rows: Option<usize>,
    /// Line of the header (1-based).
    pub header_row: Option<usize>,
    /// Lines starting with this character are comments.
    pub comment: Option<String>,
}

impl LookupMapping {
    /// The column of the rows this lookup matches on.
    pub fn on(&self) -> &str {
        self.on.as_deref().unwrap_or(&self.key)
    }

    /// How to read the lookup file: its own dialect keys, else those of `parent`.
    pub fn reading(&self, parent: &SourceMapping) -> SourceMapping {
        SourceMapping {
            path: Some(self.path.clone()),
            format: self.format,
            delimiter: self
                .delimiter
                .clone()
                .unwrap_or_else(|| parent.delimiter.clone()),
            encoding: self.encoding.unwrap_or(parent.encoding),
            quote: self.quote.clone().unwrap_or_else(|| parent.quote.clone()),
            escape: self.escape.clone().or_else(|| parent.escape.clone()),
            skip_rows: self.skip_rows.unwrap_or(parent.skip_rows),
            header_row: self.header_row.or(parent.header_row),
            comment: self.comment.clone().or_else(|| parent.comment.clone()),
            ..SourceMapping::default()
        }
    }
}

/// `[sources.<entity>]`: how one entity's export maps to the canonical columns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceMapping {
    /// File name or glob (`*` and `?` in the file name part), relative to the source directory.
    pub path: Option<String>,
    /// File format; guessed from the extension when absent.
    pub format: Option<SourceFormat>,
    /// CSV field delimiter (one character).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Text encoding of CSV and JSON-lines files.
    #[serde(default)]
    pub encoding: Encoding,
    /// Quote character of CSV fields, or "" for none. A quote that does not open a field is an
    /// ordinary character (`7" FRAME`).
    #[serde(default = "default_quote")]
    pub quote: String,
    /// Escape character inside quoted fields (besides a doubled quote), e.g. "\\".
    pub escape: Option<String>,
    /// Lines before the header line (a title, an export date).
    #[serde(default)]
    pub skip_rows: usize,
    /// Line of the header (1-based); the same as `skip_rows = header_row - 1`.
    pub header_row: Option<usize>,
    /// Lines starting with this character are comments, not records.
    pub comment: Option<String>,
    /// Files whose columns are joined onto each row by a key (a normalized export).
    #[serde(default)]
    pub lookup: BTreeMap<String, LookupMapping>,
    /// Canonical columns with one value for every row.
    #[serde(default)]
    pub constants: BTreeMap<String, String>,
    /// Per canonical column, words of the export → the contract's words (case-insensitive).
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// Whether numbers use a decimal comma (`12,50`).
    #[serde(default)]
    pub decimal_comma: bool,
    /// chrono format of date columns.
    #[serde(default = "default_date_format")]
    pub date_format: String,
    /// chrono format of timestamp columns.
    #[serde(default = "default_timestamp_format")]
    pub timestamp_format: String,
    /// Canonical column name → column name in the file.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// A negative quantity marks a return (sales only).
    #[serde(default = "yes")]
    pub return_when_negative_quantity: bool,
    /// An order id starting with this prefix marks a return (sales only), e.g. "C".
    pub return_when_order_id_starts_with: Option<String>,
    /// Sales lines without a customer id are kept as anonymous sales instead of quarantined.
    #[serde(default)]
    pub allow_anonymous_customer: bool,
}

/// A date or timestamp format that chrono can use: no unknown `%` code, and a year, month
/// and day in it.
fn check_time_format(format: &str) -> std::result::Result<(), String> {
    use chrono::format::{Fixed, Item, Numeric, StrftimeItems};
    let mut has = (false, false, false);
    for item in StrftimeItems::new(format) {
        match item {
            Item::Error => return Err("has a % code chrono does not know".into()),
            Item::Numeric(Numeric::Year | Numeric::YearDiv100 | Numeric::YearMod100, _) => {
                has.0 = true
            }
            Item::Numeric(Numeric::Month, _)
            | Item::Fixed(Fixed::ShortMonthName | Fixed::LongMonthName) => has.1 = true,
            Item::Numeric(Numeric::Day | Numeric::Ordinal, _) => has.2 = true,
            Item::Numeric(Numeric::Timestamp, _) => has = (true, true, true),
            _ => {}
        }
    }
    match has {
        (true, true, true) => Ok(()),
        _ => Err("does not name a year, a month and a day".into()),
    }
}

fn default_delimiter() -> String {
    ",".into()
}
fn default_quote() -> String {
    "\"".into()
}
fn default_date_format() -> String {
    "%Y-%m-%d".into()
}
fn default_timestamp_format() -> String {
    "%Y-%m-%d %H:%M:%S".into()
}
fn yes() -> bool {
    true
}

impl Default for SourceMapping {
    fn default() -> Self {
        SourceMapping {
            path: None,
            format: None,
            delimiter: default_delimiter(),
            encoding: Encoding::Utf8,
            quote: default_quote(),
            escape: None,
            skip_rows: 0,
            header_row: None,
            comment: None,
            lookup: BTreeMap::new(),
            constants: BTreeMap::new(),
            values: BTreeMap::new(),
            decimal_comma: false,
            date_format: default_date_format(),
            timestamp_format: default_timestamp_format(),
            columns: BTreeMap::new(),
            return_when_negative_quantity: true,
            return_when_order_id_starts_with: None,
            allow_anonymous_customer: false,
        }
    }
}

impl SourceMapping {
    /// The delimiter as a byte, validated.
    pub fn delimiter_byte(&self, file: &Path) -> Result<u8> {
        self.dialect()
            .map(|d| d.delimiter)
            .map_err(|why| Error::config(file, why))
    }

    /// An optional one-character setting (`quote`, `escape`, `comment`) as a byte.
    fn one_char(key: &str, value: Option<&str>) -> std::result::Result<Option<u8>, String> {
        match value.map(str::as_bytes) {
            None | Some([]) => Ok(None),
            Some([b]) if b.is_ascii() => Ok(Some(*b)),
            Some(_) => Err(format!(
                "{key} = {:?} is not one ASCII character; use e.g. \"\\\"\", \"'\", or \"\" for none",
                value.unwrap_or_default()
            )),
        }
    }

    /// How CSV records are split; the error says which key is wrong and what would do.
    pub fn dialect(&self) -> std::result::Result<Dialect, String> {
        let skip = match self.header_row {
            None => self.skip_rows,
            Some(0) => {
                return Err("header_row = 0: lines are counted from 1; a header on the first line is header_row = 1".into());
            }
            Some(h) if self.skip_rows != 0 && self.skip_rows != h - 1 => {
                return Err(format!(
                    "header_row = {h} and skip_rows = {} disagree (the header follows the skipped lines: skip_rows = {}); set one of them",
                    self.skip_rows,
                    h - 1
                ));
            }
            Some(h) => h - 1,
        };
        let delimiter = match self.delimiter.as_bytes() {
            [b] => *b,
            _ if self.delimiter == "\\t" => b'\t',
            _ => {
                return Err(format!(
                    "delimiter {:?} is not a single ASCII character; use e.g. \",\", \";\", \"|\" or \"\\t\"",
                    self.delimiter
                ));
            }
        };
        Ok(Dialect {
            delimiter,
            quote: Self::one_char("quote", Some(&self.quote))?,
            escape: Self::one_char("escape", self.escape.as_deref())?,
            comment: Self::one_char("comment", self.comment.as_deref())?,
            skip_rows: skip,
            encoding: self.encoding,
        })
    }

    /// The canonical value of `value` in `column` under the mapping's value map, if it has one.
    pub fn mapped_value<'a>(&'a self, column: &str, value: &str) -> Option<&'a str> {
        let map = self.values.get(column)?;
        map.iter()
            .find(|(from, _)| from.trim().eq_ignore_ascii_case(value.trim()))
            .map(|(_, to)| to.as_str())
    }

    /// Name of the canonical column `canonical` in the source file.
    pub fn source_column<'a>(&'a self, canonical: &'a str) -> &'a str {
        self.columns
            .get(canonical)
            .map(String::as_str)
            .unwrap_or(canonical)
    }
}

/// How the records of a CSV file are split (from the mapping's dialect keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Field delimiter.
    pub delimiter: u8,
    /// Quote character; None: quotes are ordinary characters.
    pub quote: Option<u8>,
    /// Escape character inside quoted fields.
    pub escape: Option<u8>,
    /// Comment character at the start of a line.
    pub comment: Option<u8>,
    /// Lines before the header.
    pub skip_rows: usize,
    /// Text encoding.
    pub encoding: Encoding,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect {
            delimiter: b',',
            quote: Some(b'"'),
            escape: None,
            comment: None,
            skip_rows: 0,
            encoding: Encoding::Utf8,
        }
    }
}

/// Where the configuration came from and what it says, with paths made absolute.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The configuration file read, if any.
    pub config_file: Option<PathBuf>,
    /// Source directory.
    pub source_dir: PathBuf,
    /// Mart directory.
    pub mart_dir: PathBuf,
    /// Source mappings by entity (defaults filled in for entities not mentioned).
    pub sources: BTreeMap<String, SourceMapping>,
    /// Directory of further named queries (may not exist).
    pub queries_dir: PathBuf,
    /// Directory of model artifacts.
    pub models_dir: PathBuf,
    /// The SQL engine.
    pub engine: crate::mart::engine::EngineSpec,
    /// Default CRM sinks of `recommend`.
    pub sinks: Vec<Sink>,
    /// Churn model age (days) after which `nightly` retrains.
    pub retrain_after_days: u32,
    /// The nightly run log.
    pub nightly_log: PathBuf,
    /// Data-quality limits.
    pub quality: Quality,
    /// The contact policy of the next-best action.
    pub policy: Policy,
}

/// Default configuration file name, looked up in the working directory.
pub const DEFAULT_CONFIG: &str = "crm-mart.toml";

impl Settings {
    /// Where the nightly job writes the decision report: `reports/` beside the mart.
    pub fn reports_dir(&self) -> PathBuf {
        self.mart_dir
            .parent()
            .map(|p| p.join("reports"))
            .unwrap_or_else(|| "reports".into())
    }

    /// Resolve settings from an explicit config path (or `./crm-mart.toml` if present) and the
    /// command-line overrides.
    pub fn resolve(
        config: Option<&Path>,
        source: Option<&Path>,
        mart: Option<&Path>,
    ) -> Result<Settings> {
        let (file, parsed) = match config {
            Some(p) => (Some(p.to_path_buf()), Some(load_file(p)?)),
            None if Path::new(DEFAULT_CONFIG).exists() => {
                let p = PathBuf::from(DEFAULT_CONFIG);
                let parsed = load_file(&p)?;
                (Some(p), Some(parsed))
            }
            None => (None, None),
        };
        let parsed = parsed.unwrap_or_default();
        let base = file
            .as_ref()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let rel = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let source_dir = match source {
            Some(s) => s.to_path_buf(),
            None => rel(parsed
                .paths
                .source
                .as_deref()
                .unwrap_or(Path::new("sample-data"))),
        };
        let mart_dir = match mart {
            Some(m) => m.to_path_buf(),
            None => rel(parsed.paths.mart.as_deref().unwrap_or(Path::new("mart"))),
        };
        let cfg_path = file
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        for name in parsed.sources.keys() {
            if !ENTITIES.contains(&name.as_str()) {
                return Err(Error::config(
                    &cfg_path,
                    format!(
                        "[sources.{name}] is not a known entity; use one of: {}",
                        ENTITIES.join(", ")
                    ),
                ));
            }
        }
        let mut sources = BTreeMap::new();
        for e in ENTITIES {
            let m = parsed.sources.get(*e).cloned().unwrap_or_default();
            check_mapping(e, &m, &cfg_path)?;
            for (key, format) in [
                ("date_format", &m.date_format),
                ("timestamp_format", &m.timestamp_format),
            ] {
                check_time_format(format).map_err(|why| {
                    Error::config(
                        &cfg_path,
                        format!(
                            "[sources.{e}] {key} = {format:?}: {why}; use chrono's strftime \
                             codes, e.g. \"%Y-%m-%d\", \"%d.%m.%Y\" or \"%Y-%m-%d %H:%M:%S\""
                        ),
                    )
                })?;
            }
            sources.insert(e.to_string(), m);
        }
        let queries_dir = rel(parsed
            .paths
            .queries
            .as_deref()
            .unwrap_or(Path::new("queries")));
        let models_dir = rel(parsed
            .paths
            .models
            .as_deref()
            .unwrap_or(Path::new("models")));
        let engine = match &parsed.engine {
            None => Default::default(),
            Some(e) => e
                .parse()
                .map_err(|err: Error| Error::config(&cfg_path, format!("engine: {err}")))?,
        };
        let mut sinks = Vec::new();
        for raw in &parsed.crm.sinks {
            let sink: Sink = raw
                .parse()
                .map_err(|e: String| Error::config(&cfg_path, format!("[crm] sinks: {e}")))?;
            sinks.push(match sink {
                Sink::Sqlite(p) => Sink::Sqlite(rel(&p)),
                Sink::Csv(p) => Sink::Csv(rel(&p)),
                Sink::Jsonl(p) => Sink::Jsonl(rel(&p)),
                other => other,
            });
        }
        let nightly_log = match &parsed.nightly.log {
            Some(p) => rel(p),
            None => mart_dir
                .parent()
                .map(|p| p.join("nightly.jsonl"))
                .unwrap_or_else(|| PathBuf::from("nightly.jsonl")),
        };
        let quality = Quality {
            max_quarantine_share: match parsed.quality.max_quarantine_share {
                None => Quality::DEFAULT_MAX_QUARANTINE_SHARE,
                Some(s) if (0.0..=1.0).contains(&s) => s,
                Some(s) => {
                    return Err(Error::config(
                        &cfg_path,
                        format!(
                            "[quality] max_quarantine_share = {s} is not a share; use a number from 0 to 1, e.g. 0.05"
                        ),
                    ));
                }
            },
            stale_after_days: parsed.quality.stale_after_days,
        };
        let defaults = Policy::default();
        let p = &parsed.policy;
        let policy = Policy {
            service_recovery_days: p
                .service_recovery_days
                .unwrap_or(defaults.service_recovery_days),
            max_outbound_contacts: p
                .max_outbound_contacts
                .unwrap_or(defaults.max_outbound_contacts),
            contact_window_days: p
                .contact_window_days
                .unwrap_or(defaults.contact_window_days),
            require_opt_in: p.require_opt_in.unwrap_or(defaults.require_opt_in),
        };
        if policy.contact_window_days == 0 {
            return Err(Error::config(
                &cfg_path,
                "[policy] contact_window_days = 0 counts no contact; use a number of days ≥ 1, e.g. 30",
            ));
        }
        Ok(Settings {
            policy,
            quality,
            retrain_after_days: parsed.nightly.retrain_after_days.unwrap_or(30),
            nightly_log,
            sinks,
            config_file: file,
            source_dir,
            mart_dir,
            sources,
            queries_dir,
            models_dir,
            engine,
        })
    }

    /// The mapping of `entity`.
    pub fn mapping(&self, entity: &str) -> &SourceMapping {
        &self.sources[entity]
    }
}

/// Checks what can be checked of one entity's mapping before any file is read.
fn check_mapping(entity: &str, m: &SourceMapping, cfg: &Path) -> Result<()> {
    let named = |what: String| Error::config(cfg, format!("[sources.{entity}] {what}"));
    m.dialect().map_err(named)?;
    let canonical = spec::columns(entity);
    let known = || {
        canonical
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for column in m.constants.keys() {
        if !canonical.iter().any(|c| c.name == column) {
            return Err(named(format!(
                "constants: '{column}' is not a canonical column of {entity}; canonical columns are: {}",
                known()
            )));
        }
        if m.columns.contains_key(column) {
            return Err(named(format!(
                "'{column}' is both mapped to a file column and given a constant; keep one"
            )));
        }
    }
    for column in m.values.keys() {
        match canonical.iter().find(|c| c.name == column) {
            Some(c) if matches!(c.kind, spec::Kind::Text | spec::Kind::Bool) => {}
            Some(_) => {
                return Err(named(format!(
                    "values.{column}: value maps apply to text and true/false columns; '{column}' is a number or a date"
                )));
            }
            None => {
                return Err(named(format!(
                    "values.{column}: '{column}' is not a canonical column of {entity}; canonical columns are: {}",
                    known()
                )));
            }
        }
    }
    for (name, l) in &m.lookup {
        if l.key.trim().is_empty() {
            return Err(named(format!(
                "lookup.{name}: key is empty; name the key column"
            )));
        }
        l.reading(m)
            .dialect()
            .map_err(|why| named(format!("lookup.{name}: {why}")))?;
    }
    Ok(())
}

fn load_file(path: &Path) -> Result<ConfigFile> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    toml::from_str(&text).map_err(|e| Error::config(path, e.to_string()))
}

/// Files matching `pattern` (relative to `dir`; `*` and `?` allowed in the last component),
/// sorted by path.
pub fn glob_files(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let full = dir.join(pattern);
    let parent = full.parent().unwrap_or(Path::new(".")).to_path_buf();
    let name = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return Ok(if full.is_file() { vec![full] } else { vec![] });
    }
    let entries = match std::fs::read_dir(&parent) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io(&parent, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&parent, e))?;
        let fname = entry.file_name().to_string_lossy().into_owned();
        if wildcard_match(name.as_bytes(), fname.as_bytes()) && entry.path().is_file() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard_match(&pattern[1..], text)
                || (!text.is_empty() && wildcard_match(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard_match(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => wildcard_match(&pattern[1..], &text[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_a_shell() {
        assert!(wildcard_match(b"*.csv", b"2024-01.csv"));
        assert!(wildcard_match(b"sales_??.csv", b"sales_01.csv"));
        assert!(!wildcard_match(b"*.csv", b"2024-01.csv.bak"));
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("crm-mart.toml");
        std::fs::write(&p, "[sources.sales]\ndelimeter = \";\"\n").unwrap();
        let err = Settings::resolve(Some(&p), None, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("crm-mart.toml") && err.contains("delimeter"),
            "{err}"
        );
    }
}
