//! Customer models on the bundled sample data: segmentation and churn against the planted truth.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{cmd, etl, expect_bad_input, rows, sample_data, sql};

/// The seed `sample-data/` was generated with: the planted truth is `Profile::new(SAMPLE_SEED, i)`.
const SAMPLE_SEED: u64 = 42;

fn segment(dir: &Path, mart: &Path, extra: &[&str]) -> String {
    let out = cmd(dir)
        .arg("segment")
        .arg("--mart")
        .arg(mart)
        .args(extra)
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn segmentation_scores_names_and_recovers_the_planted_groups() {
    let dir = tempfile::tempdir().unwrap();
    let src = sample_data();
    let mart = dir.path().join("mart");
    etl(dir.path(), &src, &mart);
    let out = segment(dir.path(), &mart, &["--k", "5"]);
    assert!(
        out.contains("cluster") && out.contains("rfm_segment"),
        "{out}"
    );

    let table = rows(&sql(
        &mart,
        "customer_segments",
        "SELECT customer_id, r_score, f_score, m_score, rfm_segment, cluster_id, cluster_name, frequency FROM customer_segments ORDER BY customer_id",
    ));
    // Everyone who has bought is segmented, once.
    let buyers = rows(&sql(
        &mart,
        "fact_sales",
        "SELECT count(DISTINCT customer_key) FROM fact_sales WHERE NOT is_return AND customer_key <> 0",
    ));
    let buyers: usize = buyers[0].parse().unwrap();
    assert!(
        table.len() <= buyers && table.len() > buyers * 9 / 10,
        "{} of {buyers}",
        table.len()
    );
    let names = [
        "Champions",
        "Loyal",
        "Potential Loyalist",
        "New",
        "Promising",
        "Need Attention",
        "About to Sleep",
        "At Risk",
        "Can't Lose Them",
        "Hibernating",
        "Lost",
    ];
    let mut clusters = BTreeSet::new();
    let mut cluster_names = BTreeSet::new();
    let mut planted = Vec::new();
    let mut found = Vec::new();
    for r in &table {
        let f: Vec<&str> = r.split('|').collect();
        for s in &f[1..4] {
            let s: i32 = s.parse().unwrap();
            assert!((1..=5).contains(&s), "{r}");
        }
        assert!(names.contains(&f[4]), "{r}");
        clusters.insert(f[5].to_string());
        cluster_names.insert((f[5].to_string(), f[6].to_string()));
        let index: u64 = f[0][1..].parse::<u64>().unwrap() - 1;
        planted.push(format!(
            "{:?}",
            crm_mart::sample::Profile::new(SAMPLE_SEED, index).group
        ));
        found.push(f[5].to_string());
    }
    assert_eq!(clusters.len(), 5);
    // One distinct name per cluster.
    assert_eq!(cluster_names.len(), 5);
    let distinct: BTreeSet<_> = cluster_names.iter().map(|c| c.1.clone()).collect();
    assert_eq!(distinct.len(), 5, "{cluster_names:?}");
    // The planted behaviour groups are recovered.
    let ari = crm_mart::ml::metrics::adjusted_rand_index(&planted, &found);
    eprintln!("adjusted Rand index against the planted groups: {ari:.3}");
    assert!(ari >= 0.6, "adjusted Rand index {ari}");

    // Same inputs, same seed: the same table.
    segment(dir.path(), &mart, &["--k", "5"]);
    let again = rows(&sql(
        &mart,
        "customer_segments",
        "SELECT customer_id, r_score, f_score, m_score, rfm_segment, cluster_id, cluster_name, frequency FROM customer_segments ORDER BY customer_id",
    ));
    assert_eq!(again, table);

    // Bad input: a clear message, exit 1.
    let m = mart.to_str().unwrap();
    expect_bad_input(
        dir.path(),
        &["segment", "--mart", m, "--as-of", "2030-01-01"],
        &["--as-of 2030-01-01 is outside the mart's sales"],
    );
    expect_bad_input(
        dir.path(),
        &["segment", "--mart", m, "--k", "0"],
        &["'0' is not a number of clusters"],
    );
    expect_bad_input(
        dir.path(),
        &["segment", "--mart", m, "--as-of", "June"],
        &["'June' is not a date"],
    );
}

#[test]
fn churn_trains_compares_scores_and_explains() {
    let dir = tempfile::tempdir().unwrap();
    let src = sample_data();
    let mart = dir.path().join("mart");
    etl(dir.path(), &src, &mart);
    let models = dir.path().join("models");
    std::fs::write(
        dir.path().join("crm-mart.toml"),
        format!(
            "[paths]\nmart = \"{}\"\nmodels = \"{}\"\n",
            mart.display(),
            models.display()
        ),
    )
    .unwrap();
    let out = cmd(dir.path()).args(["churn", "train"]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("logistic_regression") && text.contains("gradient_boosting"),
        "{text}"
    );
    let files: Vec<_> = std::fs::read_dir(models.join("churn"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let json = files
        .iter()
        .find(|p| p.extension().unwrap() == "json")
        .unwrap();
    assert!(json.with_extension("md").exists());
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let auc = model["metrics"]["roc_auc"].as_f64().unwrap();
    eprintln!("test ROC AUC {auc:.4}");
    assert!(auc >= 0.8, "test ROC AUC {auc}");
    for k in ["pr_auc", "lift_top_decile", "brier"] {
        assert!(model["metrics"][k].as_f64().unwrap().is_finite(), "{k}");
    }
    assert_eq!(model["mart_version"], 1);
    assert!(model["features"].as_array().unwrap().len() > 30);

    cmd(dir.path()).args(["churn", "score"]).assert().success();
    let scored = rows(&sql(
        &mart,
        "churn_scores",
        "SELECT customer_id, churn_probability, risk_band, top_reasons FROM churn_scores",
    ));
    assert!(scored.len() > 400, "{}", scored.len());
    let mut explained = 0;
    let mut churners = 0;
    for r in &scored {
        let f: Vec<&str> = r.split('|').collect();
        let p: f64 = f[1].parse().unwrap();
        assert!((0.0..=1.0).contains(&p), "{r}");
        assert!(["high", "medium", "low"].contains(&f[2]), "{r}");
        // Planted churners (who stop buying before the end) are explained by the planted
        // causes: a falling purchase rate, lapsed buying, complaints.
        let index: u64 = f[0][1..].parse::<u64>().unwrap() - 1;
        if crm_mart::sample::Profile::new(SAMPLE_SEED, index)
            .churn_month
            .is_some_and(|m| m < 24)
        {
            churners += 1;
            if [
                "no purchase",
                "buying less",
                "complaint",
                "orders in the last 90 days",
            ]
            .iter()
            .any(|c| f[3].contains(c))
            {
                explained += 1;
            }
        }
    }
    assert!(churners > 20, "{churners}");
    assert!(
        explained * 10 >= churners * 8,
        "{explained} of {churners} planted churners explained by the planted causes"
    );
    let out = cmd(dir.path()).args(["models", "list"]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("churn-") && text.contains(&format!("{auc:.4}")),
        "{text}"
    );

    // Bad input: clear errors, exit 1, nothing written.
    let before = crate::common::versions(&mart);
    let scores_before = rows(&sql(
        &mart,
        "churn_scores",
        "SELECT count(*) FROM churn_scores",
    ));
    expect_bad_input(
        dir.path(),
        &["churn", "train", "--as-of", "2024-12-01"],
        &["--as-of 2024-12-01", "choose --as-of between"],
    );
    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        "{\"kind\": \"crm-mart churn model\", \"version\": ",
    )
    .unwrap();
    expect_bad_input(
        dir.path(),
        &["churn", "score", "--model", broken.to_str().unwrap()],
        &["broken.json: not a readable crm-mart churn model"],
    );
    let mut other = model.clone();
    other["features"].as_array_mut().unwrap().pop();
    other["scaler"]["mean"].as_array_mut().unwrap().pop();
    other["scaler"]["sd"].as_array_mut().unwrap().pop();
    let other_path = dir.path().join("other.json");
    std::fs::write(&other_path, other.to_string()).unwrap();
    expect_bad_input(
        dir.path(),
        &["churn", "score", "--model", other_path.to_str().unwrap()],
        &["trained on other features", "retrain"],
    );
    assert_eq!(crate::common::versions(&mart), before);
    assert_eq!(
        rows(&sql(
            &mart,
            "churn_scores",
            "SELECT count(*) FROM churn_scores"
        )),
        scores_before
    );
}
