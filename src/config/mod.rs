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

mod mapping;
pub use mapping::*;
#[cfg(test)]
mod tests;

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
    /// Compaction and vacuum of the mart.
    #[serde(default)]
    pub maintain: MaintainSection,
    /// Which churn model scores.
    #[serde(default)]
    pub models: ModelsSection,
}

/// `[maintain]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintainSection {
    /// Days of history time travel can reach after `maintain` (default 30); older versions'
    /// files are vacuumed.
    pub retain_days: Option<u32>,
    /// The same for the model outputs every night replaces (default 7).
    pub outputs_retain_days: Option<u32>,
    /// Compact a table once it has this many files beyond one per partition (default 8).
    pub compact_min_files: Option<u32>,
    /// Whether `nightly` ends with the maintain stage (default true).
    pub nightly: Option<bool>,
}

/// `[models]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsSection {
    /// A retrained churn model becomes the champion only if its test ROC AUC is at least the
    /// champion's minus this (default 0.02).
    pub max_auc_drop: Option<f64>,
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
    /// Compaction and vacuum.
    pub maintain: crate::mart::maintain::MaintainParams,
    /// Whether `nightly` runs the maintain stage.
    pub maintain_nightly: bool,
    /// Largest drop of test ROC AUC a retrained churn model may show and still become champion.
    pub max_auc_drop: f64,
}

/// The default of `[models] max_auc_drop`.
pub const DEFAULT_MAX_AUC_DROP: f64 = 0.02;

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
        let (file, parsed) = find_file(config)?;
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
        let sources = resolve_sources(&parsed, &cfg_path)?;
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
        let sinks = resolve_sinks(&parsed.crm.sinks, &cfg_path, &rel)?;
        let nightly_log = match &parsed.nightly.log {
            Some(p) => rel(p),
            None => mart_dir
                .parent()
                .map(|p| p.join("nightly.jsonl"))
                .unwrap_or_else(|| PathBuf::from("nightly.jsonl")),
        };
        let quality = resolve_quality(&parsed.quality, &cfg_path)?;
        let policy = resolve_policy(&parsed.policy, &cfg_path)?;
        let (maintain, max_auc_drop) = resolve_operations(&parsed, &cfg_path)?;
        Ok(Settings {
            maintain,
            maintain_nightly: parsed.maintain.nightly.unwrap_or(true),
            max_auc_drop,
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

/// The configuration file: `config`, else `./crm-mart.toml` when it exists, else none.
fn find_file(config: Option<&Path>) -> Result<(Option<PathBuf>, Option<ConfigFile>)> {
    Ok(match config {
        Some(p) => (Some(p.to_path_buf()), Some(load_file(p)?)),
        None if Path::new(DEFAULT_CONFIG).exists() => {
            let p = PathBuf::from(DEFAULT_CONFIG);
            let parsed = load_file(&p)?;
            (Some(p), Some(parsed))
        }
        None => (None, None),
    })
}

/// Every entity's `[sources.<entity>]` (the default mapping where there is none), checked.
fn resolve_sources(
    parsed: &ConfigFile,
    cfg_path: &Path,
) -> Result<BTreeMap<String, SourceMapping>> {
    for name in parsed.sources.keys() {
        if !ENTITIES.contains(&name.as_str()) {
            return Err(Error::config(
                cfg_path,
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
        check_mapping(e, &m, cfg_path)?;
        for (key, format) in [
            ("date_format", &m.date_format),
            ("timestamp_format", &m.timestamp_format),
        ] {
            check_time_format(format).map_err(|why| {
                Error::config(
                    cfg_path,
                    format!(
                        "[sources.{e}] {key} = {format:?}: {why}; use chrono's strftime \
                         codes, e.g. \"%Y-%m-%d\", \"%d.%m.%Y\" or \"%Y-%m-%d %H:%M:%S\""
                    ),
                )
            })?;
        }
        sources.insert(e.to_string(), m);
    }
    Ok(sources)
}

/// `[crm] sinks`, with file paths relative to the configuration file.
fn resolve_sinks(
    raw: &[String],
    cfg_path: &Path,
    rel: &dyn Fn(&Path) -> PathBuf,
) -> Result<Vec<Sink>> {
    let mut sinks = Vec::new();
    for raw in raw {
        let sink: Sink = raw
            .parse()
            .map_err(|e: String| Error::config(cfg_path, format!("[crm] sinks: {e}")))?;
        sinks.push(match sink {
            Sink::Sqlite(p) => Sink::Sqlite(rel(&p)),
            Sink::Csv(p) => Sink::Csv(rel(&p)),
            Sink::Jsonl(p) => Sink::Jsonl(rel(&p)),
            other => other,
        });
    }
    Ok(sinks)
}

/// `[quality]`, checked.
fn resolve_quality(q: &QualitySection, cfg_path: &Path) -> Result<Quality> {
    Ok(Quality {
        max_quarantine_share: match q.max_quarantine_share {
            None => Quality::DEFAULT_MAX_QUARANTINE_SHARE,
            Some(s) if (0.0..=1.0).contains(&s) => s,
            Some(s) => {
                return Err(Error::config(
                    cfg_path,
                    format!(
                        "[quality] max_quarantine_share = {s} is not a share; use a number from 0 to 1, e.g. 0.05"
                    ),
                ));
            }
        },
        stale_after_days: q.stale_after_days,
    })
}

/// `[maintain] retain_days`, `outputs_retain_days` and `[models] max_auc_drop` over the defaults, checked.
fn resolve_operations(
    parsed: &ConfigFile,
    cfg_path: &Path,
) -> Result<(crate::mart::maintain::MaintainParams, f64)> {
    let defaults = crate::mart::maintain::MaintainParams::DEFAULT;
    let maintain = crate::mart::maintain::MaintainParams {
        retain_days: parsed.maintain.retain_days.unwrap_or(defaults.retain_days),
        outputs_retain_days: parsed
            .maintain
            .outputs_retain_days
            .unwrap_or(defaults.outputs_retain_days),
        compact_min_files: parsed
            .maintain
            .compact_min_files
            .unwrap_or(defaults.compact_min_files),
    };
    maintain
        .check()
        .map_err(|e| Error::config(cfg_path, format!("[maintain] {e}")))?;
    let max_auc_drop = parsed.models.max_auc_drop.unwrap_or(DEFAULT_MAX_AUC_DROP);
    if !(0.0..=1.0).contains(&max_auc_drop) {
        return Err(Error::config(
            cfg_path,
            format!("[models] max_auc_drop = {max_auc_drop}: use a number from 0 to 1, e.g. 0.02"),
        ));
    }
    Ok((maintain, max_auc_drop))
}

/// `[policy]` over the defaults, checked.
fn resolve_policy(p: &PolicySection, cfg_path: &Path) -> Result<Policy> {
    let defaults = Policy::default();
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
            cfg_path,
            "[policy] contact_window_days = 0 counts no contact; use a number of days ≥ 1, e.g. 30",
        ));
    }
    Ok(policy)
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
