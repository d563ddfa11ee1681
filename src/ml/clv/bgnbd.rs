//! The BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005): while alive a customer buys
//! as a Poisson process with rate λ ~ Gamma(r, α); after each purchase they drop out with
//! probability p ~ Beta(a, b).
//!
//! Data per customer: x repeat purchases, the time t_x of the last one and the length T of the
//! observation, both from the first purchase, in one time unit (crm-mart uses weeks).

use serde::{Deserialize, Serialize};

use super::{FitReport, PerX};
use crate::error::{Error, Result};
use crate::ml::optim;
use crate::ml::special::{digamma, hyp2f1, ln_gamma};

/// Fitted BG/NBD parameters.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct BgNbd {
    /// Shape of the purchase-rate distribution.
    pub r: f64,
    /// Scale (in time units) of the purchase-rate distribution.
    pub alpha: f64,
    /// Dropout Beta parameter a.
    pub a: f64,
    /// Dropout Beta parameter b.
    pub b: f64,
}

/// Per-customer (x, t_x, T).
#[derive(Debug, Clone, Copy)]
pub struct Rft<'a> {
    /// Repeat purchases.
    pub x: &'a [f64],
    /// Time of the last purchase since the first.
    pub t_x: &'a [f64],
    /// Observed time since the first purchase.
    pub t: &'a [f64],
}

/// Checks the data the likelihood needs; the error names the offending row.
pub fn validate(d: Rft<'_>, ids: &[String]) -> Result<()> {
    for i in 0..d.x.len() {
        let (x, tx, t) = (d.x[i], d.t_x[i], d.t[i]);
        let bad = !(x.is_finite() && tx.is_finite() && t.is_finite())
            || x < 0.0
            || x.fract() != 0.0
            || tx < 0.0
            || tx > t + 1e-9
            || (x == 0.0 && tx != 0.0);
        if bad {
            return Err(Error::usage(format!(
                "customer {}: frequency {x}, recency {tx}, T {t} is not a valid purchase history \
                 (frequency must be a whole number ≥ 0, 0 ≤ recency ≤ T, and recency 0 when frequency is 0)",
                ids.get(i).map_or("?", |s| s.as_str())
            )));
        }
    }
    if !d.x.iter().any(|x| *x > 0.0) {
        return Err(Error::usage(format!(
            "none of the {} customers made a repeat purchase, so the BG/NBD model cannot be fitted \
             (its dropout and purchase-rate parameters are not identified); use a longer history",
            d.x.len()
        )));
    }
    Ok(())
}

impl BgNbd {
    fn from_log(u: &[f64]) -> BgNbd {
        BgNbd {
            r: u[0].exp(),
            alpha: u[1].exp(),
            a: u[2].exp(),
            b: u[3].exp(),
        }
    }

    /// Sum of the log-likelihood over customers and its gradient in (r, α, a, b).
    fn ll_grad(&self, d: Rft<'_>, per_x: &PerX) -> (f64, [f64; 4]) {
        let BgNbd { r, alpha, a, b } = *self;
        // x-only terms: c1 and its derivatives, and c4 = ln a − ln(b + x − 1).
        let (lg_r, lg_b, lg_ab) = (ln_gamma(r), ln_gamma(b), ln_gamma(a + b));
        let (dg_r, dg_b, dg_ab) = (digamma(r), digamma(b), digamma(a + b));
        let mut ll = 0.0;
        let mut g = [0.0; 4];
        let mut c4 = Vec::with_capacity(per_x.values.len());
        for (k, &x) in per_x.values.iter().enumerate() {
            let n = per_x.counts[k];
            let c1 = ln_gamma(r + x) - lg_r + r * alpha.ln() + lg_ab + ln_gamma(b + x)
                - lg_b
                - ln_gamma(a + b + x);
            ll += n * c1;
            g[0] += n * (digamma(r + x) - dg_r + alpha.ln());
            g[1] += n * r / alpha;
            let dg_abx = digamma(a + b + x);
            g[2] += n * (dg_ab - dg_abx);
            g[3] += n * (dg_ab + digamma(b + x) - dg_b - dg_abx);
            c4.push(if x > 0.0 {
                a.ln() - (b + x - 1.0).ln()
            } else {
                f64::NEG_INFINITY
            });
        }
        let (rl, rg) = super::det_sum(d.x.len(), |i| {
            let (x, tx, t) = (d.x[i], d.t_x[i], d.t[i]);
            let rx = r + x;
            let lt = (alpha + t).ln();
            let l3 = -rx * lt;
            if x > 0.0 {
                let ltx = (alpha + tx).ln();
                let l4 = c4[per_x.index[i] as usize] - rx * ltx;
                let m = l3.max(l4);
                let lse = m + ((l3 - m).exp() + (l4 - m).exp()).ln();
                let w3 = (l3 - lse).exp();
                let w4 = 1.0 - w3;
                (
                    lse,
                    [
                        -w3 * lt - w4 * ltx,
                        -w3 * rx / (alpha + t) - w4 * rx / (alpha + tx),
                        w4 / a,
                        -w4 / (b + x - 1.0),
                    ],
                )
            } else {
                (l3, [-lt, -rx / (alpha + t), 0.0, 0.0])
            }
        });
        (
            ll + rl,
            [g[0] + rg[0], g[1] + rg[1], g[2] + rg[2], g[3] + rg[3]],
        )
    }

