//! Customer models over the mart: features as of a date, segmentation (RFM and k-means), churn
//! prediction, customer lifetime value, and the registry of trained model artifacts.

pub mod churn;
pub mod clv;
pub mod features;
pub mod metrics;
pub mod optim;
pub mod segment;
pub mod special;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::util::fs::write_atomic;

/// Writes a model as `<dir>/<version>.json` and its card as `<dir>/<version>.md`; returns the
/// JSON path.
pub(crate) fn save_model(
    dir: &Path,
    version: &str,
    model: &impl serde::Serialize,
    card: &str,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let json = dir.join(format!("{version}.json"));
    let text = serde_json::to_string_pretty(model)
        .map_err(|e| Error::Invariant(format!("serialising the model: {e}")))?;
    write_atomic(&json, text.as_bytes())?;
    write_atomic(&dir.join(format!("{version}.md")), card.as_bytes())?;
    Ok(json)
}

/// The `*.json` model files in `dir` with what `load` makes of them, oldest first (by `created`,
/// then file name). Unreadable files are listed with their error.
pub(crate) fn list_models<M>(
    dir: &Path,
    load: impl Fn(&Path) -> Result<M>,
    created: impl Fn(&M) -> String,
) -> Result<Vec<(PathBuf, Result<M>)>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let files = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        // `_registry.json` and the like are the directory's own files, not models.
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('_'))
        });
    for f in files {
        let m = load(&f);
        out.push((f, m));
    }
    out.sort_by(|a, b| {
        let ka = a.1.as_ref().map(&created).unwrap_or_default();
        let kb = b.1.as_ref().map(&created).unwrap_or_default();
        ka.cmp(&kb).then(a.0.cmp(&b.0))
    });
    Ok(out)
}
