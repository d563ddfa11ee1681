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

fn empty_file_message(skip_rows: usize) -> String {
    if skip_rows > 0 {
        format!(
            "no header line after the {skip_rows} skipped lines (skip_rows = {skip_rows}); expected a header line with column names"
        )
    } else {
        "the file is empty: expected a header line with column names".into()
    }
}

/// The header's column names, trimmed (a UTF-8 byte-order mark removed).
fn header_names(rec: &csv::ByteRecord) -> Vec<String> {
    rec.iter()
        .enumerate()
        .map(|(j, f)| {
            let f = if j == 0 {
                f.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(f)
            } else {
                f
            };
            String::from_utf8_lossy(f).trim().to_string()
        })
        .collect()
}

/// `data` after its first `n` lines (and a UTF-8 byte-order mark before them), with the number
/// of lines skipped.
fn after_skipped_lines(data: &[u8], n: usize) -> (&[u8], u64) {
    let mut rest = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut skipped = 0u64;
    while skipped < n as u64 {
        match memchr::memchr(b'\n', rest) {
            Some(i) => rest = &rest[i + 1..],
            None => rest = &rest[rest.len()..],
        }
        skipped += 1;
    }
    (rest, skipped)
}

/// A `csv` reader over `data` with the dialect's rules; records may have any number of fields
/// (a wrong count is quarantined, not an error).
fn csv_reader<'a>(dialect: &Dialect, data: &'a [u8]) -> csv::Reader<&'a [u8]> {
    let mut b = csv::ReaderBuilder::new();
    b.has_headers(false)
        .flexible(true)
        .delimiter(dialect.delimiter)
        .comment(dialect.comment)
        .escape(dialect.escape)
        .double_quote(true);
    match dialect.quote {
        Some(q) => b.quote(q).quoting(true),
        None => b.quoting(false),
    };
    b.from_reader(data)
}

/// Splits `data` into records: (start, end excluding the line break, first line number).
fn records(data: &[u8], quote: u8) -> Vec<(usize, usize, u64)> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut line = 1u64;
    let mut start_line = 1u64;
    let mut in_quotes = false;
    for (i, &b) in data.iter().enumerate() {
        if b == quote {
            in_quotes = !in_quotes;
        } else if b == b'\n' {
            if !in_quotes {
                let mut end = i;
                if end > start && data[end - 1] == b'\r' {
                    end -= 1;
                }
                out.push((start, end, start_line));
                start = i + 1;
                start_line = line + 1;
            }
            line += 1;
        }
    }
    if start < data.len() {
        let mut end = data.len();
        if data[end - 1] == b'\r' {
            end -= 1;
        }
        out.push((start, end, start_line));
    }
    out
}

/// Finds byte-identical records. Keyed by a fast hash; the bytes are compared on a hash match,
/// so a collision never merges two different records.
struct DuplicateFinder {
    seen: HashMap<u64, (usize, usize, u64), foldhash::fast::RandomState>,
    collisions: Vec<(u64, usize, usize, u64)>,
}

impl DuplicateFinder {
    fn new(capacity: usize) -> Self {
        DuplicateFinder {
            seen: HashMap::with_capacity_and_hasher(capacity, Default::default()),
            collisions: Vec::new(),
        }
    }

    /// Line of an earlier identical record, or None (and remember this one).
    fn check(&mut self, data: &[u8], s: usize, e: usize, line: u64) -> Option<u64> {
        let h = HASH.hash_one(&data[s..e]);
        match self.seen.entry(h) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((s, e, line));
                None
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                let (ps, pe, pl) = *o.get();
                if data[ps..pe] == data[s..e] {
                    return Some(pl);
                }
                if let Some(&(_, _, _, l)) = self
                    .collisions
                    .iter()
                    .find(|(ch, cs, ce, _)| *ch == h && data[*cs..*ce] == data[s..e])
                {
                    return Some(l);
                }
                self.collisions.push((h, s, e, line));
                None
            }
        }
    }
}

const HASH: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x6475_706c);

fn duplicate_reject(line: u64, raw: String, first: u64) -> Reject {
    Reject {
        line,
        raw,
        code: "duplicate_row",
        column: None,
        value: None,
        message: format!("exact duplicate of line {first}; each record is loaded once"),
    }
}

