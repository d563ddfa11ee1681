//! Cross-sell: products the customer has never bought, ranked by a closed-form item model (EASE:
//! a ridge regression of every product on all the others over the customer × product matrix,
//! diagonal held at zero), restricted to the most-bought products so that the model stays small
//! on catalogues of any size.

use rayon::prelude::*;
use rustc_hash::FxHashSet;

use super::history::CustomerOrders;

/// Parameters of the item model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossSellParams {
    /// The products bought by most customers that the model covers (candidates and evidence);
    /// the model costs this cubed once, and this × the customer's products per customer.
    pub max_products: usize,
    /// Ridge penalty: larger values trust rare co-purchases less.
    pub l2: f64,
}

impl CrossSellParams {
    /// The defaults (`recommend` and the nightly stage).
    pub const DEFAULT: Self = CrossSellParams {
        max_products: 1000,
        l2: 200.0,
    };
}

impl Default for CrossSellParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The fitted item model.
pub struct ItemModel {
    /// Product index of each covered product, most customers first.
    pub covered: Vec<u32>,
    /// Position in `covered` of each product (`u32::MAX`: not covered).
    position: Vec<u32>,
    /// Item-item weights, `k × k` row-major: row i is what buying product i says of the others.
    weights: Vec<f64>,
    /// Orders containing each covered product.
    order_count: Vec<u32>,
    /// Orders containing both of two covered products, `k × k`.
    order_pairs: Vec<u32>,
    /// Orders in the history.
    orders: u64,
}

/// One candidate and the covered product that speaks most for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Product index.
    pub product: u32,
    /// Model score (comparable across customers).
    pub score: f64,
    /// The bought product with the largest weight towards it, if any.
    pub because: Option<u32>,
}

/// The products bought by the most customers (at most `max_products`, most customers first,
/// ties by id), and each product's position among them (`u32::MAX` for the others).
fn by_reach(bought: &[Vec<u32>], n_products: usize, max_products: usize) -> (Vec<u32>, Vec<u32>) {
    let mut customers = vec![0u32; n_products];
    for b in bought {
        for &p in b {
            customers[p as usize] += 1;
        }
    }
    let mut by_reach: Vec<u32> = (0..n_products as u32)
        .filter(|p| customers[*p as usize] > 0)
        .collect();
    by_reach.sort_by(|a, b| {
        customers[*b as usize]
            .cmp(&customers[*a as usize])
            .then(a.cmp(b))
    });
    by_reach.truncate(max_products);
    let mut position = vec![u32::MAX; n_products];
    for (i, p) in by_reach.iter().enumerate() {
        position[*p as usize] = i as u32;
    }
    (by_reach, position)
}

impl ItemModel {
    /// Fits the model on every customer's orders before the cut.
    pub fn fit(views: &[CustomerOrders], n_products: usize, params: &CrossSellParams) -> ItemModel {
        let bought: Vec<Vec<u32>> = views.par_iter().map(|v| v.products()).collect();
        let (by_reach, position) = by_reach(&bought, n_products, params.max_products);
        let k = by_reach.len();
        let covered = |items: &[u32]| -> Vec<usize> {
            items
                .iter()
                .map(|p| position[*p as usize])
                .filter(|i| *i != u32::MAX)
                .map(|i| i as usize)
                .collect()
        };
        // Gram matrix of the customer × covered-product matrix, and the order-level pair counts
        // that the reasons quote.
        let mut gram = vec![0.0f64; k * k];
        for b in &bought {
            let idx = covered(b);
            for &i in &idx {
                let row = &mut gram[i * k..(i + 1) * k];
                for &j in &idx {
                    row[j] += 1.0;
                }
            }
        }
        let mut order_pairs = vec![0u32; k * k];
        let mut orders = 0u64;
        for v in views {
            for (_, items) in &v.orders {
                orders += 1;
                let idx = covered(items);
                for &i in &idx {
                    let row = &mut order_pairs[i * k..(i + 1) * k];
                    for &j in &idx {
                        row[j] += 1;
                    }
                }
            }
        }
        let order_count: Vec<u32> = (0..k).map(|i| order_pairs[i * k + i]).collect();
        for i in 0..k {
            gram[i * k + i] += params.l2;
        }
        let p = spd_inverse(gram, k);
        let diag: Vec<f64> = (0..k).map(|j| p[j * k + j]).collect();
        let mut weights = p;
        weights
            .par_chunks_mut(k.max(1))
            .enumerate()
            .for_each(|(i, row)| {
                for (j, w) in row.iter_mut().enumerate() {
                    *w = if i == j { 0.0 } else { -*w / diag[j] };
                }
            });
        ItemModel {
            covered: by_reach,
            position,
            weights,
            order_count,
            order_pairs,
            orders,
        }
    }

