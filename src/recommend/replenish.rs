//! Replenish: which of the products a customer already bought they will buy again soon. A
//! logistic model of "bought again in the next window" over the timing of the customer's own
//! purchases of the product (how often, how regularly, how long ago against their usual
//! interval) and the product's current demand, trained on the windows just before the cut.

use rayon::prelude::*;

use super::history::{CustomerOrders, History};
use crate::ml::optim;

/// Parameters of the repurchase model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplenishParams {
    /// The window predicted, in days (the evaluation's holdout).
    pub window_days: i32,
    /// Windows before the cut the model learns from (they overlap when the step is shorter than
    /// the window).
    pub training_windows: usize,
    /// Days between the starts of successive training windows.
    pub training_step_days: i32,
    /// Ridge penalty on the standardised weights.
    pub l2: f64,
}

impl ReplenishParams {
    /// The defaults (`recommend` and the nightly stage).
    pub const DEFAULT: Self = ReplenishParams {
        window_days: 30,
        training_windows: 9,
        training_step_days: 10,
        l2: 100.0,
    };
}

impl Default for ReplenishParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Fewer positive examples than this and the model falls back to order counts.
const MIN_POSITIVES: usize = 20;

/// Customers per training window at most (every k-th of those who bought in it): bounds the
/// model's cost at any number of customers.
const MAX_TRAINING_CUSTOMERS: usize = 5_000;

/// Number of features.
const FEATURES: usize = 20;

/// Decay constants (days) of the time-decayed purchase counts.
const DECAYS: [f64; 4] = [30.0, 90.0, 180.0, 365.0];

/// Product demand at a cut.
struct Demand {
    /// ln((orders with the product in the last window + 1) / (orders in it + 1)).
    recent: Vec<f64>,
    /// ln(orders with the product + 1).
    all: Vec<f64>,
    /// Of the customers who bought the product before the last window, the share (smoothed) who
    /// bought it again in it.
    repeat: Vec<f64>,
}

/// One customer's orders (day, products), oldest first.
type Orders<'a> = &'a [(i32, Vec<u32>)];

fn demand(views: &[Orders], cut: i32, window: i32, n_products: usize) -> Demand {
    let mut recent = vec![0u32; n_products];
    let mut all = vec![0u32; n_products];
    let mut before = vec![0u32; n_products];
    let mut again = vec![0u32; n_products];
    let mut recent_orders = 0u32;
    let mut early: Vec<bool> = vec![false; n_products];
    let mut late: Vec<bool> = vec![false; n_products];
    for v in views {
        let mut touched = Vec::new();
        for (day, items) in v.iter() {
            let is_recent = *day > cut - window;
            recent_orders += is_recent as u32;
            for &p in items {
                let p = p as usize;
                all[p] += 1;
                if is_recent {
                    recent[p] += 1;
                    late[p] = true;
                } else {
                    early[p] = true;
                }
                touched.push(p);
            }
        }
        for p in touched {
            if early[p] {
                before[p] += 1;
                again[p] += late[p] as u32;
            }
            early[p] = false;
            late[p] = false;
        }
    }
    let n = recent_orders as f64 + 1.0;
    Demand {
        recent: recent
            .iter()
            .map(|r| ((*r as f64 + 1.0) / n).ln())
            .collect(),
        all: all.iter().map(|a| (*a as f64 + 1.0).ln()).collect(),
        repeat: again
            .iter()
            .zip(&before)
            .map(|(a, b)| (*a as f64 + 0.5) / (*b as f64 + 5.0))
            .collect(),
    }
}

/// What the customer's history says of one product they bought.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Orders containing it.
    pub orders: u32,
    /// The customer's orders.
    pub customer_orders: u32,
    /// Days since they last bought it.
    pub age: i32,
    /// Mean days between their purchases of it (`None` when bought once).
    pub interval: Option<f64>,
}

