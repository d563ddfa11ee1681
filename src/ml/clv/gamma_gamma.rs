//! The Gamma-Gamma model of spend per transaction (Fader & Hardie 2013): a customer's
//! transaction values are Gamma(p, ν) around their own mean, with ν ~ Gamma(q, γ) across customers.
//! Fitted on repeat buyers: x repeat transactions with mean value m.

use serde::{Deserialize, Serialize};

use super::{FitReport, PerX};
use crate::error::{Error, Result};
use crate::ml::optim;
use crate::ml::special::{digamma, ln_gamma};

/// Fitted Gamma-Gamma parameters (`v` is the paper's γ).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct GammaGamma {
    /// Shape of the transaction value distribution.
    pub p: f64,
    /// Shape of the distribution of the customers' scale.
    pub q: f64,
    /// Scale of the distribution of the customers' scale.
    pub v: f64,
}

impl GammaGamma {
    fn from_log(u: &[f64]) -> GammaGamma {
        GammaGamma {
            p: u[0].exp(),
            q: u[1].exp(),
            v: u[2].exp(),
        }
    }

    /// Log-likelihood of the mean values `m` of `x` transactions each, and its gradient. The
    /// gamma-function terms depend on x alone and are computed once per distinct x.
    fn ll_grad(&self, x: &[f64], m: &[f64], per_x: &PerX) -> (f64, [f64; 3]) {
        let GammaGamma { p, q, v } = *self;
        let (lg_q, dg_q, lv) = (ln_gamma(q), digamma(q), v.ln());
        // Per distinct x: ln Γ(px + q) − ln Γ(px), ψ(px + q) − ψ(px), ψ(px + q).
        let terms: Vec<(f64, f64, f64)> = per_x
            .values
            .iter()
            .map(|&x| {
                let px = p * x;
                let dg_pxq = digamma(px + q);
                (
                    ln_gamma(px + q) - ln_gamma(px),
                    dg_pxq - digamma(px),
                    dg_pxq,
                )
            })
            .collect();
        super::det_sum(x.len(), |i| {
            let (x, m) = (x[i], m[i]);
            let (lg, dg_diff, dg_pxq) = terms[per_x.index[i] as usize];
            let px = p * x;
            let (lm, lx, lxmv) = (m.ln(), x.ln(), (x * m + v).ln());
            (
                lg - lg_q + q * lv + (px - 1.0) * lm + px * lx - (px + q) * lxmv,
                [
                    x * (dg_diff + lm + lx - lxmv),
                    dg_pxq - dg_q + lv - lxmv,
                    q / v - (px + q) / (x * m + v),
                ],
            )
        })
    }

    /// Total log-likelihood.
    pub fn log_likelihood(&self, x: &[f64], m: &[f64]) -> f64 {
        self.ll_grad(x, m, &PerX::new(x)).0
    }

    /// Maximum-likelihood fit on repeat buyers (every x ≥ 1 and m > 0; the caller selects them).
    pub fn fit(x: &[f64], m: &[f64], penalizer: f64) -> Result<(GammaGamma, FitReport)> {
        if x.len() < 10 {
            return Err(Error::usage(format!(
                "only {} repeat buyers with a positive mean spend; the Gamma-Gamma model needs at least 10",
                x.len()
            )));
        }
        let n = x.len() as f64;
        let per_x = PerX::new(x);
        let objective = |u: &[f64]| {
            let p = GammaGamma::from_log(u);
            let (ll, g) = p.ll_grad(x, m, &per_x);
            let theta = [p.p, p.q, p.v];
            let pen: f64 = theta.iter().map(|t| t * t).sum::<f64>() * penalizer;
            let grad = (0..3)
                .map(|k| -g[k] * theta[k] / n + 2.0 * penalizer * theta[k] * theta[k])
                .collect();
            (-ll / n + pen, grad)
        };
        let mean_m = m.iter().sum::<f64>() / n;
        // Start with the population mean p v / (q − 1) equal to the sample mean.
        let starts: Vec<Vec<f64>> = [(1.0f64, 2.0f64), (4.0, 3.0), (0.5, 1.5)]
            .iter()
            .map(|(p, q)| vec![p.ln(), q.ln(), (mean_m * (q - 1.0) / p).ln()])
            .collect();
        let opt = optim::first_converged(objective, &starts, optim::Options::default());
        let fitted = GammaGamma::from_log(&opt.x);
        if !opt.converged {
            return Err(Error::usage(format!(
                "the Gamma-Gamma fit did not converge after {} iterations (largest gradient component {:.2e})",
                opt.iterations, opt.grad_norm
            )));
        }
        if fitted.q <= 1.0 {
            return Err(Error::usage(format!(
                "the Gamma-Gamma fit gives q = {:.4} ≤ 1, for which the mean spend does not exist",
                fitted.q
            )));
        }
        Ok((
            fitted,
            FitReport {
                log_likelihood: fitted.ll_grad(x, m, &per_x).0,
                iterations: opt.iterations,
                grad_norm: opt.grad_norm,
                customers: x.len(),
            },
        ))
    }

    /// E[mean transaction value | x transactions with mean m]; the population mean when x = 0.
    pub fn expected_value(&self, x: f64, m: f64) -> f64 {
        let GammaGamma { p, q, v } = *self;
        if x <= 0.0 {
            return p * v / (q - 1.0);
        }
        p * (v + x * m) / (p * x + q - 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let x = [1.0, 2.0, 5.0, 1.0, 3.0];
        let m = [20.0, 35.5, 12.0, 80.0, 41.0];
        let p = GammaGamma {
            p: 5.0,
            q: 3.0,
            v: 14.0,
        };
        let (_, g) = p.ll_grad(&x, &m, &PerX::new(&x));
        for k in 0..3 {
            let mut th = [p.p, p.q, p.v];
            let h = 1e-6 * th[k];
            th[k] += h;
            let up = GammaGamma {
                p: th[0],
                q: th[1],
                v: th[2],
            }
            .log_likelihood(&x, &m);
            th[k] -= 2.0 * h;
            let down = GammaGamma {
                p: th[0],
                q: th[1],
                v: th[2],
            }
            .log_likelihood(&x, &m);
            let fd = (up - down) / (2.0 * h);
            assert!(
                (g[k] - fd).abs() < 1e-5 * (1.0 + fd.abs()),
                "param {k}: {} vs {fd}",
                g[k]
            );
        }
    }

    #[test]
    fn expected_value_shrinks_towards_the_population_mean() {
        let p = GammaGamma {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        let pop = p.expected_value(0.0, 0.0);
        assert!((pop - 6.25 * 15.44 / 2.74).abs() < 1e-12);
        // One transaction of 100 is pulled towards the population mean; many are not.
        let one = p.expected_value(1.0, 100.0);
        let many = p.expected_value(50.0, 100.0);
        assert!(pop < one && one < many && many < 100.0);
    }
}
