//! Named queries: SQL files with a header that names them, describes them and declares their
//! typed parameters.
//!
//! ```sql
//! -- name: top_products
//! -- description: Products ranked by revenue in a period.
//! -- param: top int = 20 | how many products to list
//! -- param: category text = '' | only this category ('' for all)
//! SELECT ... WHERE rank <= $top
//! ```
//!
//! The queries in `queries/` are built into the binary; a directory of further `.sql` files
//! (`[paths] queries` in `crm-mart.toml`) adds to them or replaces one of the same name.

use std::path::Path;

use super::params::{ParamSpec, ParamType};
use crate::error::{Error, Result};

/// A parsed named query.
#[derive(Debug, Clone)]
pub struct NamedQuery {
    /// Its name (the file's stem).
    pub name: String,
    /// One line saying what it answers.
    pub description: String,
    /// Declared parameters, in header order.
    pub params: Vec<ParamSpec>,
    /// The SQL text (header included; it is a comment).
    pub sql: String,
    /// Where it came from: `built-in` or a file path.
    pub origin: String,
}

/// The built-in queries, from `queries/`.
const BUILTIN: &[(&str, &str)] = &[
    ("report_kpis", include_str!("../../queries/report_kpis.sql")),
    (
        "report_region_category",
        include_str!("../../queries/report_region_category.sql"),
    ),
    (
        "report_monthly_sales",
        include_str!("../../queries/report_monthly_sales.sql"),
    ),
    (
        "report_segments",
        include_str!("../../queries/report_segments.sql"),
    ),
    (
        "report_churn_bands",
        include_str!("../../queries/report_churn_bands.sql"),
    ),
    (
        "report_at_risk",
        include_str!("../../queries/report_at_risk.sql"),
    ),
    (
        "report_clv_distribution",
        include_str!("../../queries/report_clv_distribution.sql"),
    ),
    (
        "report_top_rules",
        include_str!("../../queries/report_top_rules.sql"),
    ),
    (
        "report_actions",
        include_str!("../../queries/report_actions.sql"),
    ),
    (
        "report_quarantine",
        include_str!("../../queries/report_quarantine.sql"),
    ),
    ("sales_range", include_str!("../../queries/sales_range.sql")),
    (
        "customer_clusters",
        include_str!("../../queries/customer_clusters.sql"),
    ),
    (
        "contact_consent",
        include_str!("../../queries/contact_consent.sql"),
    ),
    (
        "contact_history",
        include_str!("../../queries/contact_history.sql"),
    ),
    (
        "basket_lines",
        include_str!("../../queries/basket_lines.sql"),
    ),
    (
        "customer_purchases",
        include_str!("../../queries/customer_purchases.sql"),
    ),
    (
        "customer_daily_purchases",
        include_str!("../../queries/customer_daily_purchases.sql"),
    ),
    (
        "customer_features",
        include_str!("../../queries/customer_features.sql"),
    ),
    (
        "profiling_customer_mix",
        include_str!("../../queries/profiling_customer_mix.sql"),
    ),
    (
        "persistency_repeat_rate",
        include_str!("../../queries/persistency_repeat_rate.sql"),
    ),
    (
        "persistency_cohort_retention",
        include_str!("../../queries/persistency_cohort_retention.sql"),
    ),
    (
        "profitability_deciles",
        include_str!("../../queries/profitability_deciles.sql"),
    ),
    (
        "performance_period_comparison",
        include_str!("../../queries/performance_period_comparison.sql"),
    ),
    (
        "prospecting_acquisition",
        include_str!("../../queries/prospecting_acquisition.sql"),
    ),
    (
        "product_category_mix",
        include_str!("../../queries/product_category_mix.sql"),
    ),
    (
        "product_top_products",
        include_str!("../../queries/product_top_products.sql"),
    ),
    (
        "product_cross_category",
        include_str!("../../queries/product_cross_category.sql"),
    ),
    (
        "promotion_campaign_roi",
        include_str!("../../queries/promotion_campaign_roi.sql"),
    ),
    (
        "cube_region_category_quarter",
        include_str!("../../queries/cube_region_category_quarter.sql"),
    ),
    (
        "service_quality",
        include_str!("../../queries/service_quality.sql"),
    ),
];

