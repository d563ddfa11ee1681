//! Decision reports for managers: every section is a named query (or a model artifact) run on
//! one mart version, rendered as Markdown and as one self-contained HTML file with inline CSS
//! and SVG charts (no scripts, nothing fetched).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Error, Result};
use crate::mart::catalog::Catalog;

/// A chart of one numeric column against a label column.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Column with the labels.
    pub label: &'static str,
    /// Column with the values.
    pub value: &'static str,
    /// Bars or a line.
    pub line: bool,
}

/// One report section: a named query, its result, and how to show it.
#[derive(Debug, Clone)]
pub struct Section {
    /// Heading.
    pub title: &'static str,
    /// What a manager should read from it.
    pub lead: String,
    /// The named query it comes from.
    pub query: &'static str,
    /// Column names.
    pub columns: Vec<String>,
    /// Cells as text, already masked.
    pub rows: Vec<Vec<String>>,
    /// Numeric value of every cell that has one (for charts).
    pub numbers: Vec<Vec<Option<f64>>>,
    /// Chart, if any.
    pub chart: Option<Chart>,
    /// Why the section is empty, if it is.
    pub missing: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Report {
    /// Mart version (ETL batch) all sections were read at.
    pub mart_version: Option<i64>,
    /// When the report was made.
    pub generated_at: String,
    /// Sections in order.
    pub sections: Vec<Section>,
    /// Model artifacts shown (path, one-line summary).
    pub models: Vec<(PathBuf, String)>,
    /// Warnings a reader must see first (stale sources).
    pub warnings: Vec<String>,
}

struct Spec {
    title: &'static str,
    query: &'static str,
    needs: &'static [&'static str],
    chart: Option<Chart>,
    lead: &'static str,
    /// What an empty result means, in the reader's words.
    empty: &'static str,
}

fn specs() -> Vec<Spec> {
    let bars = |label, value| {
        Some(Chart {
            label,
            value,
            line: false,
        })
    };
    vec![
        Spec {
            title: "Executive summary",
            query: "report_kpis",
            needs: &["fact_sales"],
            chart: None,
            lead: "The last 90 days up to the last order day, against the 90 days before (whole days, not calendar months, so a partial last month does not distort them). Margin is unknown where unit costs are.",
            empty: "no sales in this mart",
        },
        Spec {
            title: "Sales trend",
            query: "report_monthly_sales",
            needs: &["fact_sales"],
            chart: Some(Chart {
                label: "month",
                value: "revenue",
                line: true,
            }),
            lead: "Revenue per month (returns netted); a first or last month the data covers only in part is marked (partial) and drawn hollow.",
            empty: "no sales in this mart",
        },
        Spec {
            title: "Region × category",
            query: "report_region_category",
            needs: &["fact_sales"],
            chart: None,
            lead: "Revenue and margin by the customer's region (their country where no region is known) and the product category.",
            empty: "no sales in this mart",
        },
        Spec {
            title: "Customer segments",
            query: "report_segments",
            needs: &["customer_segments"],
            chart: bars("segment", "customers"),
            lead: "Size and value of the k-means segments.",
            empty: "no customer has been segmented yet",
        },
        Spec {
            title: "Churn risk",
            query: "report_churn_bands",
            needs: &["churn_scores"],
            chart: bars("risk_band", "customers"),
            lead: "Active customers by risk of placing no order in the next 90 days.",
            empty: "no active customer was scored",
        },
        Spec {
            title: "High-value customers most at risk",
            query: "report_at_risk",
            needs: &["churn_scores", "customer_value", "recommendations"],
            chart: None,
            lead: "High churn risk, highest 12-month value first, with the reasons and the recommended action.",
            empty: "no high-risk customer with a value estimate",
        },
        Spec {
            title: "Customer value",
            query: "report_clv_distribution",
            needs: &["customer_value"],
            chart: bars("clv_band", "customers"),
            lead: "Customers by expected value of their next 12 months (BG/NBD + Gamma-Gamma), in bands of the customers' own distribution (quintiles, the top 5% apart).",
            empty: "no customer value estimates yet",
        },
        Spec {
            title: "Campaign ROI",
            query: "promotion_campaign_roi",
            needs: &["fact_contacts", "dim_campaign"],
            chart: Some(Chart {
                label: "campaign_id",
                value: "incremental_margin",
                line: false,
            }),
            lead: "Margin from contacted customers within 30 days of the contact, against the campaign's cost and against a comparable uncontacted group.",
            empty: "no campaigns in this mart: no campaign source was loaded, or no contact names a campaign",
        },
        Spec {
            title: "Top association rules",
            query: "report_top_rules",
            needs: &["basket_rules"],
            chart: None,
            lead: "Products bought together far more often than chance (lift = how many times the usual rate).",
            empty: "no association rule passed the support and confidence thresholds",
        },
        Spec {
            title: "Recommendations by action",
            query: "report_actions",
            needs: &["recommendations"],
            chart: bars("action", "customers"),
            lead: "The next-best action of each customer, and the customers the contact policy held back (opted out, an open complaint, contacted too often).",
            empty: "no recommendations yet",
        },
        Spec {
            title: "Data quality",
            query: "report_quarantine",
            needs: &["_quarantine"],
            chart: bars("reason", "rows"),
            lead: "Source rows held back by validation (nothing is dropped silently; see `_quarantine`).",
            empty: "no source row was quarantined",
        },
    ]
}

