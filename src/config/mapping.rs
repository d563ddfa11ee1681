//! Source mappings: formats, encodings, dialects, lookups and the per-entity [sources.<entity>] table.

use super::*;

/// File format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// Delimited text with a header line.
    #[default]
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet.
    Parquet,
}

/// Text encoding of a CSV or JSON-lines source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Encoding {
    /// UTF-8 (a byte-order mark is allowed).
    #[default]
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    /// Windows-1252, what Excel writes on Western-European Windows.
    #[serde(rename = "windows-1252", alias = "cp1252", alias = "Windows-1252")]
    Windows1252,
    /// ISO-8859-1 (Latin-1); decoded as its superset Windows-1252, as browsers do.
    #[serde(
        rename = "iso-8859-1",
        alias = "latin1",
        alias = "latin-1",
        alias = "ISO-8859-1"
    )]
    Iso8859_1,
    /// UTF-16 with a byte-order mark (little or big endian).
    #[serde(rename = "utf-16", alias = "utf16", alias = "UTF-16")]
    Utf16,
}

impl Encoding {
    /// The name users write in `crm-mart.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Windows1252 => "windows-1252",
            Encoding::Iso8859_1 => "iso-8859-1",
            Encoding::Utf16 => "utf-16",
        }
    }
}

/// `[sources.<entity>.lookup.<name>]`: columns brought in from another file, matched on a key.
/// Dialect keys left out are the entity's own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupMapping {
    /// File name or glob, relative to the source directory.
    pub path: String,
    /// The key column of the lookup file; each value appears at most once in it.
    pub key: String,
    /// The column of the rows it is matched against, when its name differs from `key` (it may
    /// be a column an earlier lookup brought in).
    pub on: Option<String>,
    /// File format; guessed from the extension when absent.
    pub format: Option<SourceFormat>,
    /// Field delimiter.
    pub delimiter: Option<String>,
    /// Text encoding.
    pub encoding: Option<Encoding>,
    /// Quote character, or "" for none.
    pub quote: Option<String>,
    /// Escape character inside quoted fields.
    pub escape: Option<String>,
    /// Lines before the header.
    pub skip_rows: Option<usize>,
    /// Line of the header (1-based).
    pub header_row: Option<usize>,
    /// Lines starting with this character are comments.
    pub comment: Option<String>,
}

impl LookupMapping {
    /// The column of the rows this lookup matches on.
    pub fn on(&self) -> &str {
        self.on.as_deref().unwrap_or(&self.key)
    }

    /// How to read the lookup file: its own dialect keys, else those of `parent`.
    pub fn reading(&self, parent: &SourceMapping) -> SourceMapping {
        SourceMapping {
            path: Some(self.path.clone()),
            format: self.format,
            delimiter: self
                .delimiter
                .clone()
                .unwrap_or_else(|| parent.delimiter.clone()),
            encoding: self.encoding.unwrap_or(parent.encoding),
            quote: self.quote.clone().unwrap_or_else(|| parent.quote.clone()),
            escape: self.escape.clone().or_else(|| parent.escape.clone()),
            skip_rows: self.skip_rows.unwrap_or(parent.skip_rows),
            header_row: self.header_row.or(parent.header_row),
            comment: self.comment.clone().or_else(|| parent.comment.clone()),
            ..SourceMapping::default()
        }
    }
}

/// `[sources.<entity>]`: how one entity's export maps to the canonical columns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceMapping {
    /// File name or glob (`*` and `?` in the file name part), relative to the source directory.
    pub path: Option<String>,
    /// File format; guessed from the extension when absent.
    pub format: Option<SourceFormat>,
    /// CSV field delimiter (one character).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Text encoding of CSV and JSON-lines files.
    #[serde(default)]
    pub encoding: Encoding,
    /// Quote character of CSV fields, or "" for none. A quote that does not open a field is an
    /// ordinary character (`7" FRAME`).
    #[serde(default = "default_quote")]
    pub quote: String,
    /// Escape character inside quoted fields (besides a doubled quote), e.g. "\\".
    pub escape: Option<String>,
    /// Lines before the header line (a title, an export date).
    #[serde(default)]
    pub skip_rows: usize,
    /// Line of the header (1-based); the same as `skip_rows = header_row - 1`.
    pub header_row: Option<usize>,
    /// Lines starting with this character are comments, not records.
    pub comment: Option<String>,
    /// Files whose columns are joined onto each row by a key (a normalized export).
    #[serde(default)]
    pub lookup: BTreeMap<String, LookupMapping>,
    /// Canonical columns with one value for every row.
    #[serde(default)]
    pub constants: BTreeMap<String, String>,
    /// Per canonical column, words of the export → the contract's words (case-insensitive).
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// Whether numbers use a decimal comma (`12,50`).
    #[serde(default)]
    pub decimal_comma: bool,
    /// chrono format of date columns.
    #[serde(default = "default_date_format")]
    pub date_format: String,
    /// chrono format of timestamp columns.
    #[serde(default = "default_timestamp_format")]
    pub timestamp_format: String,
    /// Canonical column name → column name in the file.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// A negative quantity marks a return (sales only).
    #[serde(default = "yes")]
    pub return_when_negative_quantity: bool,
    /// An order id starting with this prefix marks a return (sales only), e.g. "C".
    pub return_when_order_id_starts_with: Option<String>,
    /// Sales lines without a customer id are kept as anonymous sales instead of quarantined.
    #[serde(default)]
    pub allow_anonymous_customer: bool,
}

