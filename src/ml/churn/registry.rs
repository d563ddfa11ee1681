//! Model governance: which stored churn model scores (the champion), and why.
//!
//! `models/churn/_registry.json` names the champion, whether it is pinned, and every decision
//! (promoted, not promoted, pinned, rolled back) with its reason. A retrained model becomes the
//! champion only if its test ROC AUC is at least the champion's on the same cut minus
//! `[models] max_auc_drop`, and never while the champion is pinned. Without a registry (a models
//! directory from before), the newest readable model is the champion.

use super::*;

/// The registry's file in a churn models directory.
pub const REGISTRY_FILE: &str = "_registry.json";

/// What happened to a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// It became the champion after training (or by `models promote`).
    Promoted,
    /// It was trained but did not become the champion.
    NotPromoted,
    /// It became the champion and stays so until unpinned (`models pin`).
    Pinned,
    /// The previous champion came back (`models rollback`).
    RolledBack,
}

impl Event {
    /// Its name in the registry and in `models list`.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Promoted => "promoted",
            Event::NotPromoted => "not_promoted",
            Event::Pinned => "pinned",
            Event::RolledBack => "rolled_back",
        }
    }
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// When (UTC, RFC 3339).
    pub at: String,
    /// The model it is about.
    pub version: String,
    /// What happened.
    pub event: Event,
    /// Why, in words.
    pub why: String,
}

