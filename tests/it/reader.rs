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
        for l in std::fs::read_to_string(e.unwrap().path()).unwrap().lines().skip(1) {
            let f: Vec<&str> = l.split(',').collect();
            let (q, p, disc): (f64, f64, f64) = (f[6].parse().unwrap(), f[7].parse().unwrap(), f[8].parse().unwrap());
            lines += 1;
            total += q * p * (1.0 - disc);
        }
    }

    // Read with the parquet crate only.
    let table = mart.join("fact_sales");
    let files = live_files(&table);
    assert!(files.len() >= 3, "one file per month partition at least: {files:?}");
    let (mut rows_read, mut net) = (0u64, 0f64);
    for f in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(table.join(decode(&f))).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for b in reader {
            let b = b.unwrap();
            rows_read += b.num_rows() as u64;
            let a = b.column_by_name("net_amount").unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
            net += (0..a.len()).map(|i| a.value(i)).sum::<f64>();
        }
    }
    assert_eq!(rows_read, lines);
    assert!((net - total).abs() < 1e-6 * total.abs(), "{net} vs {total}");
}
