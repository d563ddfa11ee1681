//! Ranked product recommendations from association rules, with a segment-popularity fallback, a
//! next-best action per customer, and an offline evaluation against a popularity baseline.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use chrono::NaiveDate;
use datafusion::scalar::ScalarValue;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::basket::fpgrowth::{self, MineOptions};
use crate::basket::rules::{self, Rule, RuleOptions};
use crate::error::{Error, Result};
use crate::mart::catalog::Catalog;
use crate::ml::clv::input::{epoch_day, from_epoch_day};

/// One purchased product line.
#[derive(Debug, Clone, Copy)]
pub struct Line {
    /// Customer index.
    pub customer: u32,
    /// Order index.
    pub order: u32,
    /// Epoch day.
    pub day: i32,
    /// Product index.
    pub product: u32,
}

/// Customers' purchase history with interned ids.
#[derive(Debug, Default)]
pub struct History {
    /// Customer ids.
    pub customers: Vec<String>,
    /// Product ids.
    pub products: Vec<String>,
    /// Product names.
    pub product_names: Vec<String>,
    /// Product group (subcategory) index of each product: products of one group stand in for
    /// each other.
    pub product_groups: Vec<u32>,
    /// Product category index of each product: a customer's taste is measured by category.
    pub product_categories: Vec<u32>,
    /// Category names, by index.
    pub category_names: Vec<String>,
    /// Lines, in no particular order.
    pub lines: Vec<Line>,
}

impl History {
    /// Last purchase day.
    pub fn last_day(&self) -> i32 {
        self.lines.iter().map(|l| l.day).max().unwrap_or(0)
    }
}

/// Loads the purchase history up to `as_of` (named query `customer_purchases`).
pub async fn load_history(catalog: &Catalog, as_of: Option<NaiveDate>) -> Result<History> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Date32Type};
    let mut values = HashMap::new();
    let cut = as_of.unwrap_or(NaiveDate::from_ymd_opt(2199, 12, 31).expect("date"));
    values.insert(
        "as_of".to_string(),
        ScalarValue::Date32(Some(epoch_day(cut))),
    );
    let prepared = crate::query::builtin("customer_purchases", values)?;
    let batches = crate::query::collect(catalog, &prepared).await?;
    let mut h = History::default();
    let mut cust: FxHashMap<String, u32> = FxHashMap::default();
    let mut prod: FxHashMap<String, u32> = FxHashMap::default();
    let mut ord: FxHashMap<String, u32> = FxHashMap::default();
    let mut groups: FxHashMap<String, u32> = FxHashMap::default();
    let mut categories: FxHashMap<String, u32> = FxHashMap::default();
    for b in &batches {
        let s = |i: usize| arrow::compute::cast(b.column(i), &DataType::Utf8);
        let (c, o, p, n, g, k) = (s(0)?, s(1)?, s(3)?, s(4)?, s(5)?, s(6)?);
        let g = g.as_string::<i32>();
        let k = k.as_string::<i32>();
        let (c, o, p, n) = (
            c.as_string::<i32>(),
            o.as_string::<i32>(),
            p.as_string::<i32>(),
            n.as_string::<i32>(),
        );
        let day = b.column(2).as_primitive::<Date32Type>();
        for i in 0..b.num_rows() {
            if c.is_null(i) || o.is_null(i) || p.is_null(i) {
                continue;
            }
            let next = h.customers.len() as u32;
            let customer = *cust.entry(c.value(i).to_string()).or_insert_with(|| {
                h.customers.push(c.value(i).to_string());
                next
            });
            let next = h.products.len() as u32;
            let product = *prod.entry(p.value(i).to_string()).or_insert_with(|| {
                h.products.push(p.value(i).to_string());
                h.product_names.push(n.value(i).to_string());
                let next_group = groups.len() as u32;
                h.product_groups
                    .push(*groups.entry(g.value(i).to_string()).or_insert(next_group));
                let next_category = categories.len() as u32;
                let category = *categories.entry(k.value(i).to_string()).or_insert_with(|| {
                    h.category_names.push(k.value(i).to_string());
                    next_category
                });
                h.product_categories.push(category);
                next
            });
            let next = ord.len() as u32;
            let order = *ord.entry(o.value(i).to_string()).or_insert(next);
            h.lines.push(Line {
                customer,
                order,
                day: day.value(i),
                product,
            });
        }
    }
    if h.lines.is_empty() {
        return Err(Error::usage(
            "no purchases of known customers in the mart; run crm-mart etl first",
        ));
    }
    Ok(h)
}

