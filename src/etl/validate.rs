//! Typed parsing and row rules, as one polars lazy query per file.
//!
//! Every canonical column is trimmed, parsed non-strictly (a value that does not parse becomes
//! null) and checked against its rule; a single `coalesce` picks each row's first failure as a
//! numeric code. Rows with no failure continue; the others become quarantine records whose
//! message is written here, in Rust, naming the column, the value and what would be accepted.

use std::path::Path;

use polars::prelude::*;

use super::read::{FileRows, LINE_COL, RawText, Reject};
use crate::config::SourceMapping;
use crate::config::spec::{self, ColumnSpec, Kind, Rule};
use crate::error::{Error, Result};

/// Column holding each surviving row's index into its `FileRows` (for the raw text).
pub const ROW_COL: &str = "__row";
const CODE_COL: &str = "__fail";

/// A file's rows after typing: canonical column names and types, plus `__line` and `__row`.
pub struct Typed {
    /// Rows that passed; canonical columns only (absent optional columns are all-null).
    pub df: DataFrame,
    /// Rows that failed a rule.
    pub rejects: Vec<Reject>,
}

/// Whether `name` may be absent from the file even though the contract marks it required,
/// because it is derived instead.
fn derivable(entity: &str, name: &str) -> bool {
    entity == "sales" && name == "line_no"
}

