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