/// Options of the recommender.
#[derive(Debug, Clone, Copy)]
pub struct RecOptions {
    /// Products per customer.
    pub top: usize,
    /// Orders in this many days before the cut trigger rules.
    pub recent_days: i32,
    /// Half-life of an order's weight, in days.
    pub half_life_days: f64,
    /// A product bought in at least this many orders in the last 365 days is bought regularly and
    /// not recommended.
    pub regular_orders: usize,
    /// Minimum support of the mined rules (fraction of baskets or count).
    pub min_support: f64,
    /// Minimum confidence of the mined rules.
    pub min_confidence: f64,
    /// Minimum lift of the mined rules: weaker co-occurrences are noise next to what the
    /// customer's segment buys.
    pub min_lift: f64,
}

impl Default for RecOptions {
    fn default() -> Self {
        RecOptions {
            top: 10,
            recent_days: 90,
            half_life_days: 30.0,
            regular_orders: 2,
            min_support: 0.002,
            min_confidence: 0.05,
            min_lift: 1.5,
        }
    }
}

/// One recommended product.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// Product index.
    pub product: u32,
    /// Score: an estimate of how likely the customer is to buy it next (comparable within one
    /// customer's list).
    pub score: f64,
    /// Why, in words.
    pub reason: String,
}

/// How much likelier a product the customer bought before (once, or over a year ago) is than
/// their category mix alone says.
const REBUY_BOOST: f64 = 0.5;

/// The per-customer view of the history before a cut.
struct CustomerView {
    /// (day, products) of each order, oldest first.
    orders: Vec<(i32, Vec<u32>)>,
}

fn views(h: &History, cut: i32) -> Vec<CustomerView> {
    let mut by_order: FxHashMap<u32, (u32, i32, Vec<u32>)> = FxHashMap::default();
    for l in h.lines.iter().filter(|l| l.day <= cut) {
        let e = by_order
            .entry(l.order)
            .or_insert_with(|| (l.customer, l.day, Vec::new()));
        e.2.push(l.product);
    }
    let mut out: Vec<CustomerView> = (0..h.customers.len())
        .map(|_| CustomerView { orders: Vec::new() })
        .collect();
    for (_, (c, day, mut items)) in by_order {
        items.sort_unstable();
        items.dedup();
        out[c as usize].orders.push((day, items));
    }
    for v in &mut out {
        v.orders.sort();
    }
    out
}

/// Products a customer bought in at least `min_orders` orders in the 365 days before `cut`.
fn regular(v: &CustomerView, cut: i32, min_orders: usize) -> FxHashSet<u32> {
    let mut n: FxHashMap<u32, usize> = FxHashMap::default();
    for (day, items) in &v.orders {
        if *day > cut - 365 {
            for i in items {
                *n.entry(*i).or_default() += 1;
            }
        }
    }
    n.into_iter()
        .filter(|(_, k)| *k >= min_orders)
        .map(|(i, _)| i)
        .collect()
}

