//! Gradient-boosted decision trees for binary log loss, on histograms of binned features.
//!
//! Each feature is cut into at most 255 bins at midpoints between quantiles of its values; a tree
//! is grown leaf by leaf (always splitting the leaf whose best split lowers the loss most) on the
//! per-bin sums of the gradients and hessians of its rows, and a child's histogram is its parent's
//! minus its sibling's, so only the smaller child is ever summed over rows. The result is a
//! sequence of trees of `FlatNode`s on the (standardised) feature values, whose leaf values add up
//! to the log-odds of churn. Everything is deterministic: features are summed in parallel, rows
//! never are, and ties go to the first feature and bin.

use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::model::FlatNode;

/// The parameters of the boosting (LightGBM's names in brackets).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct BoostParams {
    /// Trees [n_estimators].
    pub trees: usize,
    /// Shrinkage of every leaf value [learning_rate].
    pub learning_rate: f64,
    /// Leaves per tree [num_leaves].
    pub leaves: usize,
    /// Fewest rows in a leaf [min_data_in_leaf].
    pub min_leaf_rows: usize,
    /// Least hessian sum in a leaf [min_sum_hessian_in_leaf].
    pub min_leaf_hessian: f64,
    /// L2 penalty on leaf values [lambda_l2].
    pub l2: f64,
    /// Most bins per feature [max_bin].
    pub max_bins: usize,
}

impl BoostParams {
    /// The defaults of `churn train`.
    pub const DEFAULT: Self = BoostParams {
        trees: 300,
        learning_rate: 0.05,
        leaves: 31,
        min_leaf_rows: 20,
        min_leaf_hessian: 1e-3,
        l2: 0.0,
        max_bins: 255,
    };
}

/// A fitted boosted model: P(churn) = sigmoid(base + Σ leaf values).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Boosted {
    /// Log-odds of the training churn rate, where every tree starts.
    pub base: f64,
    /// The parameters it was fitted with.
    pub params: BoostParams,
    /// The trees; node 0 is the root, a row goes left when its value is below the threshold.
    pub trees: Vec<Vec<FlatNode>>,
}

/// The values a feature is cut at: row `x` is in bin `#{edges ≤ x}` (NaN in the last bin).
pub(super) fn edges(column: &[f64], max_bins: usize) -> Vec<f64> {
    const SAMPLE: usize = 200_000;
    let step = column.len().div_ceil(SAMPLE).max(1);
    let mut v: Vec<f64> = column
        .iter()
        .step_by(step)
        .copied()
        .filter(|x| !x.is_nan())
        .collect();
    v.sort_by(f64::total_cmp);
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    for x in v.iter() {
        match distinct.last_mut() {
            Some((d, c)) if *d == *x => *c += 1,
            _ => distinct.push((*x, 1)),
        }
    }
    if distinct.len() <= max_bins {
        return distinct
            .windows(2)
            .map(|w| (w[0].0 + w[1].0) / 2.0)
            .collect();
    }
    // Close a bin once it holds its share of the rows; a value is never split across bins.
    let per_bin = v.len() as f64 / max_bins as f64;
    let mut out = Vec::with_capacity(max_bins);
    let mut seen = 0usize;
    for w in distinct.windows(2) {
        seen += w[0].1;
        if seen as f64 >= per_bin * (out.len() + 1) as f64 && out.len() + 1 < max_bins {
            out.push((w[0].0 + w[1].0) / 2.0);
        }
    }
    out
}

/// The features as bins, column by column, and row by row (`rows[r * features + j]`).
struct Binned {
    edges: Vec<Vec<f64>>,
    bins: Vec<Vec<u8>>,
    rows: Vec<u8>,
}

impl Binned {
    fn new(x: &Array2<f64>, max_bins: usize) -> Binned {
        let max_bins = max_bins.clamp(2, 256);
        let (edges, bins) = (0..x.ncols())
            .into_par_iter()
            .map(|j| {
                let col: Vec<f64> = x.column(j).to_vec();
                let e = edges(&col, max_bins);
                let b = col
                    .iter()
                    .map(|v| {
                        if v.is_nan() {
                            e.len() as u8
                        } else {
                            e.partition_point(|t| t <= v) as u8
                        }
                    })
                    .collect();
                (e, b)
            })
            .unzip();
        let bins: Vec<Vec<u8>> = bins;
        let mut rows = vec![0u8; x.nrows() * bins.len()];
        for (j, col) in bins.iter().enumerate() {
            for (r, b) in col.iter().enumerate() {
                rows[r * bins.len() + j] = *b;
            }
        }
        Binned { edges, bins, rows }
    }
}

/// Per-bin sums of a leaf's rows, feature after feature.
#[derive(Clone, Copy, Default)]
struct Cell {
    g: f64,
    h: f64,
    n: u32,
}

type Histogram = Vec<Vec<Cell>>;

