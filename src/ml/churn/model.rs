//! The fitted models on arrays: the standardisation, the flattened tree ensembles and the fitted family (logistic, forest or boosted trees).

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
    /// Gradient-boosted trees on standardised features.
    GradientBoosting(Boosted),
}

/// A node of a flattened tree: a split on a column of the full feature matrix, or a leaf.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum FlatNode {
    /// Rows whose `column` is below `threshold` go to node `left`, the others to `right`.
    Split {
        /// Feature column.
        column: usize,
        /// Split value.
        threshold: f64,
        /// Node index of the lower side.
        left: usize,
        /// Node index of the upper side.
        right: usize,
    },
    /// A leaf's value.
    Leaf(f64),
}

/// How a flat forest's leaf values become a probability.
#[derive(Debug, Clone, Copy)]
enum Combine {
    /// The mean of the trees' votes (a random forest).
    Mean,
    /// sigmoid(base + the sum of the leaf values) (boosted trees).
    Logit(f64),
}

/// A forest's trees as arrays of nodes over the full feature columns, for evaluating many rows
/// fast. A row goes left when its value is below the split value (linfa's rule).
pub(crate) struct FlatForest {
    trees: Vec<Vec<FlatNode>>,
    combine: Combine,
}

fn sigmoid(m: f64) -> f64 {
    1.0 / (1.0 + (-m).exp())
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
            combine: Combine::Mean,
        }
    }

    /// The boosted trees of `b`.
    pub(crate) fn boosted(b: &Boosted) -> FlatForest {
        FlatForest {
            trees: b.trees.clone(),
            combine: Combine::Logit(b.base),
        }
    }

    /// The fitted trees of a tree family (None for logistic regression).
    pub(crate) fn of(model: &Fitted) -> Option<FlatForest> {
        match model {
            Fitted::Logistic { .. } => None,
            Fitted::RandomForest { trees } => Some(FlatForest::new(trees)),
            Fitted::GradientBoosting(b) => Some(FlatForest::boosted(b)),
        }
    }

    /// The probability from the sum of the leaf values.
    fn probability(&self, sum: f64) -> f64 {
        match self.combine {
            Combine::Mean => sum / self.trees.len().max(1) as f64,
            Combine::Logit(base) => sigmoid(base + sum),
        }
    }

    /// The leaf value of `tree` for `row`, with column `changed.0` read as `changed.1`. When
    /// `path` is given as (columns, value), the columns tested on the way whose test would go the
    /// other way were they `value` are added to it (once each): only those can change the leaf.
    fn leaf(
        tree: &[FlatNode],
        row: &[f64],
        changed: Option<(usize, f64)>,
        mut path: Option<(&mut Vec<usize>, f64)>,
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
                    if let Some((p, value)) = path.as_mut()
                        && (row[column] < threshold) != (*value < threshold)
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

    /// P(churn) of a row: the share of trees voting churn, or the boosted log-odds.
    fn predict(&self, row: &[f64]) -> f64 {
        let sum: f64 = self
            .trees
            .iter()
            .map(|t| Self::leaf(t, row, None, None))
            .sum();
        self.probability(sum)
    }

    /// Probabilities of standardised rows `z`, in parallel.
    fn predict_rows(&self, z: &Array2<f64>) -> Vec<f64> {
        let z = z.as_standard_layout();
        (0..z.nrows())
            .into_par_iter()
            .map(|i| self.predict(z.row(i).as_slice().expect("standard layout")))
            .collect()
    }

    /// For each column: the probability minus the probability with that column set to `value`.
    /// Only the columns a tree tests on the row's path can change that tree's vote.
    pub(crate) fn drops(&self, row: &[f64], value: f64) -> Vec<f64> {
        // The change of the leaf-value sum per column, then of the probability.
        // A column whose every test on the row's path goes the same way at `value` leaves the
        // tree's leaf as it is: only the others are walked again.
        let mut delta = vec![0.0; row.len()];
        let mut diverging: Vec<usize> = Vec::with_capacity(16);
        let mut sum = 0.0;
        for tree in &self.trees {
            diverging.clear();
            let v = Self::leaf(tree, row, None, Some((&mut diverging, value)));
            sum += v;
            for &c in &diverging {
                delta[c] += v - Self::leaf(tree, row, Some((c, value)), None);
            }
        }
        let p = self.probability(sum);
        delta
            .iter()
            .map(|d| match self.combine {
                _ if *d == 0.0 => 0.0,
                Combine::Mean => d / self.trees.len().max(1) as f64,
                Combine::Logit(_) => p - self.probability(sum - d),
            })
            .collect()
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
            Fitted::RandomForest { trees } => FlatForest::new(trees).predict_rows(z),
            Fitted::GradientBoosting(b) => FlatForest::boosted(b).predict_rows(z),
        }
    }

    /// Name of the model family.
    pub fn family(&self) -> &'static str {
        match self {
            Fitted::Logistic { .. } => "logistic_regression",
            Fitted::RandomForest { .. } => "random_forest",
            Fitted::GradientBoosting(_) => "gradient_boosting",
        }
    }
}
