//! `crm-mart value`: customer lifetime value (BG/NBD + Gamma-Gamma) of the mart → the
//! `customer_value` table, or of a file; with its holdout check.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;
use crm_mart::ml::clv::input::{self, InputSpec};
use crm_mart::ml::clv::{self, ClvModel, ValueOptions, ValueRun};
use crm_mart::pipeline::{self, Ctx, ValueFile, ValueReport};
use crm_mart::query::output;

use crate::cli::{Cli, ValueArgs, ValueInput};

/// Runs the command.
pub fn run(cli: &Cli, ctx: &Ctx, a: &ValueArgs) -> Result<()> {
    let t = std::time::Instant::now();
    let opts = ValueOptions {
        as_of: a.as_of,
        calibration_end: a.calibration_end,
        holdout_days: a.holdout_days,
        discount_rate: a.discount_rate,
        penalizer: a.penalizer,
    };
    let format = super::file_format(a.format.as_deref(), a.output.as_deref())?;
    let report = match &a.input {
        None => pipeline::value(ctx, &opts)?,
        Some(path) => {
            let summary = match a.input_format {
                ValueInput::Summary => true,
                ValueInput::Transactions => false,
                ValueInput::Auto => {
                    let yes = !a.no_header && input::has_summary_header(path, a.delimiter)?;
                    if yes && !cli.quiet {
                        eprintln!(
                            "{}: a per-customer summary (its header names frequency, recency and T)",
                            path.display()
                        );
                    }
                    yes
                }
            };
            let file = match summary {
                true => ValueFile::Summary {
                    path: path.clone(),
                    delimiter: a.delimiter,
                    customer: a.customer_col.clone(),
                },
                false => ValueFile::Transactions(InputSpec {
                    path: path.clone(),
                    delimiter: a.delimiter,
                    header: !a.no_header,
                    customer: a.customer_col.clone(),
                    date: a.date_col.clone(),
                    amount: a.amount_col.clone(),
                    date_format: a.date_format.clone(),
                }),
            };
            pipeline::value_from_file(ctx, &file, &opts, a.model_dir.as_deref())?
        }
    };
    if let (Some(path), Some(format)) = (&a.output, format) {
        ctx.block_on(output::write_batch(
            clv::to_batch(&report.run)?,
            format,
            path,
        ))?;
    }
    if !cli.quiet {
        render(&report, a.output.as_deref(), t.elapsed().as_secs_f64())?;
    }
    Ok(())
}

/// The report on stdout, the run on stderr.
pub fn render(r: &ValueReport, output: Option<&std::path::Path>, seconds: f64) -> Result<()> {
    let mut out = std::io::stdout().lock();
    write!(out, "{}", value_report(&r.run))?;
    let model = match &r.model_path {
        Some(p) => format!("model saved to {}", p.display()),
        None => "model not saved (give --model-dir DIR to keep it)".to_string(),
    };
    eprintln!(
        "{} customers; {model}{}{}; {seconds:.1}s",
        r.run.summary.ids.len(),
        r.table_version
            .map(|v| format!("; customer_value version {v}"))
            .unwrap_or_default(),
        output
            .map(|p| format!("; values in {}", p.display()))
            .unwrap_or_default(),
    );
    Ok(())
}

/// The terminal report of a value run: parameters, the holdout check, the CLV distribution and
/// the most valuable customers.
fn value_report(run: &ValueRun) -> String {
    let mut s = String::new();
    parameters(&mut s, &run.model);
    holdout(&mut s, &run.model);
    distribution(&mut s, run);
    most_valuable(&mut s, run);
    s
}

