//! The workbook output: one sheet, numbers and times as Excel numbers, written a row at a time.

use std::io::Write;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float64Type, SchemaRef, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;

use super::{XLSX_MAX_ROWS, stdout_err};
use crate::error::{Error, Result};

/// Numbers and times of a column as Excel numbers: (values as f64, units per day for times
/// (serial days since 1899-12-30), the cell format); `None` for other columns.
type XlsxNumbers<'f> = Option<(ArrayRef, f64, Option<&'f rust_xlsxwriter::Format>)>;

fn xlsx_numbers<'f>(
    a: &ArrayRef,
    date: &'f rust_xlsxwriter::Format,
    ts: &'f rust_xlsxwriter::Format,
) -> Result<XlsxNumbers<'f>> {
    Ok(match a.data_type() {
        dt if dt.is_numeric() => Some((arrow::compute::cast(a, &DataType::Float64)?, 0.0, None)),
        DataType::Date32 => {
            let days = arrow::compute::cast(a, &DataType::Int32)?;
            Some((
                arrow::compute::cast(&days, &DataType::Float64)?,
                1.0,
                Some(date),
            ))
        }
        DataType::Timestamp(unit, _) => {
            let per_day = match unit {
                TimeUnit::Second => 86_400.0,
                TimeUnit::Millisecond => 86_400e3,
                TimeUnit::Microsecond => 86_400e6,
                TimeUnit::Nanosecond => 86_400e9,
            };
            let raw = arrow::compute::cast(a, &DataType::Int64)?;
            let raw = arrow::compute::cast(&raw, &DataType::Float64)?;
            Some((raw, per_day, Some(ts)))
        }
        _ => None,
    })
}

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> Error {
    Error::usage(format!("xlsx output: {e}"))
}

/// Writes the cells of row `i` of a batch's columns to sheet row `r`.
fn xlsx_row(
    ws: &mut rust_xlsxwriter::Worksheet,
    r: u32,
    i: usize,
    cols: &[(&ArrayRef, ArrayFormatter, XlsxNumbers)],
) -> Result<()> {
    for (c, (a, fmt, numbers)) in cols.iter().enumerate() {
        let c = c as u16;
        if a.is_null(i) {
            continue;
        }
        match (numbers, a.data_type()) {
            (Some((x, scale, f)), _) => {
                let mut v = x.as_primitive::<Float64Type>().value(i);
                if *scale > 0.0 {
                    v = v / scale + 25569.0;
                }
                if !v.is_finite() {
                    continue;
                }
                match f {
                    Some(f) => ws.write_number_with_format(r, c, v, f),
                    None => ws.write_number(r, c, v),
                }
                .map_err(xlsx_err)?;
            }
            (None, DataType::Boolean) => {
                ws.write_boolean(r, c, a.as_boolean().value(i))
                    .map_err(xlsx_err)?;
            }
            (None, _) => {
                ws.write_string(r, c, fmt.value(i).to_string())
                    .map_err(xlsx_err)?;
            }
        }
    }
    Ok(())
}

pub(super) async fn write_xlsx(
    stream: &mut SendableRecordBatchStream,
    schema: &SchemaRef,
    mut out: Box<dyn Write + Send>,
) -> Result<u64> {
    use rust_xlsxwriter::{Format as XFormat, Workbook};
    let mut wb = Workbook::new();
    let header = XFormat::new().set_bold();
    let date = XFormat::new().set_num_format("yyyy-mm-dd");
    let ts = XFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let ws = wb.add_worksheet_with_constant_memory().map_err(xlsx_err)?;
    ws.set_name("result").map_err(xlsx_err)?;
    for (c, f) in schema.fields().iter().enumerate() {
        ws.write_string_with_format(0, c as u16, f.name(), &header)
            .map_err(xlsx_err)?;
        ws.set_column_width(c as u16, (f.name().len() as f64 + 2.0).clamp(10.0, 40.0))
            .map_err(xlsx_err)?;
    }
    ws.set_freeze_panes(1, 0).map_err(xlsx_err)?;
    let opts = FormatOptions::default();
    let mut row = 0u64;
    while let Some(b) = stream.next().await {
        let b = b?;
        if row + b.num_rows() as u64 > XLSX_MAX_ROWS {
            return Err(Error::usage(format!(
                "the result has more than {XLSX_MAX_ROWS} rows, the most one Excel sheet holds; use {} csv or parquet",
                crate::error::param("format")
            )));
        }
        let mut cols = Vec::with_capacity(b.num_columns());
        for a in b.columns() {
            let numbers = xlsx_numbers(a, &date, &ts)?;
            cols.push((a, ArrayFormatter::try_new(a.as_ref(), &opts)?, numbers));
        }
        // Constant-memory mode writes a row at a time, so rows go in order.
        for i in 0..b.num_rows() {
            xlsx_row(ws, (row + 1 + i as u64) as u32, i, &cols)?;
        }
        row += b.num_rows() as u64;
    }
    let bytes = wb.save_to_buffer().map_err(xlsx_err)?;
    out.write_all(&bytes).map_err(stdout_err)?;
    out.flush().map_err(stdout_err)?;
    Ok(row)
}