/// Checks that every required column is in the file: a missing one fails the whole load.
pub fn check_columns(
    entity: &str,
    file: &Path,
    found: &[String],
    mapping: &SourceMapping,
) -> Result<()> {
    for c in spec::columns(entity) {
        if !c.required || derivable(entity, c.name) || mapping.constants.contains_key(c.name) {
            continue;
        }
        let src = mapping.source_column(c.name);
        if !found.iter().any(|f| f == src) {
            let mapped = if src != c.name {
                format!(" (mapped from '{src}')")
            } else {
                String::new()
            };
            return Err(Error::source(
                file,
                format!(
                    "missing required column '{}'{mapped}; columns found: {}. Rename the column in the file, or map it in crm-mart.toml: [sources.{entity}.columns] {} = \"<column in the file>\"",
                    c.name,
                    found.join(", "),
                    c.name
                ),
            ));
        }
    }
    for (canonical, src) in &mapping.columns {
        if !spec::columns(entity).iter().any(|c| c.name == canonical) {
            return Err(Error::source(
                file,
                format!(
                    "crm-mart.toml maps unknown column '{canonical}' (from '{src}') for {entity}; canonical columns are: {}",
                    spec::columns(entity)
                        .iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn null_of(dtype: DataType) -> Expr {
    lit(NULL).cast(dtype)
}

fn target_dtype(kind: Kind) -> DataType {
    match kind {
        Kind::Text => DataType::String,
        Kind::Int => DataType::Int64,
        Kind::Float => DataType::Float64,
        Kind::Date => DataType::Date,
        Kind::Timestamp => DataType::Datetime(TimeUnit::Microseconds, None),
        Kind::Bool => DataType::Boolean,
    }
}

/// Failure codes are `column_index * 4 + check`, check: 0 missing, 1 unparseable, 2 rule,
/// 3 not an integer.
fn code(i: usize, check: i32) -> Expr {
    lit(i as i32 * 4 + check)
}

/// Parses and checks `rows` (one file of `entity`).
pub fn type_rows(entity: &str, rows: &mut FileRows, mapping: &SourceMapping) -> Result<Typed> {
    let specs = spec::columns(entity);
    // Rows with raw text from the file's bytes no longer need their text frame once typed: it
    // moves into the query, so that its columns are freed as soon as nothing refers to them.
    let df = match rows.raw {
        RawText::Bytes { .. } => std::mem::replace(&mut rows.df, DataFrame::empty()),
        RawText::Rendered => rows.df.clone(),
    };
    let schema = df.schema().clone();
    let n = df.height() as u32;
    let trimming: Vec<bool> = specs
        .iter()
        .map(|c| {
            let src = mapping.source_column(c.name);
            df.column(src).map(needs_trimming).unwrap_or(false)
        })
        .collect();
    let mut lf = df
        .lazy()
        .with_column(int_range(lit(0u32), lit(n), 1, DataType::UInt32).alias(ROW_COL));
    let mut raws = Vec::new();
    let mut parsed = Vec::new();
    let mut fails = Vec::new();
    for (i, c) in specs.iter().enumerate() {
        let src = mapping.source_column(c.name);
        let raw_name = format!("{}__raw", c.name);
        let dtype = target_dtype(c.kind);
        let constant = mapping.constants.get(c.name);
        let src_dtype = match (constant, schema.get(src)) {
            (Some(_), _) => &DataType::String,
            (None, Some(t)) => t,
            (None, None) => {
                raws.push(null_of(DataType::String).alias(raw_name.as_str()));
                parsed.push(null_of(dtype).alias(format!("{}__val", c.name)));
                continue;
            }
        };
        let native = !matches!(src_dtype, DataType::String);
        let raw = raw_text(c, mapping, src, constant, native || trimming[i]);
        raws.push(raw.alias(raw_name.as_str()));
        let r = || col(raw_name.as_str());
        let value = parsed_value(c, mapping, src, src_dtype, constant.is_some(), native, r());
        let parsed_name = format!("{}__val", c.name);
        parsed.push(value.alias(parsed_name.as_str()));
        fails.extend(checks(entity, i, c, mapping, &raw_name, &parsed_name));
    }
    lf = lf.with_columns(raws).with_columns(parsed);
    let fail = if fails.is_empty() {
        null_of(DataType::Int32)
    } else {
        coalesce(&fails)
    };
    let checked = lf.with_column(fail.alias(CODE_COL)).collect()?;

    let rejects = rejects_of(&checked, specs, entity, mapping, rows)?;
    let df = loaded_rows(checked, specs, !rejects.is_empty())?;
    Ok(Typed { df, rejects })
}

/// The typed columns alone, under their contract names (the text and raw columns go here),
/// without the failed rows.
fn loaded_rows(checked: DataFrame, specs: &[ColumnSpec], any_failed: bool) -> Result<DataFrame> {
    let mut keep: Vec<Expr> = specs
        .iter()
        .map(|c| {
            col(format!("{}__val", c.name))
                .cast(target_dtype(c.kind))
                .alias(c.name)
        })
        .collect();
    keep.push(col(LINE_COL));
    keep.push(col(ROW_COL));
    let names: Vec<String> = specs
        .iter()
        .map(|c| format!("{}__val", c.name))
        .chain([
            LINE_COL.to_string(),
            ROW_COL.to_string(),
            CODE_COL.to_string(),
        ])
        .collect();
    let checked = checked.select(names)?;
    let lf = if !any_failed {
        checked.lazy()
    } else {
        checked.lazy().filter(col(CODE_COL).is_null())
    };
    Ok(lf.select(keep).collect()?)
}

/// A column's raw text: a constant of the mapping, or the source column — trimmed, blank as
/// missing, when `trim` — with export words mapped to contract words (case-insensitive;
/// unmapped words stay as they are and meet the column's rule).
fn raw_text(
    c: &ColumnSpec,
    mapping: &SourceMapping,
    src: &str,
    constant: Option<&String>,
    trim: bool,
) -> Expr {
    // Text is trimmed and blank text is missing; a text column with nothing to trim (the
    // usual case) is used as it is, without a copy of every value.
    let raw = if let Some(value) = constant {
        let v = value.trim();
        if v.is_empty() {
            null_of(DataType::String)
        } else {
            lit(v.to_string())
        }
    } else if trim {
        let text = col(src).cast(DataType::String).str().strip_chars(lit(NULL));
        when(text.clone().eq(lit("")))
            .then(null_of(DataType::String))
            .otherwise(text)
    } else {
        col(src)
    };
    // Export words → contract words (case-insensitive); unmapped words stay as they are and
    // meet the column's rule.
    match mapping.values.get(c.name) {
        Some(map) if !map.is_empty() => {
            let lower = raw.clone().str().to_lowercase();
            let mut mapped = raw;
            for (from, to) in map.iter().rev() {
                mapped = when(lower.clone().eq(lit(from.trim().to_lowercase())))
                    .then(lit(to.trim().to_string()))
                    .otherwise(mapped);
            }
            mapped
        }
        _ => raw,
    }
}

/// A column's value of its contract type, parsed from the raw text `r` (or taken as it is from
/// a native source column).
fn parsed_value(
    c: &ColumnSpec,
    mapping: &SourceMapping,
    src: &str,
    src_dtype: &DataType,
    constant: bool,
    native: bool,
    r: Expr,
) -> Expr {
    let dtype = target_dtype(c.kind);
    let r = || r.clone();
    match c.kind {
        Kind::Text => match c.rule {
            Rule::OneOf(_) => r().str().to_lowercase(),
            _ => r(),
        },
        Kind::Bool if matches!(src_dtype, DataType::Boolean) && !constant => col(src),
        Kind::Bool => {
            let lower = r().str().to_lowercase();
            let words = |w: &[&str]| lit(Series::new("w".into(), w.to_vec())).implode(false);
            when(lower.clone().is_in(words(spec::TRUE_WORDS), false))
                .then(lit(true))
                .when(lower.is_in(words(spec::FALSE_WORDS), false))
                .then(lit(false))
                .otherwise(null_of(DataType::Boolean))
        }
        _ if native && !constant && !matches!(src_dtype, DataType::Boolean) => {
            col(src).cast(dtype.clone())
        }
        Kind::Int | Kind::Float => {
            let mut t = r();
            if mapping.decimal_comma {
                t = t
                    .str()
                    .replace_all(lit("."), lit(""), true)
                    .str()
                    .replace_all(lit(","), lit("."), true);
            }
            t.cast(DataType::Float64)
        }
        Kind::Date => r().str().to_date(StrptimeOptions {
            format: Some(mapping.date_format.as_str().into()),
            strict: false,
            exact: true,
            cache: true,
        }),
        Kind::Timestamp => r().str().to_datetime(
            Some(TimeUnit::Microseconds),
            None,
            StrptimeOptions {
                format: Some(mapping.timestamp_format.as_str().into()),
                strict: false,
                exact: true,
                cache: true,
            },
            lit("raise"),
        ),
    }
}

/// The checks of column `i`, each a failure code where it fails: missing, unparseable, not an
/// integer, against its rule.
fn checks(
    entity: &str,
    i: usize,
    c: &ColumnSpec,
    mapping: &SourceMapping,
    raw_name: &str,
    parsed_name: &str,
) -> Vec<Expr> {
    let r = || col(raw_name);
    let mut fails = Vec::new();
    let v = || col(parsed_name);
    let anonymous_allowed =
        entity == "sales" && c.name == "customer_id" && mapping.allow_anonymous_customer;
    if c.required && !derivable(entity, c.name) && !anonymous_allowed {
        fails.push(
            when(r().is_null())
                .then(code(i, 0))
                .otherwise(null_of(DataType::Int32)),
        );
    }
    if c.kind != Kind::Text {
        let mut bad = r().is_not_null().and(v().is_null());
        if matches!(c.kind, Kind::Int | Kind::Float) {
            bad = bad.or(v().is_not_null().and(v().is_finite().not()));
        }
        fails.push(
            when(bad)
                .then(code(i, 1))
                .otherwise(null_of(DataType::Int32)),
        );
    }
    if c.kind == Kind::Int {
        let non_int = v().cast(DataType::Int64).cast(DataType::Float64).neq(v());
        fails.push(
            when(non_int)
                .then(code(i, 3))
                .otherwise(null_of(DataType::Int32)),
        );
    }
    let rule_broken = match c.rule {
        Rule::Any => None,
        Rule::NonNegative => Some(v().lt(lit(0.0))),
        Rule::NonZero => Some(v().eq(lit(0.0))),
        Rule::Between(lo, hi) => Some(v().lt(lit(lo)).or(v().gt(lit(hi)))),
        Rule::OneOf(words) => {
            let list = Series::new("w".into(), words.to_vec());
            Some(v().is_in(lit(list).implode(false), false).not())
        }
    };
    if let Some(b) = rule_broken {
        fails.push(when(b).then(code(i, 2)).otherwise(null_of(DataType::Int32)));
    }
    fails
}

/// The failed rows with their reasons (few, so building their messages row by row is fine).
fn rejects_of(
    checked: &DataFrame,
    specs: &[ColumnSpec],
    entity: &str,
    mapping: &SourceMapping,
    rows: &FileRows,
) -> Result<Vec<Reject>> {
    let failed = checked
        .clone()
        .lazy()
        .filter(col(CODE_COL).is_not_null())
        .collect()?;
    let mut rejects = Vec::with_capacity(failed.height());
    if failed.height() > 0 {
        let codes = failed.column(CODE_COL)?.i32()?.clone();
        let row_idx = failed.column(ROW_COL)?.u32()?.clone();
        let lines = failed.column(LINE_COL)?.u64()?.clone();
        for k in 0..failed.height() {
            let code = codes.get(k).unwrap_or(0);
            let c = &specs[(code / 4) as usize];
            let raw_col = failed.column(&format!("{}__raw", c.name))?.str()?.clone();
            let value = raw_col.get(k).map(str::to_string);
            let (reason, message) = describe(entity, c, code % 4, value.as_deref(), mapping);
            rejects.push(Reject {
                line: lines.get(k).unwrap_or(0),
                raw: rows.raw_of(row_idx.get(k).unwrap_or(0) as usize),
                code: reason,
                column: Some(c.name.to_string()),
                value,
                message,
            });
        }
    }
    Ok(rejects)
}

/// Whether a text column has a value that trimming changes or that is blank.
fn needs_trimming(column: &Column) -> bool {
    let Ok(text) = column.str() else {
        return true;
    };
    text.iter().flatten().any(|v| {
        v.is_empty() || v.starts_with(char::is_whitespace) || v.ends_with(char::is_whitespace)
    })
}

/// A value that does not parse as its column's kind.
fn parse_failure(
    entity: &str,
    c: &ColumnSpec,
    named: &str,
    v: &str,
    m: &SourceMapping,
) -> (&'static str, String) {
    match c.kind {
        Kind::Date => (
            "unparseable_date",
            format!(
                "{named} value '{v}' is not a date in the format {}",
                m.date_format
            ),
        ),
        Kind::Timestamp => (
            "unparseable_timestamp",
            format!(
                "{named} value '{v}' is not a date-time in the format {}",
                m.timestamp_format
            ),
        ),
        Kind::Bool => (
            "invalid_value",
            format!(
                "{named} value '{v}' is not true or false (accepted: {} / {}); map other words in crm-mart.toml: [sources.{entity}.values.{}] \"{v}\" = \"true\"",
                spec::TRUE_WORDS.join(", "),
                spec::FALSE_WORDS.join(", "),
                c.name
            ),
        ),
        _ => (
            "not_a_number",
            format!(
                "{named} value '{v}' is not a number; expected digits with '{}' as decimal separator",
                if m.decimal_comma { ',' } else { '.' }
            ),
        ),
    }
}

/// A value that breaks its column's rule.
fn rule_failure(entity: &str, c: &ColumnSpec, named: &str, v: &str) -> (&'static str, String) {
    match c.rule {
        Rule::NonNegative => (
            "out_of_range",
            format!("{named} value {v} is negative; must be ≥ 0"),
        ),
        Rule::NonZero => (
            "out_of_range",
            format!("{named} value {v} is zero; must be non-zero"),
        ),
        Rule::Between(lo, hi) => (
            "out_of_range",
            format!("{named} value {v} is outside {lo}..={hi}"),
        ),
        Rule::OneOf(words) => (
            "invalid_value",
            format!(
                "{named} value '{v}' is not one of: {}; map the export's words in crm-mart.toml: [sources.{entity}.values.{}] \"{v}\" = \"{}\"",
                words.join(", "),
                c.name,
                words[0]
            ),
        ),
        Rule::Any => ("invalid_value", format!("{named} value '{v}' is invalid")),
    }
}

/// Reason code and message of failure `check` on column `c`.
fn describe(
    entity: &str,
    c: &ColumnSpec,
    check: i32,
    value: Option<&str>,
    m: &SourceMapping,
) -> (&'static str, String) {
    let v = value.unwrap_or("");
    let src = m.source_column(c.name);
    let named = if src != c.name {
        format!("{} (file column '{src}')", c.name)
    } else {
        c.name.to_string()
    };
    match check {
        0 => (
            "missing_value",
            format!("{named} is empty; a value is required"),
        ),
        1 => parse_failure(entity, c, &named, v, m),
        3 => (
            "not_a_number",
            format!("{named} value '{v}' is not a whole number"),
        ),
        _ => rule_failure(entity, c, &named, v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(df: &DataFrame, name: &str) -> Vec<Option<String>> {
        df.column(name)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    }

    #[test]
    fn text_is_trimmed_and_blank_is_missing_only_where_needed() {
        let data = b"product_id,name,category,unit_price\nP1, Razor ,Care,1.5\nP2,\" \",Baby, 2\nP3,Soap,Care,3\n";
        let mut rows = super::super::read::read_csv(
            Path::new("p.csv"),
            data.to_vec(),
            &crate::config::Dialect::default(),
        )
        .unwrap();
        assert!(needs_trimming(rows.df.column("name").unwrap()));
        assert!(!needs_trimming(rows.df.column("category").unwrap()));
        let typed = type_rows("products", &mut rows, &SourceMapping::default()).unwrap();
        assert!(typed.rejects.is_empty(), "{:?}", typed.rejects.len());
        assert_eq!(
            texts(&typed.df, "name"),
            vec![Some("Razor".into()), None, Some("Soap".into())]
        );
        // Nothing to trim: the column is the file's own.
        assert_eq!(
            texts(&typed.df, "category"),
            vec![
                Some("Care".into()),
                Some("Baby".into()),
                Some("Care".into())
            ]
        );
        let price: Vec<Option<f64>> = typed
            .df
            .column("unit_price")
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(price, vec![Some(1.5), Some(2.0), Some(3.0)]);
    }
}
