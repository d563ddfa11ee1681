//! Reading one source file into a polars `DataFrame` of text columns, with every structurally
//! broken record set aside for quarantine.
//!
//! A CSV or JSON-lines file is first decoded to UTF-8 from its declared encoding (`encoding_rs`).
//! CSV records are then split by the `csv` crate under the mapping's dialect (delimiter, quote,
//! escape, comment, lines to skip before the header): a quote that does not open a field is an
//! ordinary character, as in the `csv` crate and DuckDB, so an inch mark (`7" FRAME`) never
//! swallows the lines after it. Each record keeps the line it starts on and its raw text; records
//! that are not valid UTF-8, have the wrong number of fields, are not a JSON object, or repeat an
//! earlier record byte for byte are set aside for quarantine, and the fields of the others become
//! text columns of a polars frame. A file in which more than a set share of the records is not
//! valid UTF-8 is refused whole, naming the encoding that would read it: quarantining it row by
//! row would load a mart that silently lacks those rows and everything that refers to them.
//!
//! Parquet files are read by polars directly; their "line" is the 1-based row number.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::path::Path;

use polars::prelude::*;

use crate::config::{Dialect, Encoding, SourceFormat, SourceMapping};
use crate::error::{Error, Result};

mod formats;
pub(crate) use formats::*;
#[cfg(test)]
mod tests;

/// Name of the column carrying each row's line number.
pub const LINE_COL: &str = "__line";

/// A row that did not make it, with why.
#[derive(Debug, Clone)]
pub struct Reject {
    /// Line the record starts on (1-based; the header is line 1), or row number for Parquet.
    pub line: u64,
    /// The original text (invalid bytes shown as U+FFFD).
    pub raw: String,
    /// Stable reason code, e.g. `invalid_utf8`.
    pub code: &'static str,
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// The offending value, when one is.
    pub value: Option<String>,
    /// Human-readable explanation naming what would be accepted.
    pub message: String,
}

/// Where each surviving row's original text can be found.
pub enum RawText {
    /// Slices of the file's bytes, one per surviving row.
    Bytes {
        /// The whole file.
        data: Vec<u8>,
        /// (start, end) of each surviving record.
        spans: Vec<(usize, usize)>,
    },
    /// Rendered from the DataFrame (Parquet has no text form).
    Rendered,
}

/// One file after the structural pass.
pub struct FileRows {
    /// Surviving rows; columns keep the file's names, plus `__line`.
    pub df: DataFrame,
    /// Access to the raw text of surviving rows.
    pub raw: RawText,
    /// Structurally broken records.
    pub rejects: Vec<Reject>,
    /// Records read (surviving + rejected).
    pub rows_read: u64,
    /// Column names found in the file, in file order.
    pub columns: Vec<String>,
}

impl FileRows {
    /// The rows of a text file: `df`, with each row's raw text at its span of `data`.
    pub(crate) fn of_bytes(
        df: DataFrame,
        data: Vec<u8>,
        spans: Vec<(usize, usize)>,
        rejects: Vec<Reject>,
        rows_read: u64,
        columns: Vec<String>,
    ) -> Self {
        FileRows {
            df,
            raw: RawText::Bytes { data, spans },
            rejects,
            rows_read,
            columns,
        }
    }

    /// Frees the text columns once the rows are typed: raw text of CSV and JSON-lines rows
    /// comes from the file bytes, so only Parquet rows (rendered from the frame) keep them.
    pub fn release_text_columns(&mut self) {
        if let RawText::Bytes { .. } = self.raw {
            self.df = DataFrame::empty();
        }
    }

    /// Original text of surviving row `i`.
    pub fn raw_of(&self, i: usize) -> String {
        match &self.raw {
            RawText::Bytes { data, spans } => {
                let (s, e) = spans[i];
                String::from_utf8_lossy(&data[s..e]).into_owned()
            }
            RawText::Rendered => {
                let mut parts = Vec::new();
                for c in self.df.columns() {
                    if c.name().as_str() == LINE_COL {
                        continue;
                    }
                    let v = c.get(i).map(|v| v.to_string()).unwrap_or_default();
                    parts.push(format!("{}={}", c.name(), v));
                }
                parts.join("; ")
            }
        }
    }
}