/// Share of customers (of those given) who bought each product in the 90 days before `cut`,
/// best first.
fn popular(views: &[CustomerView], who: impl Iterator<Item = usize>, cut: i32) -> Vec<(u32, f64)> {
    let mut n: FxHashMap<u32, usize> = FxHashMap::default();
    let mut customers = 0usize;
    for c in who {
        let mut bought: FxHashSet<u32> = FxHashSet::default();
        for (day, items) in &views[c].orders {
            if *day > cut - 90 {
                bought.extend(items);
            }
        }
        if !bought.is_empty() {
            customers += 1;
        }
        for i in bought {
            *n.entry(i).or_default() += 1;
        }
    }
    let mut v: Vec<(u32, f64)> = n
        .into_iter()
        .map(|(i, k)| (i, k as f64 / customers.max(1) as f64))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// Rules mined from every order up to the cut (product level).
pub fn mine_rules(h: &History, cut: i32, opts: &RecOptions) -> Vec<Rule> {
    let mut baskets: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    for l in h.lines.iter().filter(|l| l.day <= cut) {
        baskets.entry(l.order).or_default().push(l.product);
    }
    let tx: Vec<Vec<u32>> = baskets
        .into_values()
        .map(|mut t| {
            t.sort_unstable();
            t.dedup();
            t
        })
        .collect();
    let n = tx.len();
    let sets = fpgrowth::frequent_itemsets(
        &tx,
        h.products.len(),
        MineOptions {
            min_count: crate::basket::min_count(opts.min_support, n),
            max_len: 3,
        },
    );
    rules::generate(
        &sets,
        n as u64,
        RuleOptions {
            min_confidence: opts.min_confidence,
            min_lift: opts.min_lift,
            max_antecedent: 2,
            max_rules: 50_000,
            prune_redundant: true,
        },
    )
    .rules
}

/// Line counts per product of the orders of customers `who` before `cut`.
fn product_lines(views: &[CustomerView], who: impl Iterator<Item = usize>, n: usize) -> Vec<f64> {
    let mut out = vec![0.0f64; n];
    for c in who {
        for (_, items) in &views[c].orders {
            for i in items {
                out[*i as usize] += 1.0;
            }
        }
    }
    out
}

/// Sums product counts into category counts.
fn by_category(h: &History, products: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0f64; h.category_names.len()];
    for (p, n) in products.iter().enumerate() {
        out[h.product_categories[p] as usize] += n;
    }
    out
}

/// A group's buying pattern: its share of each category, and each product's share within its
/// category (shrunk towards everyone's by `SHRINK` lines, so a small group does not get zeros).
struct Taste {
    category: Vec<f64>,
    within: Vec<f64>,
}

/// Lines of prior weight that pull a customer's category mix towards their segment's, and a
/// segment's product shares towards everyone's.
const SHRINK: f64 = 20.0;

/// Weight of association-rule evidence. A rule's lift is measured within one basket; the next
/// basket shares less with the last one, so the evidence counts half.
const RULE_WEIGHT: f64 = 0.5;

impl Taste {
    fn new(h: &History, lines: &[f64], everyone: Option<&Taste>) -> Taste {
        let cats = by_category(h, lines);
        let total: f64 = cats.iter().sum::<f64>().max(1e-9);
        let category = match everyone {
            Some(e) => cats
                .iter()
                .zip(&e.category)
                .map(|(n, prior)| (n + SHRINK * prior) / (total + SHRINK))
                .collect(),
            None => cats.iter().map(|n| n / total).collect(),
        };
        let within = (0..lines.len())
            .map(|p| {
                let k = h.product_categories[p] as usize;
                match everyone {
                    Some(e) => (lines[p] + SHRINK * e.within[p]) / (cats[k] + SHRINK),
                    None => lines[p] / cats[k].max(1e-9),
                }
            })
            .collect();
        Taste { category, within }
    }
}