/// Per product the customer bought: its timing and features.
fn customer_features(
    orders: Orders,
    cut: i32,
    window: i32,
    d: &Demand,
) -> Vec<(u32, Timing, [f64; FEATURES])> {
    let n = orders.len();
    if n == 0 {
        return Vec::new();
    }
    let (first_day, last_day) = (orders[0].0, orders[n - 1].0);
    let gap = if n > 1 {
        (last_day - first_day) as f64 / (n - 1) as f64
    } else {
        90.0
    };
    // product → (orders, first, last, orders in the last 90 days, decayed counts)
    let mut per: rustc_hash::FxHashMap<u32, (u32, i32, i32, u32, [f64; 4])> = Default::default();
    for (day, items) in orders {
        let age = (cut - day) as f64;
        let w = DECAYS.map(|t| (-age / t).exp());
        for &p in items {
            let e = per.entry(p).or_insert((0, *day, *day, 0, [0.0; 4]));
            e.0 += 1;
            e.1 = e.1.min(*day);
            e.2 = e.2.max(*day);
            e.3 += (cut - day < 90) as u32;
            for (a, b) in e.4.iter_mut().zip(w) {
                *a += b;
            }
        }
    }
    let last_order = &orders[n - 1].1;
    let mut out: Vec<(u32, Timing, [f64; FEATURES])> = per
        .into_iter()
        .map(|(p, (k, first, last, k90, dk))| {
            let pi = p as usize;
            let age = (cut - last) as f64;
            let interval = (k > 1).then(|| (last - first) as f64 / (k - 1) as f64);
            let iv = interval.unwrap_or(365.0).max(1.0);
            let rp = d.recent[pi];
            let mut x = [0.0f64; FEATURES];
            x[0] = (k as f64).ln_1p();
            x[1] = k as f64 / n as f64;
            x[2] = age.ln_1p();
            x[3] = rp;
            x[4] = d.all[pi];
            x[5] = d.repeat[pi];
            x[6] = (age / iv).ln_1p();
            x[7] = iv.ln_1p();
            x[8] = (age < window as f64) as u8 as f64;
            x[9] = last_order.binary_search(&p).is_ok() as u8 as f64;
            x[10] = (k90 as f64).ln_1p();
            x[11] = (age / gap.max(1.0)).ln_1p();
            for t in 0..4 {
                x[12 + t] = dk[t].ln_1p();
                x[16 + t] = dk[t].ln_1p() * rp;
            }
            let timing = Timing {
                orders: k,
                customer_orders: n as u32,
                age: cut - last,
                interval,
            };
            (p, timing, x)
        })
        .collect();
    out.sort_by_key(|x| x.0);
    out
}

/// The fitted repurchase model.
#[derive(Debug, Clone)]
pub struct RepurchaseModel {
    /// Feature means and standard deviations of the training rows.
    mean: Vec<f64>,
    sd: Vec<f64>,
    /// Weights of the standardised features, then the intercept; `None` when there was too
    /// little to learn from and products are ranked by order counts.
    weights: Option<Vec<f64>>,
    /// Training rows and their positives.
    pub rows: usize,
    pub positives: usize,
}

/// One replenish pick.
#[derive(Debug, Clone, PartialEq)]
pub struct Repurchase {
    /// Product index.
    pub product: u32,
    /// Probability of buying it in the window, for a customer who buys in it (or the order count
    /// when the model fell back to counts).
    pub score: f64,
    /// The purchase timing behind it.
    pub timing: Timing,
}

impl RepurchaseModel {
    /// Learns from the `training_windows` windows before `cut`: each one's history before it
    /// against what the customers who bought in it bought again.
    pub fn fit(h: &History, cut: i32, params: &ReplenishParams) -> RepurchaseModel {
        let w = params.window_days;
        let mut x: Vec<[f64; FEATURES]> = Vec::new();
        let mut y: Vec<bool> = Vec::new();
        // Every window is a prefix of each customer's orders up to the cut.
        let views = h.orders_until(cut);
        for j in 0..params.training_windows as i32 {
            // The latest window ends at the cut; each earlier one starts `training_step_days`
            // before the next.
            let t = cut - w - j * params.training_step_days;
            let before: Vec<Orders> = views
                .iter()
                .map(|v| &v.orders[..v.orders.partition_point(|o| o.0 <= t)])
                .collect();
            let d = demand(&before, t, w, h.products.len());
            // Customers who bought before and in the window; at most MAX_TRAINING_CUSTOMERS of
            // them, every k-th.
            let active: Vec<usize> = (0..views.len())
                .filter(|c| {
                    let o = &views[*c].orders;
                    !before[*c].is_empty() && o.get(before[*c].len()).is_some_and(|x| x.0 <= t + w)
                })
                .collect();
            let stride = active.len().div_ceil(MAX_TRAINING_CUSTOMERS).max(1);
            let rows: Vec<Vec<([f64; FEATURES], bool)>> = active
                .par_iter()
                .step_by(stride)
                .map(|&c| {
                    let o = &views[c].orders;
                    let start = before[c].len();
                    let end = o.partition_point(|x| x.0 <= t + w);
                    let mut bought: Vec<u32> = o[start..end]
                        .iter()
                        .flat_map(|x| x.1.iter().copied())
                        .collect();
                    bought.sort_unstable();
                    customer_features(before[c], t, w, &d)
                        .into_iter()
                        .map(|(p, _, f)| (f, bought.binary_search(&p).is_ok()))
                        .collect()
                })
                .collect();
            for (f, label) in rows.into_iter().flatten() {
                x.push(f);
                y.push(label);
            }
        }
        let positives = y.iter().filter(|b| **b).count();
        let n = x.len();
        let mut mean = vec![0.0; FEATURES];
        let mut sd = vec![1.0; FEATURES];
        if positives < MIN_POSITIVES || positives == n {
            return RepurchaseModel {
                mean,
                sd,
                weights: None,
                rows: n,
                positives,
            };
        }
        for f in 0..FEATURES {
            let m = x.iter().map(|r| r[f]).sum::<f64>() / n as f64;
            let v = x.iter().map(|r| (r[f] - m).powi(2)).sum::<f64>() / n as f64;
            mean[f] = m;
            sd[f] = if v > 1e-18 { v.sqrt() } else { 1.0 };
        }
        for r in &mut x {
            for f in 0..FEATURES {
                r[f] = (r[f] - mean[f]) / sd[f];
            }
        }
        let weights = fit_logistic(&x, &y, params.l2);
        RepurchaseModel {
            mean,
            sd,
            weights: Some(weights),
            rows: n,
            positives,
        }
    }