/// "jane.doe@example.com" → "j***@example.com"; "+49 30 1234567" → "***4567".
pub fn mask(column: &str, value: &str) -> String {
    match column {
        "email" => match value.split_once('@') {
            Some((user, domain)) => {
                format!("{}***@{domain}", user.chars().next().unwrap_or('*'))
            }
            None => "***".into(),
        },
        "phone" => {
            let digits: Vec<char> = value.chars().filter(|c| c.is_ascii_digit()).collect();
            let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
            format!("***{tail}")
        }
        _ => value.to_string(),
    }
}

/// Runs every section's named query on `catalog`; `warnings` are shown above the sections.
pub async fn build(
    catalog: &Catalog,
    models_dir: &Path,
    show_pii: bool,
    warnings: Vec<String>,
) -> Result<Report> {
    let mut sections = Vec::new();
    for spec in specs() {
        let mut section = Section {
            title: spec.title,
            lead: spec.lead.to_string(),
            query: spec.query,
            columns: Vec::new(),
            rows: Vec::new(),
            numbers: Vec::new(),
            chart: spec.chart,
            missing: None,
        };
        let absent: Vec<&str> = spec
            .needs
            .iter()
            .copied()
            .filter(|t| !catalog.tables.iter().any(|x| x.name == *t))
            .collect();
        if !absent.is_empty() {
            section.missing = Some(format!(
                "not available: the mart has no {} yet (run crm-mart nightly)",
                absent.join(", ")
            ));
            sections.push(section);
            continue;
        }
        // Defaults of the query's parameters (the report's own choices live there).
        let prepared = crate::query::prepare(
            &crate::query::QueryText::Named(spec.query.to_string()),
            None,
            &[],
        )?;
        let batches = crate::query::collect(catalog, &prepared).await?;
        fill(&mut section, &batches, show_pii)?;
        if section.rows.is_empty() {
            section.missing = Some(spec.empty.into());
        }
        sections.push(section);
    }
    let mut models = Vec::new();
    if let Some((p, Ok(m))) = crate::ml::churn::list(&models_dir.join("churn"))?
        .into_iter()
        .last()
    {
        models.push((
            p,
            format!(
                "Churn model {} ({}): test ROC AUC {:.3}, PR AUC {:.3}, lift {:.2} in the top decile, Brier {:.3}; trained {} on mart version {}, test cut {}",
                m.version,
                m.model.family(),
                m.metrics.roc_auc,
                m.metrics.pr_auc,
                m.metrics.lift_top_decile,
                m.metrics.brier,
                m.created_at,
                m.mart_version.map_or("-".into(), |v| v.to_string()),
                m.test_as_of
            ),
        ));
    }
    if let Some((p, Ok(m))) = crate::ml::clv::list(&models_dir.join("clv"))?
        .into_iter()
        .last()
    {
        models.push((
            p,
            format!(
                "Customer value model {}: BG/NBD r = {:.3}, alpha = {:.3}, a = {:.3}, b = {:.3} (log-likelihood {:.1}){}; as of {}, mart version {}",
                m.version,
                m.bgnbd.r,
                m.bgnbd.alpha,
                m.bgnbd.a,
                m.bgnbd.b,
                m.bgnbd_fit.log_likelihood,
                m.gamma_gamma.map_or(String::new(), |g| format!(
                    "; Gamma-Gamma p = {:.3}, q = {:.3}, v = {:.3}",
                    g.p, g.q, g.v
                )),
                m.as_of.map_or("-".into(), |d| d.to_string()),
                m.mart_version.map_or("-".into(), |v| v.to_string()),
            ),
        ));
    }
    Ok(Report {
        mart_version: catalog.mart_version,
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        sections,
        models,
        warnings,
    })
}

