//! Query results out: a table for people, CSV / JSON / JSON lines / Parquet / XLSX for tools.
//!
//! CSV, JSON, JSON lines and Parquet are written batch by batch as the query produces them, so a
//! result larger than memory streams through. A table shows the first rows (all of them when
//! stdout is not a terminal) and the row count. XLSX holds one sheet of at most 1,048,575 rows,
//! written in Excel's constant-memory mode. Files are written under a temporary name and renamed
//! when complete, so a failed query never leaves a half-written output behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float32Type, Float64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use comfy_table::{CellAlignment, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;

use crate::error::{Error, Result};

mod markdown;
mod xlsx;

use markdown::write_markdown;
use xlsx::write_xlsx;

/// Output formats of `crm-mart query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table for reading.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// A Parquet file.
    Parquet,
    /// An Excel workbook with one sheet.
    Xlsx,
    /// A Markdown pipe table.
    Markdown,
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "jsonl" | "ndjson" => Format::Jsonl,
            "parquet" => Format::Parquet,
            "xlsx" => Format::Xlsx,
            "markdown" | "md" => Format::Markdown,
            _ => {
                return Err(Error::usage(format!(
                    "format '{s}' is unknown; use table, csv, json, jsonl, parquet, xlsx or markdown"
                )));
            }
        })
    }
}

impl Format {
    /// The format asked for with `--format`, else the one `--output`'s extension implies, else
    /// `default`.
    pub fn choose(format: Option<&str>, output: Option<&Path>, default: Format) -> Result<Format> {
        match format {
            Some(f) => f.parse(),
            None => Ok(output.and_then(Format::from_path).unwrap_or(default)),
        }
    }

    /// The format a file name's extension implies, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "txt" => Some(Format::Table),
            "csv" | "json" | "jsonl" | "ndjson" | "parquet" | "xlsx" | "md" => ext.parse().ok(),
            _ => None,
        }
    }
}

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    /// The format.
    pub format: Format,
    /// The file; None for stdout.
    pub path: Option<PathBuf>,
    /// Rows shown by the table format; None shows all.
    pub max_rows: Option<usize>,
    /// Width available to the table format (a terminal's), None for unlimited.
    pub width: Option<u16>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Rows in the result.
    pub rows: u64,
    /// Rows shown (less than `rows` only for a truncated table).
    pub shown: u64,
    /// Columns a table left out because the terminal is too narrow.
    pub hidden_columns: Vec<String>,
}

/// Longest cell text a table shows before cutting it with '…'.
const MAX_CELL: usize = 48;
/// Most rows of one sheet of an XLSX workbook, header excluded.
const XLSX_MAX_ROWS: u64 = 1_048_575;

/// Writes one in-memory batch to `path` in `format` (through [`write`]).
pub async fn write_batch(
    batch: arrow::array::RecordBatch,
    format: Format,
    path: &Path,
) -> Result<Written> {
    let schema = batch.schema();
    let stream = futures::stream::iter(vec![Ok(batch)]);
    let stream =
        Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, stream));
    let opts = OutputOptions {
        format,
        path: Some(path.to_path_buf()),
        max_rows: None,
        width: None,
    };
    write(stream, &opts).await
}

/// Writes every batch of `stream` as `opts` says.
pub async fn write(stream: SendableRecordBatchStream, opts: &OutputOptions) -> Result<Written> {
    if opts.path.is_none() && matches!(opts.format, Format::Parquet | Format::Xlsx) {
        use std::io::IsTerminal;
        if std::io::stdout().is_terminal() {
            return Err(Error::usage(format!(
                "parquet and xlsx output is binary; give {} FILE (or redirect stdout)",
                crate::error::param("output")
            )));
        }
    }
    let target = Target::open(opts.path.as_deref())?;
    let result = write_to(stream, opts, target.writer()?).await;
    match result {
        Ok(w) => {
            target.finish()?;
            Ok(w)
        }
        Err(e) => {
            target.abandon();
            Err(e)
        }
    }
}