/// Whether `file` is gzip-compressed (by its name: `orders.csv.gz`).
fn is_gzip(file: &Path) -> bool {
    file.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// The bytes of `file`, decompressed when it is gzip-compressed.
fn read_bytes(file: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let data = std::fs::read(file).map_err(|e| Error::io(file, e))?;
    if !is_gzip(file) {
        return Ok(data);
    }
    let mut out = Vec::with_capacity(data.len() * 4);
    flate2::read::MultiGzDecoder::new(&data[..])
        .read_to_end(&mut out)
        .map_err(|e| {
            Error::source(
                file,
                format!("cannot decompress as gzip ({e}); is the file complete?"),
            )
        })?;
    Ok(out)
}

/// The format of `file` under `mapping`.
pub fn format_of(file: &Path, mapping: &SourceMapping) -> SourceFormat {
    let inner;
    let file = if is_gzip(file) {
        inner = file.with_extension("");
        inner.as_path()
    } else {
        file
    };
    mapping.format.unwrap_or_else(|| {
        match file
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("parquet") | Some("pq") => SourceFormat::Parquet,
            Some("jsonl") | Some("ndjson") | Some("json") => SourceFormat::Jsonl,
            _ => SourceFormat::Csv,
        }
    })
}

/// Reads `file`. A CSV or JSON-lines file in which more than `max_invalid_share` of the records
/// are not valid UTF-8 is refused with the encoding to declare.
pub fn read_file(
    file: &Path,
    mapping: &SourceMapping,
    cfg: &Path,
    max_invalid_share: f64,
) -> Result<FileRows> {
    let dialect = mapping
        .dialect()
        .map_err(|why| crate::error::Error::config(cfg, why))?;
    let rows = match format_of(file, mapping) {
        SourceFormat::Csv => {
            let data = read_bytes(file)?;
            read_csv(file, decode(file, data, dialect.encoding)?, &dialect)?
        }
        SourceFormat::Jsonl => {
            let data = read_bytes(file)?;
            read_jsonl(decode(file, data, dialect.encoding)?)?
        }
        SourceFormat::Parquet => read_parquet(file)?,
    };
    check_encoding(file, &rows, max_invalid_share)?;
    Ok(rows)
}

/// The file's bytes as UTF-8 under `encoding` (a UTF-8 byte-order mark is left in place; the
/// readers skip it).
pub fn decode(file: &Path, data: Vec<u8>, encoding: Encoding) -> Result<Vec<u8>> {
    let utf16_bom = data.starts_with(&[0xFF, 0xFE]) || data.starts_with(&[0xFE, 0xFF]);
    match encoding {
        Encoding::Utf8 if utf16_bom => Err(Error::source(
            file,
            "the file starts with a UTF-16 byte-order mark; set encoding = \"utf-16\" in its [sources.<entity>] mapping",
        )),
        Encoding::Utf8 => Ok(data),
        Encoding::Windows1252 | Encoding::Iso8859_1 => {
            if data.is_ascii() {
                return Ok(data);
            }
            if utf16_bom {
                return Err(Error::source(
                    file,
                    format!(
                        "the file starts with a UTF-16 byte-order mark but is declared {}; set encoding = \"utf-16\"",
                        encoding.as_str()
                    ),
                ));
            }
            if std::str::from_utf8(&data).is_ok() {
                // Valid UTF-8 with non-ASCII text is almost never meant as Windows-1252: read so,
                // every "ü" would load as "Ã¼".
                return Err(Error::source(
                    file,
                    format!(
                        "the file is declared {} but is valid UTF-8 (read as {} its accented letters would load garbled, \"ü\" as \"Ã¼\"); remove the encoding key or set encoding = \"utf-8\"",
                        encoding.as_str(),
                        encoding.as_str()
                    ),
                ));
            }
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&data);
            Ok(text.into_owned().into_bytes())
        }
        Encoding::Utf16 => {
            let Some((enc, bom)) = encoding_rs::Encoding::for_bom(&data)
                .filter(|(e, _)| *e == encoding_rs::UTF_16LE || *e == encoding_rs::UTF_16BE)
            else {
                return Err(Error::source(
                    file,
                    "the file is declared utf-16 but has no UTF-16 byte-order mark (FF FE or FE FF) at its start; export it as \"Unicode text\" with a byte-order mark, or declare the encoding it has (utf-8, windows-1252)",
                ));
            };
            let text = enc
                .decode_without_bom_handling_and_without_replacement(&data[bom..])
                .ok_or_else(|| {
                    Error::source(
                        file,
                        format!(
                            "the file is not valid {} (an odd number of bytes or an unpaired surrogate); re-export it, or declare the encoding it has",
                            enc.name()
                        ),
                    )
                })?;
            Ok(text.into_owned().into_bytes())
        }
    }
}

