//! The file formats: delimited text (the csv crate over the whole file, with record spans for line numbers and raw text), JSON lines and Parquet.

use super::*;

pub(crate) fn empty_file_message(skip_rows: usize) -> String {
    if skip_rows > 0 {
        format!(
            "no header line after the {skip_rows} skipped lines (skip_rows = {skip_rows}); expected a header line with column names"
        )
    } else {
        "the file is empty: expected a header line with column names".into()
    }
}

/// The header's column names, trimmed (a UTF-8 byte-order mark removed).
pub(crate) fn header_names(rec: &csv::ByteRecord) -> Vec<String> {
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
pub(crate) fn after_skipped_lines(data: &[u8], n: usize) -> (&[u8], u64) {
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
pub(crate) fn csv_reader<'a>(dialect: &Dialect, data: &'a [u8]) -> csv::Reader<&'a [u8]> {
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
pub(crate) fn records(data: &[u8], quote: u8) -> Vec<(usize, usize, u64)> {
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
pub(crate) struct DuplicateFinder {
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

pub(crate) const HASH: foldhash::fast::FixedState =
    foldhash::fast::FixedState::with_seed(0x6475_706c);

pub(crate) fn duplicate_reject(line: u64, raw: String, first: u64) -> Reject {
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
pub(crate) fn record_span(
    data: &[u8],
    start: usize,
    end: usize,
    comment: Option<u8>,
) -> (usize, usize) {
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

/// Reads the header record of `body`: the column names, the header's line number and where
/// its text starts.
fn csv_header(
    file: &Path,
    body: &[u8],
    skipped: u64,
    reader: &mut csv::Reader<&[u8]>,
    dialect: &Dialect,
) -> Result<(Vec<String>, u64, usize)> {
    let mut rec = csv::ByteRecord::new();
    if !reader
        .read_byte_record(&mut rec)
        .map_err(|e| split_error(file, e))?
    {
        return Err(Error::source(file, empty_file_message(dialect.skip_rows)));
    }
    let start = rec.position().map_or(0, |p| p.byte() as usize);
    let header_line = skipped + 1 + line_breaks(body, 0, start);
    let header_raw = record_span(
        body,
        start,
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
                dialect.delimiter as char
            ),
        ));
    }
    Ok((columns, header_line, header_raw.0))
}

fn split_error(file: &Path, e: csv::Error) -> Error {
    Error::source(
        file,
        format!("cannot split the file into records: {e}; check delimiter, quote and encoding"),
    )
}

/// The fields of record `rec` as text, or why the record is quarantined (not UTF-8, or not as
/// many fields as the header).
fn csv_fields<'r>(
    rec: &'r csv::ByteRecord,
    columns: &[String],
    delimiter: u8,
    line: u64,
    raw: impl Fn() -> String,
) -> std::result::Result<Vec<&'r str>, Reject> {
    // Fields are validated once and kept as text; the record is UTF-8 exactly when its fields
    // are (the bytes between them, delimiters and quotes, are ASCII).
    let mut fields: Vec<&str> = Vec::with_capacity(columns.len());
    for (j, f) in rec.iter().enumerate() {
        match std::str::from_utf8(f) {
            Ok(t) => fields.push(t),
            Err(err) => {
                let pos = err.valid_up_to();
                return Err(Reject {
                    line,
                    raw: raw(),
                    code: "invalid_utf8",
                    column: columns.get(j).cloned(),
                    value: f
                        .get(pos)
                        .map(|b| format!("byte 0x{b:02X} at offset {pos} of the field")),
                    message: "the record is not valid UTF-8; declare the file's encoding in its mapping (e.g. encoding = \"windows-1252\") or export it as UTF-8".into(),
                });
            }
        }
    }
    let (n, width) = (rec.len(), columns.len());
    if n != width {
        return Err(Reject {
            line,
            raw: raw(),
            code: "wrong_column_count",
            column: None,
            value: Some(n.to_string()),
            message: format!(
                "expected {width} fields as in the header, found {n}; is the delimiter {:?} right, or does a field hold an unescaped quote?",
                delimiter as char
            ),
        });
    }
    Ok(fields)
}

/// The rows kept from a text file: a text column per field, with their spans and line numbers.
struct TextColumns {
    builders: Vec<StringChunkedBuilder>,
    spans: Vec<(usize, usize)>,
    lines: Vec<u64>,
}

impl TextColumns {
    fn new(columns: &[String]) -> Self {
        TextColumns {
            builders: columns
                .iter()
                .map(|c| StringChunkedBuilder::new(c.as_str().into(), 1024))
                .collect(),
            spans: Vec::new(),
            lines: Vec::new(),
        }
    }

    fn push(&mut self, fields: &[&str], span: (usize, usize), line: u64) {
        for (b, field) in self.builders.iter_mut().zip(fields) {
            if field.is_empty() {
                b.append_null();
            } else {
                b.append_value(field);
            }
        }
        self.spans.push(span);
        self.lines.push(line);
    }