/// Top-N products per customer (indexed like `h.customers`; empty for customers without orders
/// before the cut). `segments` maps a customer index to a segment name.
///
/// A product's score estimates how likely the customer is to buy it next: the customer's own
/// share of the product's category (their lines, shrunk towards their segment's mix by 20 lines)
/// × the product's share of that category in their segment (shrunk towards everyone's) ×
/// (1 + half the recency-weighted rule evidence from their recent baskets) × 1.5 if they bought it
/// before. Products they buy regularly are left out.
pub fn recommend(
    h: &History,
    cut: i32,
    rules: &[Rule],
    segments: &HashMap<u32, String>,
    opts: &RecOptions,
) -> Vec<Vec<Pick>> {
    let views = views(h, cut);
    let n_products = h.products.len();
    let mut index: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
    for (k, r) in rules.iter().enumerate() {
        index.entry(r.antecedent[0]).or_default().push(k);
    }
    // Tastes and recent popularity: per segment, and overall.
    let mut members: HashMap<&str, Vec<usize>> = HashMap::new();
    for (c, s) in segments {
        members.entry(s.as_str()).or_default().push(*c as usize);
    }
    for m in members.values_mut() {
        m.sort_unstable();
    }
    let everyone = Taste::new(h, &product_lines(&views, 0..views.len(), n_products), None);
    let by_segment: HashMap<&str, (Taste, FxHashMap<u32, f64>)> = members
        .iter()
        .map(|(s, m)| {
            let lines = product_lines(&views, m.iter().copied(), n_products);
            let recent = popular(&views, m.iter().copied(), cut)
                .into_iter()
                .collect();
            (*s, (Taste::new(h, &lines, Some(&everyone)), recent))
        })
        .collect();
    let overall: FxHashMap<u32, f64> = popular(&views, 0..views.len(), cut).into_iter().collect();
    let name = |p: u32| h.product_names[p as usize].as_str();
    (0..views.len())
        .into_par_iter()
        .map(|c| {
            let v = &views[c];
            if v.orders.is_empty() {
                return Vec::new();
            }
            let regular = regular(v, cut, opts.regular_orders);
            // Rule evidence per product: (Σ weight × confidence × (lift − 1), best contribution,
            // its rule).
            let mut evidence: FxHashMap<u32, (f64, f64, usize)> = FxHashMap::default();
            for (day, items) in v.orders.iter().rev() {
                if *day <= cut - opts.recent_days {
                    break;
                }
                let w = 0.5f64.powf((cut - day) as f64 / opts.half_life_days);
                let basket: FxHashSet<u32> = items.iter().copied().collect();
                let basket_groups: FxHashSet<u32> =
                    items.iter().map(|i| h.product_groups[*i as usize]).collect();
                for i in items {
                    for &k in index.get(i).map(|v| v.as_slice()).unwrap_or(&[]) {
                        let r = &rules[k];
                        // A consequent whose group the basket already has is covered by it.
                        if basket_groups.contains(&h.product_groups[r.consequent as usize])
                            || !r.antecedent.iter().all(|a| basket.contains(a))
                        {
                            continue;
                        }
                        let contrib = w * r.confidence() * (r.lift() - 1.0);
                        let e = evidence.entry(r.consequent).or_insert((0.0, 0.0, k));
                        e.0 += contrib;
                        if contrib > e.1 {
                            e.1 = contrib;
                            e.2 = k;
                        }
                    }
                }
            }
            // The customer's category mix, shrunk towards their segment's (or everyone's).
            let seg = segments
                .get(&(c as u32))
                .and_then(|s| by_segment.get(s.as_str()).map(|t| (s, t)));
            let (taste, recent, label) = match seg {
                Some((s, (t, r))) => (t, r, format!("customers in segment '{s}'")),
                None => (&everyone, &overall, "all customers".to_string()),
            };
            let mut mine = vec![0.0f64; h.category_names.len()];
            for (_, items) in &v.orders {
                for i in items {
                    mine[h.product_categories[*i as usize] as usize] += 1.0;
                }
            }
            let total: f64 = mine.iter().sum();
            let mix: Vec<f64> = mine
                .iter()
                .zip(&taste.category)
                .map(|(n, prior)| (n + SHRINK * prior) / (total + SHRINK))
                .collect();
            let before: FxHashSet<u32> = v.orders.iter().flat_map(|o| o.1.iter().copied()).collect();
            let mut scored: Vec<(u32, f64)> = (0..n_products as u32)
                .filter(|p| !regular.contains(p) && taste.within[*p as usize] > 0.0)
                .map(|p| {
                    let k = h.product_categories[p as usize] as usize;
                    let base = mix[k] * taste.within[p as usize];
                    let boost = RULE_WEIGHT * evidence.get(&p).map_or(0.0, |e| e.0);
                    let again = if before.contains(&p) { 1.0 + REBUY_BOOST } else { 1.0 };
                    (p, base * (1.0 + boost) * again)
                })
                .collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            scored.truncate(opts.top);
            scored
                .into_iter()
                .map(|(p, score)| {
                    let k = h.product_categories[p as usize] as usize;
                    let lately = recent.get(&p).copied().unwrap_or(0.0) * 100.0;
                    let category = &h.category_names[k];
                    let share = if total > 0.0 { mine[k] / total * 100.0 } else { 0.0 };
                    let reason = match evidence.get(&p) {
                        Some((_, _, k)) => {
                            let r = &rules[*k];
                            let ante = r
                                .antecedent
                                .iter()
                                .map(|a| name(*a))
                                .collect::<Vec<_>>()
                                .join(" and ");
                            format!(
                                "bought {ante}; {:.0}% of baskets with {ante} also have {}, {:.1}× the usual rate",
                                r.confidence() * 100.0,
                                name(p),
                                r.lift()
                            )
                        }
                        None if before.contains(&p) => format!(
                            "bought {} before; {category} is {share:.0}% of their purchases, and {lately:.0}% of {label} bought it in the last 90 days",
                            name(p),
                        ),
                        None => format!(
                            "{category} is {share:.0}% of their purchases; {lately:.0}% of {label} bought {} in the last 90 days",
                            name(p)
                        ),
                    };
                    Pick {
                        product: p,
                        score,
                        reason,
                    }
                })
                .collect()
        })
        .collect()
}

