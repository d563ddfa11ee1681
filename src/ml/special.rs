//! Special functions for the likelihoods of the customer-value models: log-gamma, digamma and the
//! Gauss hypergeometric series.

/// ln Γ(x) for x > 0.
pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// ψ(x) = d/dx ln Γ(x) for x > 0: recurrence up to x ≥ 10, then the asymptotic series
/// (absolute error below 1e-14 there).
pub fn digamma(mut x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 || x.is_infinite() {
        return f64::NAN;
    }
    let mut acc = 0.0;
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    acc + x.ln()
        - 0.5 * inv
        - inv2
            * (1.0 / 12.0
                - inv2
                    * (1.0 / 120.0
                        - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 * (1.0 / 132.0)))))
}

/// Gauss hypergeometric function ₂F₁(a, b; c; z) by its power series, for 0 ≤ z < 1 and c not
/// a non-positive integer.
///
/// Terms are summed until they no longer change the sum in the 16th digit. Returns `None` when
/// the series has not converged after `max_terms` terms (z very close to 1) or the sum is not
/// finite; callers turn that into an error instead of a NaN.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    const MAX_TERMS: usize = 200_000;
    if !(0.0..1.0).contains(&z) || (c <= 0.0 && (c - c.round()).abs() < 1e-9) {
        return None;
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..MAX_TERMS {
        let kf = k as f64;
        let ratio = (a + kf) * (b + kf) / ((c + kf) * (kf + 1.0)) * z;
        term *= ratio;
        sum += term;
        // Past the largest term (ratio < 1) the tail is below term / (1 − z).
        if ratio.abs() < 1.0 && term.abs() <= 1e-17 * (1.0 - z) * sum.abs() {
            return sum.is_finite().then_some(sum);
        }
        if term == 0.0 {
            return sum.is_finite().then_some(sum);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digamma_known_values() {
        // ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2, ψ(10) = H_9 − γ.
        let gamma = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + gamma).abs() < 1e-13);
        assert!((digamma(0.5) + gamma + 2.0 * 2f64.ln()).abs() < 1e-13);
        let h9: f64 = (1..=9).map(|k| 1.0 / k as f64).sum();
        assert!((digamma(10.0) - (h9 - gamma)).abs() < 1e-13);
        // ψ against a central difference of ln Γ.
        for x in [0.05, 0.3, 2.7, 15.0, 400.0] {
            let h = 1e-5 * x;
            let d = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            assert!((digamma(x) - d).abs() < 1e-6 * (1.0 + d.abs()), "x = {x}");
        }
    }

    #[test]
    fn hyp2f1_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z.
        for z in [0.1f64, 0.5, 0.9, 0.99] {
            let want = -(1.0 - z).ln() / z;
            let got = hyp2f1(1.0, 1.0, 2.0, z).unwrap();
            assert!(
                (got - want).abs() < 1e-12 * want,
                "z = {z}: {got} vs {want}"
            );
        }
        // ₂F₁(a, b; b; z) = (1 − z)^−a.
        let got = hyp2f1(2.5, 3.0, 3.0, 0.7).unwrap();
        assert!((got - 0.3f64.powf(-2.5)).abs() < 1e-10 * got);
        // ₂F₁(1/2, 1; 3/2; z²) = atanh(z) / z.
        let z: f64 = 0.8;
        let got = hyp2f1(0.5, 1.0, 1.5, z * z).unwrap();
        assert!((got - z.atanh() / z).abs() < 1e-12);
        // A negative, non-integer c: ₂F₁(1, 1; −1/2; z) against its terms summed directly.
        let mut want = 0.0;
        let mut term = 1.0;
        for k in 0..2000 {
            want += term;
            let kf = k as f64;
            term *= (1.0 + kf) * (1.0 + kf) / ((-0.5 + kf) * (kf + 1.0)) * 0.3;
        }
        let got = hyp2f1(1.0, 1.0, -0.5, 0.3).unwrap();
        assert!((got - want).abs() < 1e-12 * want.abs(), "{got} vs {want}");
        // Out of the domain: no value rather than a wrong one.
        assert!(hyp2f1(1.0, 1.0, -2.0, 0.5).is_none());
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_none());
    }
}
