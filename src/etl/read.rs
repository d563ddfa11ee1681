//! Reading one source file into a polars `DataFrame` of text columns, with every structurally
//! broken record set aside for quarantine.
//!
//! CSV and JSON-lines files get a byte-level pre-pass before polars sees them: it splits records
//! (respecting quotes, so a quoted newline stays inside its record), numbers them by the line
//! they start on, and rejects records that are not valid UTF-8, have the wrong number of fields,
//! are not a JSON object, or repeat an earlier record byte for byte. The surviving records go to
//! polars' CSV reader as one buffer. Polars would otherwise fail the whole file on the first such
//! record (or silently pad it), and we must quarantine exactly the bad rows, with their line and
//! raw text.
//!
//! Parquet files are read by polars directly; their "line" is the 1-based row number.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::io::Cursor;
use std::path::Path;

use polars::prelude::*;

use crate::config::{SourceFormat, SourceMapping};
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

/// The format of `file` under `mapping`.
pub fn format_of(file: &Path, mapping: &SourceMapping) -> SourceFormat {
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

/// Reads `file`.
pub fn read_file(file: &Path, mapping: &SourceMapping, cfg: &Path) -> Result<FileRows> {
    match format_of(file, mapping) {
        SourceFormat::Csv => {
            let data = std::fs::read(file).map_err(|e| Error::io(file, e))?;
            read_csv(file, data, mapping.delimiter_byte(cfg)?)
        }
        SourceFormat::Jsonl => {
            let data = std::fs::read(file).map_err(|e| Error::io(file, e))?;
            read_jsonl(data)
        }
        SourceFormat::Parquet => read_parquet(file),
    }
}

/// Column names of `file` without reading it all (the header line, the keys of the first JSON
/// object, or the Parquet schema), so that every file of a batch can be checked before any work.
pub fn columns_of(file: &Path, mapping: &SourceMapping, cfg: &Path) -> Result<Vec<String>> {
    use std::io::BufRead;
    let format = format_of(file, mapping);
    if format == SourceFormat::Parquet {
        let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
        let schema = ParquetReader::new(f)
            .schema()
            .map_err(|e| Error::source(file, format!("cannot read as Parquet: {e}")))?;
        return Ok(schema.iter_names().map(|n| n.to_string()).collect());
    }
    let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    let mut first = Vec::new();
    let mut reader = std::io::BufReader::new(f);
    loop {
        first.clear();
        let n = reader
            .read_until(b'\n', &mut first)
            .map_err(|e| Error::io(file, e))?;
        if n == 0 || !first.iter().all(u8::is_ascii_whitespace) {
            break;
        }
    }
    while first.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        first.pop();
    }
    if format == SourceFormat::Jsonl {
        // Keys may vary by line; the full read checks the union. Here: does it parse at all.
        return Ok(match serde_json::from_slice::<serde_json::Value>(&first) {
            Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        });
    }
    // A header with a quoted newline is read fully later; the first line suffices to check.
    let mut data = first;
    data.push(b'\n');
    let sep = mapping.delimiter_byte(cfg)?;
    let header = if data.starts_with(b"\xEF\xBB\xBF") {
        &data[3..]
    } else {
        &data[..]
    };
    if header.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::source(
            file,
            "the file is empty: expected a header line with column names",
        ));
    }
    Ok(
        split_fields(header.strip_suffix(b"\n").unwrap_or(header), sep)
            .into_iter()
            .map(|f| String::from_utf8_lossy(&f).trim().to_string())
            .collect(),
    )
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

