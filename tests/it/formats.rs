//! Source formats and mappings: CSV with another delimiter and decimal comma, JSON lines,
//! Parquet, and the bundled sample data through the default configuration.

use super::common::*;

#[test]
fn semicolon_csv_with_decimal_comma_jsonl_and_parquet_sources_load_through_mappings() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("export");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("orders.csv"),
        "Beleg;Pos;Datum;Kunde;Artikel;Menge;Preis;Rabatt\n\
         B1;1;03.01.2024 10:15;K1;A1;2;1.234,50;0,1\n\
         B1;2;03.01.2024 10:15;K1;A2;1;9,99;\n\
         B2;1;04.01.2024 11:00;K2;A1;3;12,00;0\n\
         B3;1;2024-01-05 12:00;K2;A1;1;12,00;0\n",
    )
    .unwrap();
    std::fs::write(
        src.join("customers.jsonl"),
        "{\"customer_id\": \"K1\", \"name\": \"Ann\", \"city\": \"Berlin\", \"birth_date\": \"1980-02-01\"}\n\
         {\"customer_id\": \"K2\", \"name\": \"Bob\", \"city\": \"Bonn\"}\n\
         {\"customer_id\": \"K3\", \"name\": \"Cy\", \"city\": \"Kiel\"\n",
    )
    .unwrap();
    let mut products = polars::prelude::df!(
        "product_id" => ["A1", "A2"],
        "name" => ["Kaffee", "Tee"],
        "unit_price" => [12.0f64, 9.99],
        "unit_cost" => [6.0f64, 4.0],
    )
    .unwrap();
    let f = std::fs::File::create(src.join("products.parquet")).unwrap();
    polars::prelude::ParquetWriter::new(f)
        .finish(&mut products)
        .unwrap();
    std::fs::write(
        d.path().join("crm-mart.toml"),
        r#"
[paths]
source = "export"
mart = "mart"
# Three-line files with one bad line each, on purpose.
[quality]
max_quarantine_share = 0.5
[sources.sales]
path = "orders.csv"
delimiter = ";"
decimal_comma = true
timestamp_format = "%d.%m.%Y %H:%M"
[sources.sales.columns]
order_id = "Beleg"
line_no = "Pos"
order_ts = "Datum"
customer_id = "Kunde"
product_id = "Artikel"
quantity = "Menge"
unit_price = "Preis"
discount = "Rabatt"
"#,
    )
    .unwrap();
    cmd(d.path()).arg("etl").assert().success();
    let mart = d.path().join("mart");
    assert_eq!(
        scalar(&mart, "fact_sales", "SELECT count(*) FROM fact_sales"),
        "3"
    );
    // 2 × 1234.50 × 0.9 = 2222.1; cost 2 × 6.0 from the Parquet products.
    assert_eq!(
        scalar(
            &mart,
            "fact_sales",
            "SELECT round(net_amount, 2) FROM fact_sales WHERE order_id = 'B1' AND line_no = 1"
        ),
        "2222.1"
    );
    assert_eq!(
        scalar(
            &mart,
            "fact_sales",
            "SELECT cost_amount FROM fact_sales WHERE order_id = 'B1' AND line_no = 1"
        ),
        "12.0"
    );
    assert_eq!(
        scalar(
            &mart,
            "fact_sales",
            "SELECT discount FROM fact_sales WHERE order_id = 'B1' AND line_no = 2"
        ),
        "0.0"
    );
    assert_eq!(
        scalar(
            &mart,
            "dim_customer",
            "SELECT birth_year FROM dim_customer WHERE customer_id = 'K1'"
        ),
        "1980"
    );
    let q = rows(&sql(
        &mart,
        "_quarantine",
        "SELECT source, file, line, split_part(reason, ':', 1) FROM _quarantine ORDER BY source",
    ));
    assert_eq!(
        q,
        vec![
            "customers|customers.jsonl|3|invalid_json",
            "sales|orders.csv|5|unparseable_timestamp"
        ]
    );
    // Stores have no source: derived as none needed, and sales without store use key 0.
    assert_eq!(
        scalar(
            &mart,
            "dim_store",
            "SELECT store_id FROM dim_store WHERE store_key = 0"
        ),
        "(unspecified)"
    );
}

