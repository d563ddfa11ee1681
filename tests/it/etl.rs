//! ETL: nothing lost, every defect quarantined with the right reason, idempotent, incremental,
//! SCD2, bad input.

use std::collections::HashMap;

use predicates::str::contains;

use super::common::*;

#[test]
fn every_planted_defect_is_quarantined_with_its_reason_and_nothing_else_is() {
    let d = tempfile::tempdir().unwrap();
    let src = generate(d.path(), 400, 4, 0.03);
    let mart = d.path().join("mart");
    let out = etl(d.path(), &src, &mart);
    assert!(
        out.contains("sales") && out.contains("quarantined"),
        "{out}"
    );

    // rows_read = rows_loaded + rows_quarantined per entity, and matches the facts.
    for r in rows(&sql(
        &mart,
        "_etl_runs",
        "SELECT entity, rows_read, rows_loaded, rows_quarantined FROM _etl_runs",
    )) {
        let f: Vec<&str> = r.split('|').collect();
        let (read, loaded, q): (u64, u64, u64) = (
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
        );
        assert_eq!(read, loaded + q, "{r}");
    }
    let loaded_sales = scalar(
        &mart,
        "_etl_runs",
        "SELECT rows_loaded FROM _etl_runs WHERE entity = 'sales'",
    );
    assert_eq!(
        loaded_sales,
        scalar(&mart, "fact_sales", "SELECT count(*) FROM fact_sales")
    );

    // Each planted defect → a quarantine row at that file and line with the expected reason.
    let expected: HashMap<&str, &str> = crm_mart::sample::DEFECT_KINDS.iter().copied().collect();
    let planted = std::fs::read_to_string(src.join("planted_defects.csv")).unwrap();
    let quarantine: HashMap<(String, String), String> = rows(&sql(
        &mart,
        "_quarantine",
        "SELECT file, line, reason FROM _quarantine",
    ))
    .into_iter()
    .map(|r| {
        let f: Vec<&str> = r.splitn(3, '|').collect();
        ((f[0].to_string(), f[1].to_string()), f[2].to_string())
    })
    .collect();
    let mut kinds_seen = std::collections::HashSet::new();
    let mut n = 0;
    for line in planted.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let reason = quarantine
            .get(&(f[0].to_string(), f[1].to_string()))
            .unwrap_or_else(|| panic!("planted {line} was not quarantined"));
        let code = expected[f[2]];
        assert!(
            reason.starts_with(&format!("{code}:")),
            "{line}: got {reason}"
        );
        kinds_seen.insert(f[2]);
        n += 1;
    }
    assert_eq!(
        kinds_seen.len(),
        expected.len(),
        "every defect kind planted: {kinds_seen:?}"
    );
    assert_eq!(quarantine.len(), n, "clean rows were quarantined too");

    // reason_code is the code alone, on every row, so GROUP BY gives one row per reason.
    let by_code = rows(&sql(
        &mart,
        "_quarantine",
        "SELECT reason_code, count(*) FROM _quarantine GROUP BY reason_code ORDER BY reason_code",
    ));
    let mut want: Vec<&str> = expected.values().copied().collect();
    want.sort();
    want.dedup();
    let codes: Vec<&str> = by_code
        .iter()
        .map(|r| r.split('|').next().unwrap())
        .collect();
    assert_eq!(codes, want, "{by_code:?}");
    assert_eq!(
        scalar(
            &mart,
            "_quarantine",
            "SELECT count(*) FROM _quarantine WHERE reason_code IS NULL \
             OR reason NOT LIKE reason_code || ': %'"
        ),
        "0"
    );

    // `crm-mart quarantine` summarises the batch: counts by entity and code that add up to the
    // quarantine, shares of the entity's rows read, and three samples per group.
    let out = cmd(d.path())
        .args(["quarantine", "--mart"])
        .arg(&mart)
        .args(["--format", "json"])
        .assert()
        .success();
    let j: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(j["seq"], 1);
    assert_eq!(j["rows_quarantined"].as_u64().unwrap(), n as u64);
    let groups = j["groups"].as_array().unwrap();
    let total: u64 = groups.iter().map(|g| g["rows"].as_u64().unwrap()).sum();
    assert_eq!(total, n as u64);
    let read_sales: f64 = scalar(
        &mart,
        "_etl_runs",
        "SELECT rows_read FROM _etl_runs WHERE entity = 'sales'",
    )
    .parse()
    .unwrap();
    for g in groups {
        let rows = g["rows"].as_u64().unwrap();
        let samples = g["samples"].as_array().unwrap();
        assert_eq!(samples.len() as u64, rows.min(3), "{g}");
        for s in samples {
            assert!(
                s["reason"]
                    .as_str()
                    .unwrap()
                    .starts_with(g["code"].as_str().unwrap()),
                "{g}"
            );
        }
        if g["entity"] == "sales" {
            let share = g["share"].as_f64().unwrap();
            assert!((share - rows as f64 / read_sales).abs() < 1e-9, "{g}");
        }
    }
    // Most rows first.
    assert!(
        groups
            .windows(2)
            .all(|w| w[0]["rows"].as_u64() >= w[1]["rows"].as_u64())
    );
    let text = cmd(d.path())
        .args(["quarantine", "--mart"])
        .arg(&mart)
        .assert()
        .success();
    let text = String::from_utf8(text.get_output().stdout.clone()).unwrap();
    assert!(
        text.starts_with("batch 1 (") && text.contains(&format!("{n} of ")),
        "{text}"
    );
    assert!(
        text.contains("reason_code") && text.contains(" line "),
        "{text}"
    );
    expect_bad_input(
        d.path(),
        &[
            "quarantine",
            "--mart",
            mart.to_str().unwrap(),
            "--batch",
            "9",
        ],
        &["9 is not an ETL batch", "1 to 1"],
    );
}