    /// Total log-likelihood of the data.
    pub fn log_likelihood(&self, d: Rft<'_>) -> f64 {
        self.ll_grad(d, &PerX::new(d.x)).0
    }

    /// Maximum-likelihood fit, optionally with an L2 penalty `penalizer × Σ θ²` on the
    /// parameters added to the mean negative log-likelihood. Several starting points are tried;
    /// the best converged fit wins.
    pub fn fit(d: Rft<'_>, penalizer: f64) -> Result<(BgNbd, FitReport)> {
        let n = d.x.len() as f64;
        let per_x = PerX::new(d.x);
        let objective = |u: &[f64]| {
            let p = BgNbd::from_log(u);
            let (ll, g) = p.ll_grad(d, &per_x);
            let theta = [p.r, p.alpha, p.a, p.b];
            let pen: f64 = theta.iter().map(|t| t * t).sum::<f64>() * penalizer;
            let grad = (0..4)
                .map(|k| -g[k] * theta[k] / n + 2.0 * penalizer * theta[k] * theta[k])
                .collect();
            (-ll / n + pen, grad)
        };
        let mean_x = d.x.iter().sum::<f64>() / n;
        let mean_t = d.t.iter().sum::<f64>() / n;
        let rate = (mean_x / mean_t.max(1e-9)).max(1e-6);
        let starts: [(f64, f64, f64, f64); 3] = [
            (1.0, 1.0, 1.0, 1.0),
            (0.5, 0.5, 0.5, 2.0),
            (2.0, 2.0, 2.0, 0.5),
        ];
        let starts: Vec<Vec<f64>> = starts
            .iter()
            .map(|(r, scale, a, b)| vec![r.ln(), (r * scale / rate).ln(), a.ln(), b.ln()])
            .collect();
        let m = optim::first_converged(objective, &starts, optim::Options::default());
        let p = BgNbd::from_log(&m.x);
        if !m.converged || ![p.r, p.alpha, p.a, p.b].iter().all(|v| v.is_finite()) {
            return Err(Error::usage(format!(
                "the BG/NBD fit did not converge (after {} iterations the largest gradient \
                 component is {:.2e}; last parameters r = {:.4}, alpha = {:.4}, a = {:.4}, b = {:.4}); \
                 the data may not support the model — try a small {} such as 0.001",
                m.iterations,
                m.grad_norm,
                p.r,
                p.alpha,
                p.a,
                p.b,
                crate::error::param("penalizer")
            )));
        }
        let ll = p.ll_grad(d, &per_x).0;
        Ok((
            p,
            FitReport {
                log_likelihood: ll,
                iterations: m.iterations,
                grad_norm: m.grad_norm,
                customers: d.x.len(),
            },
        ))
    }

    /// Ln of the odds that a customer is dead rather than alive.
    fn ln_dead_odds(&self, x: f64, t_x: f64, t: f64) -> f64 {
        if x == 0.0 {
            return f64::NEG_INFINITY;
        }
        self.a.ln() - (self.b + x - 1.0).ln()
            + (self.r + x) * ((self.alpha + t).ln() - (self.alpha + t_x).ln())
    }

    /// P(alive at T | x, t_x, T).
    pub fn p_alive(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let o = self.ln_dead_odds(x, t_x, t);
        if o == f64::NEG_INFINITY {
            1.0
        } else {
            1.0 / (1.0 + o.exp())
        }
    }