    /// Whether the model learned weights (else it ranks by order counts).
    pub fn is_trained(&self) -> bool {
        self.weights.is_some()
    }

    /// Every product each customer bought before `cut`, most likely to be bought again first.
    pub fn score(
        &self,
        h: &History,
        views: &[CustomerOrders],
        cut: i32,
        window: i32,
        top: usize,
    ) -> Vec<Vec<Repurchase>> {
        let slices: Vec<Orders> = views.iter().map(|v| v.orders.as_slice()).collect();
        let d = demand(&slices, cut, window, h.products.len());
        views
            .par_iter()
            .map(|v| {
                let mut out: Vec<Repurchase> = customer_features(&v.orders, cut, window, &d)
                    .into_iter()
                    .map(|(p, timing, x)| {
                        let score = match &self.weights {
                            Some(w) => {
                                let s: f64 = (0..FEATURES)
                                    .map(|f| w[f] * (x[f] - self.mean[f]) / self.sd[f])
                                    .sum::<f64>()
                                    + w[FEATURES];
                                1.0 / (1.0 + (-s).exp())
                            }
                            None => timing.orders as f64,
                        };
                        Repurchase {
                            product: p,
                            score,
                            timing,
                        }
                    })
                    .collect();
                // Ties: the product more customers ordered lately, then the lower index.
                out.sort_by(|a, b| {
                    b.score
                        .total_cmp(&a.score)
                        .then(d.recent[b.product as usize].total_cmp(&d.recent[a.product as usize]))
                        .then(a.product.cmp(&b.product))
                });
                diversify(v, out, top)
            })
            .collect()
    }
}

/// Candidates the diversified list is chosen from, per customer.
const DIVERSIFY_POOL: usize = 40;

/// How much a product counts less for each of its orders that already had a listed product: a
/// product the customer always buys together with one already listed adds little chance that the
/// list has something they buy.
const REDUNDANCY: f64 = 0.4;

/// Greedy list of `top` from the best-scored candidates: each next product maximises its
/// probability × (1 − 0.4 × the largest share of its orders that also had an already listed
/// product).
fn diversify(v: &CustomerOrders, ranked: Vec<Repurchase>, top: usize) -> Vec<Repurchase> {
    let pool: Vec<Repurchase> = ranked.into_iter().take(DIVERSIFY_POOL.max(top)).collect();
    if pool.len() <= 1 {
        return pool;
    }
    // Which of the customer's orders hold each candidate.
    let member: Vec<Vec<bool>> = pool
        .iter()
        .map(|r| {
            v.orders
                .iter()
                .map(|(_, items)| items.binary_search(&r.product).is_ok())
                .collect()
        })
        .collect();
    let mut overlap = vec![0.0f64; pool.len()];
    let mut taken = vec![false; pool.len()];
    let mut out = Vec::with_capacity(top);
    while out.len() < top.min(pool.len()) {
        let best = (0..pool.len())
            .filter(|i| !taken[*i])
            .max_by(|a, b| {
                let s = |i: usize| pool[i].score * (1.0 - REDUNDANCY * overlap[i]);
                s(*a).total_cmp(&s(*b)).then(b.cmp(a))
            })
            .expect("a candidate left");
        taken[best] = true;
        for i in 0..pool.len() {
            if taken[i] {
                continue;
            }
            let both = member[i]
                .iter()
                .zip(&member[best])
                .filter(|(x, y)| **x && **y)
                .count();
            let share = both as f64 / pool[i].timing.orders.max(1) as f64;
            overlap[i] = overlap[i].max(share);
        }
        out.push(pool[best].clone());
    }
    out
}

