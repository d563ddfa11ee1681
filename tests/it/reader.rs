//! The mart is plain Delta Lake: an independent reader (the parquet crate, following the Delta
//! log by hand) sees the same rows and totals as the source files.

use std::collections::BTreeSet;
use std::fs::File;

use arrow::array::{Array, Float64Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::common::*;

/// Data files of a Delta table at its latest version, from the JSON commit log.
fn live_files(table: &std::path::Path) -> BTreeSet<String> {
    let mut logs: Vec<_> = std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    logs.sort();
    let mut live = BTreeSet::new();
    for log in logs {
        for line in std::fs::read_to_string(log).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(p) = v.pointer("/add/path").and_then(|p| p.as_str()) {
                live.insert(p.to_string());
            }
            if let Some(p) = v.pointer("/remove/path").and_then(|p| p.as_str()) {
                live.remove(p);
            }
        }
    }
    live
}

fn decode(p: &str) -> String {
    p.replace("%3D", "=")
}

#[test]
fn parquet_files_read_independently_match_the_source_totals() {
    let d = tempfile::tempdir().unwrap();
    let src = generate(d.path(), 300, 3, 0.0);
    let mart = d.path().join("mart");
    etl(d.path(), &src, &mart);

    // Expected from the source CSVs.
    let (mut lines, mut total) = (0u64, 0f64);
    for e in std::fs::read_dir(src.join("sales")).unwrap() {
        for l in std::fs::read_to_string(e.unwrap().path())
            .unwrap()
            .lines()
            .skip(1)
        {
            let f: Vec<&str> = l.split(',').collect();
            let (q, p, disc): (f64, f64, f64) = (
                f[6].parse().unwrap(),
                f[7].parse().unwrap(),
                f[8].parse().unwrap(),
            );
            lines += 1;
            total += q * p * (1.0 - disc);
        }
    }

    // Read with the parquet crate only.
    let table = mart.join("fact_sales");
    let files = live_files(&table);
    assert!(
        files.len() >= 3,
        "one file per month partition at least: {files:?}"
    );
    let (mut rows_read, mut net) = (0u64, 0f64);
    for f in files {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(File::open(table.join(decode(&f))).unwrap())
                .unwrap()
                .build()
                .unwrap();
        for b in reader {
            let b = b.unwrap();
            rows_read += b.num_rows() as u64;
            let a = b
                .column_by_name("net_amount")
                .unwrap()
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap();
            net += (0..a.len()).map(|i| a.value(i)).sum::<f64>();
        }
    }
    assert_eq!(rows_read, lines);
    assert!((net - total).abs() < 1e-6 * total.abs(), "{net} vs {total}");
}

/// Python's `deltalake` (delta-rs bindings, the reader most analysts would use) opens every
/// mart table and sees the same row counts and totals. Runs when CRM_MART_PYTHON points to a
/// Python with deltalake and pyarrow (`.ci/run` sets it up); with CI=true it must run.
#[test]
fn python_deltalake_reads_the_mart_and_agrees() {
    let Ok(python) = std::env::var("CRM_MART_PYTHON") else {
        assert!(
            std::env::var("CI").map(|v| v != "true").unwrap_or(true),
            "CI=true but CRM_MART_PYTHON is not set: .ci/run installs deltalake in a venv"
        );
        eprintln!("skipped: set CRM_MART_PYTHON to a Python with deltalake and pyarrow");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let src = generate(d.path(), 300, 3, 0.02);
    let mart = d.path().join("mart");
    etl(d.path(), &src, &mart);
    let script = r#"
import sys
from deltalake import DeltaTable
import pyarrow.compute as pc
mart = sys.argv[1]
for name in ["dim_date", "dim_customer", "dim_product", "dim_store", "dim_campaign", "fact_sales", "fact_contacts", "_quarantine", "_etl_runs"]:
    t = DeltaTable(f"{mart}/{name}").to_pyarrow_table()
    print(name, t.num_rows)
t = DeltaTable(f"{mart}/fact_sales").to_pyarrow_table()
print("net", round(pc.sum(t["net_amount"]).as_py(), 4))
# deltalake's runtime threads can abort the interpreter at shutdown; the answer is complete here.
sys.stdout.flush()
import os
os._exit(0)
"#;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&mart)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for t in crm_mart::mart::schema::ETL_TABLES {
        let n = scalar(&mart, t, &format!("SELECT count(*) FROM {t}"));
        assert!(
            text.contains(&format!("{t} {n}\n")),
            "{t}: ours {n}, python: {text}"
        );
    }
    let net: f64 = scalar(
        &mart,
        "fact_sales",
        "SELECT round(sum(net_amount), 4) FROM fact_sales",
    )
    .parse()
    .unwrap();
    let py: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("net "))
        .unwrap()
        .parse()
        .unwrap();
    assert!((net - py).abs() < 1e-6 * net.abs(), "{net} vs {py}");
}