/// The raw text of a record: `span` as the `csv` reader reports it (from where the previous
/// record ended to where this one ends), without the line breaks and comment lines before it
/// and the line break after it.
fn record_span(data: &[u8], start: usize, end: usize, comment: Option<u8>) -> (usize, usize) {
    let mut s = start;
    loop {
        while s < end && (data[s] == b'\n' || data[s] == b'\r') {
            s += 1;
        }
        match comment {
            Some(c) if s < end && data[s] == c => match memchr::memchr(b'\n', &data[s..end]) {
                Some(i) => s += i + 1,
                None => s = end,
            },
            _ => break,
        }
    }
    let mut e = end.max(s);
    while e > s && (data[e - 1] == b'\n' || data[e - 1] == b'\r') {
        e -= 1;
    }
    (s, e)
}

pub(super) fn read_csv(file: &Path, data: Vec<u8>, dialect: &Dialect) -> Result<FileRows> {
    let sep = dialect.delimiter;
    let (body, skipped) = after_skipped_lines(&data, dialect.skip_rows);
    let base = data.len() - body.len();
    let mut reader = csv_reader(dialect, body);
    let mut rec = csv::ByteRecord::new();
    let parse_error = |e: csv::Error| {
        Error::source(
            file,
            format!("cannot split the file into records: {e}; check delimiter, quote and encoding"),
        )
    };
    if !reader.read_byte_record(&mut rec).map_err(parse_error)? {
        return Err(Error::source(file, empty_file_message(dialect.skip_rows)));
    }
    let header_line =
        skipped + 1 + line_breaks(body, 0, rec.position().map_or(0, |p| p.byte() as usize));
    let header_raw = record_span(
        body,
        rec.position().map_or(0, |p| p.byte() as usize),
        reader.position().byte() as usize,
        dialect.comment,
    );
    if std::str::from_utf8(&body[header_raw.0..header_raw.1]).is_err() {
        return Err(Error::source(
            file,
            format!(
                "line {header_line}: the header is not valid UTF-8; declare the file's encoding in its mapping (encoding = \"windows-1252\", \"iso-8859-1\" or \"utf-16\") or export it as UTF-8"
            ),
        ));
    }
    let columns = header_names(&rec);
    if columns.iter().any(String::is_empty) {
        return Err(Error::source(
            file,
            format!(
                "line {header_line}: the header has an empty column name (columns found: {}); is the delimiter {:?} right?",
                columns.join(", "),
                sep as char
            ),
        ));
    }
    let width = columns.len();
    let mut builders: Vec<StringChunkedBuilder> = columns
        .iter()
        .map(|c| StringChunkedBuilder::new(c.as_str().into(), 1024))
        .collect();
    let mut spans = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    let mut rejects = Vec::new();
    let mut dups = DuplicateFinder::new(1024);
    let mut rows_read = 0u64;
    // Lines are counted incrementally: line breaks between the last record's start and this one's.
    let mut counted_to = header_raw.0;
    let mut line = header_line;
    loop {
        let from = reader.position().byte() as usize;
        if !reader.read_byte_record(&mut rec).map_err(parse_error)? {
            break;
        }
        let (s, e) = record_span(
            body,
            from,
            reader.position().byte() as usize,
            dialect.comment,
        );
        if s >= e {
            continue; // blank lines are not records
        }
        line += line_breaks(body, counted_to, s);
        counted_to = s;
        rows_read += 1;
        let raw_bytes = &body[s..e];
        let raw = || String::from_utf8_lossy(raw_bytes).into_owned();
        // Fields are validated once and kept as text; the record is UTF-8 exactly when its
        // fields are (the bytes between them, delimiters and quotes, are ASCII).
        let mut fields: Vec<&str> = Vec::with_capacity(width);
        let mut bad = None;
        for (j, f) in rec.iter().enumerate() {
            match std::str::from_utf8(f) {
                Ok(t) => fields.push(t),
                Err(err) => {
                    bad = Some((j, f, err.valid_up_to()));
                    break;
                }
            }
        }
        if let Some((col, field, pos)) = bad {
            rejects.push(Reject {
                line,
                raw: raw(),
                code: "invalid_utf8",
                column: columns.get(col).cloned(),
                value: field
                    .get(pos)
                    .map(|b| format!("byte 0x{b:02X} at offset {pos} of the field")),
                message: "the record is not valid UTF-8; declare the file's encoding in its mapping (e.g. encoding = \"windows-1252\") or export it as UTF-8".into(),
            });
            continue;
        }
        let n = rec.len();
        if n != width {
            rejects.push(Reject {
                line,
                raw: raw(),
                code: "wrong_column_count",
                column: None,
                value: Some(n.to_string()),
                message: format!(
                    "expected {width} fields as in the header, found {n}; is the delimiter {:?} right, or does a field hold an unescaped quote?",
                    sep as char
                ),
            });
            continue;
        }
        if let Some(first) = dups.check(body, s, e, line) {
            rejects.push(duplicate_reject(line, raw(), first));
            continue;
        }
        for (b, field) in builders.iter_mut().zip(&fields) {
            if field.is_empty() {
                b.append_null();
            } else {
                b.append_value(field);
            }
        }
        spans.push((base + s, base + e));
        lines.push(line);
    }
    drop(dups);
    let mut cols: Vec<Column> = builders
        .into_iter()
        .map(|b| b.finish().into_series().into_column())
        .collect();
    cols.push(Column::new(LINE_COL.into(), lines));
    let df = DataFrame::new_infer_height(cols)
        .map_err(|e| Error::source(file, format!("duplicate column names in the header: {e}")))?;
    Ok(FileRows {
        df,
        raw: RawText::Bytes { data, spans },
        rejects,
        rows_read,
        columns,
    })
}