    /// Expected purchases in the next `horizon` time units given the history (x, t_x, T).
    ///
    /// The paper's conditional expectation has the term (1 − z)^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z).
    /// Its series needs about (r + x)·z/(1 − z) terms; Euler's transformation turns it into
    /// (1 − z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z), which needs about (a − 1)·z/(1 − z). The
    /// cheaper form is used, so both frequent buyers and fits with a large dropout `a` stay fast
    /// and free of overflow. Returns `None` if the series does not converge.
    pub fn expected_purchases(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> Option<f64> {
        if horizon <= 0.0 {
            return Some(0.0);
        }
        let BgNbd { r, alpha, .. } = *self;
        let (a, b) = clear_of_poles(self.a, self.b, x);
        let z = horizon / (alpha + t + horizon);
        let c = a + b + x - 1.0;
        let scaled = if r + x <= (a - 1.0).abs() {
            (1.0 - z).powf(r + x) * hyp2f1(r + x, b + x, c, z)?
        } else {
            (1.0 - z).powf(a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)?
        };
        let e = c / (a - 1.0) * (1.0 - scaled) * self.p_alive(x, t_x, t);
        (e.is_finite() && e >= -1e-9).then_some(e.max(0.0))
    }
}

/// Moves (a, b) off the removable singularities of the conditional expectation, which is
/// continuous in both: a = 1, where (a + b + x − 1) / (a − 1) × [1 − …] is 0/0, and
/// a + b + x − 1 at a non-positive integer, where the series' lower parameter is a pole of each
/// term but the limit is finite. The second happens for a customer without a repeat purchase
/// when the fit drives a and b towards 0 together (the dropout probability becomes 0 or 1 per
/// customer, in the ratio a : b); there a and b are scaled up together, so the ratio stays.
fn clear_of_poles(a: f64, b: f64, x: f64) -> (f64, f64) {
    const STEP: f64 = 1e-7;
    let a = if (a - 1.0).abs() < STEP {
        1.0 + STEP
    } else {
        a
    };
    let c = a + b + x - 1.0;
    if c > 0.0 || (c - c.round()).abs() >= STEP {
        return (a, b);
    }
    let s = a + b;
    if s > 0.0 {
        let k = (s + 2.0 * STEP) / s;
        (a * k, b * k)
    } else {
        (STEP, STEP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euler_form_matches_the_direct_formula() {
        // The paper's form with the direct series, for moderate z where both converge.
        let p = BgNbd {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        for (x, tx, t, h) in [
            (0.0, 0.0, 38.86, 39.0),
            (2.0, 30.43, 38.86, 39.0),
            (7.0, 35.0, 38.0, 52.0),
            (1.0, 1.0, 5.0, 10.0),
        ] {
            let z = h / (p.alpha + t + h);
            let f = hyp2f1(p.r + x, p.b + x, p.a + p.b + x - 1.0, z).unwrap();
            let direct = (p.a + p.b + x - 1.0) / (p.a - 1.0)
                * (1.0 - ((p.alpha + t) / (p.alpha + t + h)).powf(p.r + x) * f)
                * p.p_alive(x, tx, t);
            let ours = p.expected_purchases(h, x, tx, t).unwrap();
            assert!(
                (ours - direct).abs() < 1e-10,
                "{x} {tx} {t}: {ours} vs {direct}"
            );
        }
        // A large dropout parameter (a fit at the boundary, where the Euler form would overflow):
        // the direct form gives a value between the purchases of a customer who surely dies at
        // the next purchase and one who never dies, (r + x) / (α + T) × horizon.
        let big = BgNbd {
            r: 3.3,
            alpha: 35.6,
            a: 1.5e6,
            b: 1.9e8,
        };
        let (x, tx, t, h): (f64, f64, f64, f64) = (5.0, 30.0, 40.0, 26.0);
        let e = big.expected_purchases(h, x, tx, t).unwrap();
        let never_dies = (big.r + x) / (big.alpha + t) * h;
        assert!(
            e > 0.5 * never_dies && e < never_dies,
            "{e} vs {never_dies}"
        );
        // No repeat purchase: alive for sure.
        assert_eq!(p.p_alive(0.0, 0.0, 10.0), 1.0);
    }

    #[test]
    fn dropout_parameters_near_zero_give_the_limit() {
        // a, b → 0 with a / (a + b) = ρ: a share ρ of customers drops out at their next
        // purchase, the rest never. Without a repeat purchase the expectation is then
        // 1 − [(1 − ρ)(1 − (1 + r) z) + ρ (1 − z)^(1+r)] / (1 − z), z = h / (α + T + h):
        // at ρ = 0 the NBD's r h / (α + T), at ρ = 1 the chance of a purchase, 1 − (1 − z)^r.
        let (r, alpha, t, h) = (3.2402, 38.8953, 65.14, 90.0);
        let z: f64 = h / (alpha + t + h);
        for rho in [0.0, 0.3, 0.75, 1.0] {
            let want = 1.0
                - ((1.0 - rho) * (1.0 - (1.0 + r) * z) + rho * (1.0 - z).powf(1.0 + r)) / (1.0 - z);
            for s in [1e-13, 1e-10, 1e-8] {
                let p = BgNbd {
                    r,
                    alpha,
                    a: rho * s,
                    b: (1.0 - rho) * s,
                };
                let got = p.expected_purchases(h, 0.0, 0.0, t).unwrap();
                assert!(
                    (got - want).abs() < 1e-5,
                    "rho {rho}, a + b = {s}: {got} vs {want}"
                );
            }
        }
        // Both underflowed to 0: the ratio is lost, even odds are taken.
        let zero = BgNbd {
            r,
            alpha,
            a: 0.0,
            b: 0.0,
        };
        let want = 1.0 - (0.5 * (1.0 - (1.0 + r) * z) + 0.5 * (1.0 - z).powf(1.0 + r)) / (1.0 - z);
        let got = zero.expected_purchases(h, 0.0, 0.0, t).unwrap();
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // With repeat purchases the value is continuous in a and b down to 0.
        let at = |s: f64| {
            let p = BgNbd {
                r,
                alpha,
                a: 0.4 * s,
                b: 0.6 * s,
            };
            p.expected_purchases(h, 1.0, 20.0, t).unwrap()
        };
        let (small, tiny) = (at(1e-4), at(1e-12));
        assert!(
            small > 0.1 && (small - tiny).abs() < 1e-3 * small,
            "{small} vs {tiny}"
        );
        // a + b + x − 1 = 0 exactly (x = 0, a + b = 1) and a = 1 are removable too.
        let p = |a: f64, b: f64| BgNbd { r, alpha, a, b };
        let near = p(0.3, 0.7 + 1e-4)
            .expected_purchases(h, 0.0, 0.0, t)
            .unwrap();
        let on = p(0.3, 0.7).expected_purchases(h, 0.0, 0.0, t).unwrap();
        assert!((near - on).abs() < 1e-3 * near, "{near} vs {on}");
        let near = p(1.0 + 1e-4, 2.0)
            .expected_purchases(h, 2.0, 30.0, t)
            .unwrap();
        let on = p(1.0, 2.0).expected_purchases(h, 2.0, 30.0, t).unwrap();
        assert!((near - on).abs() < 1e-3 * near, "{near} vs {on}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let x = [0.0, 1.0, 3.0, 2.0, 0.0, 5.0];
        let tx = [0.0, 4.0, 20.0, 30.0, 0.0, 35.0];
        let t = [38.0, 38.0, 30.0, 36.0, 10.0, 39.0];
        let d = Rft {
            x: &x,
            t_x: &tx,
            t: &t,
        };
        let per_x = PerX::new(&x);
        let p = BgNbd {
            r: 0.7,
            alpha: 3.0,
            a: 1.4,
            b: 2.2,
        };
        let (_, g) = p.ll_grad(d, &per_x);
        for k in 0..4 {
            let ll = |th: [f64; 4]| {
                BgNbd {
                    r: th[0],
                    alpha: th[1],
                    a: th[2],
                    b: th[3],
                }
                .ll_grad(d, &per_x)
                .0
            };
            let mut th = [p.r, p.alpha, p.a, p.b];
            let h = 1e-6 * th[k];
            th[k] += h;
            let up = ll(th);
            th[k] -= 2.0 * h;
            let down = ll(th);
            let fd = (up - down) / (2.0 * h);
            assert!(
                (g[k] - fd).abs() < 1e-5 * (1.0 + fd.abs()),
                "param {k}: {} vs {fd}",
                g[k]
            );
        }
    }
}
