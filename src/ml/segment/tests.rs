//! Tests of the segmentation.

use super::*;

#[test]
fn quintiles_score_the_best_five() {
    let v = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0];
    assert_eq!(quintiles(&v, true), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    assert_eq!(quintiles(&v, false), [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]);
    // Ties share the score of the first of them.
    assert_eq!(quintiles(&[1.0, 1.0, 1.0, 2.0, 3.0], true), [3, 3, 3, 4, 5]);
}

#[test]
fn rfm_grid_names_every_cell_and_all_eleven_segments() {
    let mut seen = std::collections::BTreeSet::new();
    for r in 1..=5 {
        for fm in 1..=5 {
            seen.insert(rfm_segment(r, fm));
        }
    }
    assert_eq!(seen.len(), 11, "{seen:?}");
    assert_eq!(rfm_segment(5, 5), "Champions");
    assert_eq!(rfm_segment(1, 1), "Lost");
    assert_eq!(rfm_segment(1, 5), "Can't Lose Them");
    assert_eq!(rfm_segment(5, 1), "New");
}

#[test]
fn kmeans_separates_obvious_clusters_and_names_them() {
    // Two blobs in (monetary, discount_share) space.
    let mut x = Array2::<f64>::zeros((40, 2));
    for i in 0..40 {
        let hi = i < 20;
        x[[i, 0]] = if hi { 2.0 } else { -2.0 } + (i % 5) as f64 * 0.01;
        x[[i, 1]] = if hi { -1.0 } else { 1.0 };
    }
    let (labels, _, centroids) = kmeans(&x, 2, 1, 3).unwrap();
    assert!(labels[..20].iter().all(|l| *l == labels[0]));
    assert!(labels[20..].iter().all(|l| *l == labels[20]));
    assert_ne!(labels[0], labels[20]);
    let names = name_clusters(
        &centroids,
        &["monetary".into(), "discount_share".into()],
        &[20, 20],
    );
    assert!(names.contains(&"High spenders".to_string()), "{names:?}");
    let other = &names[labels[20]];
    assert!(
        other == "Low spenders" || other == "Bargain hunters",
        "{names:?}"
    );
}
#[test]
fn kmeans_on_more_rows_than_the_warm_start_sample_finds_the_planted_blobs() {
    // 150,000 points around 5 centres in 4 dimensions, unit-variance noise: above
    // KMEANS_SEED_ROWS, so each run starts from a fit on a sample.
    let (n, dims, k) = (150_000usize, 4usize, 5usize);
    assert!(n > KMEANS_SEED_ROWS);
    let centres = [
        [0.0, 0.0, 0.0, 0.0],
        [8.0, 0.0, 0.0, 0.0],
        [0.0, 8.0, 0.0, 0.0],
        [0.0, 0.0, 8.0, 0.0],
        [4.0, 4.0, 4.0, 8.0],
    ];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut x = Array2::<f64>::zeros((n, dims));
    let mut truth = vec![0usize; n];
    let mut planted_ss = 0.0;
    for i in 0..n {
        let c = i % k;
        truth[i] = c;
        for j in 0..dims {
            // Box-Muller.
            let z = (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
            x[[i, j]] = centres[c][j] + z;
            planted_ss += z * z;
        }
    }
    let (labels, inertia, centroids) = kmeans(&x, k, 42, 2).unwrap();
    // Every planted centre has a fitted centroid next to it.
    for c in &centres {
        let nearest = (0..k)
            .map(|r| {
                (0..dims)
                    .map(|j| (centroids[[r, j]] - c[j]).powi(2))
                    .sum::<f64>()
            })
            .fold(f64::INFINITY, f64::min);
        assert!(
            nearest < 0.01,
            "centre {c:?}: nearest centroid at {nearest}"
        );
    }
    // The partition is the planted one, and the inertia is the planted noise's (a fit can
    // only be at or just below it).
    let ari = metrics::adjusted_rand_index(&labels, &truth);
    assert!(ari > 0.99, "adjusted Rand index {ari}");
    assert!(
        inertia <= planted_ss * 1.001 && inertia >= planted_ss * 0.99,
        "inertia {inertia} against the planted {planted_ss}"
    );
}

#[test]
fn options_out_of_range_are_refused_by_name() {
    assert!(SegmentOptions::DEFAULT.check().is_ok());
    let k = SegmentOptions {
        k: Some(51),
        ..SegmentOptions::DEFAULT
    };
    match k.check() {
        Err(Error::Params { field, why }) => {
            assert_eq!((field, why.as_str()), ("k", "51: use 1 to 50, or auto"))
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let runs = SegmentOptions {
        n_runs: 0,
        ..SegmentOptions::DEFAULT
    };
    assert!(matches!(
        runs.check(),
        Err(Error::Params {
            field: "n_runs",
            ..
        })
    ));
}
