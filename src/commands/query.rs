//! `crm-mart query`: ad hoc SQL, a SQL file or a named query over the mart, to the terminal or a
//! file; `--list` lists the named queries.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use crm_mart::mart::catalog::Attachment;
use crm_mart::pipeline::{self, Ctx, QueryParams, QueryRun};
use crm_mart::query::output::{Format, OutputOptions};
use crm_mart::query::{self, QueryText, named};

use crate::cli::{Cli, QueryArgs, ShellArgs};

/// Runs the command.
pub fn run(cli: &Cli, ctx: &Ctx, a: &QueryArgs) -> Result<()> {
    let settings = &ctx.settings;
    if a.list {
        return list(ctx);
    }
    let text = match (&a.sql, &a.file, &a.name) {
        (Some(sql), _, _) => QueryText::Adhoc(sql.clone()),
        (_, Some(f), _) => QueryText::File(f.clone()),
        (_, _, Some(n)) => QueryText::Named(n.clone()),
        // No statement: the shell (interactive on a terminal, else the script on stdin).
        (None, None, None) => {
            let shell = ShellArgs {
                mart: a.mart.clone(),
                tables: a.tables.clone(),
                engine: a.engine.clone(),
                history: None,
            };
            return super::shell::run(cli, ctx, &shell);
        }
    };
    let prepared = query::prepare(&text, Some(&settings.queries_dir), &a.params)?;
    let engine = a.engine.as_deref().map(str::parse).transpose()?;
    let attachments: Vec<Attachment> = a
        .tables
        .iter()
        .map(|t| t.parse())
        .collect::<crm_mart::error::Result<_>>()?;
    let output = output_options(a)?;
    let params = QueryParams {
        prepared,
        engine,
        as_of_version: a.as_of_version,
        attachments,
        explain: a.explain,
        output,
    };
    let t = std::time::Instant::now();
    let w = match pipeline::run_query(ctx, &params)? {
        QueryRun::Explained(plan) => {
            print!("{plan}");
            return Ok(());
        }
        QueryRun::Written(w) => w,
    };
    if cli.quiet {
        return Ok(());
    }
    let shown = if w.shown < w.rows {
        format!(
            " ({} shown; --max-rows N or --format csv for more)",
            w.shown
        )
    } else {
        String::new()
    };
    if !w.hidden_columns.is_empty() {
        eprintln!(
            "{} columns not shown (terminal too narrow): {}; use --format csv, or a wider terminal",
            w.hidden_columns.len(),
            w.hidden_columns.join(", ")
        );
    }
    let to = a
        .output
        .as_ref()
        .map(|p| format!(" to {}", p.display()))
        .unwrap_or_default();
    eprintln!(
        "{} rows{shown}{to} in {:.2}s",
        w.rows,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Where the result goes and how: a table of at most 40 rows as wide as the terminal when
/// stdout is one, else every row in the chosen format.
fn output_options(a: &QueryArgs) -> Result<OutputOptions> {
    let format = Format::choose(a.format.as_deref(), a.output.as_deref(), Format::Table)?;
    let stdout_tty = a.output.is_none() && std::io::stdout().is_terminal();
    Ok(OutputOptions {
        format,
        path: a.output.clone(),
        max_rows: match a.max_rows {
            Some(0) => None,
            Some(n) => Some(n),
            None if stdout_tty => Some(40),
            None => None,
        },
        width: if stdout_tty {
            comfy_table::Table::new().width()
        } else {
            None
        },
    })
}

/// The named queries with their parameters.
fn list(ctx: &Ctx) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for q in named::all(Some(&ctx.settings.queries_dir))? {
        writeln!(out, "{}  ({})\n    {}", q.name, q.origin, q.description)?;
        for p in &q.params {
            writeln!(out, "    --param {}  {}", p.signature(), p.description)?;
        }
    }
    Ok(())
}
