//! `crm-mart nightly`: every stage in order for cron (see [`crm_mart::pipeline::nightly`]).
//!
//! On a terminal: one progress line per stage and each stage's own output, rendered as its
//! subcommand renders it. Under cron: the stages are quiet; the run log has the story and errors
//! go to stderr.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use crm_mart::pipeline::nightly::{self, Event, NightlyParams};
use crm_mart::pipeline::{Ctx, StageReport};

use crate::cli::{Cli, NightlyArgs};

/// Runs the command.
pub fn run(cli: &Cli, ctx: &Ctx, a: &NightlyArgs) -> Result<()> {
    let now = chrono::Utc::now();
    let tty = std::io::stderr().is_terminal();
    let talk = tty && !cli.quiet;
    let p = NightlyParams {
        retrain: a.retrain,
        log: a.log.clone(),
        progress: talk,
        error_text: crate::library_error_with_flags,
    };
    let mut plan = nightly::plan(ctx, &p, now)?;
    // The library names the forcing parameter by its field; here it is a flag.
    for (_, what) in &mut plan.steps {
        *what = what.replace("(retrain)", &format!("({})", crate::cli::flag("retrain")));
    }
    if a.dry_run {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "crm-mart nightly plan (nothing is changed by --dry-run):"
        )?;
        for (k, (stage, what)) in plan.steps.iter().enumerate() {
            writeln!(out, "  {}. {stage}: {what}", k + 1)?;
        }
        writeln!(out, "run log: {}", plan.log_path.display())?;
        return Ok(());
    }
    let n = plan.steps.len();
    let mut rendered = Ok(());
    let mut observe = |e: Event| match e {
        Event::Starting { k, stage, what } if talk => eprintln!("[{k}/{n}] {stage}: {what}"),
        Event::Starting { .. } => {}
        Event::Warning(w) => eprintln!("warning: {w}"),
        Event::Finished {
            report, seconds, ..
        } if talk && rendered.is_ok() => rendered = render(ctx, report, seconds),
        Event::Finished { .. } => {}
    };
    let run = match nightly::run(ctx, &p, &plan, now, &mut observe) {
        Ok(run) => run,
        Err(f) => {
            let e = anyhow::Error::new(f.error);
            return Err(match f.stage {
                Some(stage) => e.context(format!(
                    "nightly stage {stage} failed; the stages before it are committed, and the next run starts over"
                )),
                None => e,
            });
        }
    };
    rendered?;
    if !cli.quiet {
        eprintln!(
            "nightly {}: {n} stages ok in {:.1}s; log {}",
            run.run_id,
            run.seconds,
            run.log_path.display()
        );
    }
    Ok(())
}

/// A stage's output as its subcommand shows it.
fn render(ctx: &Ctx, report: &StageReport, seconds: f64) -> Result<()> {
    match report {
        StageReport::Etl(r) => super::etl::render(ctx, r),
        StageReport::Segment(r) => super::segment::render(r, seconds),
        StageReport::Churn(r) => {
            if let Some(t) = &r.trained {
                super::churn::render_training(t, seconds)?;
            }
            super::churn::render_scores(&r.scored, seconds)
        }
        StageReport::Value(r) => super::value::render(r, None, seconds),
        StageReport::Basket(r) => super::basket::render(r, super::basket::TOP_RULES, seconds),
        StageReport::Recommend(r) => super::recommend::render(r, seconds),
        StageReport::Report(r) => {
            super::report::render(r, seconds);
            Ok(())
        }
        StageReport::Maintain(r) => super::maintain::render(r, seconds),
    }
}