/// The popularity baseline: the products most customers bought in the 90 days before the cut,
/// minus what the customer buys regularly.
pub fn popularity_baseline(h: &History, cut: i32, opts: &RecOptions) -> Vec<Vec<u32>> {
    let views = views(h, cut);
    let overall = popular(&views, 0..views.len(), cut);
    views
        .iter()
        .map(|v| {
            if v.orders.is_empty() {
                return Vec::new();
            }
            let regular = regular(v, cut, opts.regular_orders);
            overall
                .iter()
                .map(|x| x.0)
                .filter(|p| !regular.contains(p))
                .take(opts.top)
                .collect()
        })
        .collect()
}

/// Hit rate and precision at N of a recommender against a holdout.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Eval {
    /// Customers evaluated (bought before and during the holdout).
    pub customers: usize,
    /// Share of them with at least one recommended product bought in the holdout.
    pub hit_rate: f64,
    /// Mean share of the N recommendations bought in the holdout.
    pub precision: f64,
}

/// Holds out the `holdout_days` days after `cut` (an epoch day): recommends from the history up
/// to the cut, and scores against the products each customer bought in the holdout; the same for
/// the popularity baseline. Returns (recommender, baseline).
pub fn evaluate(
    h: &History,
    cut: i32,
    holdout_days: i32,
    segments: &HashMap<u32, String>,
    opts: &RecOptions,
) -> Result<(Eval, Eval)> {
    let mut truth: Vec<FxHashSet<u32>> = vec![FxHashSet::default(); h.customers.len()];
    let mut before = vec![false; h.customers.len()];
    for l in &h.lines {
        if l.day > cut + holdout_days {
            continue;
        }
        if l.day > cut {
            truth[l.customer as usize].insert(l.product);
        } else {
            before[l.customer as usize] = true;
        }
    }
    let rules = mine_rules(h, cut, opts);
    let ours: Vec<Vec<u32>> = recommend(h, cut, &rules, segments, opts)
        .into_iter()
        .map(|p| p.into_iter().map(|x| x.product).collect())
        .collect();
    let base = popularity_baseline(h, cut, opts);
    let score = |recs: &[Vec<u32>]| {
        let (mut n, mut hits, mut prec) = (0usize, 0usize, 0.0);
        for c in 0..h.customers.len() {
            if !before[c] || truth[c].is_empty() {
                continue;
            }
            n += 1;
            let k = recs[c].iter().filter(|p| truth[c].contains(p)).count();
            if k > 0 {
                hits += 1;
            }
            prec += k as f64 / opts.top as f64;
        }
        Eval {
            customers: n,
            hit_rate: hits as f64 / n.max(1) as f64,
            precision: prec / n.max(1) as f64,
        }
    };
    let (a, b) = (score(&ours), score(&base));
    if a.customers == 0 {
        return Err(Error::usage(format!(
            "no customer bought both before and in the {holdout_days} days after {}; nothing to evaluate",
            from_epoch_day(cut)
        )));
    }
    Ok((a, b))
}

impl Eval {
    /// Several holdouts pooled: every (customer, holdout) pair counts once.
    pub fn pooled(folds: &[Eval]) -> Eval {
        let n: usize = folds.iter().map(|e| e.customers).sum();
        let w = |f: fn(&Eval) -> f64| {
            folds.iter().map(|e| f(e) * e.customers as f64).sum::<f64>() / n.max(1) as f64
        };
        Eval {
            customers: n,
            hit_rate: w(|e| e.hit_rate),
            precision: w(|e| e.precision),
        }
    }
}

/// A customer's next-best action and what it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// retention_offer, cross_sell, win_back or no_action.
    pub action: &'static str,
    /// Churn probability, when scored.
    pub churn_probability: Option<f64>,
    /// 12-month CLV, when valued.
    pub clv_12m: Option<f64>,
    /// Segment, when segmented.
    pub segment: Option<String>,
    /// Days since the last purchase at the cut.
    pub recency_days: i32,
    /// Whether the customer is high-value (top quarter by CLV, else by 12-month spend).
    pub high_value: bool,
}