/// Splits one CSV record into fields (unquoted), respecting quotes.
fn split_fields(rec: &[u8], sep: u8) -> Vec<Vec<u8>> {
    let mut fields = Vec::new();
    let mut cur = Vec::new();
    let mut in_quotes = false;
    let mut i = 0;
    while i < rec.len() {
        let b = rec[i];
        if in_quotes {
            if b == b'"' {
                if rec.get(i + 1) == Some(&b'"') {
                    cur.push(b'"');
                    i += 1;
                } else {
                    in_quotes = false;
                }
            } else {
                cur.push(b);
            }
        } else if b == b'"' {
            in_quotes = true;
        } else if b == sep {
            fields.push(std::mem::take(&mut cur));
        } else {
            cur.push(b);
        }
        i += 1;
    }
    fields.push(cur);
    fields
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

/// Number of fields in one CSV record (quotes respected), without allocating.
fn count_fields(rec: &[u8], sep: u8) -> usize {
    let mut n = 1;
    let mut in_quotes = false;
    for &b in rec {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == sep && !in_quotes {
            n += 1;
        }
    }
    n
}

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

pub(super) fn read_csv(file: &Path, data: Vec<u8>, sep: u8) -> Result<FileRows> {
    let recs = records(&data, b'"');
    let Some(&(hs, he, _)) = recs.first() else {
        return Err(Error::source(
            file,
            "the file is empty: expected a header line with column names",
        ));
    };
    let mut header_bytes = &data[hs..he];
    if header_bytes.starts_with(b"\xEF\xBB\xBF") {
        header_bytes = &header_bytes[3..];
    }
    let header = std::str::from_utf8(header_bytes).map_err(|_| {
        Error::source(
            file,
            "line 1: the header is not valid UTF-8; convert the file to UTF-8",
        )
    })?;
    let columns: Vec<String> = split_fields(header.as_bytes(), sep)
        .into_iter()
        .map(|f| String::from_utf8_lossy(&f).trim().to_string())
        .collect();
    if columns.iter().any(String::is_empty) {
        return Err(Error::source(
            file,
            format!(
                "line 1: the header has an empty column name (columns found: {}); is the delimiter {:?} right?",
                columns.join(", "),
                sep as char
            ),
        ));
    }
    let width = columns.len();
    let has_bom = header_bytes.len() != he - hs;
    let header_len = header_bytes.len();
    let mut spans = Vec::with_capacity(recs.len());
    let mut lines: Vec<u64> = Vec::with_capacity(recs.len());
    let mut rejects = Vec::new();
    let mut dups = DuplicateFinder::new(recs.len());
    let mut rows_read = 0u64;
    for &(s, e, line) in &recs[1..] {
        let rec = &data[s..e];
        if rec.is_empty() {
            continue; // blank lines are not records
        }
        rows_read += 1;
        let raw = || String::from_utf8_lossy(rec).into_owned();
        if let Err(err) = std::str::from_utf8(rec) {
            let pos = err.valid_up_to();
            let col = rec[..pos].iter().filter(|&&b| b == sep).count();
            rejects.push(Reject {
                line,
                raw: raw(),
                code: "invalid_utf8",
                column: columns.get(col).cloned(),
                value: Some(format!("byte 0x{:02X} at offset {pos}", rec[pos])),
                message: "the record is not valid UTF-8; export the file as UTF-8".into(),
            });
            continue;
        }
        let n = count_fields(rec, sep);
        if n != width {
            rejects.push(Reject {
                line,
                raw: raw(),
                code: "wrong_column_count",
                column: None,
                value: Some(n.to_string()),
                message: format!("expected {width} fields as in the header, found {n}"),
            });
            continue;
        }
        if let Some(first) = dups.check(&data, s, e, line) {
            rejects.push(duplicate_reject(line, raw(), first));
            continue;
        }
        spans.push((s, e));
        lines.push(line);
    }
    // The reader's threads each produce chunks; they are joined below one column at a time
    // (polars' own rechunk joins all columns at once, holding a second copy of every string).
    let options = CsvReadOptions::default()
        .with_has_header(true)
        .with_rechunk(false)
        .with_infer_schema_length(Some(0))
        .map_parse_options(|o| o.with_separator(sep).with_quote_char(Some(b'"')));
    // Usually every record survives: polars then reads the file's own bytes. Otherwise the
    // surviving records are moved left over the rejected ones in the same buffer (every move goes
    // left: the header loses at most its byte-order mark and each record keeps one newline), so
    // no second copy of the file is held; `spans` follow the records to their new places.
    let untouched = !has_bom && spans.len() + 1 == recs.len();
    drop((recs, dups));
    let mut data = data;
    let len = if untouched {
        data.len()
    } else {
        let header_start = he - header_len;
        data.copy_within(header_start..he, 0);
        // A newline at `w`; only the last record of a file without a final newline can need
        // one more byte than it had.
        let newline = |data: &mut Vec<u8>, w: usize| {
            if w < data.len() {
                data[w] = b'\n';
            } else {
                data.push(b'\n');
            }
        };
        let mut w = header_len;
        newline(&mut data, w);
        w += 1;
        for span in spans.iter_mut() {
            let (s, e) = *span;
            data.copy_within(s..e, w);
            *span = (w, w + (e - s));
            w += e - s;
            newline(&mut data, w);
            w += 1;
        }
        w
    };
    let parsed = options
        .into_reader_with_file_handle(Cursor::new(&data[..len]))
        .finish();
    let mut df = parsed.map_err(|e| Error::source(file, format!("cannot parse as CSV: {e}")))?;
    df.rechunk_mut();
    // Polars names the columns from the header it read; use our trimmed names.
    df.set_column_names(&columns.iter().map(String::as_str).collect::<Vec<_>>())
        .map_err(|e| Error::source(file, format!("duplicate column names in the header: {e}")))?;
    if df.height() != lines.len() {
        return Err(Error::Invariant(format!(
            "{}: CSV reader returned {} rows for {} records",
            file.display(),
            df.height(),
            lines.len()
        )));
    }
    df.with_column(Column::new(LINE_COL.into(), lines))?;
    Ok(FileRows {
        df,
        raw: RawText::Bytes { data, spans },
        rejects,
        rows_read,
        columns,
    })
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
        let rows = read_csv(Path::new("t.csv"), data, b',').unwrap();
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
        let rows = read_csv(Path::new("t.csv"), data, b',').unwrap();
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
mod field_count_tests {
    use super::*;

    #[test]
    fn counting_fields_agrees_with_splitting_them() {
        for rec in [
            &b"a,b,c"[..],
            b"\"a,b\",c",
            b"",
            b"a,\"\"\"x,\"\"\",",
            b";;",
        ] {
            assert_eq!(
                count_fields(rec, b','),
                split_fields(rec, b',').len(),
                "{rec:?}"
            );
        }
    }
}