    /// The columns (and the line numbers' column) and the spans of the rows.
    fn finish(self) -> (Vec<Column>, Vec<(usize, usize)>) {
        let mut cols: Vec<Column> = self
            .builders
            .into_iter()
            .map(|b| b.finish().into_series().into_column())
            .collect();
        cols.push(Column::new(LINE_COL.into(), self.lines));
        (cols, self.spans)
    }
}

pub(crate) fn read_csv(file: &Path, data: Vec<u8>, dialect: &Dialect) -> Result<FileRows> {
    let (body, skipped) = after_skipped_lines(&data, dialect.skip_rows);
    let base = data.len() - body.len();
    let mut reader = csv_reader(dialect, body);
    let (columns, header_line, header_start) =
        csv_header(file, body, skipped, &mut reader, dialect)?;
    let mut kept = TextColumns::new(&columns);
    let mut rec = csv::ByteRecord::new();
    let mut rejects = Vec::new();
    let mut dups = DuplicateFinder::new(1024);
    let mut rows_read = 0u64;
    // Lines are counted incrementally: line breaks between the last record's start and this one's.
    let mut counted_to = header_start;
    let mut line = header_line;
    loop {
        let from = reader.position().byte() as usize;
        if !reader
            .read_byte_record(&mut rec)
            .map_err(|e| split_error(file, e))?
        {
            break;
        }
        let to = reader.position().byte() as usize;
        let (s, e) = record_span(body, from, to, dialect.comment);
        if s >= e {
            continue; // blank lines are not records
        }
        line += line_breaks(body, counted_to, s);
        counted_to = s;
        rows_read += 1;
        let raw = || String::from_utf8_lossy(&body[s..e]).into_owned();
        match csv_fields(&rec, &columns, dialect.delimiter, line, raw) {
            Err(reject) => rejects.push(reject),
            Ok(_) if let Some(first) = dups.check(body, s, e, line) => {
                rejects.push(duplicate_reject(line, raw(), first))
            }
            Ok(fields) => kept.push(&fields, (base + s, base + e), line),
        }
    }
    drop(dups);
    let (cols, spans) = kept.finish();
    let df = DataFrame::new_infer_height(cols)
        .map_err(|e| Error::source(file, format!("duplicate column names in the header: {e}")))?;
    Ok(FileRows::of_bytes(
        df, data, spans, rejects, rows_read, columns,
    ))
}

/// Line breaks in `data[from..to]`.
pub(crate) fn line_breaks(data: &[u8], from: usize, to: usize) -> u64 {
    memchr::memchr_iter(b'\n', &data[from.min(to)..to]).count() as u64
}

/// The JSON object of record `rec`, or why the record is quarantined.
fn json_object(
    rec: &[u8],
    line: u64,
    raw: impl Fn() -> String,
) -> std::result::Result<serde_json::Map<String, serde_json::Value>, Reject> {
    let reject = |code, value, message| Reject {
        line,
        raw: raw(),
        code,
        column: None,
        value,
        message,
    };
    let text = std::str::from_utf8(rec).map_err(|err| {
        let at = err.valid_up_to();
        reject(
            "invalid_utf8",
            Some(format!("byte 0x{:02X} at offset {at}", rec[at])),
            "the record is not valid UTF-8; export the file as UTF-8".into(),
        )
    })?;
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(reject(
            "invalid_json",
            None,
            "expected one JSON object per line".into(),
        )),
        Err(err) => Err(reject(
            "invalid_json",
            None,
            format!("not valid JSON ({err}); expected one JSON object per line"),
        )),
    }
}

/// Every value becomes text, so that JSON and CSV share one validation path: a number that
/// arrives as a string ("12.5") and one that arrives as a number (12.5) are judged alike.
fn json_columns(
    columns: &[String],
    rows: &[serde_json::Map<String, serde_json::Value>],
) -> Vec<Column> {
    columns
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
        .collect()
}

pub(crate) fn read_jsonl(data: Vec<u8>) -> Result<FileRows> {
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
        match json_object(rec, line, raw) {
            Err(reject) => rejects.push(reject),
            Ok(_) if let Some(first) = dups.check(&data, s, e, line) => {
                rejects.push(duplicate_reject(line, raw(), first))
            }
            Ok(map) => {
                for k in map.keys() {
                    if !columns.contains(k) {
                        columns.push(k.clone());
                    }
                }
                rows.push(map);
                spans.push((s, e));
                lines.push(line);
            }
        }
    }
    let mut cols = json_columns(&columns, &rows);
    cols.push(Column::new(LINE_COL.into(), lines));
    let df = DataFrame::new_infer_height(cols)?;
    Ok(FileRows::of_bytes(
        df, data, spans, rejects, rows_read, columns,
    ))
}

pub(crate) fn read_parquet(file: &Path) -> Result<FileRows> {
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