/// How a number the data cannot give is shown.
pub const UNKNOWN: &str = "unknown";

fn fill(section: &mut Section, batches: &[RecordBatch], show_pii: bool) -> Result<()> {
    let opts = FormatOptions::default().with_null("");
    for b in batches {
        if section.columns.is_empty() {
            section.columns = b
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
        }
        let numeric: Vec<Option<arrow::array::ArrayRef>> = b
            .columns()
            .iter()
            .map(|c| {
                c.data_type()
                    .is_numeric()
                    .then(|| arrow::compute::cast(c, &DataType::Float64).ok())
                    .flatten()
            })
            .collect();
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<std::result::Result<_, _>>()?;
        for i in 0..b.num_rows() {
            let mut row = Vec::new();
            let mut nums = Vec::new();
            for (j, f) in fmts.iter().enumerate() {
                let name = section.columns[j].as_str();
                let num = numeric[j].as_ref().and_then(|a| {
                    let a = a.as_any().downcast_ref::<arrow::array::Float64Array>()?;
                    (!a.is_null(i)).then(|| a.value(i))
                });
                let text = match num {
                    Some(v) if v.fract() != 0.0 => crate::query::output::format_float(v),
                    // Whole numbers stored as floats (counts in a KPI column) print as such.
                    Some(v) if v.abs() < 1e15 => format!("{}", v as i64),
                    // A number the data cannot give (a margin without unit costs): said so,
                    // never shown as 0 or left blank.
                    None if numeric[j].is_some() => UNKNOWN.to_string(),
                    _ => f.value(i).to_string(),
                };
                row.push(if show_pii { text } else { mask(name, &text) });
                nums.push(num);
            }
            section.rows.push(row);
            section.numbers.push(nums);
        }
    }
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The largest value of a chart (at least a tiny positive number, for an all-zero chart).
fn max_value(points: &[(String, f64)]) -> f64 {
    points.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-9)
}

/// `label` cut to `max` characters with an ellipsis.
fn short_label(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        return label.to_string();
    }
    let mut s: String = label.chars().take(max - 1).collect();
    s.push('…');
    s
}

/// An axis number a reader takes in at a glance: 1456145.80 → "1.46M", 48210 → "48.2k",
/// 0.25 → "0.25".
pub fn compact_number(v: f64) -> String {
    let (scaled, unit) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "B"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let decimals = match scaled.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        _ => 2,
    };
    let mut text = format!("{scaled:.decimals$}");
    if text.contains('.') {
        while text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
    }
    if text == "-0" {
        text = "0".into();
    }
    format!("{text}{unit}")
}

