//! Reading a transaction log (or a ready-made per-customer summary) from any delimited text file,
//! with a mapping of its columns, so the value models run outside the mart too.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::error::{Error, Result};

/// Field separator of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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

/// Days since 1970-01-01.
pub fn epoch_day(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// The date of an epoch day.
pub fn from_epoch_day(d: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(d as i64)
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

/// Streams the records of a delimited file as (line number, fields), checking UTF-8.
fn for_each_record(
    path: &Path,
    delimiter: Delimiter,
    mut f: impl FnMut(u64, &[&str]) -> Result<()>,
) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let delimiter = if delimiter == Delimiter::Auto {
        let buf = reader.fill_buf().map_err(|e| Error::io(path, e))?;
        let end = buf.iter().position(|b| *b == b'\n').unwrap_or(buf.len());
        detect(&String::from_utf8_lossy(&buf[..end]))
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
        let mut buf = Vec::new();
        let mut line = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| Error::io(path, e))?;
            if n == 0 {
                return Ok(());
            }
            line += 1;
            let text = std::str::from_utf8(&buf).map_err(|_| bad_utf8(line))?;
            let fields: Vec<&str> = text.split_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            f(line, &fields)?;
        }
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
        .from_reader(reader);
    let mut rec = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut rec) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(Error::source(path, format!("line {line}: {e}")));
            }
        }
        let line = rec.position().map_or(0, |p| p.line());
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
                        "--{role}-col {n}: the file has no header (--no-header), so give the column's position (1, 2, …)"
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

/// Reads a transaction log. A row that cannot be read stops the run with an error naming the
/// file, line, column and value; nothing is skipped.
pub fn read_transactions(spec: &InputSpec) -> Result<Transactions> {
    let path = spec.path.as_path();
    let mut out = Transactions::default();
    let mut index = HashMap::new();
    let mut cols: Option<Vec<usize>> = None;
    let mut header: Option<Vec<String>> = None;
    let roles = [
        ("customer", &spec.customer),
        ("date", &spec.date),
        ("amount", &spec.amount),
    ];
    let name = |header: &Option<Vec<String>>, i: usize| {
        header
            .as_ref()
            .and_then(|h| h.get(i).cloned())
            .unwrap_or_else(|| format!("#{}", i + 1))
    };
    for_each_record(path, spec.delimiter, |line, fields| {
        if cols.is_none() {
            if spec.header {
                cols = Some(resolve(path, Some(fields), &roles)?);
                header = Some(fields.iter().map(|s| s.trim().to_string()).collect());
                return Ok(());
            }
            cols = Some(resolve(path, None, &roles)?);
        }
        let c = cols.as_ref().expect("resolved");
        let customer = field(path, line, fields, c[0], "customer")?.trim();
        if customer.is_empty() {
            return Err(Error::source(
                path,
                format!(
                    "line {line}, column {}: empty customer id",
                    name(&header, c[0])
                ),
            ));
        }
        let d = field(path, line, fields, c[1], "date")?;
        let day = parse_date(d, spec.date_format.as_deref()).ok_or_else(|| {
            Error::source(
                path,
                format!(
                    "line {line}, column {}: cannot read the date {d:?} ({}); give --date-format",
                    name(&header, c[1]),
                    spec.date_format
                        .as_deref()
                        .map_or("expected YYYY-MM-DD or YYYYMMDD".to_string(), |f| format!(
                            "expected format {f}"
                        ))
                ),
            )
        })?;
        let a = field(path, line, fields, c[2], "amount")?;
        let amount: f64 = a
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| {
                Error::source(
                    path,
                    format!(
                        "line {line}, column {}: the amount {a:?} is not a number",
                        name(&header, c[2])
                    ),
                )
            })?;
        out.push(&mut index, customer, epoch_day(day), amount);
        Ok(())
    })?;
    if out.rows.is_empty() {
        return Err(Error::source(path, "no transactions in the file"));
    }
    Ok(out)
}

/// A per-customer summary read from a file with columns for the id, `frequency`, `recency`, `T`
/// and optionally `monetary_value` (the layout of the BG/NBD paper's CDNOW summary).
pub fn read_summary(
    path: &Path,
    delimiter: Delimiter,
    customer: &Column,
) -> Result<super::Summary> {
    let mut s = super::Summary::default();
    let mut cols: Option<(usize, usize, usize, usize, Option<usize>)> = None;
    let mut names: Vec<String> = Vec::new();
    for_each_record(path, delimiter, |line, fields| {
        let Some((ci, fi, ri, ti, mi)) = cols else {
            let find = |n: &str| fields.iter().position(|h| h.trim() == n);
            let find_ci = |n: &str| fields.iter().position(|h| h.trim().eq_ignore_ascii_case(n));
            let need = |n: &str| {
                find(n).or_else(|| find_ci(n)).ok_or_else(|| {
                    Error::source(
                        path,
                        format!(
                            "line {line}: no column {n:?}; a summary file has columns id, frequency, recency, T and optionally monetary_value; the header has: {}",
                            fields.join(", ")
                        ),
                    )
                })
            };
            let ci = resolve(path, Some(fields), &[("customer", customer)])
                .map(|v| v[0])
                .or_else(|e| {
                    if matches!(customer, Column::Name(n) if n == "customer_id") {
                        Ok(0)
                    } else {
                        Err(e)
                    }
                })?;
            cols = Some((
                ci,
                need("frequency")?,
                need("recency")?,
                need("T")?,
                find_ci("monetary_value"),
            ));
            names = fields.iter().map(|s| s.trim().to_string()).collect();
            return Ok(());
        };
        let num = |i: usize| -> Result<f64> {
            let v = field(path, line, fields, i, &names[i])?;
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| {
                    Error::source(
                        path,
                        format!("line {line}, column {}: {v:?} is not a number", names[i]),
                    )
                })
        };
        s.ids.push(
            field(path, line, fields, ci, "customer")?
                .trim()
                .to_string(),
        );
        s.x.push(num(fi)?);
        s.t_x.push(num(ri)?);
        s.t.push(num(ti)?);
        s.m.push(match mi {
            Some(i) => num(i)?,
            None => 0.0,
        });
        Ok(())
    })?;
    if s.ids.is_empty() {
        return Err(Error::source(path, "no customers in the summary file"));
    }
    Ok(s)
}
