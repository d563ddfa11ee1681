//! Reading a transaction log (or a ready-made per-customer summary) from any delimited text file,
//! with a mapping of its columns, so the value models run outside the mart too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::util::dates::epoch_day;

use crate::error::{Error, Result};

mod summary;
pub use summary::*;
#[cfg(test)]
mod tests;

/// Field separator of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimiter {
    /// From the first line: comma, else tab, else semicolon, else runs of whitespace.
    Auto,
    /// `,` (RFC 4180 quoting).
    Comma,
    /// A tab.
    Tab,
    /// `;`.
    Semicolon,
    /// Runs of spaces or tabs (fixed-width logs such as CDNOW's).
    Whitespace,
}

impl Delimiter {
    /// Every choice.
    pub const ALL: [Delimiter; 5] = [
        Delimiter::Auto,
        Delimiter::Comma,
        Delimiter::Tab,
        Delimiter::Semicolon,
        Delimiter::Whitespace,
    ];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Delimiter::Auto => "auto",
            Delimiter::Comma => "comma",
            Delimiter::Tab => "tab",
            Delimiter::Semicolon => "semicolon",
            Delimiter::Whitespace => "whitespace",
        }
    }
}

/// A column named in the header, or its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// Header name (case-insensitive).
    Name(String),
    /// 1-based position.
    Index(usize),
}

impl std::str::FromStr for Column {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("a column is a header name or a 1-based position".into());
        }
        match s.parse::<usize>() {
            Ok(0) => Err("column positions start at 1".into()),
            Ok(i) => Ok(Column::Index(i)),
            Err(_) => Ok(Column::Name(s.to_string())),
        }
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Name(n) => write!(f, "{n}"),
            Column::Index(i) => write!(f, "#{i}"),
        }
    }
}

/// How to read a transaction log.
#[derive(Debug, Clone)]
pub struct InputSpec {
    /// The file.
    pub path: PathBuf,
    /// Field separator.
    pub delimiter: Delimiter,
    /// Whether the first line is a header.
    pub header: bool,
    /// Customer id column.
    pub customer: Column,
    /// Transaction date column.
    pub date: Column,
    /// Transaction amount column.
    pub amount: Column,
    /// chrono format of the dates (default: YYYY-MM-DD, with or without a time, or YYYYMMDD).
    pub date_format: Option<String>,
}

/// One transaction: interned customer, day (days since 1970-01-01) and amount.
#[derive(Debug, Clone, Copy)]
pub struct Txn {
    /// Index into [`Transactions::ids`].
    pub customer: u32,
    /// Days since 1970-01-01.
    pub day: i32,
    /// Amount.
    pub amount: f64,
}

/// A transaction log with interned customer ids.
#[derive(Debug, Default)]
pub struct Transactions {
    /// Customer ids, indexed by [`Txn::customer`].
    pub ids: Vec<String>,
    /// The transactions, in file order.
    pub rows: Vec<Txn>,
}

impl Transactions {
    /// Adds one transaction.
    pub fn push(
        &mut self,
        index: &mut HashMap<String, u32>,
        customer: &str,
        day: i32,
        amount: f64,
    ) {
        let c = match index.get(customer) {
            Some(c) => *c,
            None => {
                let c = self.ids.len() as u32;
                self.ids.push(customer.to_string());
                index.insert(customer.to_string(), c);
                c
            }
        };
        self.rows.push(Txn {
            customer: c,
            day,
            amount,
        });
    }
}

/// Parses a date with `format`, or by default YYYY-MM-DD (optionally followed by a time) or
/// YYYYMMDD.
pub fn parse_date(s: &str, format: Option<&str>) -> Option<NaiveDate> {
    let s = s.trim();
    if let Some(f) = format {
        return NaiveDate::parse_from_str(s, f).ok().or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, f)
                .ok()
                .map(|t| t.date())
        });
    }
    if s.len() >= 10
        && s.is_char_boundary(10)
        && let Ok(d) = NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d")
        && (s.len() == 10 || s[10..].starts_with(['T', ' ']))
    {
        return Some(d);
    }
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(s, "%Y%m%d").ok();
    }
    None
}

fn detect(first_line: &str) -> Delimiter {
    if first_line.contains(',') {
        Delimiter::Comma
    } else if first_line.contains('\t') {
        Delimiter::Tab
    } else if first_line.contains(';') {
        Delimiter::Semicolon
    } else {
        Delimiter::Whitespace
    }
}

