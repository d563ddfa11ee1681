//! The basket stage: frequent itemsets (FP-Growth) and association rules → `basket_rules`.

use std::path::PathBuf;
use std::time::Instant;

use arrow::array::RecordBatch;
use chrono::NaiveDate;

use super::Ctx;
use crate::basket::input::{BasketFormat, Baskets};
use crate::basket::rules::{self, RuleOptions, RuleSet};
use crate::basket::{self, Level, fpgrowth};
use crate::error::{Error, Result};
use crate::mart::schema::MartTable;

/// Params of the basket stage.
#[derive(Debug, Clone, Copy)]
pub struct BasketParams {
    /// Item level of the mart's baskets.
    pub level: Level,
    /// First order day (default: all).
    pub from: Option<NaiveDate>,
    /// Last order day (default: all).
    pub to: Option<NaiveDate>,
    /// A fraction of the baskets (0 < s < 1) or a count (≥ 1).
    pub min_support: f64,
    /// Largest itemset (0 = no limit).
    pub max_len: usize,
    /// The rules kept.
    pub rules: RuleOptions,
}

impl BasketParams {
    /// The defaults (`basket` and the nightly stage).
    pub const DEFAULT: Self = BasketParams {
        level: Level::Product,
        from: None,
        to: None,
        min_support: 0.005,
        max_len: 0,
        rules: RuleOptions::DEFAULT,
    };

    /// The params, or the first that cannot work.
    pub fn check(&self) -> Result<&Self> {
        if !(self.min_support > 0.0 && self.min_support.is_finite()) {
            return Err(Error::params(
                "min_support",
                format!(
                    "{}: give a fraction of the baskets (0 < s < 1) or a count (≥ 1)",
                    self.min_support
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.rules.min_confidence) {
            return Err(Error::params(
                "min_confidence",
                format!("{} must be between 0 and 1", self.rules.min_confidence),
            ));
        }
        Ok(self)
    }
}

/// Where the baskets come from.
#[derive(Debug, Clone)]
pub enum BasketInput {
    /// The mart's orders (the rules are written to `basket_rules`).
    Mart,
    /// A file of baskets (nothing is written to the mart).
    File {
        /// The file.
        path: PathBuf,
        /// Its layout.
        format: BasketFormat,
        /// The basket column of the long layout.
        basket_col: String,
        /// The item column of the long layout.
        item_col: String,
    },
}

/// The frequent itemsets of the baskets.
pub struct Mined {
    /// The baskets.
    pub baskets: Baskets,
    /// A readable name per item.
    pub names: Vec<String>,
    /// `item` for a file, else the mart level.
    pub level: String,
    /// The mart version read (None for a file).
    pub mart_version: Option<i64>,
    /// The support count threshold.
    pub min_count: u64,
    /// The itemsets, in no particular order.
    pub sets: Vec<fpgrowth::Itemset>,
    /// Seconds to read and mine.
    pub seconds: f64,
}

/// Reads the baskets and mines the frequent itemsets.
pub fn mine(ctx: &Ctx, input: &BasketInput, p: &BasketParams) -> Result<Mined> {
    let t = Instant::now();
    p.check()?;
    let (baskets, names, level, mart_version) = match input {
        BasketInput::File {
            path,
            format,
            basket_col,
            item_col,
        } => {
            let b = basket::input::read(path, *format, basket_col, item_col)?;
            let names = b.items.clone();
            (b, names, "item".to_string(), None)
        }
        BasketInput::Mart => ctx.block_on(async {
            let mart = ctx.mart();
            let cat = ctx.catalog(&mart).await?;
            let (b, names) = basket::from_mart(&cat, p.level, p.from, p.to).await?;
            Ok::<_, Error>((b, names, p.level.as_str().to_string(), cat.mart_version))
        })?,
    };
    let min_count = basket::min_count(p.min_support, baskets.transactions.len());
    let sets = fpgrowth::frequent_itemsets(
        &baskets.transactions,
        baskets.items.len(),
        fpgrowth::MineOptions {
            min_count,
            max_len: p.max_len,
        },
    );
    Ok(Mined {
        baskets,
        names,
        level,
        mart_version,
        min_count,
        sets,
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// The frequent itemsets, the most frequent first, as rows.
pub fn itemsets(mined: &mut Mined) -> Result<RecordBatch> {
    mined
        .sets
        .sort_by(|x, y| y.count.cmp(&x.count).then(x.items.cmp(&y.items)));
    basket::itemsets_to_batch(&mined.sets, &mined.names, mined.baskets.transactions.len())
}

/// What the basket stage did.
pub struct BasketReport {
    /// The baskets and itemsets.
    pub mined: Mined,
    /// The rules, best first.
    pub rules: RuleSet,
    /// The rules as `basket_rules` rows.
    pub batch: RecordBatch,
    /// The version of `basket_rules` written (None for a file).
    pub table_version: Option<i64>,
}

/// Mines the rules; from the mart, replaces `basket_rules`.
pub fn basket(ctx: &Ctx, input: &BasketInput, p: &BasketParams) -> Result<BasketReport> {
    let mined = mine(ctx, input, p)?;
    let n = mined.baskets.transactions.len() as u64;
    let set = rules::generate(&mined.sets, n, p.rules);
    let batch = basket::to_batch(
        &set.rules,
        &mined.baskets.items,
        &mined.names,
        &mined.level,
        mined.mart_version,
    )?;
    let table_version = match input {
        BasketInput::Mart => Some(ctx.block_on(ctx.mart().replace(
            MartTable::BasketRules,
            vec![batch.clone()],
            "crm-mart-basket",
        ))?),
        BasketInput::File { .. } => None,
    };
    Ok(BasketReport {
        mined,
        rules: set,
        batch,
        table_version,
    })
}
