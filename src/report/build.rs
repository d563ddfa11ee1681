//! Building the report: each section's named query run on one mart version, personal data
//! masked, model cards attached.

use std::path::Path;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::{Chart, Report, Section};
use crate::error::Result;
use crate::mart::catalog::Catalog;

struct Spec {
    title: &'static str,
    query: &'static str,
    needs: &'static [&'static str],
    chart: Option<Chart>,
    lead: &'static str,
    /// What an empty result means, in the reader's words.
    empty: &'static str,
}

/// Bars of `value` per `label`.
const fn bars(label: &'static str, value: &'static str) -> Option<Chart> {
    Some(Chart {
        label,
        value,
        line: false,
    })
}

/// The report's sections, in order.
const SPECS: [Spec; 11] = [
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
        chart: bars("reason_code", "rows"),
        lead: "Source rows held back by validation (nothing is dropped silently; see `_quarantine`).",
        empty: "no source row was quarantined",
    },
];

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
    for spec in &SPECS {
        sections.push(section(catalog, spec, show_pii).await?);
    }
    Ok(Report {
        mart_version: catalog.mart_version,
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        sections,
        models: model_cards(models_dir)?,
        warnings,
    })
}

/// A section: its query's result, or why there is none.
async fn section(catalog: &Catalog, spec: &Spec, show_pii: bool) -> Result<Section> {
    let mut section = Section {
        title: spec.title,
        lead: spec.lead.to_string(),
        query: spec.query,
        columns: Vec::new(),
        rows: Vec::new(),
        numbers: Vec::new(),
        chart: spec.chart.clone(),
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
        return Ok(section);
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
    Ok(section)
}

/// One line per model in use (the latest churn and customer-value models), with its file.
fn model_cards(models_dir: &Path) -> Result<Vec<(std::path::PathBuf, String)>> {
    let mut models = Vec::new();
    let churn_dir = models_dir.join("churn");
    if let Some((p, m)) = crate::ml::churn::registry::champion(&churn_dir)? {
        models.push((
            p,
            format!(
                "Churn model {} (champion, {}): test ROC AUC {:.3}, PR AUC {:.3}, lift {:.2} in the top decile, Brier {:.3}; trained {} on mart version {}, test cut {}",
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
    // A retrained model that was not promoted: the reader learns why the champion still scores.
    let registry = crate::ml::churn::registry::Registry::load(&churn_dir)?;
    if let Some(d) = registry.history.last()
        && d.event == crate::ml::churn::registry::Event::NotPromoted
    {
        models.push((
            churn_dir.join(format!("{}.json", d.version)),
            format!(
                "Churn model {} was trained on {} and not promoted: {}",
                d.version, d.at, d.why
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
    Ok(models)
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