/// Line breaks in `data[from..to]`.
fn line_breaks(data: &[u8], from: usize, to: usize) -> u64 {
    memchr::memchr_iter(b'\n', &data[from.min(to)..to]).count() as u64
}

fn read_jsonl(data: Vec<u8>) -> Result<FileRows> {
    let recs = records(&data, 0);
    let mut rows: Vec<serde_json::Map<String, serde_json::Value>> = Vec::new();
    let mut spans = Vec::new();
    let mut lines = Vec::new();
    let mut rejects = Vec::new();
    let mut dups = DuplicateFinder::new(recs.len());
    let mut columns: Vec<String> = Vec::new();
    let mut rows_read = 0;
    for &(s, e, line) in &recs {
        let rec = &data[s..e];
        if rec.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        rows_read += 1;
        let raw = || String::from_utf8_lossy(rec).into_owned();
        let text = match std::str::from_utf8(rec) {
            Ok(t) => t,
            Err(err) => {
                rejects.push(Reject {
                    line,
                    raw: raw(),
                    code: "invalid_utf8",
                    column: None,
                    value: Some(format!(
                        "byte 0x{:02X} at offset {}",
                        rec[err.valid_up_to()],
                        err.valid_up_to()
                    )),
                    message: "the record is not valid UTF-8; export the file as UTF-8".into(),
                });
                continue;
            }
        };
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(map)) => {
                if let Some(first) = dups.check(&data, s, e, line) {
                    rejects.push(duplicate_reject(line, raw(), first));
                    continue;
                }
                for k in map.keys() {
                    if !columns.contains(k) {
                        columns.push(k.clone());
                    }
                }
                rows.push(map);
                spans.push((s, e));
                lines.push(line);
            }
            Ok(_) => rejects.push(Reject {
                line,
                raw: raw(),
                code: "invalid_json",
                column: None,
                value: None,
                message: "expected one JSON object per line".into(),
            }),
            Err(err) => rejects.push(Reject {
                line,
                raw: raw(),
                code: "invalid_json",
                column: None,
                value: None,
                message: format!("not valid JSON ({err}); expected one JSON object per line"),
            }),
        }
    }
    // Every value becomes text, so that JSON and CSV share one validation path: a number that
    // arrives as a string ("12.5") and one that arrives as a number (12.5) are judged alike.
    let mut cols: Vec<Column> = columns
        .iter()
        .map(|name| {
            let values: Vec<Option<String>> = rows
                .iter()
                .map(|r| match r.get(name) {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                })
                .collect();
            Column::new(name.as_str().into(), values)
        })
        .collect();
    cols.push(Column::new(LINE_COL.into(), lines));
    let df = DataFrame::new_infer_height(cols)?;
    Ok(FileRows {
        df,
        raw: RawText::Bytes { data, spans },
        rejects,
        rows_read,
        columns,
    })
}

