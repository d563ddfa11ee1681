//! `crm-mart.toml` + command line → resolved settings.
//!
//! The file is optional: without it, the source directory is `sample-data/` and the mart is
//! `mart/`, and every entity is looked up as `<entity>.csv` or `<entity>/*.csv` in canonical
//! column names. Relative paths in the file are relative to the file's own directory, so a
//! scheduled job can run from anywhere with `--config /path/to/crm-mart.toml`.

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
        match self.delimiter.as_bytes() {
            [b] => Ok(*b),
            _ if self.delimiter == "\\t" => Ok(b'\t'),
            _ => Err(Error::config(
                file,
                format!(
                    "delimiter {:?} is not a single ASCII character; use e.g. \",\", \";\", \"|\" or \"\\t\"",
                    self.delimiter
                ),
            )),
        }
    }

    /// Name of the canonical column `canonical` in the source file.
    pub fn source_column<'a>(&'a self, canonical: &'a str) -> &'a str {
        self.columns
            .get(canonical)
            .map(String::as_str)
            .unwrap_or(canonical)
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
    pub sinks: Vec<crate::crm::Sink>,
    /// Churn model age (days) after which `nightly` retrains.
    pub retrain_after_days: u32,
    /// The nightly run log.
    pub nightly_log: PathBuf,
}

/// Default configuration file name, looked up in the working directory.
pub const DEFAULT_CONFIG: &str = "crm-mart.toml";

impl Settings {
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
            m.delimiter_byte(&cfg_path)?;
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
            let sink: crate::crm::Sink = raw
                .parse()
                .map_err(|e: String| Error::config(&cfg_path, format!("[crm] sinks: {e}")))?;
            sinks.push(match sink {
                crate::crm::Sink::Sqlite(p) => crate::crm::Sink::Sqlite(rel(&p)),
                crate::crm::Sink::Csv(p) => crate::crm::Sink::Csv(rel(&p)),
                crate::crm::Sink::Jsonl(p) => crate::crm::Sink::Jsonl(rel(&p)),
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
        Ok(Settings {
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