/// The fitted parameters of both models.
fn parameters(s: &mut String, m: &ClvModel) {
    let mut tb = super::table([
        "BG/NBD",
        "r",
        "alpha",
        "a",
        "b",
        "log-likelihood",
        "customers",
    ]);
    tb.add_row(vec![
        "all data".to_string(),
        format!("{:.4}", m.bgnbd.r),
        format!("{:.4}", m.bgnbd.alpha),
        format!("{:.4}", m.bgnbd.a),
        format!("{:.4}", m.bgnbd.b),
        format!("{:.2}", m.bgnbd_fit.log_likelihood),
        m.bgnbd_fit.customers.to_string(),
    ]);
    if let Ok(h) = &m.holdout {
        tb.add_row(vec![
            format!("up to {}", h.calibration_end),
            format!("{:.4}", h.bgnbd.r),
            format!("{:.4}", h.bgnbd.alpha),
            format!("{:.4}", h.bgnbd.a),
            format!("{:.4}", h.bgnbd.b),
            format!("{:.2}", h.fit.log_likelihood),
            h.fit.customers.to_string(),
        ]);
    }
    let _ = writeln!(s, "{tb}");
    match (&m.gamma_gamma, &m.gamma_gamma_fit) {
        (Some(g), Some(f)) => {
            let mut tb = super::table([
                "Gamma-Gamma",
                "p",
                "q",
                "v",
                "log-likelihood",
                "repeat buyers",
            ]);
            tb.add_row(vec![
                "all data".to_string(),
                format!("{:.4}", g.p),
                format!("{:.4}", g.q),
                format!("{:.4}", g.v),
                format!("{:.2}", f.log_likelihood),
                f.customers.to_string(),
            ]);
            let _ = writeln!(s, "{tb}");
        }
        _ => {
            let _ = writeln!(
                s,
                "Gamma-Gamma not used: {}",
                m.value_fallback.as_deref().unwrap_or("-")
            );
        }
    }
}

/// Actual against predicted holdout purchases by calibration frequency.
fn holdout(s: &mut String, m: &ClvModel) {
    let h = match &m.holdout {
        Ok(h) => h,
        Err(why) => {
            let _ = writeln!(s, "Holdout check not run: {why}");
            return;
        }
    };
    let mut tb = super::table([
        "calibration repeat purchases",
        "customers",
        "actual holdout purchases",
        "predicted",
    ]);
    for r in &h.rows {
        tb.add_row(vec![
            r.frequency.clone(),
            r.customers.to_string(),
            format!("{:.3}", r.actual),
            format!("{:.3}", r.predicted),
        ]);
    }
    let _ = writeln!(
        s,
        "Holdout check: fitted up to {}, purchases to {}\n{tb}\ntotal {:.0} actual, {:.1} predicted; mean absolute error {:.3} per customer",
        h.calibration_end, h.holdout_end, h.total_actual, h.total_predicted, h.mean_absolute_error
    );
}

/// P(alive), expected purchases and the CLV distribution over all customers.
fn distribution(s: &mut String, run: &ValueRun) {
    let p = &run.predictions;
    let mut clv: Vec<f64> = p.iter().map(|p| p.clv_12m).collect();
    clv.sort_by(f64::total_cmp);
    let q = |f: f64| clv[((clv.len() - 1) as f64 * f).round() as usize];
    let n = p.len() as f64;
    let _ = writeln!(
        s,
        "{} customers: mean P(alive) {:.3}, expected purchases {:.1} in 90 days and {:.1} in 12 months; \
         CLV 12 months total {:.2}, median {:.2}, 90th percentile {:.2}, max {:.2}",
        p.len(),
        p.iter().map(|p| p.p_alive).sum::<f64>() / n,
        p.iter().map(|p| p.purchases_90d).sum::<f64>(),
        p.iter().map(|p| p.purchases_12m).sum::<f64>(),
        clv.iter().sum::<f64>(),
        q(0.5),
        q(0.9),
        q(1.0),
    );
}

/// The ten customers of the highest CLV.
fn most_valuable(s: &mut String, run: &ValueRun) {
    let p = &run.predictions;
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|i, j| p[*j].clv_12m.total_cmp(&p[*i].clv_12m));
    let mut tb = super::table([
        "customer",
        "repeat purchases",
        "P(alive)",
        "purchases 90d",
        "avg value",
        "CLV 12m",
    ]);
    for &i in order.iter().take(10) {
        tb.add_row(vec![
            run.summary.ids[i].clone(),
            (run.summary.x[i] as i64).to_string(),
            format!("{:.3}", p[i].p_alive),
            format!("{:.2}", p[i].purchases_90d),
            format!("{:.2}", p[i].avg_value),
            format!("{:.2}", p[i].clv_12m),
        ]);
    }
    let _ = writeln!(s, "Most valuable customers\n{tb}");
}