/// The rule for actions: active (a purchase in the last 90 days) and at risk (churn probability ≥
/// 0.5) and high-value → retention offer; active otherwise → cross-sell; lapsed (no purchase for
/// 90 days or more) and high-value → win-back; lapsed and not high-value → no action.
pub fn action(recency_days: i32, churn: Option<f64>, high_value: bool) -> &'static str {
    if recency_days < 90 {
        if high_value && churn.is_some_and(|p| p >= 0.5) {
            "retention_offer"
        } else {
            "cross_sell"
        }
    } else if high_value {
        "win_back"
    } else {
        "no_action"
    }
}

/// Actions for every customer with a purchase before the cut.
pub fn actions(
    h: &History,
    cut: i32,
    churn: &HashMap<String, f64>,
    clv: &HashMap<String, f64>,
    segments: &HashMap<u32, String>,
) -> Vec<Option<Action>> {
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
    (0..h.customers.len())
        .map(|c| {
            let v = value[c]?;
            let id = &h.customers[c];
            let recency = cut - last[c];
            let p = churn.get(id).copied();
            let high = v >= q75 && v > 0.0;
            Some(Action {
                action: action(recency, p, high),
                churn_probability: p,
                clv_12m: clv.get(id).copied(),
                segment: segments.get(&(c as u32)).cloned(),
                recency_days: recency,
                high_value: high,
            })
        })
        .collect()
}

/// The `recommendations` rows: for each customer with an action other than no_action, one row
/// per recommended product (rank 1..N); for no_action customers one row with rank 0 and no
/// product.
pub fn to_batch(
    h: &History,
    picks: &[Vec<Pick>],
    actions: &[Option<Action>],
    generated_at: &str,
    run_id: &str,
) -> Result<RecordBatch> {
    let (
        mut cid,
        mut rank,
        mut pid,
        mut pname,
        mut score,
        mut reason,
        mut act,
        mut churn,
        mut clv,
        mut seg,
    ) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    for (c, a) in actions.iter().enumerate() {
        let Some(a) = a else { continue };
        let mut push = |r: i64, p: Option<&Pick>| {
            cid.push(h.customers[c].clone());
            rank.push(r);
            pid.push(p.map(|p| h.products[p.product as usize].clone()));
            pname.push(p.map(|p| h.product_names[p.product as usize].clone()));
            score.push(p.map(|p| p.score));
            reason.push(match p {
                Some(p) => p.reason.clone(),
                None => format!(
                    "no action: no purchase for {} days and not among the most valuable customers",
                    a.recency_days
                ),
            });
            act.push(a.action);
            churn.push(a.churn_probability);
            clv.push(a.clv_12m);
            seg.push(a.segment.clone());
        };
        if a.action == "no_action" || picks[c].is_empty() {
            push(0, None);
        } else {
            for (k, p) in picks[c].iter().enumerate() {
                push(k as i64 + 1, Some(p));
            }
        }
    }
    let n = cid.len();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(cid)),
        Arc::new(Int64Array::from(rank)),
        Arc::new(StringArray::from(pid)),
        Arc::new(StringArray::from(pname)),
        Arc::new(Float64Array::from(score)),
        Arc::new(StringArray::from(reason)),
        Arc::new(StringArray::from(act)),
        Arc::new(Float64Array::from(churn)),
        Arc::new(Float64Array::from(clv)),
        Arc::new(StringArray::from(seg)),
        Arc::new(StringArray::from(vec![generated_at; n])),
        Arc::new(StringArray::from(vec![run_id; n])),
    ];
    Ok(RecordBatch::try_new(
        crate::mart::schema::schema("recommendations"),
        cols,
    )?)
}

/// `customer_id → value` of a float column of a mart table, empty when the table is missing.
pub async fn lookup_f64(
    catalog: &Catalog,
    table: &str,
    column: &str,
) -> Result<HashMap<String, f64>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Float64Type};
    let mut out = HashMap::new();
    if !catalog.tables.iter().any(|t| t.name == table) {
        return Ok(out);
    }
    let batches = catalog
        .ctx
        .sql(&format!("SELECT customer_id, {column} FROM {table}"))
        .await?
        .collect()
        .await?;
    for b in &batches {
        let id = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let v = arrow::compute::cast(b.column(1), &DataType::Float64)?;
        let (id, v) = (id.as_string::<i32>(), v.as_primitive::<Float64Type>());
        for i in 0..b.num_rows() {
            if !v.is_null(i) {
                out.insert(id.value(i).to_string(), v.value(i));
            }
        }
    }
    Ok(out)
}