/// Logistic regression with a ridge penalty (`l2` / 2 × |w|², intercept free): weights, then the
/// intercept.
pub fn fit_logistic<const D: usize>(z: &[[f64; D]], y: &[bool], l2: f64) -> Vec<f64> {
    let f = |w: &[f64]| -> (f64, Vec<f64>) {
        let (loss, grad) = z
            .par_chunks(4096)
            .zip(y.par_chunks(4096))
            .map(|(zs, ys)| {
                let mut g = vec![0.0f64; D + 1];
                let mut loss = 0.0f64;
                for (x, &label) in zs.iter().zip(ys) {
                    let s: f64 = x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + w[D];
                    // log(1 + e^s) − y s, computed without overflow.
                    let softplus = if s > 0.0 {
                        s + (-s).exp().ln_1p()
                    } else {
                        s.exp().ln_1p()
                    };
                    loss += softplus - if label { s } else { 0.0 };
                    let r = 1.0 / (1.0 + (-s).exp()) - label as u8 as f64;
                    for (gi, xi) in g.iter_mut().zip(x) {
                        *gi += r * xi;
                    }
                    g[D] += r;
                }
                (loss, g)
            })
            .reduce(
                || (0.0, vec![0.0; D + 1]),
                |mut a, b| {
                    a.0 += b.0;
                    for (x, y) in a.1.iter_mut().zip(b.1) {
                        *x += y;
                    }
                    a
                },
            );
        let mut grad = grad;
        let mut loss = loss;
        for k in 0..D {
            loss += 0.5 * l2 * w[k] * w[k];
            grad[k] += l2 * w[k];
        }
        // Per row, so that the tolerance does not depend on the number of rows.
        let n = z.len().max(1) as f64;
        (loss / n, grad.into_iter().map(|g| g / n).collect())
    };
    optim::bfgs(
        f,
        &vec![0.0; D + 1],
        optim::Options {
            grad_tol: 1e-7,
            max_iter: 300,
            max_step: 3.0,
        },
    )
    .x
}

/// "bought in 4 of 9 orders, about every 5 weeks; last 6 weeks ago".
pub fn reason(t: &Timing) -> String {
    match t.interval {
        Some(iv) => format!(
            "bought in {} of {} orders, about every {}; last {} ago",
            t.orders,
            t.customer_orders,
            span(iv.round() as i32),
            span(t.age)
        ),
        None => format!(
            "bought once, {} ago ({} orders in all)",
            span(t.age),
            t.customer_orders
        ),
    }
}

/// A number of days in the unit a person would use.
fn span(days: i32) -> String {
    let plural = |n: i32, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match days {
        d if d < 14 => plural(d.max(0), "day"),
        d if d < 90 => plural((d as f64 / 7.0).round() as i32, "week"),
        d => plural((d as f64 / 30.44).round() as i32, "month"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_fit_recovers_a_known_slope() {
        // y = 1 exactly when x > 0.5 for x on a grid: the slope is large and positive and the
        // decision boundary sits at 0.5.
        let z: Vec<[f64; 1]> = (0..200).map(|i| [i as f64 / 200.0]).collect();
        let y: Vec<bool> = z.iter().map(|x| x[0] > 0.5).collect();
        let w = fit_logistic(&z, &y, 1e-3);
        assert!(w[0] > 20.0, "{w:?}");
        let boundary = -w[1] / w[0];
        assert!((boundary - 0.5).abs() < 0.02, "{boundary}");
    }

    #[test]
    fn reasons_speak_in_weeks_and_months() {
        let t = Timing {
            orders: 4,
            customer_orders: 9,
            age: 42,
            interval: Some(35.2),
        };
        assert_eq!(
            reason(&t),
            "bought in 4 of 9 orders, about every 5 weeks; last 6 weeks ago"
        );
        let once = Timing {
            orders: 1,
            customer_orders: 3,
            age: 200,
            interval: None,
        };
        assert_eq!(reason(&once), "bought once, 7 months ago (3 orders in all)");
        assert_eq!(span(1), "1 day");
    }

    #[test]
    fn features_measure_the_customers_own_timing() {
        let v = CustomerOrders {
            orders: vec![(10, vec![0, 1]), (40, vec![0]), (70, vec![0, 2])],
        };
        let d = Demand {
            recent: vec![0.0; 3],
            all: vec![0.0; 3],
            repeat: vec![0.0; 3],
        };
        let f = customer_features(&v.orders, 100, 30, &d);
        assert_eq!(f.len(), 3);
        let (p, t, x) = &f[0];
        assert_eq!(*p, 0);
        assert_eq!(
            *t,
            Timing {
                orders: 3,
                customer_orders: 3,
                age: 30,
                interval: Some(30.0)
            }
        );
        assert!((x[0] - 4f64.ln()).abs() < 1e-12 && (x[1] - 1.0).abs() < 1e-12);
        assert_eq!(x[9], 1.0, "in the last order");
        assert_eq!(f[1].2[9], 0.0, "product 1 is not");
        assert_eq!(f[1].1.interval, None);
    }
}
