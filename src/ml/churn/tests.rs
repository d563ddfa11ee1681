//! Tests of the churn model.

use super::*;

/// Points where churn depends on two of five features, with noise.
fn data(n: usize) -> (Array2<f64>, Array1<usize>) {
    let mut s: u64 = 7;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64) / ((1u64 << 53) as f64) * 2.0 - 1.0
    };
    let x = Array2::from_shape_fn((n, 5), |_| next());
    let y = x
        .axis_iter(Axis(0))
        .map(|r| usize::from(r[0] + 0.5 * r[3] + 0.3 * next() > 0.2))
        .collect();
    (x, y)
}

#[test]
fn the_flat_forest_votes_like_linfa_and_its_drops_equal_recomputing() {
    let (x, y) = data(600);
    let trees = random_forest(&x, &y, 3).unwrap();
    let forest = Fitted::RandomForest {
        trees: trees.clone(),
    };
    // linfa's own predictions, tree by tree on its columns.
    let mut votes = vec![0.0; x.nrows()];
    for (tree, cols) in &trees {
        let pred: Array1<usize> = tree.predict(&x.select(Axis(1), cols));
        for (v, p) in votes.iter_mut().zip(pred.iter()) {
            *v += *p as f64;
        }
    }
    let p = forest.predict(&x);
    for (a, b) in p.iter().zip(&votes) {
        assert_eq!(*a, b / trees.len() as f64);
    }
    assert!(metrics::roc_auc(&p, &y.iter().map(|c| *c == 1).collect::<Vec<_>>()).unwrap() > 0.9);
    // Drops: the probability minus the probability with the column set to 0, for every column.
    let flat = FlatForest::new(&trees);
    for j in 0..x.ncols() {
        let mut xj = x.clone();
        xj.column_mut(j).fill(0.0);
        let pj = forest.predict(&xj);
        for i in (0..x.nrows()).step_by(37) {
            let d = flat.drops(x.row(i).as_slice().unwrap(), 0.0);
            assert!((d[j] - (p[i] - pj[i])).abs() < 1e-12, "row {i} column {j}");
        }
    }
    // The same data and seed give the same forest.
    let again = random_forest(&x, &y, 3).unwrap();
    assert_eq!(
        serde_json::to_string(&Fitted::RandomForest { trees: again }).unwrap(),
        serde_json::to_string(&forest).unwrap()
    );
}

#[test]
fn a_horizon_out_of_range_is_refused_by_name() {
    assert!(TrainOptions::DEFAULT.check().is_ok());
    for h in [6, 731] {
        let o = TrainOptions {
            horizon_days: h,
            ..TrainOptions::DEFAULT
        };
        assert!(matches!(
            o.check(),
            Err(Error::Params {
                field: "horizon_days",
                ..
            })
        ));
    }
}

#[test]
fn bins_cut_between_values_and_hold_even_shares() {
    // Few distinct values: a cut between each neighbouring pair.
    assert_eq!(gbdt::edges(&[3.0, 1.0, 2.0, 1.0, 3.0], 255), vec![1.5, 2.5]);
    // Many: at most 254 cuts (255 bins), no value split, each bin about 1/255 of the rows.
    let col: Vec<f64> = (0..10_000).map(|i| (i % 5_000) as f64).collect();
    let e = gbdt::edges(&col, 255);
    assert!(e.len() <= 254 && e.len() >= 250, "{}", e.len());
    assert!(e.windows(2).all(|w| w[0] < w[1]));
    assert!(e.iter().all(|t| t.fract() == 0.5));
    let in_first = col.iter().filter(|v| **v < e[0]).count();
    assert!((38..=42).contains(&in_first), "{in_first}");
}

#[test]
fn one_boosted_split_has_the_newton_leaf_values() {
    // y = 1 exactly when x > 0.5; one tree of two leaves at learning rate 1.
    let x = Array2::from_shape_fn((100, 1), |(i, _)| i as f64 / 100.0);
    let y: Vec<usize> = (0..100).map(|i| usize::from(i > 50)).collect();
    let params = BoostParams {
        trees: 1,
        learning_rate: 1.0,
        leaves: 2,
        ..BoostParams::DEFAULT
    };
    let b = gbdt::fit(&x, &y, &params);
    let p0: f64 = 49.0 / 100.0;
    assert!((b.base - (p0 / (1.0 - p0)).ln()).abs() < 1e-12);
    // Left: 51 stayers, g = p0, h = p0 (1 − p0) each: value −1 / (1 − p0); right: 1 / p0.
    let FlatNode::Split {
        threshold,
        left,
        right,
        ..
    } = b.trees[0][0]
    else {
        panic!("{:?}", b.trees[0]);
    };
    assert!((threshold - 0.505).abs() < 1e-12, "{threshold}");
    let (FlatNode::Leaf(l), FlatNode::Leaf(r)) = (b.trees[0][left], b.trees[0][right]) else {
        panic!("{:?}", b.trees[0]);
    };
    assert!((l + 1.0 / (1.0 - p0)).abs() < 1e-12, "{l}");
    assert!((r - 1.0 / p0).abs() < 1e-12, "{r}");
}

#[test]
fn boosted_trees_learn_predict_as_summed_and_drop_as_recomputed() {
    let (all, y) = data(6000);
    let yv: Vec<usize> = y.to_vec()[..3000].to_vec();
    let x = all.slice(ndarray::s![..3000, ..]).to_owned();
    let b = gbdt::fit(&x, &yv, &BoostParams::DEFAULT);
    assert_eq!(b.trees.len(), 300);
    assert!(b.trees.iter().all(|t| t.len() <= 61));
    let model = Fitted::GradientBoosting(b.clone());
    // On the other 3,000 rows: close to the noise-free rule r0 + 0.5 r3, the best any model
    // can do.
    let test = all.slice(ndarray::s![3000.., ..]).to_owned();
    let labels: Vec<bool> = y.iter().skip(3000).map(|c| *c == 1).collect();
    let auc = metrics::roc_auc(&model.predict(&test), &labels).unwrap();
    let rule: Vec<f64> = test.axis_iter(Axis(0)).map(|r| r[0] + 0.5 * r[3]).collect();
    let ceiling = metrics::roc_auc(&rule, &labels).unwrap();
    assert!(auc > ceiling - 0.02, "{auc} vs {ceiling}");
    let p = model.predict(&x);
    // The probability is sigmoid(base + Σ leaves), walking each tree by hand.
    for i in (0..x.nrows()).step_by(101) {
        let row = x.row(i);
        let mut sum = b.base;
        for t in &b.trees {
            let mut at = 0;
            while let FlatNode::Split {
                column,
                threshold,
                left,
                right,
            } = t[at]
            {
                at = if row[column] < threshold { left } else { right };
            }
            let FlatNode::Leaf(v) = t[at] else { panic!() };
            sum += v;
        }
        assert!((p[i] - 1.0 / (1.0 + (-sum).exp())).abs() < 1e-12);
    }
    // Drops: the probability minus the probability with the column set to 0.
    let flat = FlatForest::boosted(&b);
    for j in 0..x.ncols() {
        let mut xj = x.clone();
        xj.column_mut(j).fill(0.0);
        let pj = model.predict(&xj);
        for i in (0..x.nrows()).step_by(53) {
            let d = flat.drops(x.row(i).as_slice().unwrap(), 0.0);
            assert!((d[j] - (p[i] - pj[i])).abs() < 1e-9, "row {i} column {j}");
        }
    }
    // The same data gives the same trees, to the bit.
    let again = gbdt::fit(&x, &yv, &BoostParams::DEFAULT);
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}