/// The records of a delimited file's bytes as (line number, fields), checking UTF-8. Line numbers
/// count every line of the file (blank ones and those inside quoted fields included).
fn for_each_record(
    path: &Path,
    bytes: &[u8],
    delimiter: Delimiter,
    mut f: impl FnMut(u64, &[&str]) -> Result<()>,
) -> Result<()> {
    let delimiter = if delimiter == Delimiter::Auto {
        let end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
        detect(&String::from_utf8_lossy(&bytes[..end]))
    } else {
        delimiter
    };
    let bad_utf8 = |line: u64| {
        Error::source(
            path,
            format!("line {line}: not valid UTF-8; convert the file to UTF-8"),
        )
    };
    if delimiter == Delimiter::Whitespace {
        for (k, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            let line = k as u64 + 1;
            let text = std::str::from_utf8(raw).map_err(|_| bad_utf8(line))?;
            let fields: Vec<&str> = text.split_whitespace().collect();
            if !fields.is_empty() {
                f(line, &fields)?;
            }
        }
        return Ok(());
    }
    let sep = match delimiter {
        Delimiter::Tab => b'\t',
        Delimiter::Semicolon => b';',
        _ => b',',
    };
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(sep)
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut rec = csv::ByteRecord::new();
    // Line of the byte offset `at`, counting newlines incrementally.
    let (mut seen, mut newlines) = (0usize, 0u64);
    let mut line_at = |at: usize| {
        let at = at.min(bytes.len());
        if at > seen {
            newlines += memchr::memchr_iter(b'\n', &bytes[seen..at]).count() as u64;
            seen = at;
        }
        newlines + 1
    };
    loop {
        let start = csv.position().byte() as usize;
        match csv.read_byte_record(&mut rec) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = line_at(e.position().map_or(start, |p| p.byte() as usize));
                return Err(Error::source(path, format!("line {line}: {e}")));
            }
        }
        // The record starts after any blank lines the reader skipped.
        let mut begin = rec.position().map_or(start, |p| p.byte() as usize);
        while begin < bytes.len() && matches!(bytes[begin], b'\r' | b'\n') {
            begin += 1;
        }
        let line = line_at(begin);
        let mut fields = Vec::with_capacity(rec.len());
        for field in rec.iter() {
            fields.push(std::str::from_utf8(field).map_err(|_| bad_utf8(line))?);
        }
        if fields.len() == 1 && fields[0].is_empty() {
            continue;
        }
        f(line, &fields)?;
    }
}

/// Resolves columns against the header (or positions) into 0-based indices.
fn resolve(
    path: &Path,
    header: Option<&[&str]>,
    columns: &[(&str, &Column)],
) -> Result<Vec<usize>> {
    columns
        .iter()
        .map(|(role, c)| match c {
            Column::Index(i) => Ok(i - 1),
            Column::Name(n) => {
                let Some(h) = header else {
                    return Err(Error::usage(format!(
                        "{} {n}: the file has no header ({}), so give the column's position (1, 2, …)",
                        crate::error::param(&format!("{role}_col")),
                        crate::error::param("no_header")
                    )));
                };
                h.iter()
                    .position(|x| x.trim().eq_ignore_ascii_case(n))
                    .ok_or_else(|| {
                        Error::source(
                            path,
                            format!(
                                "no column {n:?} for the {role} (--{role}-col); the header has: {}",
                                h.join(", ")
                            ),
                        )
                    })
            }
        })
        .collect()
}

fn field<'a>(
    path: &Path,
    line: u64,
    fields: &[&'a str],
    idx: usize,
    role: &str,
) -> Result<&'a str> {
    fields.get(idx).copied().ok_or_else(|| {
        Error::source(
            path,
            format!(
                "line {line}: {} fields, but the {role} is column {}",
                fields.len(),
                idx + 1
            ),
        )
    })
}

/// Column positions and names of a transaction log.
struct Layout {
    /// 0-based positions of the customer, date and amount.
    cols: [usize; 3],
    /// Header names, when the file has a header.
    header: Option<Vec<String>>,
}

impl Layout {
    fn new(path: &Path, spec: &InputSpec, header: Option<&[&str]>) -> Result<Layout> {
        let roles = [
            ("customer", &spec.customer),
            ("date", &spec.date),
            ("amount", &spec.amount),
        ];
        let c = resolve(path, header, &roles)?;
        Ok(Layout {
            cols: [c[0], c[1], c[2]],
            header: header.map(|h| h.iter().map(|s| s.trim().to_string()).collect()),
        })
    }

