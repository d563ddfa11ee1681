//! Unconstrained minimisation for maximum-likelihood fits: BFGS with an Armijo backtracking line
//! search, on objectives that return their value and gradient together.

/// Where a minimisation ended.
#[derive(Debug, Clone)]
pub struct Minimum {
    /// The minimiser found.
    pub x: Vec<f64>,
    /// The objective there.
    pub f: f64,
    /// Largest absolute gradient component there.
    pub grad_norm: f64,
    /// Iterations used.
    pub iterations: usize,
    /// Whether the gradient tolerance was met (rather than the iteration limit or a stalled line
    /// search).
    pub converged: bool,
}

/// Options of [`bfgs`].
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Stop when every gradient component is below this.
    pub grad_tol: f64,
    /// Give up after this many iterations.
    pub max_iter: usize,
    /// The largest change of any coordinate in one step (keeps log-parameters from overflowing).
    pub max_step: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            grad_tol: 1e-9,
            max_iter: 500,
            max_step: 3.0,
        }
    }
}

fn norm_inf(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Sets the row-major `n × n` matrix `h` to the identity.
fn identity(h: &mut [f64], n: usize) {
    h.iter_mut().for_each(|v| *v = 0.0);
    for i in 0..n {
        h[i * n + i] = 1.0;
    }
}

/// The quasi-Newton direction −H g, capped at `max_step` per coordinate; steepest descent (and
/// H reset) when it does not point downhill.
fn direction(h: &mut [f64], g: &[f64], max_step: f64) -> Vec<f64> {
    let n = g.len();
    let mut d: Vec<f64> = (0..n)
        .map(|i| -(0..n).map(|j| h[i * n + j] * g[j]).sum::<f64>())
        .collect();
    if dot(&d, g) >= 0.0 {
        identity(h, n);
        d = g.iter().map(|v| -v).collect();
    }
    let scale = norm_inf(&d);
    if scale > max_step {
        d.iter_mut().for_each(|v| *v *= max_step / scale);
    }
    d
}

/// Armijo backtracking from `x` along `d`: the first step (1, ½, ¼, …) with a sufficient
/// decrease and a finite gradient, as (x, f, gradient).
fn line_search(
    f: &impl Fn(&[f64]) -> (f64, Vec<f64>),
    x: &[f64],
    d: &[f64],
    fx: f64,
    slope: f64,
) -> Option<(Vec<f64>, f64, Vec<f64>)> {
    let mut step = 1.0;
    for _ in 0..60 {
        let xn: Vec<f64> = x.iter().zip(d).map(|(a, b)| a + step * b).collect();
        let (fnew, gnew) = f(&xn);
        if fnew.is_finite()
            && gnew.iter().all(|v| v.is_finite())
            && fnew <= fx + 1e-4 * step * slope
        {
            return Some((xn, fnew, gnew));
        }
        step *= 0.5;
    }
    None
}

/// The BFGS update of the inverse Hessian approximation for step `s` and gradient change `y`
/// (skipped when the curvature condition fails).
fn update_inverse_hessian(h: &mut [f64], s: &[f64], y: &[f64]) {
    let n = s.len();
    let sy = dot(s, y);
    if sy > 1e-12 * dot(y, y).sqrt() * dot(s, s).sqrt() {
        // H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ
        let rho = 1.0 / sy;
        let hy: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| h[i * n + j] * y[j]).sum())
            .collect();
        let yhy = dot(y, &hy);
        for i in 0..n {
            for j in 0..n {
                h[i * n + j] +=
                    -rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
            }
        }
    }
}

/// Minimises `f` (returning value and gradient) from `x0`. Non-finite values count as +∞, so the
/// line search backs away from regions where the objective is undefined.
pub fn bfgs(f: impl Fn(&[f64]) -> (f64, Vec<f64>), x0: &[f64], opts: Options) -> Minimum {
    let n = x0.len();
    let mut x = x0.to_vec();
    let (mut fx, mut g) = f(&x);
    if !fx.is_finite() || g.iter().any(|v| !v.is_finite()) {
        return Minimum {
            x,
            f: f64::INFINITY,
            grad_norm: f64::INFINITY,
            iterations: 0,
            converged: false,
        };
    }
    // Inverse Hessian approximation, row-major.
    let mut h = vec![0.0; n * n];
    identity(&mut h, n);
    let mut stalled = 0;
    let minimum = |x, fx, g: &[f64], iterations, converged| Minimum {
        grad_norm: norm_inf(g),
        x,
        f: fx,
        iterations,
        converged,
    };
    for it in 0..opts.max_iter {
        if norm_inf(&g) < opts.grad_tol {
            return minimum(x, fx, &g, it, true);
        }
        let d = direction(&mut h, &g, opts.max_step);
        let slope = dot(&d, &g);
        let Some((xn, fnew, gnew)) = line_search(&f, &x, &d, fx, slope) else {
            // No decrease along the direction: restart from steepest descent once, then stop.
            if stalled > 0 {
                break;
            }
            stalled += 1;
            identity(&mut h, n);
            continue;
        };
        stalled = 0;
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gnew.iter().zip(&g).map(|(a, b)| a - b).collect();
        update_inverse_hessian(&mut h, &s, &y);
        let small_change = (fx - fnew).abs() <= 1e-15 * fx.abs().max(1.0);
        x = xn;
        fx = fnew;
        g = gnew;
        if small_change && norm_inf(&g) < opts.grad_tol.sqrt() {
            return minimum(x, fx, &g, it + 1, true);
        }
    }
    let converged = norm_inf(&g) < opts.grad_tol.sqrt();
    minimum(x, fx, &g, opts.max_iter, converged)
}

/// Runs [`bfgs`] from each start in turn until one converges; returns the first converged
/// minimum, or the lowest one if none converged.
pub fn first_converged(
    f: impl Fn(&[f64]) -> (f64, Vec<f64>),
    starts: &[Vec<f64>],
    opts: Options,
) -> Minimum {
    let mut best: Option<Minimum> = None;
    for x0 in starts {
        let m = bfgs(&f, x0, opts);
        if m.converged {
            return m;
        }
        if best.as_ref().is_none_or(|b| m.f < b.f) {
            best = Some(m);
        }
    }
    best.expect("at least one start")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rosenbrock() {
        let f = |x: &[f64]| {
            let (a, b) = (x[0], x[1]);
            (
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2),
                vec![
                    -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
                    200.0 * (b - a * a),
                ],
            )
        };
        let m = bfgs(f, &[-1.2, 1.0], Options::default());
        assert!(m.converged, "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-6 && (m.x[1] - 1.0).abs() < 1e-6,
            "{m:?}"
        );
    }

    #[test]
    fn undefined_regions_are_avoided() {
        // ln is undefined below 0; the minimum of x − ln x is at 1.
        let f = |x: &[f64]| {
            let v = if x[0] > 0.0 {
                x[0] - x[0].ln()
            } else {
                f64::NAN
            };
            (v, vec![1.0 - 1.0 / x[0]])
        };
        let m = bfgs(f, &[5.0], Options::default());
        assert!((m.x[0] - 1.0).abs() < 1e-7, "{m:?}");
    }
}
