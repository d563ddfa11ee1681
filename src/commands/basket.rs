//! `crm-mart basket`: frequent itemsets and association rules of the mart's orders (→
//! `basket_rules`) or of a basket file.

use std::io::Write;

use anyhow::Result;
use arrow::array::RecordBatch;
use crm_mart::basket::rules::RuleOptions;
use crm_mart::pipeline::{self, BasketInput, BasketParams, BasketReport, Ctx, Mined};
use crm_mart::query::output;

use crate::cli::{BasketArgs, Cli};

/// Rules shown on the terminal by default (all are in `basket_rules` and `--output`).
pub const TOP_RULES: usize = 15;

/// Runs the command.
pub fn run(cli: &Cli, ctx: &Ctx, a: &BasketArgs) -> Result<()> {
    let t = std::time::Instant::now();
    let p = BasketParams {
        level: a.level,
        from: a.from,
        to: a.to,
        min_support: a.min_support,
        max_len: a.max_len,
        rules: RuleOptions {
            min_confidence: a.min_confidence,
            min_lift: a.min_lift,
            max_antecedent: a.max_antecedent,
            max_rules: a.max_rules,
            prune_redundant: !a.keep_redundant,
        },
    };
    p.check()?;
    let format = super::file_format(a.format.as_deref(), a.output.as_deref())?;
    let write = |batch: RecordBatch| -> Result<()> {
        if let (Some(path), Some(format)) = (&a.output, format) {
            ctx.block_on(output::write_batch(batch, format, path))?;
        }
        Ok(())
    };
    let input = match &a.input {
        None => BasketInput::Mart,
        Some(path) => BasketInput::File {
            path: path.clone(),
            format: a.input_format,
            basket_col: a.basket_col.clone(),
            item_col: a.item_col.clone(),
        },
    };
    if a.itemsets {
        let mut mined = pipeline::mine(ctx, &input, &p)?;
        write(pipeline::itemsets(&mut mined)?)?;
        if !cli.quiet {
            render_itemsets(&mined);
        }
        return Ok(());
    }
    let report = pipeline::basket(ctx, &input, &p)?;
    write(report.batch.clone())?;
    if !cli.quiet {
        render(&report, a.top, t.elapsed().as_secs_f64())?;
    }
    Ok(())
}

fn render_itemsets(m: &Mined) {
    eprintln!(
        "{} frequent itemsets (support count ≥ {} of {} baskets, {} items) in {:.2}s",
        m.sets.len(),
        m.min_count,
        m.baskets.transactions.len(),
        m.baskets.items.len(),
        m.seconds
    );
}

/// The `top` rules on stdout; the funnel from itemsets to kept rules on stderr.
pub fn render(r: &BasketReport, top: usize, seconds: f64) -> Result<()> {
    let (m, set) = (&r.mined, &r.rules);
    let names = &m.names;
    let mut tb = super::table([
        "#",
        "if a basket has",
        "it also has",
        "support",
        "confidence",
        "lift",
        "baskets",
    ]);
    for (k, rule) in set.rules.iter().take(top).enumerate() {
        tb.add_row(vec![
            (k + 1).to_string(),
            rule.antecedent
                .iter()
                .map(|i| names[*i as usize].as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            names[rule.consequent as usize].clone(),
            format!("{:.4}", rule.support()),
            format!("{:.3}", rule.confidence()),
            format!("{:.2}", rule.lift()),
            rule.rule_count.to_string(),
        ]);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{tb}")?;
    eprintln!(
        "{} baskets, {} items; {} frequent itemsets (count ≥ {}); {} rules met the thresholds, {} redundant dropped, {} over the cap dropped, {} kept{}; {seconds:.2}s",
        m.baskets.transactions.len(),
        m.baskets.items.len(),
        m.sets.len(),
        m.min_count,
        set.candidates,
        set.redundant,
        set.capped,
        set.rules.len(),
        r.table_version
            .map(|v| format!("; basket_rules version {v}"))
            .unwrap_or_default(),
    );
    Ok(())
}
