//! The offline evaluation: rolling holdouts at the end of the history, each predicted from the
//! history before it, our two lists against a ladder of simple baselines.

use rayon::prelude::*;
use rustc_hash::FxHashSet;

use super::history::{CustomerOrders, History};
use super::{Kind, RecOptions};
use crate::error::{Error, Result};
use crate::util::dates::from_epoch_day;

/// Companions per product kept by the co-occurrence baseline.
pub const COMPANIONS: usize = 30;

/// A recommender of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Recommender {
    /// Products in the most orders before the cut (for cross-sell: of those the customer has not
    /// bought).
    GlobalPopularity,
    /// The customer's products by the number of their orders containing each, ties by global
    /// popularity, filled with global popularity.
    PersonalPopularity,
    /// For each product bought, its 30 most frequent companions in the same orders weighted by
    /// count ÷ the bought product's orders, summed; products bought excluded; filled with
    /// popularity.
    CoOccurrence,
    /// crm-mart: the replenish list topped up with the cross-sell list, or the cross-sell list.
    CrmMart,
}

impl Recommender {
    /// Every recommender, baselines first.
    pub const ALL: [Recommender; 4] = [
        Recommender::GlobalPopularity,
        Recommender::PersonalPopularity,
        Recommender::CoOccurrence,
        Recommender::CrmMart,
    ];

    /// Its name in the evaluation table.
    pub fn label(self, kind: Kind) -> &'static str {
        match (self, kind) {
            (Recommender::GlobalPopularity, Kind::CrossSell) => {
                "global popularity (products not bought)"
            }
            (Recommender::GlobalPopularity, _) => "global popularity",
            (Recommender::PersonalPopularity, _) => "personal popularity",
            (Recommender::CoOccurrence, _) => "item co-occurrence",
            (Recommender::CrmMart, Kind::CrossSell) => "crm-mart cross_sell",
            (Recommender::CrmMart, _) => "crm-mart replenish (+ cross_sell to fill)",
        }
    }
}

/// Hit rate and precision at N against a holdout.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Eval {
    /// Customers evaluated.
    pub customers: usize,
    /// Share of them with at least one recommended product bought in the holdout.
    pub hit_rate: f64,
    /// Mean share of the N recommendations bought in the holdout.
    pub precision: f64,
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

/// Hit rate and precision at `top` of `lists` against `truth` (products bought in the holdout),
/// over the customers with a purchase before the cut and a non-empty truth. For
/// [`Kind::CrossSell`] the truth is only what is new to the customer.
pub fn score(
    lists: &[Vec<u32>],
    truth: &[FxHashSet<u32>],
    before: &[CustomerOrders],
    kind: Kind,
    top: usize,
) -> Eval {
    let (mut n, mut hits, mut prec) = (0usize, 0usize, 0.0);
    for c in 0..lists.len() {
        if before[c].orders.is_empty() {
            continue;
        }
        let relevant: FxHashSet<u32> = match kind {
            Kind::CrossSell => {
                let owned: FxHashSet<u32> = before[c].products().into_iter().collect();
                truth[c]
                    .iter()
                    .filter(|p| !owned.contains(p))
                    .copied()
                    .collect()
            }
            _ => truth[c].clone(),
        };
        if relevant.is_empty() {
            continue;
        }
        n += 1;
        let k = lists[c]
            .iter()
            .take(top)
            .filter(|p| relevant.contains(p))
            .count();
        hits += (k > 0) as usize;
        prec += k as f64 / top as f64;
    }
    Eval {
        customers: n,
        hit_rate: hits as f64 / n.max(1) as f64,
        precision: prec / n.max(1) as f64,
    }
}

/// Products by the number of orders before the cut containing them, most first (ties: lower
/// index); products never ordered are left out.
pub fn global_popularity(views: &[CustomerOrders], n_products: usize) -> Vec<u32> {
    let mut n = vec![0u32; n_products];
    for v in views {
        for (_, items) in &v.orders {
            for p in items {
                n[*p as usize] += 1;
            }
        }
    }
    let mut order: Vec<u32> = (0..n_products as u32)
        .filter(|p| n[*p as usize] > 0)
        .collect();
    order.sort_by(|a, b| n[*b as usize].cmp(&n[*a as usize]).then(a.cmp(b)));
    order
}

/// Fills `list` up to `top` from `fill`, skipping products in `skip` and already listed.
fn fill(list: &mut Vec<u32>, fill: &[u32], skip: &FxHashSet<u32>, top: usize) {
    let mut have: FxHashSet<u32> = list.iter().copied().collect();
    for p in fill {
        if list.len() >= top {
            break;
        }
        if !skip.contains(p) && have.insert(*p) {
            list.push(*p);
        }
    }
}

