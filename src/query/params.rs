//! Typed query parameters: declared in a named query's header, given as `--param key=value`,
//! and bound to `$key` placeholders as DataFusion values (never spliced into the SQL text).

use std::collections::HashMap;
use std::str::FromStr;

use datafusion::common::ScalarValue;

use crate::error::{Error, Result};

/// A parameter's declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// Text (Utf8).
    Text,
    /// 64-bit integer.
    Int,
    /// 64-bit float.
    Float,
    /// Calendar date, YYYY-MM-DD.
    Date,
    /// true / false.
    Bool,
}

impl FromStr for ParamType {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "text" => ParamType::Text,
            "int" => ParamType::Int,
            "float" => ParamType::Float,
            "date" => ParamType::Date,
            "bool" => ParamType::Bool,
            other => {
                return Err(format!(
                    "parameter type '{other}' is unknown; use text, int, float, date or bool"
                ));
            }
        })
    }
}

impl std::fmt::Display for ParamType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ParamType::Text => "text",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Date => "date",
            ParamType::Bool => "bool",
        })
    }
}

impl ParamType {
    /// `value` as a DataFusion value of this type, or what would be accepted.
    pub fn scalar(&self, value: &str) -> std::result::Result<ScalarValue, String> {
        let v = value.trim();
        match self {
            ParamType::Text => Ok(ScalarValue::Utf8(Some(value.to_string()))),
            ParamType::Int => v
                .parse::<i64>()
                .map(|i| ScalarValue::Int64(Some(i)))
                .map_err(|_| format!("'{value}' is not an int (a whole number, e.g. 30)")),
            ParamType::Float => match v.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(ScalarValue::Float64(Some(f))),
                _ => Err(format!("'{value}' is not a float (a number, e.g. 0.25)")),
            },
            ParamType::Date => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map(|d| {
                    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
                    ScalarValue::Date32(Some((d - epoch).num_days() as i32))
                })
                .map_err(|_| format!("'{value}' is not a date (YYYY-MM-DD, e.g. 2024-01-31)")),
            ParamType::Bool => match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Ok(ScalarValue::Boolean(Some(true))),
                "false" | "no" | "0" => Ok(ScalarValue::Boolean(Some(false))),
                _ => Err(format!("'{value}' is not a bool (true or false)")),
            },
        }
    }
}

/// One declared parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Its name: `$name` in the SQL, `--param name=...` on the command line.
    pub name: String,
    /// Its type.
    pub ty: ParamType,
    /// The value used when none is given; None makes the parameter required.
    pub default: Option<String>,
    /// What it means.
    pub description: String,
}

impl ParamSpec {
    /// `name type [= default]`, as listed to users.
    pub fn signature(&self) -> String {
        match &self.default {
            Some(d) => format!("{} {} = '{d}'", self.name, self.ty),
            None => format!("{} {} (required)", self.name, self.ty),
        }
    }
}

/// Splits `key=value` (the value may contain '=').
pub fn split_assignment(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(Error::params(
            "param",
            format!(
                "'{s}' is not key=value, e.g. {} window_days=30",
                crate::error::param("param")
            ),
        )),
    }
}

/// Binds `given` (`key=value` strings) to `specs`, filling defaults. `query` names the query in
/// messages. Every key must be declared, and every parameter without a default given.
pub fn bind(
    query: &str,
    specs: &[ParamSpec],
    given: &[String],
) -> Result<HashMap<String, ScalarValue>> {
    let expected = || {
        if specs.is_empty() {
            format!("{query} takes no parameters")
        } else {
            format!(
                "{query} takes: {}",
                specs
                    .iter()
                    .map(ParamSpec::signature)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    let mut values: HashMap<String, ScalarValue> = HashMap::new();
    for g in given {
        let (k, v) = split_assignment(g)?;
        let Some(spec) = specs.iter().find(|s| s.name == k) else {
            return Err(Error::usage(format!(
                "unknown parameter '{k}'; {}",
                expected()
            )));
        };
        if values.contains_key(&k) {
            return Err(Error::usage(format!("parameter '{k}' is given twice")));
        }
        let value = spec
            .ty
            .scalar(&v)
            .map_err(|m| Error::usage(format!("parameter {k}: {m}; {}", expected())))?;
        values.insert(k, value);
    }
    for spec in specs {
        if values.contains_key(&spec.name) {
            continue;
        }
        match &spec.default {
            Some(d) => {
                let value = spec.ty.scalar(d).map_err(|m| {
                    Error::usage(format!("default of {}.{}: {m}", query, spec.name))
                })?;
                values.insert(spec.name.clone(), value);
            }
            None => {
                return Err(Error::usage(format!(
                    "missing parameter '{}' ({}); {}",
                    spec.name,
                    spec.ty,
                    expected()
                )));
            }
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "days".into(),
                ty: ParamType::Int,
                default: Some("30".into()),
                description: "d".into(),
            },
            ParamSpec {
                name: "since".into(),
                ty: ParamType::Date,
                default: None,
                description: "s".into(),
            },
        ]
    }

    #[test]
    fn binds_typed_values_and_defaults() {
        let v = bind("q", &specs(), &["since=2024-01-02".into()]).unwrap();
        assert_eq!(v["days"], ScalarValue::Int64(Some(30)));
        assert_eq!(v["since"], ScalarValue::Date32(Some(19724)));
        let v = bind("q", &specs(), &["since=2024-01-02".into(), "days=7".into()]).unwrap();
        assert_eq!(v["days"], ScalarValue::Int64(Some(7)));
    }

    #[test]
    fn text_is_kept_verbatim() {
        let spec = ParamSpec {
            name: "region".into(),
            ty: ParamType::Text,
            default: None,
            description: String::new(),
        };
        let v = bind("q", &[spec], &["region=x' OR 1=1 --".into()]).unwrap();
        assert_eq!(v["region"], ScalarValue::Utf8(Some("x' OR 1=1 --".into())));
    }

    #[test]
    fn errors_name_the_expected_parameters() {
        let e = bind("q", &specs(), &[]).unwrap_err().to_string();
        assert!(e.contains("missing parameter 'since' (date)"), "{e}");
        assert!(e.contains("days int = '30'"), "{e}");
        let e = bind("q", &specs(), &["sinse=2024-01-01".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown parameter 'sinse'"), "{e}");
        assert!(e.contains("since date (required)"), "{e}");
        let e = bind("q", &specs(), &["since=yesterday".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'yesterday' is not a date"), "{e}");
        let e = bind("q", &specs(), &["since".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("key=value"), "{e}");
        for (ty, bad) in [
            (ParamType::Int, "1.5"),
            (ParamType::Float, "NaN"),
            (ParamType::Bool, "maybe"),
        ] {
            assert!(ty.scalar(bad).is_err(), "{ty} {bad}");
        }
    }
}