/// A leaf being grown: its rows are `rows[start..end]`.
struct Leaf {
    node: usize,
    start: usize,
    end: usize,
    g: f64,
    h: f64,
    hist: Histogram,
    best: Option<Split>,
}

#[derive(Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    bin: usize,
}

/// Adds `rows` to `hist`, row by row: each row's bins of every feature are one read.
fn sum_rows(data: &Binned, g: &[f64], h: &[f64], rows: &[u32], hist: &mut Histogram) {
    let f = data.bins.len();
    for &r in rows {
        let r = r as usize;
        let (gr, hr) = (g[r], h[r]);
        let bins = &data.rows[r * f..(r + 1) * f];
        for (cells, &b) in hist.iter_mut().zip(bins) {
            let c = &mut cells[b as usize];
            c.g += gr;
            c.h += hr;
            c.n += 1;
        }
    }
}

/// Buffers kept from tree to tree: freshly allocated histograms of this size cost more in page
/// faults than their sums do.
#[derive(Default)]
struct Buffers {
    hists: Vec<Histogram>,
}

/// What a tree sees of the data during one boosting round.
struct Round<'a> {
    data: &'a Binned,
    g: &'a [f64],
    h: &'a [f64],
    params: &'a BoostParams,
    buffers: std::cell::RefCell<Buffers>,
}

impl Round<'_> {
    /// Leaves with fewer rows are summed on one thread: the parallel sum's overhead is larger.
    const PARALLEL_ROWS: usize = 4096;

    fn empty_histogram(&self) -> Histogram {
        let mut hist = self.buffers.borrow_mut().hists.pop().unwrap_or_else(|| {
            self.data
                .edges
                .iter()
                .map(|e| vec![Cell::default(); e.len() + 1])
                .collect()
        });
        hist.iter_mut()
            .for_each(|cells| cells.iter_mut().for_each(|c| *c = Cell::default()));
        hist
    }

    /// The per-bin sums of `rows`: large leaves in two fixed halves on two threads (so the sums,
    /// and the model, do not depend on the number of cores).
    fn histogram(&self, rows: &[u32]) -> Histogram {
        let mut hist = self.empty_histogram();
        if rows.len() < Self::PARALLEL_ROWS {
            sum_rows(self.data, self.g, self.h, rows, &mut hist);
            return hist;
        }
        let mut second = self.empty_histogram();
        let (a, b) = rows.split_at(rows.len() / 2);
        let (data, g, h) = (self.data, self.g, self.h);
        rayon::join(
            || sum_rows(data, g, h, a, &mut hist),
            || sum_rows(data, g, h, b, &mut second),
        );
        for (lf, sf) in hist.iter_mut().zip(&second) {
            for (x, y) in lf.iter_mut().zip(sf) {
                x.g += y.g;
                x.h += y.h;
                x.n += y.n;
            }
        }
        self.recycle(second);
        hist
    }

    /// Keeps a finished leaf's histogram for the next one.
    fn recycle(&self, hist: Histogram) {
        self.buffers.borrow_mut().hists.push(hist);
    }

    fn score(&self, g: f64, h: f64) -> f64 {
        g * g / (h + self.params.l2)
    }

    /// The split of a leaf that lowers the loss most, if any is allowed.
    fn best_split(&self, hist: &Histogram, g: f64, h: f64, n: usize) -> Option<Split> {
        let p = self.params;
        let parent = self.score(g, h);
        let mut best: Option<Split> = None;
        for (feature, cells) in hist.iter().enumerate() {
            let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0usize);
            for (bin, c) in cells[..cells.len() - 1].iter().enumerate() {
                gl += c.g;
                hl += c.h;
                nl += c.n as usize;
                let (gr, hr, nr) = (g - gl, h - hl, n - nl);
                if nl < p.min_leaf_rows || hl < p.min_leaf_hessian {
                    continue;
                }
                if nr < p.min_leaf_rows || hr < p.min_leaf_hessian {
                    break;
                }
                let gain = self.score(gl, hl) + self.score(gr, hr) - parent;
                if gain > 1e-12 && best.is_none_or(|b| gain > b.gain) {
                    best = Some(Split { gain, feature, bin });
                }
            }
        }
        best
    }

    fn leaf(&self, node: usize, start: usize, end: usize, hist: Histogram) -> Leaf {
        let (g, h) = hist[0]
            .iter()
            .fold((0.0, 0.0), |(g, h), c| (g + c.g, h + c.h));
        let best = self.best_split(&hist, g, h, end - start);
        Leaf {
            node,
            start,
            end,
            g,
            h,
            hist,
            best,
        }
    }

    /// Grows one tree over `rows` (reordered in place); returns its nodes and each leaf's
    /// (row range, value).
    fn grow(&self, rows: &mut [u32]) -> (Vec<FlatNode>, Vec<(usize, usize, f64)>) {
        let mut nodes = vec![FlatNode::Leaf(0.0)];
        let root = self.leaf(0, 0, rows.len(), self.histogram(rows));
        let mut leaves = vec![root];
        let mut scratch: Vec<u32> = Vec::with_capacity(rows.len());
        while leaves.len() < self.params.leaves {
            let Some((at, split)) = leaves
                .iter()
                .enumerate()
                .filter_map(|(i, l)| l.best.map(|s| (i, s)))
                .fold(None, |b: Option<(usize, Split)>, (i, s)| match b {
                    Some((_, bs)) if bs.gain >= s.gain => b,
                    _ => Some((i, s)),
                })
            else {
                break;
            };
            let parent = leaves.swap_remove(at);
            let (left, right) = self.split(parent, split, rows, &mut scratch, &mut nodes);
            leaves.push(left);
            leaves.push(right);
        }
        let lr = self.params.learning_rate;
        let out = leaves
            .into_iter()
            .map(|l| {
                let v = -lr * l.g / (l.h + self.params.l2);
                nodes[l.node] = FlatNode::Leaf(v);
                self.recycle(l.hist);
                (l.start, l.end, v)
            })
            .collect();
        (nodes, out)
    }

    /// Splits a leaf: partitions its rows (stably), sums the smaller child and subtracts it from
    /// the parent for the larger.
    fn split(
        &self,
        parent: Leaf,
        s: Split,
        rows: &mut [u32],
        scratch: &mut Vec<u32>,
        nodes: &mut Vec<FlatNode>,
    ) -> (Leaf, Leaf) {
        let bins = &self.data.bins[s.feature];
        scratch.clear();
        let mut mid = parent.start;
        for i in parent.start..parent.end {
            let r = rows[i];
            if (bins[r as usize] as usize) <= s.bin {
                rows[mid] = r;
                mid += 1;
            } else {
                scratch.push(r);
            }
        }
        rows[mid..parent.end].copy_from_slice(scratch);
        let (l, r) = (nodes.len(), nodes.len() + 1);
        nodes.push(FlatNode::Leaf(0.0));
        nodes.push(FlatNode::Leaf(0.0));
        nodes[parent.node] = FlatNode::Split {
            column: s.feature,
            threshold: self.data.edges[s.feature][s.bin],
            left: l,
            right: r,
        };
        let left_smaller = mid - parent.start <= parent.end - mid;
        let small = if left_smaller {
            self.histogram(&rows[parent.start..mid])
        } else {
            self.histogram(&rows[mid..parent.end])
        };
        let mut large = parent.hist;
        for (lf, sf) in large.iter_mut().zip(&small) {
            for (a, b) in lf.iter_mut().zip(sf) {
                a.g -= b.g;
                a.h -= b.h;
                a.n -= b.n;
            }
        }
        let (lh, rh) = if left_smaller {
            (small, large)
        } else {
            (large, small)
        };
        (
            self.leaf(l, parent.start, mid, lh),
            self.leaf(r, mid, parent.end, rh),
        )
    }
}