/// The personal-popularity baseline for one customer.
pub fn personal_popularity(
    v: &CustomerOrders,
    popular: &[u32],
    rank: &[u32],
    top: usize,
) -> Vec<u32> {
    let mut n: rustc_hash::FxHashMap<u32, u32> = Default::default();
    for (_, items) in &v.orders {
        for p in items {
            *n.entry(*p).or_default() += 1;
        }
    }
    let mut list: Vec<u32> = n.keys().copied().collect();
    list.sort_by(|a, b| {
        n[b].cmp(&n[a])
            .then(rank[*a as usize].cmp(&rank[*b as usize]))
            .then(a.cmp(b))
    });
    list.truncate(top);
    fill(&mut list, popular, &FxHashSet::default(), top);
    list
}

/// Each product's `COMPANIONS` most frequent companions in the same orders, with weight count ÷
/// the product's orders (ties: more popular companion first).
pub fn companions(
    views: &[CustomerOrders],
    n_products: usize,
    rank: &[u32],
) -> Vec<Vec<(u32, f64)>> {
    let orders: Vec<&Vec<u32>> = views
        .iter()
        .flat_map(|v| v.orders.iter().map(|o| &o.1))
        .collect();
    let mut containing: Vec<Vec<u32>> = vec![Vec::new(); n_products];
    for (k, items) in orders.iter().enumerate() {
        for p in items.iter() {
            containing[*p as usize].push(k as u32);
        }
    }
    (0..n_products)
        .into_par_iter()
        .map_init(
            || vec![0u32; n_products],
            |count, a| {
                let mut touched = Vec::new();
                for &o in &containing[a] {
                    for &b in orders[o as usize] {
                        if b as usize != a {
                            if count[b as usize] == 0 {
                                touched.push(b);
                            }
                            count[b as usize] += 1;
                        }
                    }
                }
                let total = containing[a].len().max(1) as f64;
                touched.sort_by(|x, y| {
                    count[*y as usize]
                        .cmp(&count[*x as usize])
                        .then(rank[*x as usize].cmp(&rank[*y as usize]))
                        .then(x.cmp(y))
                });
                let out = touched
                    .iter()
                    .take(COMPANIONS)
                    .map(|b| (*b, count[*b as usize] as f64 / total))
                    .collect();
                for b in touched {
                    count[b as usize] = 0;
                }
                out
            },
        )
        .collect()
}

/// The co-occurrence baseline for one customer.
pub fn co_occurrence(
    v: &CustomerOrders,
    companions: &[Vec<(u32, f64)>],
    popular: &[u32],
    rank: &[u32],
    top: usize,
) -> Vec<u32> {
    let owned: FxHashSet<u32> = v.products().into_iter().collect();
    let mut score: rustc_hash::FxHashMap<u32, f64> = Default::default();
    for a in &owned {
        for (b, w) in &companions[*a as usize] {
            if !owned.contains(b) {
                *score.entry(*b).or_default() += w;
            }
        }
    }
    let mut list: Vec<u32> = score.keys().copied().collect();
    list.sort_by(|a, b| {
        score[b]
            .total_cmp(&score[a])
            .then(rank[*a as usize].cmp(&rank[*b as usize]))
            .then(a.cmp(b))
    });
    list.truncate(top);
    fill(&mut list, popular, &owned, top);
    list
}

/// One holdout: (kind, recommender, result) for every pair.
#[derive(Debug, Clone)]
pub struct Fold {
    /// The cut (epoch day); the holdout is the days after it.
    pub cut: i32,
    /// Results.
    pub results: Vec<(Kind, Recommender, Eval)>,
}