/// A date or timestamp format that chrono can use: no unknown `%` code, and a year, month
/// and day in it.
pub(crate) fn check_time_format(format: &str) -> std::result::Result<(), String> {
    use chrono::format::{Fixed, Item, Numeric, StrftimeItems};
    let mut has = (false, false, false);
    for item in StrftimeItems::new(format) {
        match item {
            Item::Error => return Err("has a % code chrono does not know".into()),
            Item::Numeric(Numeric::Year | Numeric::YearDiv100 | Numeric::YearMod100, _) => {
                has.0 = true
            }
            Item::Numeric(Numeric::Month, _)
            | Item::Fixed(Fixed::ShortMonthName | Fixed::LongMonthName) => has.1 = true,
            Item::Numeric(Numeric::Day | Numeric::Ordinal, _) => has.2 = true,
            Item::Numeric(Numeric::Timestamp, _) => has = (true, true, true),
            _ => {}
        }
    }
    match has {
        (true, true, true) => Ok(()),
        _ => Err("does not name a year, a month and a day".into()),
    }
}

pub(crate) fn default_delimiter() -> String {
    ",".into()
}
pub(crate) fn default_quote() -> String {
    "\"".into()
}
pub(crate) fn default_date_format() -> String {
    "%Y-%m-%d".into()
}
pub(crate) fn default_timestamp_format() -> String {
    "%Y-%m-%d %H:%M:%S".into()
}
pub(crate) fn yes() -> bool {
    true
}

impl Default for SourceMapping {
    fn default() -> Self {
        SourceMapping {
            path: None,
            format: None,
            delimiter: default_delimiter(),
            encoding: Encoding::Utf8,
            quote: default_quote(),
            escape: None,
            skip_rows: 0,
            header_row: None,
            comment: None,
            lookup: BTreeMap::new(),
            constants: BTreeMap::new(),
            values: BTreeMap::new(),
            decimal_comma: false,
            date_format: default_date_format(),
            timestamp_format: default_timestamp_format(),
            columns: BTreeMap::new(),
            return_when_negative_quantity: true,
            return_when_order_id_starts_with: None,
            allow_anonymous_customer: false,
        }
    }
}

impl SourceMapping {
    /// The delimiter as a byte, validated.
    pub fn delimiter_byte(&self, file: &Path) -> Result<u8> {
        self.dialect()
            .map(|d| d.delimiter)
            .map_err(|why| Error::config(file, why))
    }

    /// An optional one-character setting (`quote`, `escape`, `comment`) as a byte.
    fn one_char(key: &str, value: Option<&str>) -> std::result::Result<Option<u8>, String> {
        match value.map(str::as_bytes) {
            None | Some([]) => Ok(None),
            Some([b]) if b.is_ascii() => Ok(Some(*b)),
            Some(_) => Err(format!(
                "{key} = {:?} is not one ASCII character; use e.g. \"\\\"\", \"'\", or \"\" for none",
                value.unwrap_or_default()
            )),
        }
    }

    /// How CSV records are split; the error says which key is wrong and what would do.
    pub fn dialect(&self) -> std::result::Result<Dialect, String> {
        let skip = match self.header_row {
            None => self.skip_rows,
            Some(0) => {
                return Err("header_row = 0: lines are counted from 1; a header on the first line is header_row = 1".into());
            }
            Some(h) if self.skip_rows != 0 && self.skip_rows != h - 1 => {
                return Err(format!(
                    "header_row = {h} and skip_rows = {} disagree (the header follows the skipped lines: skip_rows = {}); set one of them",
                    self.skip_rows,
                    h - 1
                ));
            }
            Some(h) => h - 1,
        };
        let delimiter = match self.delimiter.as_bytes() {
            [b] => *b,
            _ if self.delimiter == "\\t" => b'\t',
            _ => {
                return Err(format!(
                    "delimiter {:?} is not a single ASCII character; use e.g. \",\", \";\", \"|\" or \"\\t\"",
                    self.delimiter
                ));
            }
        };
        Ok(Dialect {
            delimiter,
            quote: Self::one_char("quote", Some(&self.quote))?,
            escape: Self::one_char("escape", self.escape.as_deref())?,
            comment: Self::one_char("comment", self.comment.as_deref())?,
            skip_rows: skip,
            encoding: self.encoding,
        })
    }

    /// The canonical value of `value` in `column` under the mapping's value map, if it has one.
    pub fn mapped_value<'a>(&'a self, column: &str, value: &str) -> Option<&'a str> {
        let map = self.values.get(column)?;
        map.iter()
            .find(|(from, _)| from.trim().eq_ignore_ascii_case(value.trim()))
            .map(|(_, to)| to.as_str())
    }

    /// Name of the canonical column `canonical` in the source file.
    pub fn source_column<'a>(&'a self, canonical: &'a str) -> &'a str {
        self.columns
            .get(canonical)
            .map(String::as_str)
            .unwrap_or(canonical)
    }
}

/// How the records of a CSV file are split (from the mapping's dialect keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Field delimiter.
    pub delimiter: u8,
    /// Quote character; None: quotes are ordinary characters.
    pub quote: Option<u8>,
    /// Escape character inside quoted fields.
    pub escape: Option<u8>,
    /// Comment character at the start of a line.
    pub comment: Option<u8>,
    /// Lines before the header.
    pub skip_rows: usize,
    /// Text encoding.
    pub encoding: Encoding,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect {
            delimiter: b',',
            quote: Some(b'"'),
            escape: None,
            comment: None,
            skip_rows: 0,
            encoding: Encoding::Utf8,
        }
    }
}