/// Names of the built-in queries.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// Every named query: the built-in ones, then those in `dir` (if given and present), a file
/// replacing a built-in query of the same name. Sorted by name.
pub fn all(dir: Option<&Path>) -> Result<Vec<NamedQuery>> {
    let mut out: Vec<NamedQuery> = BUILTIN
        .iter()
        .map(|(name, text)| parse(name, "built-in", text))
        .collect::<Result<_>>()?;
    if let Some(dir) = dir.filter(|d| d.is_dir()) {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        for f in files {
            let q = load_file(&f)?;
            out.retain(|o| o.name != q.name);
            out.push(q);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Parses the SQL file `path`; its name is the file's stem.
pub fn load_file(path: &Path) -> Result<NamedQuery> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    parse(&stem, &path.display().to_string(), &text)
}

/// Parses a query's header. `name` is what the query is called when the header has no
/// `-- name:` line; a header name must agree with it.
pub fn parse(name: &str, origin: &str, text: &str) -> Result<NamedQuery> {
    let bad = |line: usize, msg: String| Error::usage(format!("{origin}:{line}: {msg}"));
    let mut q = NamedQuery {
        name: name.to_string(),
        description: String::new(),
        params: Vec::new(),
        sql: text.to_string(),
        origin: origin.to_string(),
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.strip_prefix("--") else {
            break;
        };
        let comment = comment.trim();
        let Some((key, value)) = comment.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "name" if value != name => {
                return Err(bad(
                    i + 1,
                    format!("header names the query '{value}' but the file is '{name}'"),
                ));
            }
            "description" => q.description = value.to_string(),
            "param" => {
                let p = parse_param(value).map_err(|m| bad(i + 1, m))?;
                if q.params.iter().any(|o| o.name == p.name) {
                    return Err(bad(
                        i + 1,
                        format!("parameter {} is declared twice", p.name),
                    ));
                }
                q.params.push(p);
            }
            _ => {}
        }
    }
    Ok(q)
}

/// `NAME TYPE [= DEFAULT] [| description]`.
fn parse_param(decl: &str) -> std::result::Result<ParamSpec, String> {
    let (spec, description) = match decl.split_once('|') {
        Some((s, d)) => (s.trim(), d.trim().to_string()),
        None => (decl.trim(), String::new()),
    };
    let (head, default) = match spec.split_once('=') {
        Some((h, d)) => (h.trim(), Some(unquote(d.trim()))),
        None => (spec, None),
    };
    let mut words = head.split_whitespace();
    let (Some(name), Some(ty), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "parameter declaration '{decl}' is not 'NAME TYPE [= DEFAULT] [| description]'"
        ));
    };
    if !crate::mart::catalog::is_identifier(name) {
        return Err(format!(
            "parameter name '{name}' is not a plain lower-case name"
        ));
    }
    let ty: ParamType = ty.parse()?;
    let p = ParamSpec {
        name: name.to_string(),
        ty,
        default,
        description,
    };
    if let Some(d) = &p.default {
        p.ty.scalar(d)
            .map_err(|e| format!("default of parameter {name}: {e}"))?;
    }
    Ok(p)
}

fn unquote(s: &str) -> String {
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(s)
        .to_string()
}

/// The `$name` placeholders used in `sql` (outside comments and string literals).
pub fn placeholders(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' => {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            b'$' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if j > start {
                    let name = &sql[start..j];
                    if !out.iter().any(|o| o == name) {
                        out.push(name.to_string());
                    }
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_header() {
        let q = parse(
            "top",
            "t.sql",
            "-- name: top\n-- description: Top products.\n-- param: top int = 20 | how many\n-- param: category text = '' | one category\n-- param: since date\nSELECT $top, $category, $since -- $not_this\n",
        )
        .unwrap();
        assert_eq!(q.description, "Top products.");
        assert_eq!(q.params.len(), 3);
        assert_eq!(q.params[0].name, "top");
        assert_eq!(q.params[0].ty, ParamType::Int);
        assert_eq!(q.params[0].default.as_deref(), Some("20"));
        assert_eq!(q.params[0].description, "how many");
        assert_eq!(q.params[1].default.as_deref(), Some(""));
        assert_eq!(q.params[2].default, None);
        assert_eq!(placeholders(&q.sql), ["top", "category", "since"]);
    }

    #[test]
    fn rejects_bad_headers() {
        for (text, needle) in [
            ("-- name: other\nSELECT 1", "file is 'q'"),
            ("-- param: x\nSELECT 1", "NAME TYPE"),
            ("-- param: x money\nSELECT 1", "money"),
            ("-- param: x int = ten\nSELECT 1", "ten"),
            ("-- param: x int\n-- param: x int\nSELECT 1", "twice"),
        ] {
            let e = parse("q", "q.sql", text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(e.starts_with("q.sql:"), "{e}");
        }
    }

    #[test]
    fn builtins_parse_and_declare_what_they_use() {
        let qs = all(None).unwrap();
        assert_eq!(qs.len(), BUILTIN.len());
        for q in &qs {
            assert!(!q.description.is_empty(), "{} has no description", q.name);
            let used = placeholders(&q.sql);
            for u in &used {
                assert!(
                    q.params.iter().any(|p| &p.name == u),
                    "{} uses ${u} without declaring it",
                    q.name
                );
            }
            for p in &q.params {
                assert!(
                    used.contains(&p.name),
                    "{} declares unused {}",
                    q.name,
                    p.name
                );
                assert!(
                    !p.description.is_empty(),
                    "{}.{} undocumented",
                    q.name,
                    p.name
                );
            }
        }
    }

    #[test]
    fn every_file_in_queries_is_built_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut names = builtin_names();
        names.sort();
        assert_eq!(files, names);
    }
}
