//! The books of a batch: quarantine rows and per-entity counts, checked file by file
//! (rows_read = rows_loaded + rows_quarantined), and the quality gate that refuses a batch that
//! is mostly bad.

use std::collections::BTreeMap;

use super::dims::Cell;
use super::read::Reject;
use super::{EntityStats, FileRecord, Loaded, lookup, restate};
use crate::error::{Error, Result};

/// Quarantine rows and per-entity counts of a batch, checked file by file.
pub(super) struct Accounts<'a> {
    pub batch_id: &'a str,
    pub quarantine: Vec<Vec<Cell>>,
    pub stats: BTreeMap<&'static str, EntityStats>,
}

impl Accounts<'_> {
    /// Records one processed file: its rejects (structural, typing and `late`: keys and
    /// references) go to quarantine, and rows_read = rows_loaded + rows_quarantined is checked.
    pub(super) fn record(&mut self, f: &Loaded, late: &[(usize, Reject)], secs: f64) -> Result<()> {
        let mut rejects: Vec<&Reject> = f
            .rows
            .rejects
            .iter()
            .chain(f.typed.rejects.iter())
            .collect();
        rejects.extend(late.iter().map(|(_, r)| r));
        rejects.sort_by_key(|r| r.line);
        let loaded_rows = f.typed.df.height() as u64 - late.len() as u64;
        let q = rejects.len() as u64;
        if f.rows.rows_read != loaded_rows + q {
            return Err(Error::Invariant(format!(
                "{}: read {} rows but loaded {loaded_rows} and quarantined {q}",
                f.rel, f.rows.rows_read
            )));
        }
        for r in rejects {
            self.quarantine
                .push(quarantine_row(self.batch_id, f.entity, &f.rel, r));
        }
        let s = self.stats.entry(f.entity).or_insert_with(|| EntityStats {
            entity: f.entity.to_string(),
            ..Default::default()
        });
        s.seconds += secs;
        s.rows_read += f.rows.rows_read;
        s.rows_loaded += loaded_rows;
        s.rows_quarantined += q;
        s.files.push(FileRecord {
            path: f.rel.clone(),
            sha256: f.sha256.clone(),
            rows_read: f.rows.rows_read,
            rows_loaded: loaded_rows,
            rows_quarantined: q,
            ..Default::default()
        });
        Ok(())
    }

    /// Moves restated rows from loaded to updated or unchanged, per file.
    pub(super) fn record_restated(&mut self, entity: &'static str, outcome: &restate::Outcome) {
        let Some(s) = self.stats.get_mut(entity) else {
            return;
        };
        for f in s.files.iter_mut().filter(|f| f.lookup.is_none()) {
            if let Some(&(updated, unchanged)) = outcome.get(&f.path) {
                f.rows_loaded -= unchanged;
                f.rows_updated += updated;
                f.rows_unchanged += unchanged;
                s.rows_loaded -= unchanged;
                s.rows_updated += updated;
                s.rows_unchanged += unchanged;
            }
        }
    }

    /// Records the files of a lookup of `entity`: their rejects go to quarantine (source
    /// `<entity>.lookup.<name>`), and each file's rows are matched, unused or quarantined.
    pub(super) fn record_lookup(&mut self, entity: &'static str, l: &lookup::Lookup) -> Result<()> {
        let source = format!("{entity}.lookup.{}", l.name);
        for (f, (matched, unused)) in l.files.iter().zip(l.usage()) {
            let q = f.rejects.len() as u64;
            if f.rows_read != matched + unused + q {
                return Err(Error::Invariant(format!(
                    "{}: read {} rows but matched {matched}, left {unused} and quarantined {q}",
                    f.rel, f.rows_read
                )));
            }
            for r in &f.rejects {
                self.quarantine
                    .push(quarantine_row(self.batch_id, &source, &f.rel, r));
            }
            let s = self.stats.entry(entity).or_insert_with(|| EntityStats {
                entity: entity.to_string(),
                ..Default::default()
            });
            s.files.push(FileRecord {
                path: f.rel.clone(),
                sha256: f.sha256.clone(),
                rows_read: f.rows_read,
                rows_loaded: matched,
                rows_quarantined: q,
                lookup: Some(l.name.clone()),
                rows_unused: Some(unused),
                ..Default::default()
            });
        }
        Ok(())
    }
}

