//! Recommendations and next-best actions: two ranked lists per customer — `replenish` (products
//! they bought and are likely to buy again soon) and `cross_sell` (products new to them) — and
//! one action per customer under the contact policy, with an offline evaluation against simple
//! baselines.
//!
//! Stages: [`history`] (what was bought) → [`replenish`] and [`cross_sell`] (the two models) →
//! [`policy`] (the action) → [`batch`] (the `recommendations` rows); [`evaluate`] replays the
//! models on past holdouts.

use std::collections::HashMap;

use rayon::prelude::*;

pub mod batch;
pub mod cross_sell;
pub mod evaluate;
pub mod history;
pub mod policy;
pub mod replenish;

pub use batch::to_batch;
pub use history::{History, Line, load_history, lookup_f64, segments};
pub use policy::Action;

use cross_sell::{CrossSellParams, ItemModel};
use policy::{ContactState, Policy};
use replenish::{ReplenishParams, RepurchaseModel};

/// The kind of a recommendation row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A product the customer bought before and is likely to buy again soon.
    Replenish,
    /// A product the customer has never bought.
    CrossSell,
    /// No product: the row carries the action only.
    None,
}

impl Kind {
    /// The name written to the mart and the CRM.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Replenish => "replenish",
            Kind::CrossSell => "cross_sell",
            Kind::None => "none",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Options of the recommender.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecOptions {
    /// Products per customer and kind.
    pub top: usize,
    /// The repurchase model.
    pub replenish: ReplenishParams,
    /// The item model.
    pub cross_sell: CrossSellParams,
}

impl RecOptions {
    /// The defaults (`recommend` and the nightly stage).
    pub const DEFAULT: Self = RecOptions {
        top: 10,
        replenish: ReplenishParams::DEFAULT,
        cross_sell: CrossSellParams::DEFAULT,
    };
}

impl Default for RecOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One recommended product.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// Product index.
    pub product: u32,
    /// Replenish or cross-sell.
    pub kind: Kind,
    /// Probability that the customer buys it in the next window if they buy at all (replenish:
    /// the repurchase model; cross-sell: the item model's score calibrated on the window before
    /// the cut); the raw model score when not calibrated.
    pub score: f64,
    /// Why, in words.
    pub reason: String,
}

/// Both lists for every customer (indexed like `History::customers`; empty for customers
/// without orders before the cut).
#[derive(Debug, Clone, Default)]
pub struct Picks {
    /// Replenish picks, best first.
    pub replenish: Vec<Vec<Pick>>,
    /// Cross-sell picks, best first.
    pub cross_sell: Vec<Vec<Pick>>,
    /// Whether the repurchase model was trained (else products are ranked by order counts).
    pub replenish_trained: bool,
    /// Products the item model covers.
    pub cross_sell_products: usize,
}

/// Rows of at least this lift in the customer's baskets are quoted as a basket rule.
const QUOTED_LIFT: f64 = 1.5;

/// Why a cross-sell candidate is shown: the rule it came from (quoted when its lift is worth
/// quoting), or its popularity.
fn cross_sell_reason(
    items: &ItemModel,
    names: &[String],
    because: Option<u32>,
    product: u32,
) -> String {
    let name = |p: u32| names[p as usize].as_str();
    let Some(x) = because else {
        return format!(
            "new to you and one of the most bought products ({})",
            name(product)
        );
    };
    match items.basket_rule(x, product) {
        Some((conf, lift)) if lift >= QUOTED_LIFT && conf > 0.0 => format!(
            "bought {}; {:.0}% of baskets with {} also have {} ({:.1}× the usual rate)",
            name(x),
            conf * 100.0,
            name(x),
            name(product),
            lift
        ),
        _ => format!(
            "bought {}; customers who buy {} tend to buy {} too",
            name(x),
            name(x),
            name(product)
        ),
    }
}

/// Fits both models on the history up to `cut` and ranks each customer's products. With
/// `calibrate`, cross-sell scores become probabilities (the item model refitted at the start of
/// the window before the cut and scored against it); the evaluation needs only the ranking.
pub fn recommend(h: &History, cut: i32, opts: &RecOptions, calibrate: bool) -> Picks {
    let views = h.orders_until(cut);
    let window = opts.replenish.window_days;
    let top = opts.top;
    let (repurchase, (items, platt)) = rayon::join(
        || RepurchaseModel::fit(h, cut, &opts.replenish),
        || {
            let items = ItemModel::fit(&views, h.products.len(), &opts.cross_sell);
            let platt = calibrate.then(|| calibration(h, cut, window, opts));
            (items, platt)
        },
    );
    let replenish: Vec<Vec<Pick>> = repurchase
        .score(h, &views, cut, window, top)
        .into_iter()
        .map(|list| {
            list.into_iter()
                .map(|r| Pick {
                    product: r.product,
                    kind: Kind::Replenish,
                    score: r.score,
                    reason: replenish::reason(&r.timing),
                })
                .collect()
        })
        .collect();
    let returned = h.returned_until(cut);
    let cross_sell: Vec<Vec<Pick>> = views
        .par_iter()
        .zip(&returned)
        .map(|(v, returned)| {
            if v.orders.is_empty() {
                return Vec::new();
            }
            items
                .candidates(&v.products(), returned, top)
                .into_iter()
                .map(|c| {
                    let reason = cross_sell_reason(&items, &h.product_names, c.because, c.product);
                    let score = match platt {
                        Some((a, b)) => 1.0 / (1.0 + (-(a * c.score + b)).exp()),
                        None => c.score,
                    };
                    Pick {
                        product: c.product,
                        kind: Kind::CrossSell,
                        score,
                        reason,
                    }
                })
                .collect()
        })
        .collect();
    Picks {
        replenish,
        cross_sell,
        replenish_trained: repurchase.is_trained(),
        cross_sell_products: items.covered.len(),
    }
}

