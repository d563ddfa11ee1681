//! One file per subcommand: read the context, call one library function, render what it
//! returns. stdout is data, stderr is talk. No SQL, no Arrow schemas, no model loops here.

pub mod basket;
pub mod churn;
pub mod completions;
pub mod etl;
pub mod features;
pub mod forget;
pub mod generate;
pub mod maintain;
pub mod man;
pub mod models;
pub mod nightly;
pub mod quarantine;
pub mod query;
pub mod recommend;
pub mod report;
pub mod runs;
pub mod segment;
pub mod shell;
pub mod value;

use anyhow::Result;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use crm_mart::pipeline::Ctx;

use crate::cli::{ChurnAction, Cli, Command, ModelsAction};

/// Runs the parsed command; `ctx` is None only for `generate`, `completions` and `man`, which
/// need no settings.
pub fn run(cli: &Cli, ctx: Option<&Ctx>) -> Result<()> {
    match &cli.command {
        Command::Generate(a) => generate::run(cli, a),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),
        _ => run_with(cli, ctx.expect("every other command has a context")),
    }
}

fn run_with(cli: &Cli, ctx: &Ctx) -> Result<()> {
    match &cli.command {
        Command::Generate(_) | Command::Completions(_) | Command::Man(_) => {
            unreachable!("handled before the context")
        }
        Command::Etl(_) => etl::run(cli, ctx),
        Command::Nightly(a) => nightly::run(cli, ctx, a),
        Command::Query(a) => query::run(cli, ctx, a),
        Command::Shell(a) => shell::run(cli, ctx, a),
        Command::Quarantine(a) => quarantine::run(ctx, a),
        Command::Segment(a) => segment::run(cli, ctx, a),
        Command::Features(a) => features::run(cli, ctx, a),
        Command::Churn(a) => match &a.action {
            ChurnAction::Train(a) => churn::train(cli, ctx, a),
            ChurnAction::Score(a) => churn::score(cli, ctx, a),
        },
        Command::Value(a) => value::run(cli, ctx, a),
        Command::Basket(a) => basket::run(cli, ctx, a),
        Command::Recommend(a) => recommend::run(cli, ctx, a),
        Command::Report(a) => report::run(cli, ctx, a),
        Command::Maintain(a) => maintain::run(cli, ctx, a),
        Command::Runs(a) => runs::run(ctx, a),
        Command::Forget(a) => forget::run(ctx, a),
        Command::Models(a) => match &a.action {
            ModelsAction::List => models::list(cli, ctx),
            ModelsAction::Promote { model_version } => models::promote(ctx, model_version, false),
            ModelsAction::Pin { model_version } => models::promote(ctx, model_version, true),
            ModelsAction::Rollback => models::rollback(ctx),
        },
    }
}

/// The format of an `--output` file (from `--format`, else the file's extension, else CSV); None
/// without an output file.
pub fn file_format(
    format: Option<&str>,
    output: Option<&std::path::Path>,
) -> Result<Option<crm_mart::query::output::Format>> {
    use crm_mart::query::output::Format;
    Ok(match output {
        Some(path) => Some(Format::choose(format, Some(path), Format::Csv)?),
        None => None,
    })
}

/// A terminal table with the given header.
pub fn table<S: ToString>(header: impl IntoIterator<Item = S>) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(
        header
            .into_iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>(),
    );
    t
}