/// An SVG chart of a section (bars, or a line for series), sized for a laptop and print.
pub fn svg(section: &Section) -> Option<String> {
    let chart = section.chart.as_ref()?;
    let li = section.columns.iter().position(|c| c == chart.label)?;
    let vi = section.columns.iter().position(|c| c == chart.value)?;
    let points: Vec<(String, f64)> = section
        .rows
        .iter()
        .zip(&section.numbers)
        .filter_map(|(r, n)| n[vi].map(|v| (r[li].clone(), v)))
        .collect();
    if points.is_empty() {
        return None;
    }
    // Labels: cut to a readable length (the full text stays in each mark's tooltip), set
    // straight when few and short, else at an angle, with the margins they need.
    const MAX_LABEL: usize = 24;
    const CHAR_W: f64 = 6.2;
    let labels: Vec<String> = points
        .iter()
        .map(|p| short_label(&p.0, MAX_LABEL))
        .collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64;
    let w = 720.0;
    let slots = w - 80.0;
    let straight = longest * CHAR_W < slots / points.len() as f64 - 6.0;
    let angle: f64 = 35.0;
    let (sin, cos) = (angle.to_radians().sin(), angle.to_radians().cos());
    let axis_w = (0..=3)
        .map(|k| compact_number(max_value(&points) * k as f64 / 3.0).len() as f64 * CHAR_W)
        .fold(0.0, f64::max);
    let step0 = slots / points.len() as f64;
    let (bottom, left) = if straight {
        (34.0, (axis_w + 14.0).max(50.0))
    } else {
        (
            (longest * CHAR_W * sin + 24.0).max(40.0),
            (axis_w + 14.0)
                .max(longest * CHAR_W * cos - step0 / 2.0 + 8.0)
                .max(50.0),
        )
    };
    let (top, plot_h) = (15.0, 185.0);
    let h = top + plot_h + bottom;
    let max = max_value(&points);
    let plot_w = w - left - 10.0;
    let step = plot_w / points.len() as f64;
    let y = |v: f64| top + plot_h * (1.0 - v / max);
    let mut s = format!(
        r#"<svg class="chart" role="img" aria-label="{} by {}" viewBox="0 0 {w} {h:.0}" width="100%">"#,
        esc(chart.value),
        esc(chart.label)
    );
    // Axis and three gridlines with values.
    for k in 0..=3 {
        let v = max * k as f64 / 3.0;
        let _ = write!(
            s,
            r##"<line x1="{left:.1}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text class="axis" x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#555">{}</text>"##,
            w - 10.0,
            left - 6.0,
            y(v) + 4.0,
            compact_number(v),
            y = y(v)
        );
    }
    let partial = |label: &str| label.contains("(partial)");
    let x_of = |i: usize| left + step * (i as f64 + 0.5);
    if chart.line {
        // Complete periods as a solid line; a partial first or last period joins it dashed,
        // and its point is hollow, so that a short month does not read as a collapse.
        let full: Vec<usize> = (0..points.len())
            .filter(|i| !partial(&points[*i].0))
            .collect();
        if let (Some(&a), Some(&b)) = (full.first(), full.last()) {
            let path: Vec<String> = (a..=b)
                .map(|i| format!("{:.1},{:.1}", x_of(i), y(points[i].1)))
                .collect();
            let _ = write!(
                s,
                r##"<polyline class="series" fill="none" stroke="#1f5f99" stroke-width="2" points="{}"/>"##,
                path.join(" ")
            );
            for (from, to) in [(a.checked_sub(1), a), (Some(b + 1), b)] {
                if let Some(i) = from.filter(|i| *i < points.len()) {
                    let _ = write!(
                        s,
                        r##"<line class="partial" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#1f5f99" stroke-width="2" stroke-dasharray="4 3"/>"##,
                        x_of(to),
                        y(points[to].1),
                        x_of(i),
                        y(points[i].1)
                    );
                }
            }
        }
        for (i, p) in points.iter().enumerate() {
            let fill = if partial(&p.0) { "#fff" } else { "#1f5f99" };
            let _ = write!(
                s,
                r##"<circle class="point" cx="{:.1}" cy="{:.1}" r="3" fill="{fill}" stroke="#1f5f99"><title>{}: {}</title></circle>"##,
                x_of(i),
                y(p.1),
                esc(&p.0),
                crate::query::output::format_float(p.1)
            );
        }
    } else {
        for (i, p) in points.iter().enumerate() {
            let bw = step * 0.7;
            let _ = write!(
                s,
                r##"<rect class="bar" x="{:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="#1f5f99"><title>{}: {}</title></rect>"##,
                left + step * i as f64 + step * 0.15,
                y(p.1),
                (top + plot_h - y(p.1)).max(0.0),
                esc(&p.0),
                crate::query::output::format_float(p.1)
            );
        }
    }
    // Labels (every n-th when crowded).
    let every = (points.len() / 12).max(1);
    let base = top + plot_h + 16.0;
    for (i, label) in labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let x = x_of(i);
        if straight {
            let _ = write!(
                s,
                r##"<text class="label" x="{x:.1}" y="{base:.1}" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
                esc(label)
            );
        } else {
            let _ = write!(
                s,
                r##"<text class="label" x="{x:.1}" y="{base:.1}" font-size="11" text-anchor="end" transform="rotate(-{angle} {x:.1} {base:.1})" fill="#333">{}</text>"##,
                esc(label)
            );
        }
    }
    s.push_str("</svg>");
    Some(s)
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\
h1{font-size:1.7em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:2em;border-bottom:2px solid #1f5f99;padding-bottom:.2em}\
.meta{color:#666;font-size:.9em}.lead{color:#444}.source{color:#777;font-size:.8em}.callout{background:#fff6d6;border-left:4px solid #e0a800;padding:.5em .8em}\
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.6em 0}th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}\
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f1f4f8}.missing{color:#999;font-style:italic}.warning{background:#fff4e5;border-left:4px solid #e8a33d;padding:.5em .8em}\
@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}table,svg{page-break-inside:avoid}}";