/// Refuses the batch when an entity's share of quarantined rows is above `max_share`: a batch
/// that is mostly bad (a file in the wrong encoding, a changed export layout, a dimension file
/// whose ids do not match the facts) must not be half-loaded. The message has the counts per
/// reason and three sample rows.
pub(super) fn quality_gate(
    stats: &BTreeMap<&'static str, EntityStats>,
    quarantine: &[Vec<Cell>],
    max_share: f64,
) -> Result<()> {
    let mut problems = Vec::new();
    for (entity, s) in stats {
        if s.rows_read == 0 {
            continue;
        }
        let share = s.rows_quarantined as f64 / s.rows_read as f64;
        if share <= max_share {
            continue;
        }
        let rows: Vec<&Vec<Cell>> = quarantine
            .iter()
            .filter(|r| r[1].as_str() == Some(entity))
            .collect();
        let (reasons, samples) = reasons_and_samples(&rows);
        let files: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
        let referenced = missing_ids(stats, &rows);
        problems.push(format!(
            "{entity} ({}): {} of {} rows ({:.1}%) would be quarantined, above the limit of {:.1}%; by reason: {}{referenced}\n  first rows:\n{}",
            files.join(", "),
            s.rows_quarantined,
            s.rows_read,
            share * 100.0,
            max_share * 100.0,
            reasons
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            samples.join("\n")
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::QualityGate {
        message: format!(
            "the batch was not committed (the mart is unchanged): {}\nFix the export or its mapping in crm-mart.toml (encoding, delimiter, columns, value maps) and run again; to load such a batch anyway, raise [quality] max_quarantine_share.",
            problems.join("\n")
        ),
    })
}

/// The quarantined rows' counts per reason (most first) and the first three, in words.
fn reasons_and_samples<'a>(rows: &[&'a Vec<Cell>]) -> (Vec<(&'a str, u64)>, Vec<String>) {
    let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
    for r in rows {
        let code = r[8].as_str().unwrap_or("");
        *reasons.entry(code).or_default() += 1;
    }
    let mut reasons: Vec<(&str, u64)> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let samples: Vec<String> = rows
        .iter()
        .take(3)
        .map(|r| {
            let raw: String = r[4].as_str().unwrap_or("").chars().take(100).collect();
            format!(
                "    {} line {}: {}\n      {raw:?}",
                r[2].as_str().unwrap_or(""),
                match r[3] {
                    Cell::I64(l) => l,
                    _ => 0,
                },
                r[5].as_str().unwrap_or("")
            )
        })
        .collect();
    (reasons, samples)
}

/// For unknown references: the dimension file that lacks the ids, which is usually the file to
/// fix.
fn missing_ids(stats: &BTreeMap<&'static str, EntityStats>, rows: &[&Vec<Cell>]) -> String {
    let mut referenced: Vec<String> = Vec::new();
    for r in rows {
        let reference = r[8].as_str() == Some("unknown_reference");
        let dim = match r[6].as_str() {
            Some("customer_id") => "customers",
            Some("product_id") => "products",
            Some("store_id") => "stores",
            Some("campaign_id") => "campaigns",
            _ => continue,
        };
        let Some(d) = stats.get(dim).filter(|_| reference) else {
            continue;
        };
        let note = format!(
            "the ids are not in {dim} ({}: {} rows read, {} loaded)",
            d.files
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            d.rows_read,
            d.rows_loaded
        );
        if !referenced.contains(&note) {
            referenced.push(note);
        }
    }
    if referenced.is_empty() {
        String::new()
    } else {
        format!("; for unknown_reference, {}", referenced.join("; "))
    }
}

/// A `_quarantine` row.
fn quarantine_row(batch_id: &str, source: &str, file: &str, r: &Reject) -> Vec<Cell> {
    vec![
        Cell::Str(batch_id.into()),
        Cell::Str(source.into()),
        Cell::Str(file.into()),
        Cell::I64(r.line as i64),
        Cell::Str(r.raw.as_str().into()),
        Cell::Str(format!("{}: {}", r.code, r.message).into()),
        r.column
            .as_deref()
            .map(|c| Cell::Str(c.into()))
            .unwrap_or(Cell::Null),
        r.value
            .as_deref()
            .map(|v| Cell::Str(v.into()))
            .unwrap_or(Cell::Null),
        Cell::Str(r.code.into()),
    ]
}
