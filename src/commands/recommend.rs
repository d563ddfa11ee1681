//! `crm-mart recommend`: both lists and the next-best action per customer → `recommendations`
//! and the CRM sinks; with `--evaluate`, the baseline ladder on past holdouts.

use std::io::Write;

use anyhow::Result;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use crm_mart::cli::{Cli, RecommendArgs};
use crm_mart::config::Settings;
use crm_mart::crm::{self, Sink};
use crm_mart::mart::catalog;
use crm_mart::mart::delta::Mart;
use crm_mart::ml::clv::input::{epoch_day, from_epoch_day};
use crm_mart::query::output::{self, Format};
use crm_mart::recommend::cross_sell::CrossSellParams;
use crm_mart::recommend::evaluate::{self, Eval, Recommender};
use crm_mart::recommend::replenish::ReplenishParams;
use crm_mart::recommend::{self, Action, Kind, RecOptions};

/// Runs the command.
pub fn run(cli: &Cli, a: &RecommendArgs) -> Result<()> {
    let t = std::time::Instant::now();
    let settings = Settings::resolve(cli.config.as_deref(), None, a.mart.as_deref())?;
    let opts = RecOptions {
        top: a.top as usize,
        replenish: ReplenishParams {
            window_days: a.holdout_days as i32,
            ..Default::default()
        },
        cross_sell: CrossSellParams {
            max_products: a.cross_sell_products as usize,
            ..Default::default()
        },
    };
    let rt = super::runtime()?;
    let mart = Mart::new(&settings.mart_dir);
    let cat = rt.block_on(catalog::open(&settings.engine, &mart, None, &[]))?;
    let history = rt.block_on(recommend::load_history(&cat, a.as_of))?;
    if a.evaluate {
        return run_evaluation(a, &history, &opts);
    }
    let cut = a.as_of.map(epoch_day).unwrap_or_else(|| history.last_day());
    let segments = rt.block_on(recommend::segments(&cat, &history))?;
    let churn = rt.block_on(recommend::lookup_f64(
        &cat,
        "churn_scores",
        "churn_probability",
    ))?;
    let clv = rt.block_on(recommend::lookup_f64(&cat, "customer_value", "clv_12m"))?;
    let contacts = rt.block_on(recommend::policy::contact_states(
        &cat,
        &settings.policy,
        cut,
    ))?;
    let picks = recommend::recommend(&history, cut, &opts, true);
    let actions = recommend::actions(
        &history,
        cut,
        &churn,
        &clv,
        &segments,
        &settings.policy,
        &contacts,
    );
    let generated_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let run_id = format!(
        "rec-{}-v{}-{}",
        from_epoch_day(cut).format("%Y%m%d"),
        cat.mart_version.unwrap_or(0),
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    );
    let batch = recommend::to_batch(&history, &picks, &actions, &generated_at, &run_id)?;
    let version =
        rt.block_on(mart.replace("recommendations", vec![batch.clone()], "crm-mart-recommend"))?;
    let mut written = Vec::new();
    let sinks = if a.sink.is_empty() {
        &settings.sinks
    } else {
        &a.sink
    };
    for sink in sinks {
        let rows = match sink {
            Sink::Csv(p) | Sink::Jsonl(p) => {
                let format = if matches!(sink, Sink::Csv(_)) {
                    Format::Csv
                } else {
                    Format::Jsonl
                };
                rt.block_on(output::write_batch(batch.clone(), format, p))?
                    .rows
            }
            other => crm::write(other, &batch, &run_id, &generated_at)? as u64,
        };
        written.push(format!("{rows} rows to {sink}"));
    }
    if cli.quiet {
        return Ok(());
    }
    let mut counts: std::collections::BTreeMap<Action, (usize, usize)> = Default::default();
    for c in actions.iter().flatten() {
        let e = counts.entry(c.action).or_default();
        e.0 += 1;
        e.1 += (c.action != c.business) as usize;
    }
    let mut tb = Table::new();
    tb.load_preset(UTF8_FULL_CONDENSED);
    tb.set_header(["next-best action", "customers", "suppressed by the policy"]);
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
    let with = |l: &[Vec<recommend::Pick>]| l.iter().filter(|p| !p.is_empty()).count();
    eprintln!(
        "{} customers as of {}: {} with replenish picks ({}), {} with cross-sell picks (item model over {} products); recommendations version {version}, run {run_id}{}; {:.1}s",
        actions.iter().flatten().count(),
        from_epoch_day(cut),
        with(&picks.replenish),
        if picks.replenish_trained {
            "repurchase model"
        } else {
            "too little history for the repurchase model: ranked by order counts"
        },
        with(&picks.cross_sell),
        picks.cross_sell_products,
        if written.is_empty() {
            String::new()
        } else {
            format!("; {}", written.join(", "))
        },
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The baseline ladder: fold 1 is the last --holdout-days, fold 2 the days before, …; each is
/// predicted from the history before it.
fn run_evaluation(
    a: &RecommendArgs,
    history: &recommend::History,
    opts: &RecOptions,
) -> Result<()> {
    let holdout = a.holdout_days as i32;
    let mut folds = Vec::new();
    for fold in (1..=a.folds as i32).rev() {
        let cut = history.last_day() - fold * holdout;
        folds.push(evaluate::evaluate(history, cut, holdout, opts)?);
    }
    let top = opts.top;
    let mut tb = Table::new();
    tb.load_preset(UTF8_FULL_CONDENSED);
    tb.set_header([
        "holdout after",
        "kind",
        "recommender",
        "customers",
        &format!("hit rate@{top}"),
        &format!("precision@{top}"),
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
        for f in &folds {
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
        a.folds, a.holdout_days
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