/// The razor → diaper style call-out for the top rules section: the first rule whose antecedent
/// and consequent name a razor/shaver and diapers.
fn callout(section: &Section) -> Option<String> {
    if section.query != "report_top_rules" {
        return None;
    }
    let a = section.columns.iter().position(|c| c == "antecedent")?;
    let c = section.columns.iter().position(|c| c == "consequent")?;
    let lift = section.columns.iter().position(|c| c == "lift")?;
    let conf = section.columns.iter().position(|c| c == "confidence")?;
    section.rows.iter().zip(&section.numbers).find_map(|(r, n)| {
        let razor = |s: &str| s.contains("Razor") || s.contains("shaver");
        (razor(&r[a]) && r[c].contains("Diapers")).then(|| {
            format!(
                "Razors and diapers: {:.0}% of baskets with {} also have {} — {:.1}× the usual rate. Place them together and offer diapers to razor buyers.",
                n[conf].unwrap_or(0.0) * 100.0,
                r[a],
                r[c],
                n[lift].unwrap_or(0.0)
            )
        })
    })
}

/// The report as one self-contained HTML page.
pub fn html(r: &Report) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>crm-mart decision report</title><style>{CSS}</style></head><body>"
    );
    let _ = write!(
        s,
        "<h1>Decision report</h1><p class=\"meta\">Generated {} from mart version {} (every section read at that version).</p>",
        esc(&r.generated_at),
        r.mart_version.map_or("-".into(), |v| v.to_string())
    );
    for w in &r.warnings {
        let _ = write!(s, "<p class=\"warning\">Warning: {}</p>", esc(w));
    }
    for sec in &r.sections {
        let _ = write!(
            s,
            "<section id=\"{}\"><h2>{}</h2><p class=\"lead\">{}</p>",
            sec.query,
            esc(sec.title),
            esc(&sec.lead)
        );
        if let Some(m) = &sec.missing {
            let _ = write!(s, "<p class=\"missing\">{}</p></section>", esc(m));
            continue;
        }
        if let Some(c) = callout(sec) {
            let _ = write!(s, "<p class=\"callout\">{}</p>", esc(&c));
        }
        if let Some(svg) = svg(sec) {
            s.push_str(&svg);
        }
        s.push_str("<table><thead><tr>");
        for c in &sec.columns {
            let _ = write!(s, "<th>{}</th>", esc(c));
        }
        s.push_str("</tr></thead><tbody>");
        for (row, nums) in sec.rows.iter().zip(&sec.numbers) {
            s.push_str("<tr>");
            for (cell, n) in row.iter().zip(nums) {
                let class = if n.is_some() { " class=\"num\"" } else { "" };
                let _ = write!(s, "<td{class}>{}</td>", esc(cell));
            }
            s.push_str("</tr>");
        }
        let _ = write!(
            s,
            "</tbody></table><p class=\"source\">Source: named query <code>{}</code> (<code>crm-mart query --name {}</code>).</p></section>",
            sec.query, sec.query
        );
    }
    s.push_str("<section id=\"models\"><h2>Model cards</h2><ul>");
    for (p, m) in &r.models {
        let _ = write!(
            s,
            "<li>{} <span class=\"source\">({})</span></li>",
            esc(m),
            esc(&p.display().to_string())
        );
    }
    if r.models.is_empty() {
        s.push_str("<li class=\"missing\">no model artifacts yet</li>");
    }
    s.push_str("</ul></section><section id=\"appendix\"><h2>Appendix: where the numbers come from</h2><ul>");
    for sec in &r.sections {
        let _ = write!(
            s,
            "<li>{}: named query <code>{}</code></li>",
            esc(sec.title),
            sec.query
        );
    }
    for (p, _) in &r.models {
        let _ = write!(
            s,
            "<li>model artifact <code>{}</code></li>",
            esc(&p.display().to_string())
        );
    }
    s.push_str("</ul></section></body></html>\n");
    s
}