/// (slope, intercept) mapping item-model scores to the probability that a customer who buys in
/// the window buys the candidate: fitted at `cut − window` against the window up to `cut`.
fn calibration(h: &History, cut: i32, window: i32, opts: &RecOptions) -> (f64, f64) {
    let start = cut - window;
    let views = h.orders_until(start);
    let truth = h.bought_after(start, window);
    let items = ItemModel::fit(&views, h.products.len(), &opts.cross_sell);
    let rows: Vec<([f64; 1], bool)> = views
        .par_iter()
        .zip(&truth)
        .flat_map_iter(|(v, tr)| {
            let c = if v.orders.is_empty() || tr.is_empty() {
                Vec::new()
            } else {
                items.candidates(&v.products(), &[], opts.top * 2)
            };
            c.into_iter()
                .map(|c| ([c.score], tr.contains(&c.product)))
                .collect::<Vec<_>>()
        })
        .collect();
    let positives = rows.iter().filter(|r| r.1).count();
    if positives < 5 || positives == rows.len() {
        // Too little to calibrate: the share bought, whatever the score.
        let share = (positives as f64 + 0.5) / (rows.len() as f64 + 1.0);
        return (0.0, (share / (1.0 - share)).ln());
    }
    let (z, y): (Vec<[f64; 1]>, Vec<bool>) = rows.into_iter().unzip();
    let w = replenish::fit_logistic(&z, &y, 1e-3);
    (w[0], w[1])
}

/// A customer's next-best action and what it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerAction {
    /// The action after the contact policy.
    pub action: Action,
    /// What the business rule alone says.
    pub business: Action,
    /// Why the policy changed it, when it did.
    pub policy_reason: Option<String>,
    /// Churn probability, when scored.
    pub churn_probability: Option<f64>,
    /// 12-month CLV, when valued.
    pub clv_12m: Option<f64>,
    /// Segment, when segmented.
    pub segment: Option<String>,
    /// Days since the last purchase at the cut.
    pub recency_days: i32,
    /// Whether the customer is high-value (top quarter by CLV, else by 12-month lines).
    pub high_value: bool,
}

/// Actions for every customer with a purchase before the cut.
pub fn actions(
    h: &History,
    cut: i32,
    churn: &HashMap<String, f64>,
    clv: &HashMap<String, f64>,
    segments: &HashMap<u32, String>,
    policy: &Policy,
    contacts: &HashMap<String, ContactState>,
) -> Vec<Option<CustomerAction>> {
    let mut last = vec![i32::MIN; h.customers.len()];
    let mut spend = vec![0.0f64; h.customers.len()];
    for l in h.lines.iter().filter(|l| l.day <= cut) {
        let c = l.customer as usize;
        last[c] = last[c].max(l.day);
        if l.day > cut - 365 {
            spend[c] += 1.0;
        }
    }
    // High value: top quarter by CLV where valued, else by lines bought in the last year.
    let value: Vec<Option<f64>> = (0..h.customers.len())
        .map(|c| {
            if last[c] == i32::MIN {
                None
            } else if clv.is_empty() {
                Some(spend[c])
            } else {
                Some(clv.get(&h.customers[c]).copied().unwrap_or(0.0))
            }
        })
        .collect();
    let mut sorted: Vec<f64> = value.iter().flatten().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let q75 = sorted
        .get(((sorted.len() as f64 - 1.0) * 0.75).round().max(0.0) as usize)
        .copied()
        .unwrap_or(f64::INFINITY);
    let none = ContactState::default();
    (0..h.customers.len())
        .map(|c| {
            let v = value[c]?;
            let id = &h.customers[c];
            let recency = cut - last[c];
            let p = churn.get(id).copied();
            let high = v >= q75 && v > 0.0;
            let business = policy::business_action(recency, p, high);
            let (action, policy_reason) =
                policy::apply(policy, contacts.get(id).unwrap_or(&none), business);
            Some(CustomerAction {
                action,
                business,
                policy_reason,
                churn_probability: p,
                clv_12m: clv.get(id).copied(),
                segment: segments.get(&(c as u32)).cloned(),
                recency_days: recency,
                high_value: high,
            })
        })
        .collect()
}
