//! The fitted models on arrays: the standardisation, the flattened random forest and the fitted family (logistic or forest).

use super::*;

/// Standardisation fitted on the training cut.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scaler {
    /// Mean per feature.
    pub mean: Vec<f64>,
    /// Standard deviation per feature (1 where constant).
    pub sd: Vec<f64>,
}

impl Scaler {
    pub(crate) fn fit(x: &Array2<f64>) -> Scaler {
        let n = x.nrows() as f64;
        let mean: Vec<f64> = x.mean_axis(Axis(0)).expect("rows").to_vec();
        let sd = x
            .axis_iter(Axis(1))
            .zip(&mean)
            .map(|(c, m)| {
                let v = c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
                if v > 1e-12 { v.sqrt() } else { 1.0 }
            })
            .collect();
        Scaler { mean, sd }
    }

    pub(crate) fn apply(&self, x: &Array2<f64>) -> Array2<f64> {
        let mut z = x.clone();
        for (j, mut c) in z.axis_iter_mut(Axis(1)).enumerate() {
            c.mapv_inplace(|v| (v - self.mean[j]) / self.sd[j]);
        }
        z
    }
}

/// The fitted model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Fitted {
    /// Logistic regression on standardised features.
    Logistic {
        /// Intercept.
        intercept: f64,
        /// One coefficient per feature (standardised scale).
        coefficients: Vec<f64>,
    },
    /// A random forest: trees, each with the feature columns it was trained on.
    RandomForest {
        /// (tree, feature indices).
        trees: Vec<ForestTree>,
    },
}

/// A node of a flattened tree: a split on a column of the full feature matrix, or a leaf.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FlatNode {
    Split {
        column: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf(f64),
}

/// A forest's trees as arrays of nodes over the full feature columns, for evaluating many rows
/// fast. A row goes left when its value is below the split value (linfa's rule).
pub(crate) struct FlatForest {
    trees: Vec<Vec<FlatNode>>,
}

impl FlatForest {
    pub(crate) fn new(trees: &[ForestTree]) -> FlatForest {
        fn add(
            node: &linfa_trees::TreeNode<f64, usize>,
            cols: &[usize],
            out: &mut Vec<FlatNode>,
        ) -> usize {
            let at = out.len();
            out.push(FlatNode::Leaf(0.0));
            let children = node.children();
            match (node.is_leaf(), children[0], children[1]) {
                (false, Some(l), Some(r)) => {
                    let (feature, threshold, _) = node.split();
                    let left = add(l, cols, out);
                    let right = add(r, cols, out);
                    out[at] = FlatNode::Split {
                        column: cols[feature],
                        threshold,
                        left,
                        right,
                    };
                }
                _ => out[at] = FlatNode::Leaf(node.prediction().unwrap_or(0) as f64),
            }
            at
        }
        FlatForest {
            trees: trees
                .iter()
                .map(|(tree, cols)| {
                    let mut nodes = Vec::new();
                    add(tree.root_node(), cols, &mut nodes);
                    nodes
                })
                .collect(),
        }
    }

    /// The leaf value of `tree` for `row`, with column `changed.0` read as `changed.1`; the
    /// columns tested on the way are added to `path` (once each) when given.
    fn leaf(
        tree: &[FlatNode],
        row: &[f64],
        changed: Option<(usize, f64)>,
        mut path: Option<&mut Vec<usize>>,
    ) -> f64 {
        let mut at = 0;
        loop {
            match tree[at] {
                FlatNode::Leaf(v) => return v,
                FlatNode::Split {
                    column,
                    threshold,
                    left,
                    right,
                } => {
                    if let Some(p) = path.as_deref_mut()
                        && !p.contains(&column)
                    {
                        p.push(column);
                    }
                    let x = match changed {
                        Some((c, v)) if c == column => v,
                        _ => row[column],
                    };
                    at = if x < threshold { left } else { right };
                }
            }
        }
    }

    /// Share of trees voting churn.
    fn predict(&self, row: &[f64]) -> f64 {
        let votes: f64 = self
            .trees
            .iter()
            .map(|t| Self::leaf(t, row, None, None))
            .sum();
        votes / self.trees.len().max(1) as f64
    }

    /// For each column: the probability minus the probability with that column set to `value`.
    /// Only the columns a tree tests on the row's path can change that tree's vote.
    pub(crate) fn drops(&self, row: &[f64], value: f64) -> Vec<f64> {
        let mut out = vec![0.0; row.len()];
        let mut on_path: Vec<usize> = Vec::with_capacity(16);
        for tree in &self.trees {
            on_path.clear();
            let vote = Self::leaf(tree, row, None, Some(&mut on_path));
            for &c in &on_path {
                out[c] += vote - Self::leaf(tree, row, Some((c, value)), None);
            }
        }
        let n = self.trees.len().max(1) as f64;
        out.iter_mut().for_each(|d| *d /= n);
        out
    }
}

impl Fitted {
    /// Churn probabilities of standardised rows `z`.
    pub fn predict(&self, z: &Array2<f64>) -> Vec<f64> {
        match self {
            Fitted::Logistic {
                intercept,
                coefficients,
            } => z
                .axis_iter(Axis(0))
                .map(|r| {
                    let s: f64 = r.iter().zip(coefficients).map(|(x, c)| x * c).sum();
                    1.0 / (1.0 + (-(s + intercept)).exp())
                })
                .collect(),
            Fitted::RandomForest { trees } => {
                let flat = FlatForest::new(trees);
                let z = z.as_standard_layout();
                (0..z.nrows())
                    .into_par_iter()
                    .map(|i| flat.predict(z.row(i).as_slice().expect("standard layout")))
                    .collect()
            }
        }
    }

    /// Name of the model family.
    pub fn family(&self) -> &'static str {
        match self {
            Fitted::Logistic { .. } => "logistic_regression",
            Fitted::RandomForest { .. } => "random_forest",
        }
    }
}