    /// The `top` best products the customer has not bought (nor in `exclude`), best first.
    /// Products outside the model are not candidates.
    pub fn candidates(&self, bought: &[u32], exclude: &[u32], top: usize) -> Vec<Candidate> {
        let k = self.covered.len();
        let idx: Vec<usize> = bought
            .iter()
            .filter_map(|p| self.position.get(*p as usize))
            .filter(|i| **i != u32::MAX)
            .map(|i| *i as usize)
            .collect();
        let mut score = vec![0.0f64; k];
        for &i in &idx {
            for (s, w) in score.iter_mut().zip(&self.weights[i * k..(i + 1) * k]) {
                *s += w;
            }
        }
        let owned: FxHashSet<u32> = bought.iter().chain(exclude).copied().collect();
        let mut order: Vec<usize> = (0..k)
            .filter(|j| !owned.contains(&self.covered[*j]))
            .collect();
        // Ties (a customer with no covered product scores 0 everywhere) go to the most bought.
        let by = |a: &usize, b: &usize| score[*b].total_cmp(&score[*a]).then(a.cmp(b));
        if order.len() > top {
            order.select_nth_unstable_by(top, by);
            order.truncate(top);
        }
        order.sort_by(by);
        order
            .into_iter()
            .map(|j| Candidate {
                product: self.covered[j],
                score: score[j],
                because: idx
                    .iter()
                    .copied()
                    .max_by(|a, b| {
                        self.weights[a * k + j]
                            .total_cmp(&self.weights[b * k + j])
                            .then(b.cmp(a))
                    })
                    .filter(|i| self.weights[i * k + j] > 0.0)
                    .map(|i| self.covered[i]),
            })
            .collect()
    }

    /// Of the orders with product `x`, the share that also have `y`, and that share over `y`'s
    /// share of all orders (lift); `None` when either is not covered or `x` was never ordered.
    pub fn basket_rule(&self, x: u32, y: u32) -> Option<(f64, f64)> {
        let k = self.covered.len();
        let (i, j) = (
            *self.position.get(x as usize)? as usize,
            *self.position.get(y as usize)? as usize,
        );
        if i >= k || j >= k || self.order_count[i] == 0 || self.order_count[j] == 0 {
            return None;
        }
        let confidence = self.order_pairs[i * k + j] as f64 / self.order_count[i] as f64;
        let base = self.order_count[j] as f64 / self.orders as f64;
        Some((confidence, confidence / base))
    }
}