    fn name(&self, i: usize) -> String {
        self.header
            .as_ref()
            .and_then(|h| h.get(i).cloned())
            .unwrap_or_else(|| format!("#{}", i + 1))
    }

    /// Customer, epoch day and amount of one record, or an error naming line, column and value.
    fn parse<'a>(
        &self,
        path: &Path,
        line: u64,
        fields: &[&'a str],
        date_format: Option<&str>,
    ) -> Result<(&'a str, i32, f64)> {
        let [ci, di, ai] = self.cols;
        let customer = field(path, line, fields, ci, "customer")?.trim();
        if customer.is_empty() {
            return Err(Error::source(
                path,
                format!("line {line}, column {}: empty customer id", self.name(ci)),
            ));
        }
        let d = field(path, line, fields, di, "date")?;
        let day = match date_format {
            None => fast_epoch_day(d.trim()),
            Some(_) => None,
        }
        .or_else(|| parse_date(d, date_format).map(epoch_day))
        .ok_or_else(|| {
            Error::source(
                path,
                format!(
                    "line {line}, column {}: cannot read the date {d:?} ({}); give {}",
                    self.name(di),
                    date_format.map_or("expected YYYY-MM-DD or YYYYMMDD".to_string(), |f| {
                        format!("expected format {f}")
                    }),
                    crate::error::param("date_format")
                ),
            )
        })?;
        let a = field(path, line, fields, ai, "amount")?;
        let amount = a
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                Error::source(
                    path,
                    format!(
                        "line {line}, column {}: the amount {a:?} is not a number",
                        self.name(ai)
                    ),
                )
            })?;
        Ok((customer, day, amount))
    }
}

/// YYYY-MM-DD (optionally followed by a time) or YYYYMMDD without chrono's format parser.
fn fast_epoch_day(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r.clone())?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
        })
    };
    let (y, m, d) = if b.len() >= 10
        && b[4] == b'-'
        && b[7] == b'-'
        && (b.len() == 10 || b[10] == b'T' || b[10] == b' ')
    {
        (num(0..4)?, num(5..7)?, num(8..10)?)
    } else if b.len() == 8 {
        (num(0..4)?, num(4..6)?, num(6..8)?)
    } else {
        return None;
    };
    NaiveDate::from_ymd_opt(y as i32, m, d).map(epoch_day)
}

/// Reads a transaction log. A row that cannot be read stops the run with an error naming the
/// file, line, column and value; nothing is skipped.
///
/// Files without quote characters are parsed in parallel chunks; files with quotes go through an
/// RFC 4180 reader.
pub fn read_transactions(spec: &InputSpec) -> Result<Transactions> {
    let path = spec.path.as_path();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let out = if memchr::memchr(b'"', &bytes).is_none() {
        read_unquoted(spec, &bytes)?
    } else {
        read_quoted(spec, &bytes)?
    };
    if out.rows.is_empty() {
        return Err(Error::source(path, "no transactions in the file"));
    }
    Ok(out)
}

fn read_quoted(spec: &InputSpec, bytes: &[u8]) -> Result<Transactions> {
    let path = spec.path.as_path();
    let mut out = Transactions::default();
    let mut index = HashMap::new();
    let mut layout: Option<Layout> = None;
    for_each_record(path, bytes, spec.delimiter, |line, fields| {
        let Some(l) = &layout else {
            if spec.header {
                layout = Some(Layout::new(path, spec, Some(fields))?);
                return Ok(());
            }
            let l = Layout::new(path, spec, None)?;
            let (c, d, a) = l.parse(path, line, fields, spec.date_format.as_deref())?;
            out.push(&mut index, c, d, a);
            layout = Some(l);
            return Ok(());
        };
        let (c, d, a) = l.parse(path, line, fields, spec.date_format.as_deref())?;
        out.push(&mut index, c, d, a);
        Ok(())
    })?;
    Ok(out)
}

/// Splits a line into fields: on one byte, or on runs of whitespace.
fn split_fields<'a>(line: &'a str, delimiter: Delimiter, out: &mut Vec<&'a str>) {
    out.clear();
    match delimiter {
        Delimiter::Whitespace | Delimiter::Auto => out.extend(line.split_ascii_whitespace()),
        Delimiter::Tab => out.extend(line.split('\t')),
        Delimiter::Semicolon => out.extend(line.split(';')),
        Delimiter::Comma => out.extend(line.split(',')),
    }
}