fn sigmoid(m: f64) -> f64 {
    1.0 / (1.0 + (-m).exp())
}

/// Fits the boosted trees to rows `x` (any scale) and labels `y` (0 or 1).
pub fn fit(x: &Array2<f64>, y: &[usize], params: &BoostParams) -> Boosted {
    let n = x.nrows();
    let data = Binned::new(x, params.max_bins);
    let rate =
        (y.iter().filter(|c| **c == 1).count() as f64 / n.max(1) as f64).clamp(1e-6, 1.0 - 1e-6);
    let base = (rate / (1.0 - rate)).ln();
    let mut margin = vec![base; n];
    let mut g = vec![0.0; n];
    let mut h = vec![0.0; n];
    let mut rows: Vec<u32> = (0..n as u32).collect();
    let mut trees = Vec::with_capacity(params.trees);
    let mut buffers = Buffers::default();
    for _ in 0..params.trees {
        g.par_iter_mut()
            .zip(h.par_iter_mut())
            .zip(margin.par_iter().zip(y.par_iter()))
            .for_each(|((g, h), (m, y))| {
                let p = sigmoid(*m);
                *g = p - *y as f64;
                *h = (p * (1.0 - p)).max(1e-16);
            });
        rows.iter_mut().enumerate().for_each(|(i, r)| *r = i as u32);
        let round = Round {
            data: &data,
            g: &g,
            h: &h,
            params,
            buffers: std::cell::RefCell::new(std::mem::take(&mut buffers)),
        };
        let (nodes, leaves) = round.grow(&mut rows);
        buffers = round.buffers.into_inner();
        for (start, end, v) in leaves {
            for &r in &rows[start..end] {
                margin[r as usize] += v;
            }
        }
        trees.push(nodes);
    }
    Boosted {
        base,
        params: *params,
        trees,
    }
}
