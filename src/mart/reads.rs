//! The few reads the ETL makes of the mart's own tables (keys already loaded, the calendar's
//! range, the last batch): statements built here, over one table each.

use arrow::array::{Array, Int64Array, RecordBatch};

use super::delta::Mart;
use super::schema::MartTable;
use crate::error::Result;

/// One entity of an ETL batch: (entity, rows read, loaded, quarantined, updated).
pub type EntityRows = (String, i64, i64, i64, i64);

impl Mart {
    /// The natural-key columns of fact table `table` for the rows loaded by batches other than
    /// `batch_id`.
    pub async fn fact_keys(&self, table: MartTable, batch_id: &str) -> Result<Vec<RecordBatch>> {
        let cols: &str = match table {
            MartTable::FactSales => "order_id, line_no",
            MartTable::FactContacts => "contact_id",
            _ => return Ok(Vec::new()),
        };
        let name = table.name();
        let batch_id = batch_id.replace('\'', "''");
        let sql = format!("SELECT {cols} FROM {name} WHERE batch_id <> '{batch_id}'");
        self.query(name, &sql).await
    }

    /// The first and last `date_key` of `dim_date` (None before the first load).
    pub async fn date_key_range(&self) -> Result<Option<(i32, i32)>> {
        let batches = self
            .query(
                MartTable::DimDate.name(),
                "SELECT min(date_key) AS lo, max(date_key) AS hi FROM dim_date",
            )
            .await?;
        let mut range = None;
        for b in &batches {
            let lo = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Int64)?;
            let hi = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Int64)?;
            let (lo, hi) = (as_i64(&lo), as_i64(&hi));
            if let (Some(lo), Some(hi)) = (lo, hi) {
                range = Some((lo as i32, hi as i32));
            }
        }
        Ok(range)
    }

    /// Per entity of ETL batch `seq`: (entity, rows read, loaded, quarantined, updated).
    pub async fn batch_rows(&self, seq: i64) -> Result<Vec<EntityRows>> {
        let sql = format!(
            "SELECT entity, rows_read, rows_loaded, rows_quarantined, coalesce(rows_updated, 0) \
             FROM _etl_runs WHERE seq = {seq} ORDER BY entity"
        );
        let mut out = Vec::new();
        for b in &self.query(MartTable::EtlRuns.name(), &sql).await? {
            let entity = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?;
            let entity = entity
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .expect("cast to Utf8");
            let ints: Vec<Int64Array> = (1..5)
                .map(|j| {
                    arrow::compute::cast(b.column(j), &arrow::datatypes::DataType::Int64).map(|c| {
                        c.as_any()
                            .downcast_ref::<Int64Array>()
                            .expect("cast")
                            .clone()
                    })
                })
                .collect::<std::result::Result<_, _>>()?;
            for i in 0..b.num_rows() {
                out.push((
                    entity.value(i).to_string(),
                    ints[0].value(i),
                    ints[1].value(i),
                    ints[2].value(i),
                    ints[3].value(i),
                ));
            }
        }
        Ok(out)
    }

    /// The latest `finished_at` of `_etl_runs`, microseconds since the epoch (None for a mart
    /// never loaded).
    pub async fn last_finished_at(&self) -> Result<Option<i64>> {
        let batches = self
            .query(
                MartTable::EtlRuns.name(),
                "SELECT max(finished_at) AS last FROM _etl_runs",
            )
            .await?;
        let mut last = None;
        for b in &batches {
            let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Int64)?;
            last = last.or(as_i64(&c));
        }
        Ok(last)
    }
}

/// The first value of an Int64 column, if there is one and it is not null.
fn as_i64(a: &arrow::array::ArrayRef) -> Option<i64> {
    let c = a.as_any().downcast_ref::<Int64Array>()?;
    (!c.is_empty() && !c.is_null(0)).then(|| c.value(0))
}