#[test]
fn loading_the_same_source_twice_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let src = generate(d.path(), 150, 2, 0.01);
    let mart = d.path().join("mart");
    etl(d.path(), &src, &mart);
    let before = versions(&mart);
    let snap = snapshot(&mart);
    etl_cmd(d.path(), &src, &mart)
        .assert()
        .success()
        .stderr(contains("nothing to load"));
    assert_eq!(before, versions(&mart));
    assert_eq!(snap, snapshot(&mart));
}

#[test]
fn a_new_month_loads_incrementally_and_a_move_makes_a_second_customer_version() {
    let d = tempfile::tempdir().unwrap();
    let src = generate(d.path(), 2000, 4, 0.0);
    let mart = d.path().join("mart");
    etl(d.path(), &src, &mart);
    let sales_before: u64 = scalar(&mart, "fact_sales", "SELECT count(*) FROM fact_sales")
        .parse()
        .unwrap();
    let versions_before: u64 = scalar(&mart, "dim_customer", "SELECT count(*) FROM dim_customer")
        .parse()
        .unwrap();
    // Regenerate with one more month into the same directory: old month files are identical.
    generate(d.path(), 2000, 5, 0.0);
    etl(d.path(), &src, &mart);
    let runs = rows(&sql(
        &mart,
        "_etl_runs",
        "SELECT seq, entity, files FROM _etl_runs WHERE seq = 2 AND entity = 'sales'",
    ));
    assert_eq!(runs.len(), 1);
    assert!(
        runs[0].contains("sales/2023-05.csv") && !runs[0].contains("2023-04"),
        "{}",
        runs[0]
    );
    let month5_lines = std::fs::read_to_string(src.join("sales/2023-05.csv"))
        .unwrap()
        .lines()
        .count() as u64
        - 1;
    let sales_after: u64 = scalar(&mart, "fact_sales", "SELECT count(*) FROM fact_sales")
        .parse()
        .unwrap();
    assert_eq!(sales_after, sales_before + month5_lines);

    // Customers who moved in the new month have two versions; the old one is closed.
    let moved: u64 = scalar(&mart, "dim_customer", "SELECT count(*) FROM (SELECT customer_id FROM dim_customer GROUP BY customer_id HAVING count(*) = 2)").parse().unwrap();
    assert!(moved > 0, "no customer moved");
    let versions_after: u64 = scalar(&mart, "dim_customer", "SELECT count(*) FROM dim_customer")
        .parse()
        .unwrap();
    assert!(versions_after > versions_before);
    let open_old: u64 = scalar(&mart, "dim_customer", "SELECT count(*) FROM dim_customer c WHERE NOT is_current AND valid_to > TIMESTAMP '2199-01-01'").parse().unwrap();
    assert_eq!(open_old, 0);
    assert_eq!(
        scalar(
            &mart,
            "dim_customer",
            "SELECT count(*) FROM (SELECT customer_id FROM dim_customer WHERE is_current GROUP BY customer_id HAVING count(*) > 1)"
        ),
        "0"
    );

    // Every fact points to the customer version valid at its timestamp.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let wrong = rt.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        for t in ["fact_sales", "dim_customer"] {
            let table = crm_mart::mart::delta::Mart::new(&mart).open(t).await.unwrap().unwrap();
            table.update_datafusion_session(&ctx.state()).unwrap();
            ctx.register_table(t, table.table_provider().await.unwrap()).unwrap();
        }
        let q = "SELECT count(*) AS n, sum(CASE WHEN f.order_ts >= c.valid_from AND f.order_ts < c.valid_to THEN 0 ELSE 1 END) AS wrong, \
                 sum(CASE WHEN c.valid_from > TIMESTAMP '1901-01-01' THEN 1 ELSE 0 END) AS on_new_version \
                 FROM fact_sales f JOIN dim_customer c ON f.customer_key = c.customer_key";
        rows(&ctx.sql(q).await.unwrap().collect().await.unwrap())
    });
    let f: Vec<u64> = wrong[0].split('|').map(|x| x.parse().unwrap()).collect();
    assert_eq!(f[0], sales_after, "every fact joins a customer version");
    assert_eq!(f[1], 0, "facts outside their customer version's validity");
    assert!(f[2] > 0, "no fact uses a second version");
}

