//! A result as a Markdown (GitHub) pipe table: the first `max_rows` rows, numbers right-aligned,
//! `|` in a cell escaped.

use std::io::Write;

use arrow::datatypes::SchemaRef;
use arrow::util::display::FormatOptions;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;

use super::{Column, OutputOptions, Written, stdout_err};
use crate::error::Result;

/// Writes the table; every row is counted, the first `opts.max_rows` shown.
pub(super) async fn write_markdown(
    stream: &mut SendableRecordBatchStream,
    schema: &SchemaRef,
    opts: &OutputOptions,
    mut out: Box<dyn Write + Send>,
) -> Result<Written> {
    let limit = opts.max_rows.unwrap_or(usize::MAX);
    let fmt = FormatOptions::default().with_null("");
    let fields = schema.fields();
    let mut text = String::new();
    let header: Vec<String> = fields.iter().map(|f| escape(f.name())).collect();
    text.push_str(&format!("| {} |\n", header.join(" | ")));
    let rule: Vec<&str> = fields
        .iter()
        .map(|f| {
            if f.data_type().is_numeric() {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    text.push_str(&format!("|{}|\n", rule.join("|")));
    let (mut rows, mut shown) = (0u64, 0u64);
    while let Some(b) = stream.next().await {
        let b = b?;
        rows += b.num_rows() as u64;
        let cols: Vec<Column> = b
            .columns()
            .iter()
            .map(|c| Column::new(c, &fmt))
            .collect::<Result<_>>()?;
        for i in 0..b.num_rows() {
            if shown as usize >= limit {
                break;
            }
            let cells: Vec<String> = cols.iter().map(|c| escape(&c.cell(i))).collect();
            text.push_str(&format!("| {} |\n", cells.join(" | ")));
            shown += 1;
        }
    }
    out.write_all(text.as_bytes()).map_err(stdout_err)?;
    out.flush().map_err(stdout_err)?;
    Ok(Written {
        rows,
        shown,
        hidden_columns: Vec::new(),
    })
}

/// A cell's text safe inside a pipe table.
fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
