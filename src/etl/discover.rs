//! Step 1 of a batch: the source files of every entity, their content hashes, which of them no
//! earlier batch loaded, and the check that every new file is loadable before any work.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use arrow::array::{Array, Int64Array};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::{FileRecord, lookup, read, rel_path, str_col, utf8, validate};
use crate::config::{ENTITIES, Settings, glob_files};
use crate::error::{Error, Result};
use crate::mart::delta::Mart;

/// Source files of `entity`: the mapping's `path`, or the default names.
pub fn entity_files(settings: &Settings, entity: &str) -> Result<Vec<PathBuf>> {
    let m = settings.mapping(entity);
    if let Some(p) = &m.path {
        let files = glob_files(&settings.source_dir, p)?;
        if files.is_empty() {
            // A configured source that matches nothing is a mistake, not an absent entity:
            // silently deriving the dimension instead would hide it.
            return Err(Error::source(
                &settings.source_dir.join(p),
                format!(
                    "[sources.{entity}] path = \"{p}\" matches no file in {}; fix the path or remove it to use the defaults",
                    settings.source_dir.display()
                ),
            ));
        }
        return Ok(files);
    }
    // A file declared as another entity's lookup (`customers.csv` of a normalized export) is
    // not this entity's source.
    let lookups: HashSet<PathBuf> = lookup_files(settings)?
        .into_iter()
        .flat_map(|(_, _, files)| files)
        .collect();
    for pattern in [
        format!("{entity}.csv"),
        format!("{entity}.jsonl"),
        format!("{entity}.parquet"),
        format!("{entity}/*.csv"),
        format!("{entity}/*.jsonl"),
        format!("{entity}/*.parquet"),
    ] {
        let found: Vec<PathBuf> = glob_files(&settings.source_dir, &pattern)?
            .into_iter()
            .filter(|f| !lookups.contains(f))
            .collect();
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// The lookups of every entity: (entity, lookup name, its files). A lookup path that matches
/// no file is an error.
pub fn lookup_files(settings: &Settings) -> Result<Vec<(&'static str, String, Vec<PathBuf>)>> {
    let mut out = Vec::new();
    for e in ENTITIES {
        for (name, l) in &settings.mapping(e).lookup {
            let files = glob_files(&settings.source_dir, &l.path)?;
            if files.is_empty() {
                return Err(Error::source(
                    &settings.source_dir.join(&l.path),
                    format!(
                        "[sources.{e}.lookup.{name}] path = \"{}\" matches no file in {}; fix the path",
                        l.path,
                        settings.source_dir.display()
                    ),
                ));
            }
            out.push((*e, name.clone(), files));
        }
    }
    Ok(out)
}

pub(super) fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A source file of this batch: its entity, path and content hash.
pub(super) type NewFile = (&'static str, PathBuf, String);

/// What the source directory holds that the mart has not loaded.
pub(super) struct Discovered {
    /// The files no earlier batch loaded (the same content twice counts once).
    pub new_files: Vec<NewFile>,
    /// Files loaded by earlier batches.
    pub already: usize,
    /// The last batch's sequence number.
    pub max_seq: i64,
    /// Per entity: whether any file exists for it.
    pub has_source: BTreeMap<&'static str, bool>,
}

/// The source files and what of them is new.
pub(super) async fn discover(settings: &Settings, mart: &Mart) -> Result<Discovered> {
    let mut discovered: Vec<(&'static str, PathBuf)> = Vec::new();
    let mut has_source: BTreeMap<&'static str, bool> = BTreeMap::new();
    for e in ENTITIES {
        let files = entity_files(settings, e)?;
        has_source.insert(e, !files.is_empty());
        discovered.extend(files.into_iter().map(|f| (*e, f)));
    }
    if !has_source["sales"] {
        return Err(Error::source(
            &settings.source_dir,
            format!(
                "no sales files found (looked for {}); sales is the one required entity: add sales.csv or sales/*.csv, or set [sources.sales] path in crm-mart.toml",
                settings
                    .mapping("sales")
                    .path
                    .clone()
                    .unwrap_or_else(|| "sales.csv, sales/*.csv, sales.jsonl, sales.parquet".into())
            ),
        ));
    }
    let hashes: Vec<Result<String>> = discovered.par_iter().map(|(_, p)| sha256_file(p)).collect();
    let runs = utf8(mart.read("_etl_runs").await?)?;
    let mut loaded_hashes: HashSet<String> = HashSet::new();
    let mut max_seq = 0i64;
    for b in &runs {
        let files = str_col(b, "files")?;
        let seqs = b
            .column_by_name("seq")
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .ok_or_else(|| Error::Invariant("_etl_runs.seq".into()))?;
        for i in 0..b.num_rows() {
            max_seq = max_seq.max(seqs.value(i));
            let recs: Vec<FileRecord> = serde_json::from_str(files.value(i))
                .map_err(|e| Error::Invariant(format!("_etl_runs.files is not valid JSON: {e}")))?;
            loaded_hashes.extend(recs.into_iter().map(|r| r.sha256));
        }
    }
    let mut new_files: Vec<(&'static str, PathBuf, String)> = Vec::new();
    let mut already = 0usize;
    let mut seen_in_batch = HashSet::new();
    for ((entity, path), h) in discovered.into_iter().zip(hashes) {
        let h = h?;
        if loaded_hashes.contains(&h) || !seen_in_batch.insert(h.clone()) {
            already += 1;
        } else {
            new_files.push((entity, path, h));
        }
    }
    Ok(Discovered {
        new_files,
        already,
        max_seq,
        has_source,
    })
}

/// Every file must be loadable (readable, required columns present) before any work or any
/// commit: a broken file stops the run with the mart untouched.
pub(super) fn check_loadable(
    settings: &Settings,
    new_files: &[NewFile],
    all_lookups: &[(&'static str, String, Vec<PathBuf>)],
    cfg_path: &Path,
) -> Result<()> {
    let mut lookup_columns: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (entity, name, files) in all_lookups {
        let l = &settings.mapping(entity).lookup[name];
        let reading = l.reading(settings.mapping(entity));
        for f in files {
            let cols = read::columns_of(f, &reading, cfg_path)?;
            lookup_columns.entry(entity).or_default().extend(cols);
        }
    }
    new_files
        .par_iter()
        .map(|(entity, path, _)| {
            let mapping = settings.mapping(entity);
            let mut found = read::columns_of(path, mapping, cfg_path)?;
            found.extend(lookup_columns.get(entity).into_iter().flatten().cloned());
            if read::format_of(path, mapping) == crate::config::SourceFormat::Jsonl {
                return Ok(()); // JSON keys vary by line: checked on the full read
            }
            validate::check_columns(entity, path, &found, mapping)
        })
        .collect::<Result<Vec<()>>>()?;
    Ok(())
}

/// The lookup files of the entities with new files, read once for the batch.
pub(super) fn read_lookups(
    settings: &Settings,
    new_files: &[NewFile],
    all_lookups: &[(&'static str, String, Vec<PathBuf>)],
    cfg_path: &Path,
) -> Result<BTreeMap<&'static str, Vec<lookup::Lookup>>> {
    let mut lookups: BTreeMap<&'static str, Vec<lookup::Lookup>> = BTreeMap::new();
    for (entity, name, files) in all_lookups {
        if !new_files.iter().any(|(e, _, _)| e == entity) {
            continue;
        }
        let mapping = settings.mapping(entity);
        let files: Vec<(PathBuf, String, String)> = files
            .iter()
            .map(|p| Ok((p.clone(), rel_path(settings, p), sha256_file(p)?)))
            .collect::<Result<_>>()?;
        let l = lookup::Lookup::read(
            name,
            &mapping.lookup[name],
            mapping,
            &files,
            cfg_path,
            settings.quality.max_quarantine_share,
        )?;
        lookups.entry(entity).or_default().push(l);
    }
    Ok(lookups)
}

/// The batch of `new_files`: every file checked loadable, the batch id (a hash of the files'
/// hashes), and the lookups of the entities with new files, read once for the batch.
pub(super) fn batch_of(
    settings: &Settings,
    new_files: &[NewFile],
    cfg_path: &Path,
) -> Result<(String, BTreeMap<&'static str, Vec<lookup::Lookup>>)> {
    let all_lookups = lookup_files(settings)?;
    check_loadable(settings, new_files, &all_lookups, cfg_path)?;
    let mut sorted_hashes: Vec<&str> = new_files.iter().map(|(_, _, h)| h.as_str()).collect();
    sorted_hashes.sort();
    let batch_id = hex(&Sha256::digest(sorted_hashes.join("\n").as_bytes()))[..16].to_string();
    let lookups = read_lookups(settings, new_files, &all_lookups, cfg_path)?;
    Ok((batch_id, lookups))
}
