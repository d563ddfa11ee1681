//! What the ETL held back in one batch: `_quarantine` rows counted by entity and reason code,
//! against the rows the batch read (`_etl_runs`), with a few sample rows of each group.

use std::collections::BTreeMap;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::DataType;

use super::Ctx;
use crate::error::{Error, Result};
use crate::mart::schema::MartTable;

/// What to summarise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineParams {
    /// The ETL batch (`seq` of `_etl_runs`; default: the last one).
    pub seq: Option<i64>,
    /// Sample rows shown per entity and code.
    pub samples: usize,
}

impl QuarantineParams {
    /// The last batch, three samples per group.
    pub const DEFAULT: QuarantineParams = QuarantineParams {
        seq: None,
        samples: 3,
    };
}

/// One quarantined row, as a sample.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sample {
    /// Source file (relative to the source directory).
    pub file: String,
    /// Line of the record in it.
    pub line: i64,
    /// Column at fault, when one is.
    pub column: Option<String>,
    /// Offending value, when one is.
    pub value: Option<String>,
    /// The full reason.
    pub reason: String,
}

/// The rows of one entity quarantined for one reason.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Group {
    /// The entity (`sales`, `customers`, …); a lookup file's rows count under its entity.
    pub entity: String,
    /// Where the rows came from: the entity, or `<entity>.lookup.<name>`.
    pub source: String,
    /// The reason code (`duplicate_row`, `unknown_reference`, …).
    pub code: String,
    /// Rows.
    pub rows: u64,
    /// Share of the entity's rows read in the batch.
    pub share: f64,
    /// The first few rows (by file and line).
    pub samples: Vec<Sample>,
}

/// One batch's quarantine.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QuarantineSummary {
    /// The batch's id.
    pub batch_id: String,
    /// Its number.
    pub seq: i64,
    /// Rows the batch read, every entity.
    pub rows_read: u64,
    /// Rows it quarantined.
    pub rows_quarantined: u64,
    /// Per entity and code, most rows first.
    pub groups: Vec<Group>,
}

/// Summarises the quarantine of batch `p.seq` (default: the last batch).
pub fn quarantine_summary(ctx: &Ctx, p: &QuarantineParams) -> Result<QuarantineSummary> {
    ctx.block_on(async {
        let mart = ctx.mart();
        if !mart.has_table(MartTable::EtlRuns.name()) {
            return Err(Error::usage(format!(
                "mart {} has no ETL batch yet; load one with `crm-mart etl`",
                mart.root().display()
            )));
        }
        let runs = MartTable::EtlRuns.name();
        let last = strings(&mart.query(runs, "SELECT max(seq) FROM _etl_runs").await?);
        let last: i64 = last
            .first()
            .and_then(|r| r[0].as_deref())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let seq = p.seq.unwrap_or(last);
        if seq < 1 || seq > last {
            return Err(Error::params(
                "batch",
                format!("{seq} is not an ETL batch of this mart; the batches are 1 to {last}"),
            ));
        }
        let id_rows = strings(
            &mart
                .query(
                    runs,
                    &format!("SELECT min(batch_id) FROM _etl_runs WHERE seq = {seq}"),
                )
                .await?,
        );
        let batch_id = id_rows
            .first()
            .and_then(|r| r[0].clone())
            .unwrap_or_default();
        let read: BTreeMap<String, i64> = mart
            .batch_rows(seq)
            .await?
            .into_iter()
            .map(|(entity, read, ..)| (entity, read))
            .collect();
        let groups = groups(&mart, &batch_id, p.samples, &read).await?;
        Ok(QuarantineSummary {
            batch_id,
            seq,
            rows_read: read.values().sum::<i64>() as u64,
            rows_quarantined: groups.iter().map(|g| g.rows).sum(),
            groups,
        })
    })
}

/// The batch's quarantined rows by source and code, with samples.
async fn groups(
    mart: &crate::mart::delta::Mart,
    batch_id: &str,
    samples: usize,
    read: &BTreeMap<String, i64>,
) -> Result<Vec<Group>> {
    let q = MartTable::Quarantine.name();
    if !mart.has_table(q) {
        return Ok(Vec::new());
    }
    // A mart written before the column existed has the code at the start of the reason only.
    let code = if mart.lacks_columns(q).await? {
        "split_part(reason, ':', 1)"
    } else {
        "coalesce(reason_code, split_part(reason, ':', 1))"
    };
    let id = batch_id.replace('\'', "''");
    let sql = format!(
        "SELECT source, code, n, file, line, \"column\", value, reason FROM (
           SELECT source, {code} AS code, count(*) OVER (PARTITION BY source, {code}) AS n,
                  row_number() OVER (PARTITION BY source, {code} ORDER BY file, line) AS k,
                  file, line, \"column\", value, reason
           FROM _quarantine WHERE batch_id = '{id}')
         WHERE k <= {}
         ORDER BY n DESC, source, code, k",
        samples.max(1)
    );
    let mut out: Vec<Group> = Vec::new();
    for r in strings(&mart.query(q, &sql).await?) {
        let text = |j: usize| r[j].clone().unwrap_or_default();
        let (source, code) = (text(0), text(1));
        let sample = Sample {
            file: text(3),
            line: text(4).parse().unwrap_or(0),
            column: r[5].clone(),
            value: r[6].clone(),
            reason: text(7),
        };
        match out.last_mut() {
            Some(g) if g.source == source && g.code == code => g.samples.push(sample),
            _ => {
                let entity = source.split('.').next().unwrap_or("").to_string();
                let rows: u64 = text(2).parse().unwrap_or(0);
                let of = read.get(&entity).copied().unwrap_or(0).max(1) as f64;
                out.push(Group {
                    share: rows as f64 / of,
                    entity,
                    source,
                    code,
                    rows,
                    samples: vec![sample],
                });
            }
        }
    }
    if samples == 0 {
        out.iter_mut().for_each(|g| g.samples.clear());
    }
    Ok(out)
}

/// Every cell of `batches` as text (None for null), row by row.
fn strings(batches: &[RecordBatch]) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    for b in batches {
        let cols: Vec<StringArray> = b
            .columns()
            .iter()
            .map(|c| {
                arrow::compute::cast(c, &DataType::Utf8)
                    .ok()
                    .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
                    .unwrap_or_else(|| StringArray::new_null(b.num_rows()))
            })
            .collect();
        for i in 0..b.num_rows() {
            rows.push(
                cols.iter()
                    .map(|c| (!c.is_null(i)).then(|| c.value(i).to_string()))
                    .collect(),
            );
        }
    }
    rows
}
