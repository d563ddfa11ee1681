//! The star-schema mart: its contract, and reading and committing its Delta tables.

pub mod catalog;
pub mod delta;
pub mod engine;
pub mod erasure;
pub mod maintain;
mod reads;
pub use reads::EntityRows;
pub mod schema;

use arrow::array::{ArrayRef, RecordBatch};

use crate::error::Result;

/// `batches` with string views and large strings as plain strings (Delta reads may return
/// views; the mart's writers and the ETL work on plain strings).
pub fn utf8(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    batches
        .into_iter()
        .map(|b| {
            let schema = b.schema();
            let cols: Vec<ArrayRef> = b
                .columns()
                .iter()
                .map(|c| match c.data_type() {
                    arrow::datatypes::DataType::Utf8View
                    | arrow::datatypes::DataType::LargeUtf8 => {
                        arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)
                    }
                    _ => Ok(c.clone()),
                })
                .collect::<std::result::Result<_, _>>()?;
            let fields: Vec<arrow::datatypes::Field> = schema
                .fields()
                .iter()
                .zip(&cols)
                .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
                .collect();
            Ok(RecordBatch::try_new(
                std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
                cols,
            )?)
        })
        .collect()
}