/// Writes every batch of `stream` as `opts` says into `out` (its path is not used): an output
/// that outlives one result, such as a shell's `.output FILE`.
pub async fn write_to(
    mut stream: SendableRecordBatchStream,
    opts: &OutputOptions,
    out: Box<dyn Write + Send>,
) -> Result<Written> {
    let schema = stream.schema();
    let rows = match opts.format {
        Format::Csv => write_csv(&mut stream, schema, out).await?,
        Format::Json => write_json(&mut stream, out).await?,
        Format::Jsonl => write_jsonl(&mut stream, out).await?,
        Format::Parquet => write_parquet(&mut stream, schema, out).await?,
        Format::Xlsx => write_xlsx(&mut stream, &schema, out).await?,
        Format::Table => return write_table(&mut stream, &schema, opts, out).await,
        Format::Markdown => return write_markdown(&mut stream, &schema, opts, out).await,
    };
    Ok(Written {
        rows,
        shown: rows,
        hidden_columns: Vec::new(),
    })
}

async fn write_csv(
    stream: &mut SendableRecordBatchStream,
    schema: SchemaRef,
    out: Box<dyn Write + Send>,
) -> Result<u64> {
    let mut w = arrow_csv::WriterBuilder::new()
        .with_header(true)
        .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.6fZ".to_string())
        .build(out);
    let (mut rows, mut any) = (0u64, false);
    while let Some(b) = stream.next().await {
        let b = b?;
        rows += b.num_rows() as u64;
        w.write(&b)?;
        any = true;
    }
    if !any {
        w.write(&RecordBatch::new_empty(schema))?;
    }
    w.into_inner().flush().map_err(stdout_err)?;
    Ok(rows)
}

/// Writes every batch with a JSON writer; the rows written and the output.
async fn write_json_batches<F: arrow_json::writer::JsonFormat>(
    stream: &mut SendableRecordBatchStream,
    mut w: arrow_json::Writer<Box<dyn Write + Send>, F>,
) -> Result<(u64, Box<dyn Write + Send>)> {
    let mut rows = 0u64;
    while let Some(b) = stream.next().await {
        let b = b?;
        rows += b.num_rows() as u64;
        w.write(&b)?;
    }
    w.finish()?;
    Ok((rows, w.into_inner()))
}

async fn write_json(
    stream: &mut SendableRecordBatchStream,
    out: Box<dyn Write + Send>,
) -> Result<u64> {
    let (rows, mut out) = write_json_batches(stream, arrow_json::ArrayWriter::new(out)).await?;
    if rows == 0 {
        out.write_all(b"[]").map_err(stdout_err)?;
    }
    out.write_all(b"\n").map_err(stdout_err)?;
    out.flush().map_err(stdout_err)?;
    Ok(rows)
}

async fn write_jsonl(
    stream: &mut SendableRecordBatchStream,
    out: Box<dyn Write + Send>,
) -> Result<u64> {
    let w = arrow_json::LineDelimitedWriter::new(out);
    let (rows, mut out) = write_json_batches(stream, w).await?;
    out.flush().map_err(stdout_err)?;
    Ok(rows)
}

async fn write_parquet(
    stream: &mut SendableRecordBatchStream,
    schema: SchemaRef,
    out: Box<dyn Write + Send>,
) -> Result<u64> {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(out, schema, Some(props))?;
    let mut rows = 0u64;
    while let Some(b) = stream.next().await {
        let b = b?;
        rows += b.num_rows() as u64;
        w.write(&b)?;
    }
    w.into_inner()?.flush().map_err(stdout_err)?;
    Ok(rows)
}