/// The champion and the decisions that made it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    /// The model that scores (None: the newest readable model).
    pub champion: Option<String>,
    /// Whether retrained models are kept from replacing the champion.
    pub pinned: bool,
    /// Every decision, oldest first.
    pub history: Vec<Decision>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Registry {
    /// The registry of models directory `dir` (empty when there is none yet).
    pub fn load(dir: &Path) -> Result<Registry> {
        let path = dir.join(REGISTRY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                Error::usage(format!(
                    "{}: not a readable model registry ({e}); fix or delete it (the newest model then scores)",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry::default()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Writes the registry (to a temporary file renamed into place).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(REGISTRY_FILE);
        let tmp = dir.join(format!("{REGISTRY_FILE}.partial"));
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Invariant(format!("registry as JSON: {e}")))?;
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }

    fn record(&mut self, version: &str, event: Event, why: String) {
        self.history.push(Decision {
            at: now(),
            version: version.to_string(),
            event,
            why,
        });
    }

    /// The champions in the order they took over (promotions, pins and rollbacks).
    fn reigns(&self) -> Vec<&str> {
        self.history
            .iter()
            .filter(|d| d.event != Event::NotPromoted)
            .map(|d| d.version.as_str())
            .collect()
    }
}

/// The stored model called `version` in `dir`, or an error listing the versions there are.
pub fn find(dir: &Path, version: &str) -> Result<(PathBuf, ChurnModel)> {
    let all = list(dir)?;
    let names: Vec<String> = all
        .iter()
        .filter_map(|(_, m)| m.as_ref().ok().map(|m| m.version.clone()))
        .collect();
    all.into_iter()
        .find_map(|(p, m)| m.ok().filter(|m| m.version == version).map(|m| (p, m)))
        .ok_or_else(|| {
            Error::usage(format!(
                "{version}: no such churn model in {}; stored: {}",
                dir.display(),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })
}

/// The model that scores: the registry's champion, else the newest readable model.
pub fn champion(dir: &Path) -> Result<Option<(PathBuf, ChurnModel)>> {
    let reg = Registry::load(dir)?;
    if let Some(v) = &reg.champion {
        return find(dir, v).map(Some);
    }
    Ok(list(dir)?
        .into_iter()
        .rev()
        .find_map(|(p, m)| m.ok().map(|m| (p, m))))
}

/// Whether `challenger_auc` (test ROC AUC on its cut) may replace a champion whose ROC AUC on
/// the same cut is `champion_auc` (None: the champion cannot be scored there, e.g. it needs
/// features the mart no longer has): (promote, why).
pub fn judge(
    challenger: &str,
    challenger_auc: f64,
    champion: Option<(&str, Option<f64>)>,
    pinned: bool,
    max_auc_drop: f64,
) -> (bool, String) {
    match champion {
        None => (
            true,
            format!("{challenger} is the first model (test ROC AUC {challenger_auc:.4})"),
        ),
        Some((c, _)) if pinned => (
            false,
            format!(
                "the champion {c} is pinned (`crm-mart models promote {challenger}` to use the new one)"
            ),
        ),
        Some((c, None)) => (
            true,
            format!(
                "the champion {c} cannot be scored on the new cut; {challenger} (test ROC AUC {challenger_auc:.4}) replaces it"
            ),
        ),
        Some((c, Some(auc))) if challenger_auc + 1e-12 >= auc - max_auc_drop => (
            true,
            format!(
                "test ROC AUC {challenger_auc:.4} against the champion {c}'s {auc:.4} on the same cut (at most {max_auc_drop} lower is allowed)"
            ),
        ),
        Some((c, Some(auc))) => (
            false,
            format!(
                "test ROC AUC {challenger_auc:.4} is more than max_auc_drop {max_auc_drop} below the champion {c}'s {auc:.4} on the same cut; {c} keeps scoring"
            ),
        ),
    }
}

/// Decides whether a newly trained (and saved) `model` becomes the champion, given the
/// champion's ROC AUC on its test cut (None when there is no champion); records the decision.
/// Returns (promoted, why).
pub fn decide(
    dir: &Path,
    model: &ChurnModel,
    champion_auc: Option<(&str, Option<f64>)>,
    max_auc_drop: f64,
) -> Result<(bool, String)> {
    let mut reg = Registry::load(dir)?;
    let (promote, why) = judge(
        &model.version,
        model.metrics.roc_auc,
        champion_auc,
        reg.pinned,
        max_auc_drop,
    );
    if promote {
        reg.champion = Some(model.version.clone());
        reg.record(&model.version, Event::Promoted, why.clone());
    } else {
        reg.record(&model.version, Event::NotPromoted, why.clone());
    }
    reg.save(dir)?;
    Ok((promote, why))
}

/// Makes `version` the champion (`pin`: and keeps it so until the next promote or rollback).
pub fn promote(dir: &Path, version: &str, pin: bool) -> Result<Registry> {
    let (_, m) = find(dir, version)?;
    let mut reg = Registry::load(dir)?;
    reg.champion = Some(m.version.clone());
    reg.pinned = pin;
    let (event, why) = if pin {
        (
            Event::Pinned,
            "pinned by hand: retrained models are not promoted while it is pinned",
        )
    } else {
        (Event::Promoted, "promoted by hand")
    };
    reg.record(&m.version, event, why.to_string());
    reg.save(dir)?;
    Ok(reg)
}

/// Brings back the champion before the current one (and unpins).
pub fn rollback(dir: &Path) -> Result<Registry> {
    let mut reg = Registry::load(dir)?;
    let current = champion(dir)?.map(|(_, m)| m.version);
    let reigns = reg.reigns();
    let previous = reigns
        .iter()
        .rev()
        .find(|v| Some(**v) != current.as_deref())
        .map(|v| v.to_string())
        .ok_or_else(|| {
            Error::usage(format!(
                "no earlier champion to roll back to in {}; `crm-mart models promote VERSION` picks any stored model",
                dir.join(REGISTRY_FILE).display()
            ))
        })?;
    find(dir, &previous)?;
    reg.champion = Some(previous.clone());
    reg.pinned = false;
    reg.record(
        &previous,
        Event::RolledBack,
        format!(
            "rolled back from {}",
            current.unwrap_or_else(|| "-".to_string())
        ),
    );
    reg.save(dir)?;
    Ok(reg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenger_is_promoted_within_the_allowed_drop_and_never_over_a_pin() {
        assert!(judge("b", 0.80, None, false, 0.02).0);
        assert!(judge("b", 0.831, Some(("a", Some(0.85))), false, 0.02).0);
        assert!(judge("b", 0.83, Some(("a", Some(0.85))), false, 0.02).0);
        assert!(judge("b", 0.5, Some(("a", None)), false, 0.02).0);
        let (ok, why) = judge("b", 0.829, Some(("a", Some(0.85))), false, 0.02);
        assert!(!ok);
        assert!(
            why.contains("0.8290") && why.contains("0.8500") && why.contains("a keeps scoring"),
            "{why}"
        );
        let (ok, why) = judge("b", 0.99, Some(("a", Some(0.85))), true, 0.02);
        assert!(!ok && why.contains("pinned"), "{why}");
    }
}