/// Refuses a file whose records are largely not valid UTF-8 (more than half of them, or more
/// than `max_share` and at least [`MIN_INVALID_RECORDS`]): it is in another encoding, and its
/// rows must not be quarantined one by one. A stray bad record or two in a small file is
/// quarantined like any other bad row.
fn check_encoding(file: &Path, rows: &FileRows, max_share: f64) -> Result<()> {
    let bad: Vec<&Reject> = rows
        .rejects
        .iter()
        .filter(|r| r.code == "invalid_utf8")
        .collect();
    let share = bad.len() as f64 / rows.rows_read.max(1) as f64;
    let refused = share > 0.5 || (share > max_share && bad.len() >= MIN_INVALID_RECORDS);
    if !refused {
        return Ok(());
    }
    let RawText::Bytes { .. } = rows.raw else {
        return Ok(());
    };
    let first = bad[0];
    let sample = first.raw.chars().take(60).collect::<String>();
    Err(Error::source(
        file,
        format!(
            "{} of {} records ({:.1}%) are not valid UTF-8 (first on line {}{}: {sample:?}); the file is in another encoding. Nothing was loaded. Declare it in the file's mapping, e.g. [sources.<entity>] encoding = \"windows-1252\" (what Excel writes on Windows; also \"iso-8859-1\", \"utf-16\"), or export the file as UTF-8",
            bad.len(),
            rows.rows_read,
            share * 100.0,
            first.line,
            first
                .column
                .as_deref()
                .map(|c| format!(", column {c}"))
                .unwrap_or_default(),
        ),
    ))
}

/// Fewest records not valid UTF-8 for which a file with more than the allowed share of them is
/// refused as being in another encoding.
pub const MIN_INVALID_RECORDS: usize = 5;

/// Column names of `file` without reading it all (the header line, the keys of the first JSON
/// object, or the Parquet schema), so that every file of a batch can be checked before any work.
pub fn columns_of(file: &Path, mapping: &SourceMapping, cfg: &Path) -> Result<Vec<String>> {
    use std::io::Read;
    let format = format_of(file, mapping);
    if format == SourceFormat::Parquet {
        let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
        let schema = ParquetReader::new(f)
            .schema()
            .map_err(|e| Error::source(file, format!("cannot read as Parquet: {e}")))?;
        return Ok(schema.iter_names().map(|n| n.to_string()).collect());
    }
    let dialect = mapping
        .dialect()
        .map_err(|why| crate::error::Error::config(cfg, why))?;
    // The header is near the start: a prefix is enough (a header with a quoted newline or one
    // longer than the prefix is checked again on the full read).
    let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    let mut prefix = Vec::new();
    let reader: Box<dyn Read> = if is_gzip(file) {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    reader
        .take(1 << 20)
        .read_to_end(&mut prefix)
        .map_err(|e| Error::source(file, format!("cannot read the start of the file: {e}")))?;
    if dialect.encoding == Encoding::Utf16 && prefix.len() % 2 == 1 {
        prefix.pop();
    }
    // A prefix may cut a character in two: only the header matters here, and the full read
    // checks the encoding.
    let data = match dialect.encoding {
        Encoding::Utf8 => prefix,
        Encoding::Windows1252 | Encoding::Iso8859_1 => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(&prefix)
            .0
            .into_owned()
            .into_bytes(),
        Encoding::Utf16 => match encoding_rs::Encoding::for_bom(&prefix) {
            Some((enc, bom)) if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE => enc
                .decode_without_bom_handling(&prefix[bom..])
                .0
                .into_owned()
                .into_bytes(),
            _ => decode(file, prefix, Encoding::Utf16)?,
        },
    };
    if format == SourceFormat::Jsonl {
        // Keys may vary by line; the full read checks the union. Here: does it parse at all.
        let start = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&data);
        let first = start
            .split(|b| *b == b'\n')
            .find(|l| !l.iter().all(u8::is_ascii_whitespace))
            .unwrap_or_default();
        return Ok(match serde_json::from_slice::<serde_json::Value>(first) {
            Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        });
    }
    let body = after_skipped_lines(&data, dialect.skip_rows).0;
    let mut reader = csv_reader(&dialect, body);
    let mut rec = csv::ByteRecord::new();
    match reader.read_byte_record(&mut rec) {
        Ok(true) => Ok(header_names(&rec)),
        _ => Err(Error::source(file, empty_file_message(dialect.skip_rows))),
    }
}