#[test]
fn the_bundled_sample_data_loads_through_the_default_configuration() {
    let d = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("crm-mart.toml"), d.path().join("crm-mart.toml")).unwrap();
    let sample = d.path().join("sample-data");
    for sub in ["", "sales", "contacts"] {
        std::fs::create_dir_all(sample.join(sub)).unwrap();
        for e in std::fs::read_dir(root.join("sample-data").join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, sample.join(sub).join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    cmd(d.path()).arg("nightly").assert().success();
    let mart = d.path().join("mart");
    // Not on a terminal, the stages are quiet and the run log tells what happened.
    let log = std::fs::read_to_string(d.path().join("nightly.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(first["stage"], "etl");
    assert_eq!(first["status"], "ok");
    let planted = std::fs::read_to_string(sample.join("planted_defects.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_eq!(
        scalar(&mart, "_quarantine", "SELECT count(*) FROM _quarantine"),
        planted.to_string()
    );
    let sales_lines: usize = std::fs::read_dir(sample.join("sales"))
        .unwrap()
        .map(|e| {
            std::fs::read(e.unwrap().path())
                .unwrap()
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                - 1
        })
        .sum();
    let q_sales: usize = scalar(
        &mart,
        "_quarantine",
        "SELECT count(*) FROM _quarantine WHERE source = 'sales'",
    )
    .parse()
    .unwrap();
    assert_eq!(
        scalar(&mart, "fact_sales", "SELECT count(*) FROM fact_sales"),
        (sales_lines - q_sales).to_string()
    );
    // The later stages ran on the loaded mart: segments, a churn model, churn scores.
    let segmented: usize = scalar(
        &mart,
        "customer_segments",
        "SELECT count(*) FROM customer_segments",
    )
    .parse()
    .unwrap();
    assert!(segmented > 1500, "{segmented}");
    let scored: usize = scalar(&mart, "churn_scores", "SELECT count(*) FROM churn_scores")
        .parse()
        .unwrap();
    assert!(scored > 1000, "{scored}");
    assert!(
        std::fs::read_dir(d.path().join("models/churn"))
            .unwrap()
            .count()
            >= 2
    );
    // Run again: nothing new to load, the same facts.
    cmd(d.path()).arg("nightly").assert().success();
    let log = std::fs::read_to_string(d.path().join("nightly.jsonl")).unwrap();
    let etl: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["stage"] == "etl")
        .collect();
    assert_eq!(etl.len(), 2);
    assert_eq!(etl[0]["rows"], etl[1]["rows"]);
    let etl_out = cmd(d.path()).arg("etl").assert().success();
    assert!(String::from_utf8_lossy(&etl_out.get_output().stderr).contains("nothing to load"));
}

#[test]
fn a_parquet_sales_export_with_native_types_loads() {
    use polars::prelude::*;
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let ts = Column::new(
        "order_ts".into(),
        [1_704_103_200_000_000i64, 1_704_189_600_000_000],
    )
    .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
    .unwrap();
    let mut sales = DataFrame::new_infer_height(vec![
        Column::new("order_id".into(), ["O1", "O2"]),
        Column::new("line_no".into(), [1i64, 1]),
        ts,
        Column::new("customer_id".into(), ["C1", "C2"]),
        Column::new("product_id".into(), ["P1", "P1"]),
        Column::new("quantity".into(), [2i64, -1]),
        Column::new("unit_price".into(), [2.5f64, 2.5]),
    ])
    .unwrap();
    let f = std::fs::File::create(src.join("sales.parquet")).unwrap();
    ParquetWriter::new(f).finish(&mut sales).unwrap();
    let mart = d.path().join("mart");
    etl(d.path(), &src, &mart);
    assert_eq!(
        rows(&sql(
            &mart,
            "fact_sales",
            "SELECT order_id, date_key, net_amount, is_return FROM fact_sales ORDER BY order_id"
        )),
        vec!["O1|20240101|5.0|false", "O2|20240102|-2.5|true"]
    );
}