/// The report in Markdown, for the terminal and e-mail.
pub fn markdown(r: &Report) -> String {
    let mut s = format!(
        "# Decision report\n\nGenerated {} from mart version {}.\n",
        r.generated_at,
        r.mart_version.map_or("-".into(), |v| v.to_string())
    );
    for w in &r.warnings {
        let _ = write!(s, "\n> **Warning:** {w}\n");
    }
    let cell = |c: &str| c.replace('|', "\\|");
    for sec in &r.sections {
        let _ = write!(s, "\n## {}\n\n{}\n\n", sec.title, sec.lead);
        if let Some(m) = &sec.missing {
            let _ = writeln!(s, "_{m}_");
            continue;
        }
        if let Some(c) = callout(sec) {
            let _ = write!(s, "> {c}\n\n");
        }
        let _ = writeln!(
            s,
            "| {} |",
            sec.columns
                .iter()
                .map(|c| cell(c))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(
            s,
            "|{}|",
            sec.numbers
                .first()
                .map(|n| n
                    .iter()
                    .map(|x| if x.is_some() { "---:" } else { "---" })
                    .collect::<Vec<_>>()
                    .join("|"))
                .unwrap_or_default()
        );
        for row in &sec.rows {
            let _ = writeln!(
                s,
                "| {} |",
                row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
            );
        }
        let _ = write!(s, "\nSource: `crm-mart query --name {}`\n", sec.query);
    }
    s.push_str("\n## Model cards\n\n");
    for (p, m) in &r.models {
        let _ = writeln!(s, "- {m} (`{}`)", p.display());
    }
    s
}

/// A worksheet name for a section: Excel allows 31 characters and no `[]:*?/\`.
fn sheet_name(title: &str, taken: &mut Vec<String>) -> String {
    let mut name: String = title
        .chars()
        .filter(|c| !"[]:*?/\\".contains(*c))
        .take(31)
        .collect();
    let base = name.clone();
    let mut k = 2;
    while taken.contains(&name) {
        name = format!("{} {k}", &base[..base.len().min(28)]);
        k += 1;
    }
    taken.push(name.clone());
    name
}

/// The report as an Excel workbook: one sheet per section with a formatted table and a native
/// chart where the HTML has one, then the model cards and the appendix. Written to
/// `path.partial` and renamed.
pub fn xlsx(r: &Report, path: &Path) -> Result<()> {
    use rust_xlsxwriter::{Chart, Format, FormatBorder, Workbook};
    let xerr = |e: rust_xlsxwriter::XlsxError| Error::usage(format!("{}: {e}", path.display()));
    let mut wb = Workbook::new();
    let title = Format::new().set_bold().set_font_size(14);
    let header = Format::new()
        .set_bold()
        .set_background_color("#F1F4F8")
        .set_border_bottom(FormatBorder::Thin);
    let money = Format::new().set_num_format("#,##0.00");
    let whole = Format::new().set_num_format("0");
    let note = Format::new().set_italic().set_font_color("#777777");
    let mut taken = Vec::new();
    for sec in &r.sections {
        let name = sheet_name(sec.title, &mut taken);
        let ws = wb.add_worksheet();
        ws.set_name(&name).map_err(xerr)?;
        ws.write_string_with_format(0, 0, sec.title, &title)
            .map_err(xerr)?;
        ws.write_string(1, 0, &sec.lead).map_err(xerr)?;
        if let Some(m) = &sec.missing {
            ws.write_string_with_format(3, 0, m, &note).map_err(xerr)?;
            continue;
        }
        if let Some(c) = callout(sec) {
            ws.write_string_with_format(2, 0, &c, &note).map_err(xerr)?;
        }
        let top: u32 = 3;
        for (j, c) in sec.columns.iter().enumerate() {
            ws.write_string_with_format(top, j as u16, c, &header)
                .map_err(xerr)?;
            let width = sec
                .rows
                .iter()
                .map(|r| r[j].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(8)
                .clamp(8, 60);
            ws.set_column_width(j as u16, width as f64 + 2.0)
                .map_err(xerr)?;
        }
        for (i, (row, nums)) in sec.rows.iter().zip(&sec.numbers).enumerate() {
            let at = top + 1 + i as u32;
            for (j, (cell, n)) in row.iter().zip(nums).enumerate() {
                match n {
                    Some(v) if v.fract() == 0.0 => {
                        ws.write_number_with_format(at, j as u16, *v, &whole)
                    }
                    Some(v) => ws.write_number_with_format(at, j as u16, *v, &money),
                    None => ws.write_string(at, j as u16, cell),
                }
                .map_err(xerr)?;
            }
        }
        let last = top + sec.rows.len() as u32;
        ws.write_string_with_format(
            last + 2,
            0,
            format!(
                "Source: named query {} (crm-mart query --name {})",
                sec.query, sec.query
            ),
            &note,
        )
        .map_err(xerr)?;
        if let Some(ch) = &sec.chart
            && let (Some(li), Some(vi)) = (
                sec.columns.iter().position(|c| c == ch.label),
                sec.columns.iter().position(|c| c == ch.value),
            )
        {
            let mut chart = if ch.line {
                Chart::new_line()
            } else {
                Chart::new_column()
            };
            chart
                .add_series()
                .set_name(ch.value)
                .set_categories((name.as_str(), top + 1, li as u16, last, li as u16))
                .set_values((name.as_str(), top + 1, vi as u16, last, vi as u16));
            chart.title().set_name(sec.title);
            chart.legend().set_hidden();
            ws.insert_chart(top, sec.columns.len() as u16 + 1, &chart)
                .map_err(xerr)?;
        }
    }
    let ws = wb.add_worksheet();
    ws.set_name("Model cards").map_err(xerr)?;
    ws.write_string_with_format(0, 0, "Model cards", &title)
        .map_err(xerr)?;
    for (k, (p, m)) in r.models.iter().enumerate() {
        ws.write_string(2 + k as u32, 0, m).map_err(xerr)?;
        ws.write_string(2 + k as u32, 1, p.display().to_string())
            .map_err(xerr)?;
    }
    let ws = wb.add_worksheet();
    ws.set_name("Appendix").map_err(xerr)?;
    ws.write_string_with_format(0, 0, "Where the numbers come from", &title)
        .map_err(xerr)?;
    ws.write_string(
        1,
        0,
        format!(
            "Mart version {}, generated {}",
            r.mart_version.map_or("-".into(), |v| v.to_string()),
            r.generated_at
        ),
    )
    .map_err(xerr)?;
    for (k, sec) in r.sections.iter().enumerate() {
        ws.write_string(3 + k as u32, 0, sec.title).map_err(xerr)?;
        ws.write_string(3 + k as u32, 1, format!("named query {}", sec.query))
            .map_err(xerr)?;
    }
    let tmp = path.with_extension("partial");
    wb.save(&tmp).map_err(xerr)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(labels: &[&str], values: &[f64], line: bool) -> Section {
        Section {
            title: "t",
            lead: String::new(),
            query: "q",
            columns: vec!["label".into(), "value".into()],
            rows: labels
                .iter()
                .zip(values)
                .map(|(l, v)| vec![l.to_string(), v.to_string()])
                .collect(),
            numbers: values.iter().map(|v| vec![None, Some(*v)]).collect(),
            chart: Some(Chart {
                label: "label",
                value: "value",
                line,
            }),
            missing: None,
        }
    }

    /// (x, y) of the SVG's size.
    fn view_box(svg: &str) -> (f64, f64) {
        let v: Vec<f64> = svg
            .split("viewBox=\"0 0 ")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .split(' ')
            .map(|x| x.parse().unwrap())
            .collect();
        (v[0], v[1])
    }

    #[test]
    fn axis_numbers_are_compact() {
        assert_eq!(compact_number(1_456_145.80), "1.46M");
        assert_eq!(compact_number(14_561_458.0), "14.6M");
        assert_eq!(compact_number(48_210.0), "48.2k");
        assert_eq!(compact_number(485_400.0), "485k");
        assert_eq!(compact_number(2_500_000_000.0), "2.5B");
        assert_eq!(compact_number(1_500.0), "1500");
        assert_eq!(compact_number(0.25), "0.25");
        assert_eq!(compact_number(0.0), "0");
        assert_eq!(compact_number(-0.001), "0");
    }

    #[test]
    fn long_labels_are_cut_and_the_chart_grows_to_fit_them() {
        let short = svg(&section(&["a", "b", "c"], &[1.0, 2.0, 3.0], false)).unwrap();
        // Eight segments: too many long names to stand side by side.
        let long_names: Vec<String> = (0..8)
            .map(|k| match k {
                0 => "Loyal high spenders in the south-west region".to_string(),
                k => format!("Segment {k} of occasional buyers"),
            })
            .collect();
        let names: Vec<&str> = long_names.iter().map(String::as_str).collect();
        let long = svg(&section(&names, &[1.0; 8], false)).unwrap();
        // Short labels stand straight (so do long ones with room); crowded long ones are
        // angled, cut with an ellipsis, and the chart is taller so that they are not clipped.
        assert!(short.contains("text-anchor=\"middle\""));
        assert!(long.contains("rotate(-35"));
        assert!(long.contains(">Loyal high spenders in …<"));
        assert!(!long.contains(">Loyal high spenders in the south-west region<"));
        assert!(long.contains("<title>Loyal high spenders in the south-west region: "));
        assert!(view_box(&long).1 > view_box(&short).1 + 40.0);
        // The angled label's extent fits inside the drawing: bottom margin ≥ its height.
        let text_h = 24.0 * 6.2 * 35f64.to_radians().sin();
        assert!(view_box(&long).1 - 200.0 >= text_h, "{}", view_box(&long).1);
    }

    #[test]
    fn a_partial_last_month_is_drawn_hollow_and_dashed() {
        let s = svg(&section(
            &["202310", "202311", "202312 (partial)"],
            &[100.0, 120.0, 30.0],
            true,
        ))
        .unwrap();
        assert_eq!(s.matches("class=\"partial\"").count(), 1);
        assert!(s.contains("fill=\"#fff\" stroke=\"#1f5f99\"><title>202312 (partial)"));
        // The solid line joins the two whole months only.
        let series = s.split("class=\"series\"").nth(1).unwrap();
        let points = series
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(points.split(' ').count(), 2);
    }
}
