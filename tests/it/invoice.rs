//! A real export shape: a single invoice-line file loaded through a mapping only.

use super::common::*;

#[test]
fn an_invoice_line_export_loads_with_only_a_mapping() {
    let d = tempfile::tempdir().unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/online_retail");
    for f in ["online_retail.csv", "crm-mart.toml"] {
        std::fs::copy(fixture.join(f), d.path().join(f)).unwrap();
    }
    let out = cmd(d.path()).arg("etl").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("sales"), "{stdout}");
    let mart = d.path().join("mart");

    // 19 lines: 1 exact duplicate, 1 negative price (bad-debt adjustment), 1 non-numeric
    // quantity, 1 date in another format → 4 quarantined, 15 loaded.
    assert_eq!(
        scalar(&mart, "fact_sales", "SELECT count(*) FROM fact_sales"),
        "15"
    );
    let reasons = rows(&sql(
        &mart,
        "_quarantine",
        "SELECT line, split_part(reason, ':', 1), \"column\", value FROM _quarantine ORDER BY line",
    ));
    assert_eq!(
        reasons,
        vec![
            "8|duplicate_row|∅|∅",
            "16|out_of_range|unit_price|-11062.06",
            "19|not_a_number|quantity|two",
            "20|unparseable_timestamp|order_ts|2011-12-09 13:05",
        ]
    );

    // Returns: the two cancelled invoices.
    assert_eq!(
        scalar(
            &mart,
            "fact_sales",
            "SELECT count(*) FROM fact_sales WHERE is_return"
        ),
        "2"
    );
    assert_eq!(
        scalar(
            &mart,
            "fact_sales",
            "SELECT sum(net_amount) FROM fact_sales WHERE is_return"
        ),
        "-32.15"
    );
    // Anonymous lines are kept, on the reserved customer key 0.
    assert_eq!(
        scalar(
            &mart,
            "fact_sales",
            "SELECT count(*) FROM fact_sales WHERE customer_key = 0"
        ),
        "3"
    );
    // Line numbers derived per invoice in file order.
    assert_eq!(
        scalar(
            &mart,
            "fact_sales",
            "SELECT max(line_no) FROM fact_sales WHERE order_id = '536365'"
        ),
        "3"
    );
    // Products and customers derived from the lines, with descriptions and countries.
    assert_eq!(
        scalar(
            &mart,
            "dim_product",
            "SELECT name FROM dim_product WHERE product_id = '22745'"
        ),
        "POPPY'S PLAYHOUSE BEDROOM, PINK"
    );
    assert_eq!(
        scalar(
            &mart,
            "dim_customer",
            "SELECT country FROM dim_customer WHERE customer_id = '12583'"
        ),
        "France"
    );
    assert_eq!(
        scalar(
            &mart,
            "dim_customer",
            "SELECT customer_id FROM dim_customer WHERE customer_key = 0"
        ),
        "(anonymous)"
    );
    // Net amount = quantity × unit price × (1 − discount); no cost known → no margin.
    assert_eq!(
        scalar(
            &mart,
            "fact_sales",
            "SELECT net_amount FROM fact_sales WHERE order_id = '536367' AND line_no = 1"
        ),
        "54.08"
    );
    assert_eq!(
        scalar(&mart, "fact_sales", "SELECT count(margin) FROM fact_sales"),
        "0"
    );
    // Dates: December 2010 and 2011.
    assert_eq!(
        scalar(&mart, "dim_date", "SELECT min(date_key) FROM dim_date"),
        "20100101"
    );
    assert_eq!(
        scalar(&mart, "dim_date", "SELECT max(date_key) FROM dim_date"),
        "20111231"
    );
}

/// A file conformed in slices of two rows (orders span slices; the export has no line numbers,
/// so lines are numbered per order across slices) loads exactly as in one slice.
#[test]
fn a_fact_file_cut_into_slices_loads_exactly_as_one() {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/online_retail");
    let load = |slice_rows: Option<&str>| {
        let d = tempfile::tempdir().unwrap();
        for f in ["online_retail.csv", "crm-mart.toml"] {
            std::fs::copy(fixture.join(f), d.path().join(f)).unwrap();
        }
        let mut c = cmd(d.path());
        if let Some(n) = slice_rows {
            c.env("CRM_MART_ETL_SLICE_ROWS", n);
        }
        c.arg("etl").assert().success();
        let mart = d.path().join("mart");
        let facts = rows(&sql(
            &mart,
            "fact_sales",
            "SELECT order_id, line_no, customer_key, product_key, store_key, net_amount, \
             is_return, date_key FROM fact_sales ORDER BY order_id, line_no",
        ));
        let quarantine = rows(&sql(
            &mart,
            "_quarantine",
            "SELECT line, reason FROM _quarantine ORDER BY line",
        ));
        (facts, quarantine, d)
    };
    let (whole, whole_q, _a) = load(None);
    let (sliced, sliced_q, _b) = load(Some("2"));
    assert_eq!(whole.len(), 15, "{whole:?}");
    assert_eq!(sliced, whole);
    assert_eq!(sliced_q, whole_q);
    // Some order has several lines, numbered 1, 2, ... in file order.
    assert!(
        whole.iter().any(|r| r.split('|').nth(1) == Some("2")),
        "{whole:?}"
    );
}
