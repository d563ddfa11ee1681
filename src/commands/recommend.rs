//! `crm-mart recommend`: both lists and the next-best action per customer → `recommendations`
//! and the CRM sinks; with `--evaluate`, the baseline ladder on past holdouts.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use crm_mart::pipeline::{self, Ctx, EvaluationParams, RecommendParams, RecommendReport};
use crm_mart::recommend::cross_sell::CrossSellParams;
use crm_mart::recommend::evaluate::{Eval, Fold, Recommender};
use crm_mart::recommend::replenish::ReplenishParams;
use crm_mart::recommend::{Action, Kind, Pick, RecOptions};
use crm_mart::util::dates::from_epoch_day;

use crate::cli::{Cli, RecommendArgs};

/// Runs the command.
pub fn run(cli: &Cli, ctx: &Ctx, a: &RecommendArgs) -> Result<()> {
    let t = std::time::Instant::now();
    let options = RecOptions {
        top: a.top as usize,
        replenish: ReplenishParams {
            window_days: a.holdout_days as i32,
            ..ReplenishParams::DEFAULT
        },
        cross_sell: CrossSellParams {
            max_products: a.cross_sell_products as usize,
            ..CrossSellParams::DEFAULT
        },
    };
    if a.evaluate {
        let p = EvaluationParams {
            as_of: a.as_of,
            options,
            folds: a.folds,
        };
        let folds = pipeline::evaluate(ctx, &p)?;
        return render_evaluation(&folds, &p);
    }
    let p = RecommendParams {
        as_of: a.as_of,
        options,
        sinks: (!a.sink.is_empty()).then(|| a.sink.clone()),
    };
    let report = pipeline::recommend(ctx, &p)?;
    if !cli.quiet {
        render(&report, t.elapsed().as_secs_f64())?;
    }
    Ok(())
}

/// Customers per next-best action on stdout; the lists and the sinks on stderr.
pub fn render(r: &RecommendReport, seconds: f64) -> Result<()> {
    let mut counts: BTreeMap<Action, (usize, usize)> = Default::default();
    for c in r.actions.iter().flatten() {
        let e = counts.entry(c.action).or_default();
        e.0 += 1;
        e.1 += (c.action != c.business) as usize;
    }
    let mut tb = super::table(["next-best action", "customers", "suppressed by the policy"]);
    for (k, (n, s)) in &counts {
        tb.add_row(vec![
            k.to_string(),
            n.to_string(),
            if k.is_suppression() {
                s.to_string()
            } else {
                "-".into()
            },
        ]);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{tb}")?;
    let with = |l: &[Vec<Pick>]| l.iter().filter(|p| !p.is_empty()).count();
    let picks = &r.picks;
    eprintln!(
        "{} customers as of {}: {} with replenish picks ({}), {} with cross-sell picks (item model over {} products); recommendations version {}, run {}{}; {seconds:.1}s",
        r.actions.iter().flatten().count(),
        r.cut,
        with(&picks.replenish),
        if picks.replenish_trained {
            "repurchase model"
        } else {
            "too little history for the repurchase model: ranked by order counts"
        },
        with(&picks.cross_sell),
        picks.cross_sell_products,
        r.table_version,
        r.run_id,
        if r.written.is_empty() {
            String::new()
        } else {
            format!("; {}", r.written.join(", "))
        },
    );
    Ok(())
}

/// The ladder per holdout and pooled, and the gain over the best baseline per kind.
fn render_evaluation(folds: &[Fold], p: &EvaluationParams) -> Result<()> {
    let top = p.options.top;
    let mut tb = super::table([
        "holdout after".to_string(),
        "kind".to_string(),
        "recommender".to_string(),
        "customers".to_string(),
        format!("hit rate@{top}"),
        format!("precision@{top}"),
    ]);
    let pooled = |kind: Kind, r: Recommender| {
        Eval::pooled(
            &folds
                .iter()
                .flat_map(|f| f.results.iter().filter(|x| x.0 == kind && x.1 == r))
                .map(|x| x.2)
                .collect::<Vec<_>>(),
        )
    };
    for kind in [Kind::Replenish, Kind::CrossSell] {
        for f in folds {
            for (k, r, e) in f.results.iter().filter(|x| x.0 == kind) {
                tb.add_row(row(&from_epoch_day(f.cut).to_string(), *k, *r, e));
            }
        }
        for r in Recommender::ALL {
            tb.add_row(row("pooled", kind, r, &pooled(kind, r)));
        }
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{tb}")?;
    writeln!(
        out,
        "{} holdouts of {} days; replenish is scored against every product bought in the holdout, cross_sell against the products new to the customer",
        p.folds, p.options.replenish.window_days
    )?;
    for kind in [Kind::Replenish, Kind::CrossSell] {
        let ours = pooled(kind, Recommender::CrmMart);
        let best = Recommender::ALL[..3]
            .iter()
            .map(|r| (*r, pooled(kind, *r)))
            .max_by(|a, b| a.1.hit_rate.total_cmp(&b.1.hit_rate))
            .expect("baselines");
        writeln!(
            out,
            "{kind}: pooled hit rate {:.4} = {:.3} × the best baseline ({}, {:.4}); precision {:.4} vs {:.4}",
            ours.hit_rate,
            ours.hit_rate / best.1.hit_rate.max(f64::MIN_POSITIVE),
            best.0.label(kind),
            best.1.hit_rate,
            ours.precision,
            best.1.precision
        )?;
    }
    Ok(())
}

fn row(label: &str, kind: Kind, r: Recommender, e: &Eval) -> Vec<String> {
    vec![
        label.to_string(),
        kind.to_string(),
        r.label(kind).to_string(),
        e.customers.to_string(),
        format!("{:.4}", e.hit_rate),
        format!("{:.4}", e.precision),
    ]
}