#[test]
fn a_missing_required_column_fails_with_file_column_and_columns_found_and_commits_nothing() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("sales.csv"),
        "order_id,line_no,customer_id,product_id,quantity,unit_price\nA,1,C1,P1,1,2.5\n",
    )
    .unwrap();
    let mart = d.path().join("mart");
    etl_cmd(d.path(), &src, &mart)
        .assert()
        .code(1)
        .stderr(contains("sales.csv"))
        .stderr(contains("missing required column 'order_ts'"))
        .stderr(contains(
            "columns found: order_id, line_no, customer_id, product_id, quantity, unit_price",
        ))
        .stderr(contains("[sources.sales.columns]"));
    assert!(versions(&mart).iter().all(|(_, v)| v.is_none()));
}

#[test]
fn missing_sources_and_broken_config_exit_1_with_a_clear_message() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    expect_bad_input(
        dir,
        &["etl", "--source", "nowhere", "--mart", "m"],
        &["nowhere", "source directory not found"],
    );
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    expect_bad_input(
        dir,
        &["etl", "--source", "empty", "--mart", "m"],
        &["no sales files found"],
    );
    let config = dir.join("crm-mart.toml");
    std::fs::write(&config, "[sources.sales]\ncolumns = { order_id = 5 }\n").unwrap();
    expect_bad_input(dir, &["etl"], &["crm-mart.toml"]);
    std::fs::write(
        &config,
        "[paths]\nsource = \"empty\"\n[sources.customers]\npath = \"kunden.csv\"\n",
    )
    .unwrap();
    expect_bad_input(dir, &["etl"], &["kunden.csv", "matches no file"]);
    expect_bad_input(
        dir,
        &["generate", "--out", "x", "--dirty-rate", "2"],
        &["between 0 and 0.5"],
    );
}

#[test]
fn a_second_run_while_one_holds_the_lock_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let src = generate(d.path(), 20, 1, 0.0);
    let mart = d.path().join("mart");
    let _held = crm_mart::etl::lock_mart(&mart).unwrap();
    etl_cmd(d.path(), &src, &mart)
        .assert()
        .code(1)
        .stderr(contains("locked by another crm-mart run"));
}