/// The inverse of a symmetric positive definite `n × n` matrix (row-major), by Cholesky
/// factorisation and one triangular solve per column.
pub fn spd_inverse(mut a: Vec<f64>, n: usize) -> Vec<f64> {
    // a = L Lᵀ, L stored in the lower triangle of `a`.
    for j in 0..n {
        let (top, rest) = a.split_at_mut((j + 1) * n);
        let row_j = &mut top[j * n..];
        let d = row_j[j] - dot(&row_j[..j], &row_j[..j]);
        let l_jj = d.max(f64::MIN_POSITIVE).sqrt();
        row_j[j] = l_jj;
        let row_j = &row_j[..j + 1];
        rest.par_chunks_mut(n).for_each(|row_i| {
            row_i[j] = (row_i[j] - dot(&row_i[..j], &row_j[..j])) / l_jj;
        });
    }
    // Lᵀ row-major: row i holds column i of L.
    let mut lt = vec![0.0f64; n * n];
    for i in 0..n {
        for k in 0..=i {
            lt[k * n + i] = a[i * n + k];
        }
    }
    let mut inv = vec![0.0f64; n * n];
    inv.par_chunks_mut(n.max(1))
        .enumerate()
        .for_each(|(col, x)| {
            // L y = e_col (y_i = 0 for i < col), then Lᵀ x = y.
            let mut y = vec![0.0f64; n];
            for i in col..n {
                let rhs = if i == col { 1.0 } else { 0.0 };
                y[i] = (rhs - dot(&a[i * n + col..i * n + i], &y[col..i])) / a[i * n + i];
            }
            for i in (0..n).rev() {
                x[i] = (y[i] - dot(&lt[i * n + i + 1..(i + 1) * n], &x[i + 1..])) / lt[i * n + i];
            }
        });
    inv
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        s[0] += x[0] * y[0];
        s[1] += x[1] * y[1];
        s[2] += x[2] * y[2];
        s[3] += x[3] * y[3];
    }
    s[0] + s[1] + s[2] + s[3] + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_of_a_known_matrix() {
        // [[4, 2, 0.6], [2, 2, 0.5], [0.6, 0.5, 3]] times its inverse is the identity.
        let a = vec![4.0, 2.0, 0.6, 2.0, 2.0, 0.5, 0.6, 0.5, 3.0];
        let inv = spd_inverse(a.clone(), 3);
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| a[i * 3 + k] * inv[k * 3 + j]).sum();
                assert!(
                    (v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12,
                    "{i},{j}: {v}"
                );
            }
        }
        // Symmetric, as the inverse of a symmetric matrix is.
        assert!((inv[1] - inv[3]).abs() < 1e-12 && (inv[2] - inv[6]).abs() < 1e-12);
    }

    #[test]
    fn a_product_bought_with_the_customers_products_ranks_first_and_owned_ones_never() {
        // 0 and 1 go together; 2 and 3 go together; 4 is bought by everyone.
        let mut views = Vec::new();
        for _ in 0..30 {
            views.push(CustomerOrders::from_baskets(&[&[0, 1, 4]]));
            views.push(CustomerOrders::from_baskets(&[&[2, 3, 4]]));
        }
        views.push(CustomerOrders::from_baskets(&[&[0], &[4]]));
        let m = ItemModel::fit(
            &views,
            5,
            &CrossSellParams {
                max_products: 10,
                l2: 1.0,
            },
        );
        let c = m.candidates(&views[60].products(), &[], 2);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].product, 1, "{c:?}");
        assert_eq!(c[0].because, Some(0));
        assert!(c.iter().all(|x| x.product != 0 && x.product != 4), "{c:?}");
        // 30 of the 31 orders with 0 have 1; 1 is in 30 of 62 orders.
        let (conf, lift) = m.basket_rule(0, 1).unwrap();
        assert!((conf - 30.0 / 31.0).abs() < 1e-12);
        assert!((lift - conf / (30.0 / 62.0)).abs() < 1e-12);
        // With room for one product only, the model covers the one everyone bought.
        let small = ItemModel::fit(
            &views,
            5,
            &CrossSellParams {
                max_products: 1,
                l2: 1.0,
            },
        );
        assert_eq!(small.covered, vec![4]);
        assert!(small.candidates(&[0, 4], &[], 5).is_empty());
        assert!(
            m.candidates(&[0, 4], &[1], 5)
                .iter()
                .all(|c| c.product != 1),
            "returned"
        );
    }
}