/// Segment (cluster name) by customer index, from `customer_segments` when present.
pub async fn segments(catalog: &Catalog, h: &History) -> Result<HashMap<u32, String>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::DataType;
    let mut out = HashMap::new();
    if !catalog.tables.iter().any(|t| t.name == "customer_segments") {
        return Ok(out);
    }
    let index: HashMap<&str, u32> = h
        .customers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u32))
        .collect();
    let batches = catalog
        .ctx
        .sql("SELECT customer_id, cluster_name FROM customer_segments")
        .await?
        .collect()
        .await?;
    for b in &batches {
        let id = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let s = arrow::compute::cast(b.column(1), &DataType::Utf8)?;
        let (id, s) = (id.as_string::<i32>(), s.as_string::<i32>());
        for i in 0..b.num_rows() {
            if let Some(c) = index.get(id.value(i))
                && !s.is_null(i)
            {
                out.insert(*c, s.value(i).to_string());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_best_actions() {
        assert_eq!(action(10, Some(0.7), true), "retention_offer");
        assert_eq!(action(10, Some(0.7), false), "cross_sell");
        assert_eq!(action(10, None, true), "cross_sell");
        assert_eq!(action(10, Some(0.1), true), "cross_sell");
        assert_eq!(action(200, Some(0.9), true), "win_back");
        assert_eq!(action(200, None, false), "no_action");
        assert_eq!(action(500, None, false), "no_action");
    }

    #[test]
    fn rules_drive_recommendations_and_regular_products_are_skipped() {
        // Products: 0 razor, 1 diapers, 2 milk, 3 bread. Razor baskets mostly have diapers.
        let mut h = History {
            customers: (0..40).map(|i| format!("c{i}")).collect(),
            products: vec!["P0".into(), "P1".into(), "P2".into(), "P3".into()],
            product_names: vec![
                "Razor".into(),
                "Diapers".into(),
                "Milk".into(),
                "Bread".into(),
            ],
            product_groups: vec![0, 1, 2, 3],
            product_categories: vec![0, 1, 2, 2],
            category_names: vec!["Grooming".into(), "Baby".into(), "Grocery".into()],
            lines: Vec::new(),
        };
        let mut order = 0;
        let mut buy = |h: &mut History, c: u32, day: i32, items: &[u32]| {
            for p in items {
                h.lines.push(Line {
                    customer: c,
                    order,
                    day,
                    product: *p,
                });
            }
            order += 1;
        };
        for c in 0..30 {
            buy(&mut h, c, 150, if c % 3 == 0 { &[0, 2] } else { &[0, 1] });
            buy(&mut h, c, 160, &[2, 3]);
        }
        // Customer 35 bought a razor alone lately, milk twice (regular).
        buy(&mut h, 35, 190, &[0]);
        buy(&mut h, 35, 150, &[2]);
        buy(&mut h, 35, 160, &[2]);
        let opts = RecOptions {
            min_support: 2.0,
            min_confidence: 0.1,
            top: 3,
            ..Default::default()
        };
        let rules = mine_rules(&h, 200, &opts);
        assert!(
            rules
                .iter()
                .any(|r| r.antecedent == [0] && r.consequent == 1)
        );
        let recs = recommend(&h, 200, &rules, &HashMap::new(), &opts);
        let r = &recs[35];
        let diapers = r
            .iter()
            .find(|p| p.product == 1)
            .expect("diapers recommended");
        assert!(
            diapers.reason.starts_with("bought Razor; ")
                && diapers.reason.contains("also have Diapers"),
            "{}",
            diapers.reason
        );
        // Without the rule, diapers score their base rate alone.
        let plain = recommend(&h, 200, &[], &HashMap::new(), &opts);
        let plain = plain[35].iter().find(|p| p.product == 1).unwrap();
        assert!(
            diapers.score > 1.2 * plain.score && !plain.reason.contains("baskets with"),
            "{r:?} vs {plain:?}"
        );
        assert!(
            r.iter().all(|p| p.product != 2),
            "milk is bought regularly: {r:?}"
        );
        assert!(recs[36].is_empty());
    }
}