/// Predicts the `holdout_days` after `cut` from the history up to it, with crm-mart and each
/// baseline, and scores every list for both kinds.
pub fn evaluate(h: &History, cut: i32, holdout_days: i32, opts: &RecOptions) -> Result<Fold> {
    let views = h.orders_until(cut);
    let truth = h.bought_after(cut, holdout_days);
    let n = h.products.len();
    let top = opts.top;
    let popular = global_popularity(&views, n);
    let mut rank = vec![u32::MAX; n];
    for (i, p) in popular.iter().enumerate() {
        rank[*p as usize] = i as u32;
    }
    let comp = companions(&views, n, &rank);
    let picks = super::recommend(
        h,
        cut,
        &RecOptions {
            replenish: super::replenish::ReplenishParams {
                window_days: holdout_days,
                ..opts.replenish
            },
            ..*opts
        },
        false,
    );
    let mut results = Vec::new();
    for kind in [Kind::Replenish, Kind::CrossSell] {
        for r in Recommender::ALL {
            let lists: Vec<Vec<u32>> = views
                .par_iter()
                .enumerate()
                .map(|(c, v)| {
                    if v.orders.is_empty() {
                        return Vec::new();
                    }
                    match r {
                        Recommender::GlobalPopularity => {
                            let skip: FxHashSet<u32> = if kind == Kind::CrossSell {
                                v.products().into_iter().collect()
                            } else {
                                FxHashSet::default()
                            };
                            let mut l = Vec::new();
                            fill(&mut l, &popular, &skip, top);
                            l
                        }
                        Recommender::PersonalPopularity => {
                            personal_popularity(v, &popular, &rank, top)
                        }
                        Recommender::CoOccurrence => co_occurrence(v, &comp, &popular, &rank, top),
                        Recommender::CrmMart => {
                            let cross: Vec<u32> =
                                picks.cross_sell[c].iter().map(|p| p.product).collect();
                            if kind == Kind::CrossSell {
                                cross
                            } else {
                                let mut l: Vec<u32> =
                                    picks.replenish[c].iter().map(|p| p.product).collect();
                                fill(&mut l, &cross, &FxHashSet::default(), top);
                                l
                            }
                        }
                    }
                })
                .collect();
            results.push((kind, r, score(&lists, &truth, &views, kind, top)));
        }
    }
    if results.iter().all(|r| r.2.customers == 0) {
        return Err(Error::usage(format!(
            "no customer bought both before and in the {holdout_days} days after {}; nothing to evaluate",
            from_epoch_day(cut)
        )));
    }
    Ok(Fold { cut, results })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_on_a_hand_made_holdout() {
        let before = vec![
            CustomerOrders::from_baskets(&[&[0, 1]]),
            CustomerOrders::from_baskets(&[&[2]]),
            CustomerOrders::from_baskets(&[]),
            CustomerOrders::from_baskets(&[&[3]]),
        ];
        let truth: Vec<FxHashSet<u32>> = vec![
            [0, 5].into_iter().collect(),
            [7].into_iter().collect(),
            [1].into_iter().collect(), // no history: not evaluated
            [3].into_iter().collect(), // only a re-buy: not a cross-sell customer
        ];
        let lists = vec![vec![0, 5], vec![1, 2], vec![1], vec![3, 4]];
        let r = score(&lists, &truth, &before, Kind::Replenish, 2);
        assert_eq!(r.customers, 3);
        assert!((r.hit_rate - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.precision - (1.0 + 0.0 + 0.5) / 3.0).abs() < 1e-12);
        let x = score(&lists, &truth, &before, Kind::CrossSell, 2);
        assert_eq!(x.customers, 2, "customers 0 and 1 bought something new");
        assert!((x.hit_rate - 0.5).abs() < 1e-12 && (x.precision - 0.25).abs() < 1e-12);
        let p = Eval::pooled(&[r, x]);
        assert_eq!(p.customers, 5);
        assert!((p.hit_rate - (2.0 + 1.0) / 5.0).abs() < 1e-12);
    }

    #[test]
    fn the_baselines_on_a_hand_made_history() {
        // Orders: {0,1}, {0,1}, {0,2}, {3}; product 0 is in 3 orders, 1 in 2, 2 and 3 in 1.
        let views = vec![
            CustomerOrders::from_baskets(&[&[0, 1], &[0, 1]]),
            CustomerOrders::from_baskets(&[&[0, 2]]),
            CustomerOrders::from_baskets(&[&[3]]),
        ];
        let popular = global_popularity(&views, 5);
        assert_eq!(popular, vec![0, 1, 2, 3], "4 was never ordered");
        let mut rank = vec![u32::MAX; 5];
        for (i, p) in popular.iter().enumerate() {
            rank[*p as usize] = i as u32;
        }
        // Customer 1 bought 0 and 2 once each: 0 first by global popularity, then fill.
        assert_eq!(
            personal_popularity(&views[1], &popular, &rank, 3),
            vec![0, 2, 1]
        );
        let comp = companions(&views, 5, &rank);
        // Of the 3 orders with 0, 2 have 1 and 1 has 2.
        assert_eq!(comp[0], vec![(1, 2.0 / 3.0), (2, 1.0 / 3.0)]);
        assert_eq!(comp[3], vec![]);
        // Customer 1 (owns 0, 2): 1 scores 2/3 as a companion of 0 (2's companion is 0, owned),
        // so 1 comes first; the rest is popularity minus what they own.
        assert_eq!(
            co_occurrence(&views[1], &comp, &popular, &rank, 2),
            vec![1, 3]
        );
        assert_eq!(
            co_occurrence(&views[2], &comp, &popular, &rank, 2),
            vec![0, 1]
        );
    }
}