/// The layout of an unquoted file's header (the first non-blank line) or of its first record,
/// with the byte where the body starts and the body's first line number; `None` when the file
/// has a header and nothing else.
fn unquoted_layout(
    spec: &InputSpec,
    text: &str,
    delimiter: Delimiter,
) -> Result<Option<(Layout, usize, u64)>> {
    let path = spec.path.as_path();
    if !spec.header {
        return Ok(Some((Layout::new(path, spec, None)?, 0, 1)));
    }
    let (mut line, mut body_start) = (0u64, 0usize);
    for l in text.split_inclusive('\n') {
        line += 1;
        body_start += l.len();
        let mut fields = Vec::new();
        split_fields(l.trim_end_matches(['\n', '\r']), delimiter, &mut fields);
        if fields.is_empty() || (fields.len() == 1 && fields[0].is_empty()) {
            continue;
        }
        return Ok(Some((
            Layout::new(path, spec, Some(&fields))?,
            body_start,
            line + 1,
        )));
    }
    Ok(None)
}

/// `body` cut at line ends into chunks for the threads, each with the number of its first line.
fn line_chunks(body: &str, first_line: u64) -> Vec<(&str, u64)> {
    use rayon::prelude::*;
    let n_chunks = rayon::current_num_threads() * 8;
    let target = body.len() / n_chunks + 1;
    let mut bounds = vec![0];
    while *bounds.last().expect("non-empty") < body.len() {
        let from = *bounds.last().expect("non-empty") + target;
        let end = if from >= body.len() {
            body.len()
        } else {
            memchr::memchr(b'\n', &body.as_bytes()[from..]).map_or(body.len(), |i| from + i + 1)
        };
        bounds.push(end);
    }
    let chunks: Vec<&str> = bounds.windows(2).map(|w| &body[w[0]..w[1]]).collect();
    let newlines: Vec<u64> = chunks
        .par_iter()
        .map(|c| memchr::memchr_iter(b'\n', c.as_bytes()).count() as u64)
        .collect();
    let mut line = first_line;
    chunks
        .into_iter()
        .zip(newlines)
        .map(|(c, n)| {
            let start = line;
            line += n;
            (c, start)
        })
        .collect()
}

fn read_unquoted(spec: &InputSpec, bytes: &[u8]) -> Result<Transactions> {
    use rayon::prelude::*;
    let path = spec.path.as_path();
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + memchr::memchr_iter(b'\n', &bytes[..e.valid_up_to()]).count();
        Error::source(
            path,
            format!("line {line}: not valid UTF-8; convert the file to UTF-8"),
        )
    })?;
    let delimiter = match spec.delimiter {
        Delimiter::Auto => detect(text.lines().next().unwrap_or("")),
        d => d,
    };
    let Some((layout, body_start, first_line)) = unquoted_layout(spec, text, delimiter)? else {
        return Ok(Transactions::default());
    };
    let date_format = spec.date_format.as_deref();
    type Rows<'a> = Vec<(&'a str, i32, f64)>;
    let parsed: Vec<Result<Rows<'_>>> = line_chunks(&text[body_start..], first_line)
        .par_iter()
        .map(|&(chunk, start)| {
            let mut rows = Vec::with_capacity(chunk.len() / 24);
            let mut fields = Vec::new();
            for (k, l) in chunk.split_terminator('\n').enumerate() {
                let l = l.strip_suffix('\r').unwrap_or(l);
                split_fields(l, delimiter, &mut fields);
                if fields.is_empty() || (fields.len() == 1 && fields[0].is_empty()) {
                    continue;
                }
                rows.push(layout.parse(path, start + k as u64, &fields, date_format)?);
            }
            Ok(rows)
        })
        .collect();
    let total: usize = parsed
        .iter()
        .map(|r| r.as_ref().map_or(0, |v| v.len()))
        .sum();
    let mut out = Transactions::default();
    out.rows.reserve(total);
    let mut index: rustc_hash::FxHashMap<&str, u32> = Default::default();
    for chunk in parsed {
        for (c, day, amount) in chunk? {
            let next = out.ids.len() as u32;
            let customer = *index.entry(c).or_insert_with(|| {
                out.ids.push(c.to_string());
                next
            });
            out.rows.push(Txn {
                customer,
                day,
                amount,
            });
        }
    }
    Ok(out)
}