fn read_parquet(file: &Path) -> Result<FileRows> {
    let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    let mut df = ParquetReader::new(f)
        .finish()
        .map_err(|e| Error::source(file, format!("cannot read as Parquet: {e}")))?;
    let columns: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let n = df.height() as u64;
    df.with_column(Column::new(LINE_COL.into(), (1..=n).collect::<Vec<u64>>()))?;
    Ok(FileRows {
        df,
        raw: RawText::Rendered,
        rejects: Vec::new(),
        rows_read: n,
        columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_newlines_stay_in_their_record_and_lines_are_counted() {
        let data = b"a,b\n1,\"x\ny\"\n2,z\r\n";
        let r = records(data, b'"');
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].2, 2);
        assert_eq!(r[2].2, 4);
        assert_eq!(&data[r[2].0..r[2].1], b"2,z");
    }

    #[test]
    fn broken_records_are_rejected_with_line_and_reason() {
        let mut data = b"id,qty\n1,2\n1,2\n3\n4,\xE9\n\"5,5\",6\n".to_vec();
        data.extend_from_slice(b"");
        let rows = read_csv(Path::new("t.csv"), data, &Dialect::default()).unwrap();
        assert_eq!(rows.rows_read, 5);
        assert_eq!(rows.df.height(), 2);
        let codes: Vec<(u64, &str)> = rows.rejects.iter().map(|r| (r.line, r.code)).collect();
        assert_eq!(
            codes,
            vec![
                (3, "duplicate_row"),
                (4, "wrong_column_count"),
                (5, "invalid_utf8")
            ]
        );
        assert_eq!(rows.raw_of(1), "\"5,5\",6");
        let ids: Vec<Option<&str>> = rows
            .df
            .column("id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(ids, vec![Some("1"), Some("5,5")]);
    }

    #[test]
    fn rejected_records_are_squeezed_out_in_place_and_raw_text_follows_the_survivors() {
        // A byte-order mark, CRLF records, a broken record first and in the middle, a quoted
        // newline, and a last record without a newline.
        let data = b"\xEF\xBB\xBFid,name\r\nbad\r\n1,\"a\nb\"\r\n2\r\n3,c\r\n4,\"d,e\"".to_vec();
        let rows = read_csv(Path::new("t.csv"), data, &Dialect::default()).unwrap();
        assert_eq!(rows.rows_read, 5);
        let codes: Vec<u64> = rows.rejects.iter().map(|r| r.line).collect();
        assert_eq!(codes, vec![2, 5]);
        let col = |name: &str| -> Vec<Option<String>> {
            let c = rows.df.column(name).unwrap().str().unwrap().clone();
            c.iter().map(|v| v.map(str::to_string)).collect()
        };
        assert_eq!(
            col("id"),
            vec![Some("1".into()), Some("3".into()), Some("4".into())]
        );
        assert_eq!(
            col("name"),
            vec![Some("a\nb".into()), Some("c".into()), Some("d,e".into())]
        );
        let lines: Vec<Option<u64>> = rows
            .df
            .column(LINE_COL)
            .unwrap()
            .u64()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(lines, vec![Some(3), Some(6), Some(7)]);
        let raw: Vec<String> = (0..3).map(|i| rows.raw_of(i)).collect();
        assert_eq!(raw, vec!["1,\"a\nb\"", "3,c", "4,\"d,e\""]);
    }

    #[test]
    fn jsonl_values_become_text_and_non_objects_are_rejected() {
        let data = b"{\"id\":\"a\",\"qty\":2}\n[1]\n{\"id\":\"b\",\"qty\":\"x\"}\n".to_vec();
        let rows = read_jsonl(data).unwrap();
        assert_eq!(rows.rows_read, 3);
        assert_eq!(rows.rejects[0].code, "invalid_json");
        let q: Vec<Option<&str>> = rows
            .df
            .column("qty")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(q, vec![Some("2"), Some("x")]);
    }
}

#[cfg(test)]
mod dialect_tests {
    use super::*;

    fn texts(rows: &FileRows, name: &str) -> Vec<Option<String>> {
        let c = rows.df.column(name).unwrap().str().unwrap().clone();
        c.iter().map(|v| v.map(str::to_string)).collect()
    }

    fn lines(rows: &FileRows) -> Vec<u64> {
        let c = rows.df.column(LINE_COL).unwrap().u64().unwrap().clone();
        c.iter().flatten().collect()
    }

    #[test]
    fn an_inch_mark_in_an_unquoted_tab_export_is_an_ordinary_character() {
        let data = b"code\tdesc\tqty\nA\tRECORD FRAME 7\" SINGLE SIZE\t2\nB\t\"quoted\ttab\"\t3\nC\tplain\t4\n";
        let d = Dialect {
            delimiter: b'\t',
            ..Dialect::default()
        };
        let rows = read_csv(Path::new("t.tsv"), data.to_vec(), &d).unwrap();
        assert_eq!(rows.rows_read, 3);
        assert!(rows.rejects.is_empty());
        assert_eq!(
            texts(&rows, "desc"),
            vec![
                Some("RECORD FRAME 7\" SINGLE SIZE".into()),
                Some("quoted\ttab".into()),
                Some("plain".into())
            ]
        );
        assert_eq!(lines(&rows), vec![2, 3, 4]);
        assert_eq!(rows.raw_of(0), "A\tRECORD FRAME 7\" SINGLE SIZE\t2");
    }

    #[test]
    fn without_quoting_a_leading_quote_is_kept() {
        let data = b"id;name\n1;\"Big\" box\n2;x\n";
        let d = Dialect {
            delimiter: b';',
            quote: None,
            ..Dialect::default()
        };
        let rows = read_csv(Path::new("t.csv"), data.to_vec(), &d).unwrap();
        assert_eq!(
            texts(&rows, "name"),
            vec![Some("\"Big\" box".into()), Some("x".into())]
        );
    }

    #[test]
    fn skipped_lines_comments_and_escapes_keep_line_numbers() {
        let data = b"Sales export\nprinted 2024-01-02\nid,name\n# a comment\n1,\"a \\\"b\\\" c\"\n\n2,\"x\ny\"\n3,z\n".to_vec();
        let d = Dialect {
            skip_rows: 2,
            comment: Some(b'#'),
            escape: Some(b'\\'),
            ..Dialect::default()
        };
        let rows = read_csv(Path::new("t.csv"), data, &d).unwrap();
        assert_eq!(rows.rows_read, 3);
        assert_eq!(
            texts(&rows, "name"),
            vec![
                Some("a \"b\" c".into()),
                Some("x\ny".into()),
                Some("z".into())
            ]
        );
        assert_eq!(lines(&rows), vec![5, 7, 9]);
        assert_eq!(rows.raw_of(1), "2,\"x\ny\"");
    }

    #[test]
    fn windows_1252_and_utf16_decode_to_the_same_text() {
        let utf8 = "id,name\n1,Müller-Großé\n2,Søren\n";
        let cp1252 = encoding_rs::WINDOWS_1252.encode(utf8).0.into_owned();
        let mut utf16 = vec![0xFF, 0xFE];
        for u in utf8.encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        for (data, enc) in [
            (cp1252.clone(), Encoding::Windows1252),
            (utf16, Encoding::Utf16),
            (utf8.as_bytes().to_vec(), Encoding::Utf8),
        ] {
            let f = Path::new("c.csv");
            let rows = read_csv(f, decode(f, data, enc).unwrap(), &Dialect::default()).unwrap();
            assert_eq!(
                texts(&rows, "name"),
                vec![Some("Müller-Großé".into()), Some("Søren".into())],
                "{enc:?}"
            );
        }
        // Read as UTF-8, the Windows-1252 file has two bad records of two: refused whole.
        let f = Path::new("c.csv");
        let rows = read_csv(f, cp1252.clone(), &Dialect::default()).unwrap();
        assert_eq!(rows.rejects.len(), 2);
        let err = check_encoding(f, &rows, 0.05).unwrap_err().to_string();
        assert!(err.contains("2 of 2 records"), "{err}");
        assert!(err.contains("encoding = \"windows-1252\""), "{err}");
        // A UTF-8 file declared Windows-1252 is refused rather than garbled.
        let err = decode(f, utf8.as_bytes().to_vec(), Encoding::Windows1252)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("valid UTF-8"), "{err}");
        // UTF-16 without a byte-order mark.
        assert!(decode(f, b"a\0".to_vec(), Encoding::Utf16).is_err());
    }
}
