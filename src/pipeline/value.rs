//! The value stage: BG/NBD + Gamma-Gamma customer lifetime value → `customer_value` and
//! `models/clv/`.

use std::path::PathBuf;

use super::Ctx;
use crate::error::{Error, Result};
use crate::mart::schema::MartTable;
use crate::ml::clv::{self, ValueOptions, ValueRun, input};

/// What a value run did.
pub struct ValueReport {
    /// The fit, the holdout check and the predictions.
    pub run: ValueRun,
    /// The model's JSON file (None when a file's model was not saved: no model directory).
    pub model_path: Option<PathBuf>,
    /// The version of `customer_value` written (None for a file).
    pub table_version: Option<i64>,
}

/// Fits the mart's transactions, replaces `customer_value` and saves the model.
pub fn value(ctx: &Ctx, opts: &ValueOptions) -> Result<ValueReport> {
    let (run, table_version) = ctx.block_on(async {
        let mart = ctx.mart();
        let cat = ctx.catalog(&mart).await?;
        let txns = clv::from_mart(&cat, opts.as_of).await?;
        let run = clv::run_transactions(&txns, opts, "mart", cat.mart_version)?;
        let batch = clv::to_batch(&run)?;
        let v = mart
            .replace(MartTable::CustomerValue, vec![batch], "crm-mart-value")
            .await?;
        Ok::<_, Error>((run, v))
    })?;
    let model_path = run.model.save(&ctx.settings.models_dir.join("clv"))?;
    Ok(ValueReport {
        run,
        model_path: Some(model_path),
        table_version: Some(table_version),
    })
}

/// A file to fit instead of the mart.
#[derive(Debug, Clone)]
pub enum ValueFile {
    /// One row per transaction.
    Transactions(input::InputSpec),
    /// One row per customer (frequency, recency, T, monetary value), as `lifetimes` takes.
    Summary {
        /// The file.
        path: PathBuf,
        /// Its field separator.
        delimiter: input::Delimiter,
        /// The customer column.
        customer: input::Column,
    },
}

/// Fits a file and saves the model in `model_dir` (default: the configuration file's models
/// directory, under `clv/`; not saved when there is neither); nothing is written to the mart.
pub fn value_from_file(
    ctx: &Ctx,
    file: &ValueFile,
    opts: &ValueOptions,
    model_dir: Option<&std::path::Path>,
) -> Result<ValueReport> {
    let run = match file {
        ValueFile::Summary {
            path,
            delimiter,
            customer,
        } => {
            let s = input::read_summary(path, *delimiter, customer)?;
            clv::run_summary(s, opts, &path.display().to_string())?
        }
        ValueFile::Transactions(spec) => {
            let txns = input::read_transactions(spec)?;
            clv::run_transactions(&txns, opts, &spec.path.display().to_string(), None)?
        }
    };
    let dir = match model_dir {
        Some(d) => Some(d.to_path_buf()),
        None => ctx
            .settings
            .config_file
            .is_some()
            .then(|| ctx.settings.models_dir.join("clv")),
    };
    let model_path = dir.map(|d| run.model.save(&d)).transpose()?;
    Ok(ValueReport {
        run,
        model_path,
        table_version: None,
    })
}