/// A text table of the first `max_rows` rows (all rows are counted).
async fn write_table(
    stream: &mut SendableRecordBatchStream,
    schema: &SchemaRef,
    opts: &OutputOptions,
    mut out: Box<dyn Write + Send>,
) -> Result<Written> {
    let limit = opts.max_rows.unwrap_or(usize::MAX);
    let mut kept: Vec<RecordBatch> = Vec::new();
    let (mut rows, mut kept_rows) = (0u64, 0usize);
    while let Some(b) = stream.next().await {
        let b = b?;
        rows += b.num_rows() as u64;
        if kept_rows < limit {
            let take = (limit - kept_rows).min(b.num_rows());
            kept.push(b.slice(0, take));
            kept_rows += take;
        }
    }
    let (text, hidden) = render_table(schema, &kept, opts.width)?;
    writeln!(out, "{text}").map_err(stdout_err)?;
    out.flush().map_err(stdout_err)?;
    Ok(Written {
        rows,
        shown: kept_rows as u64,
        hidden_columns: hidden,
    })
}

fn stdout_err(e: std::io::Error) -> Error {
    Error::io(Path::new("<output>"), e)
}

/// Renders batches as a table: numbers right-aligned, floats rounded for reading, long text cut.
/// With a `width`, the columns that do not fit are left out (at the right) and named in the
/// second return value, rather than squeezing every column into an unreadable sliver.
pub fn render_table(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    width: Option<u16>,
) -> Result<(String, Vec<String>)> {
    let opts = FormatOptions::default().with_null("");
    let mut cells: Vec<Vec<String>> = Vec::new();
    for b in batches {
        let cols: Vec<Column> = b
            .columns()
            .iter()
            .map(|c| Column::new(c, &opts))
            .collect::<Result<_>>()?;
        for i in 0..b.num_rows() {
            cells.push(cols.iter().map(|c| c.cell(i)).collect());
        }
    }
    let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    let mut keep = names.len();
    if let Some(w) = width {
        // Each column takes its widest cell plus 3 (padding and border); the table 1 more.
        let mut used = 1usize;
        for (c, name) in names.iter().enumerate() {
            let widest = cells
                .iter()
                .map(|r| r[c].chars().count())
                .chain(std::iter::once(name.chars().count()))
                .max()
                .unwrap_or(0);
            used += widest + 3;
            if used > w as usize && c > 0 {
                keep = c;
                break;
            }
        }
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(names[..keep].iter().map(|n| n.to_string()));
    for row in cells {
        t.add_row(row.into_iter().take(keep));
    }
    for (i, f) in schema.fields().iter().take(keep).enumerate() {
        if f.data_type().is_numeric()
            && let Some(col) = t.column_mut(i)
        {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    let hidden = names[keep..].iter().map(|n| n.to_string()).collect();
    Ok((t.to_string(), hidden))
}

enum Column<'a> {
    Float(&'a ArrayRef),
    Other(ArrayFormatter<'a>),
}

impl<'a> Column<'a> {
    fn new(a: &'a ArrayRef, opts: &'a FormatOptions<'a>) -> Result<Self> {
        Ok(match a.data_type() {
            DataType::Float64 | DataType::Float32 => Column::Float(a),
            _ => Column::Other(ArrayFormatter::try_new(a.as_ref(), opts)?),
        })
    }

    fn cell(&self, i: usize) -> String {
        match self {
            Column::Float(a) => {
                if a.is_null(i) {
                    return String::new();
                }
                let x = match a.data_type() {
                    DataType::Float32 => a.as_primitive::<Float32Type>().value(i) as f64,
                    _ => a.as_primitive::<Float64Type>().value(i),
                };
                format_float(x)
            }
            Column::Other(f) => {
                let s = f.value(i).to_string();
                if s.chars().count() > MAX_CELL {
                    let cut: String = s.chars().take(MAX_CELL - 1).collect();
                    format!("{cut}…")
                } else {
                    s
                }
            }
        }
    }
}

/// A float as people read it: whole numbers without decimals, 2 decimals from 1 up, 4 below.
pub fn format_float(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    // A sum's last bits depend on the order it was added in (threads, file layout); snapped to
    // 12 significant digits first, 2917.7249999999995 and 2917.7250000000004 print alike.
    let x: f64 = format!("{x:.11e}").parse().unwrap_or(x);
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// stdout, or a file written under a temporary name and renamed into place when complete.
struct Target {
    /// (final path, temporary path) of a file output.
    path: Option<(PathBuf, PathBuf)>,
    /// A device or pipe written in place.
    direct: Option<PathBuf>,
}

impl Target {
    fn open(path: Option<&Path>) -> Result<Target> {
        // A device or pipe (/dev/null, a FIFO) is written directly; only files are renamed.
        if let Some(p) = path
            && p.exists()
            && !p.is_file()
        {
            return Ok(Target {
                path: None,
                direct: Some(p.to_path_buf()),
            });
        }
        Ok(Target {
            path: path.map(|p| {
                let mut tmp = p.as_os_str().to_owned();
                tmp.push(".partial");
                (p.to_path_buf(), PathBuf::from(tmp))
            }),
            direct: None,
        })
    }

    fn writer(&self) -> Result<Box<dyn Write + Send>> {
        if let Some(p) = &self.direct {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(p)
                .map_err(|e| Error::io(p, e))?;
            return Ok(Box::new(std::io::BufWriter::with_capacity(1 << 16, f)));
        }
        Ok(match &self.path {
            None => Box::new(std::io::BufWriter::with_capacity(
                1 << 16,
                std::io::stdout(),
            )),
            Some((_, tmp)) => {
                // A sink or an output in a folder that does not exist yet (`csv:crm/recs.csv`).
                if let Some(dir) = tmp.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                }
                let f = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
                Box::new(std::io::BufWriter::with_capacity(1 << 16, f))
            }
        })
    }

    fn finish(self) -> Result<()> {
        if let Some((path, tmp)) = &self.path {
            std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    }

    fn abandon(self) {
        if let Some((_, tmp)) = &self.path {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_tables_leave_out_columns_that_do_not_fit() {
        use arrow::array::{Float64Array, StringArray};
        use arrow::datatypes::{Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("revenue", DataType::Float64, false),
            Field::new("a_rather_long_column_name", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["Berlin", "x".repeat(80).as_str()])),
                Arc::new(Float64Array::from(vec![1234.5678, 0.5])),
                Arc::new(StringArray::from(vec!["v", "w"])),
            ],
        )
        .unwrap();
        let (all, hidden) = render_table(&schema, std::slice::from_ref(&batch), None).unwrap();
        assert!(hidden.is_empty());
        assert!(all.contains("1234.57") && all.contains("0.5000"), "{all}");
        assert!(
            all.contains(&format!("{}…", "x".repeat(MAX_CELL - 1))),
            "{all}"
        );
        let (narrow, hidden) = render_table(&schema, &[batch], Some(70)).unwrap();
        assert_eq!(hidden, ["a_rather_long_column_name"]);
        assert!(narrow.lines().all(|l| l.chars().count() <= 70), "{narrow}");
        assert!(narrow.contains("revenue"), "{narrow}");
    }

    #[test]
    fn floats_read_well() {
        assert_eq!(format_float(12.0), "12");
        assert_eq!(format_float(1234.5678), "1234.57");
        // Neighbouring floats around a rounding boundary print alike.
        for x in [2917.725_f64, 0.12345, 15.125] {
            let below = f64::from_bits(x.to_bits() - 1);
            let above = f64::from_bits(x.to_bits() + 1);
            assert_eq!(format_float(below), format_float(above), "{x}");
            assert_eq!(format_float(below), format_float(x), "{x}");
        }
        assert_eq!(format_float(0.123456), "0.1235");
        assert_eq!(format_float(-3.5), "-3.50");
    }

    #[test]
    fn formats_parse_and_follow_extensions() {
        assert_eq!("CSV".parse::<Format>().unwrap(), Format::Csv);
        assert!("yaml".parse::<Format>().is_err());
        assert_eq!(Format::from_path(Path::new("a/b.xlsx")), Some(Format::Xlsx));
        assert_eq!(Format::from_path(Path::new("b.jsonl")), Some(Format::Jsonl));
        assert_eq!(Format::from_path(Path::new("b.dat")), None);
    }
}
