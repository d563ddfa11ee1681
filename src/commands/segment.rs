//! `crm-mart segment`: RFM scores and k-means clusters → `customer_segments`, with a profile of
//! each cluster and RFM segment.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use crm_mart::ml::segment::SegmentOptions;
use crm_mart::pipeline::{self, Ctx, SegmentReport};

use crate::cli::{Cli, KChoice, SegmentArgs};

/// Runs the command.
pub fn run(cli: &Cli, ctx: &Ctx, a: &SegmentArgs) -> Result<()> {
    let opts = SegmentOptions {
        as_of: a.as_of,
        k: match a.k {
            KChoice::Auto => None,
            KChoice::Fixed(k) => Some(k),
        },
        seed: a.seed,
        n_runs: a.n_runs as usize,
    };
    let t = std::time::Instant::now();
    let report = pipeline::segment(ctx, &opts)?;
    if !cli.quiet {
        render(&report, t.elapsed().as_secs_f64())?;
    }
    Ok(())
}

/// Customers, revenue, margin and churn risk per group of `name`.
#[derive(Default)]
struct Group {
    customers: usize,
    revenue: f64,
    margin: f64,
    risk_sum: f64,
    scored: usize,
}

/// The profile of the clusters and of the RFM segments on stdout; the run on stderr.
pub fn render(report: &SegmentReport, seconds: f64) -> Result<()> {
    let seg = &report.segmentation;
    let mut out = std::io::stdout().lock();
    for (title, by_cluster) in [("cluster", true), ("rfm_segment", false)] {
        let mut groups: BTreeMap<String, Group> = Default::default();
        for r in &seg.rows {
            let name = if by_cluster {
                seg.cluster_names[r.cluster].clone()
            } else {
                r.rfm_segment.to_string()
            };
            let g = groups.entry(name).or_default();
            g.customers += 1;
            g.revenue += r.monetary;
            g.margin += r.margin;
            if let Some(p) = report.churn_risk.get(&r.customer_id) {
                g.risk_sum += p;
                g.scored += 1;
            }
        }
        let mut rows: Vec<_> = groups.into_iter().collect();
        rows.sort_by(|x, y| y.1.customers.cmp(&x.1.customers).then(x.0.cmp(&y.0)));
        let mut t = super::table([
            title,
            "customers",
            "share",
            "revenue",
            "margin",
            "churn risk",
        ]);
        let n = seg.rows.len() as f64;
        for (name, g) in rows {
            t.add_row(vec![
                name,
                g.customers.to_string(),
                format!("{:.1}%", g.customers as f64 / n * 100.0),
                format!("{:.0}", g.revenue),
                format!("{:.0}", g.margin),
                if g.scored > 0 {
                    format!("{:.1}%", g.risk_sum / g.scored as f64 * 100.0)
                } else {
                    "-".into()
                },
            ]);
        }
        writeln!(out, "{t}")?;
    }
    let sil = seg
        .silhouettes
        .iter()
        .map(|(k, s)| format!("k={k}: {s:.3}"))
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "{} customers as of {} in {} clusters (silhouette {sil}); customer_segments version {}; {seconds:.1}s",
        seg.rows.len(),
        seg.as_of,
        seg.k,
        report.table_version,
    );
    Ok(())
}
