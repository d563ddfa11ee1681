//! Tests of the input readers.

use super::*;
use crate::util::dates::from_epoch_day;

fn spec(path: &Path, delimiter: Delimiter) -> InputSpec {
    InputSpec {
        path: path.to_path_buf(),
        delimiter,
        header: true,
        customer: Column::Name("customer".into()),
        date: Column::Index(2),
        amount: Column::Name("Amount".into()),
        date_format: None,
    }
}

#[test]
fn parallel_and_streaming_readers_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mut plain = String::from("customer,date,amount\r\n\n");
    let mut quoted = plain.clone();
    for i in 0..5000 {
        let line = format!(
            "c{},2024-0{}-1{} 10:00:00,{}.5\r\n",
            i % 37,
            1 + i % 9,
            i % 10,
            i
        );
        plain.push_str(&line);
        quoted.push_str(&format!(
            "\"c{}\",\"2024-0{}-1{} 10:00:00\",{}.5\r\n",
            i % 37,
            1 + i % 9,
            i % 10,
            i
        ));
    }
    std::fs::write(dir.path().join("plain.csv"), &plain).unwrap();
    std::fs::write(dir.path().join("quoted.csv"), &quoted).unwrap();
    let a = read_transactions(&spec(&dir.path().join("plain.csv"), Delimiter::Auto)).unwrap();
    let b = read_transactions(&spec(&dir.path().join("quoted.csv"), Delimiter::Comma)).unwrap();
    assert_eq!(a.ids, b.ids);
    assert_eq!(a.rows.len(), 5000);
    for (x, y) in a.rows.iter().zip(&b.rows) {
        assert_eq!((x.customer, x.day, x.amount), (y.customer, y.day, y.amount));
    }
    assert_eq!(
        a.rows[3].day,
        epoch_day(NaiveDate::from_ymd_opt(2024, 4, 13).unwrap())
    );
    // The same bad value is reported at the same line by both readers.
    let bad = plain.replace("c5,2024-06-15 10:00:00,5.5", "c5,2024-06-15 10:00:00,5x");
    std::fs::write(dir.path().join("plain.csv"), &bad).unwrap();
    let qbad = quoted.replace(
        "\"c5\",\"2024-06-15 10:00:00\",5.5",
        "\"c5\",\"2024-06-15 10:00:00\",5x",
    );
    std::fs::write(dir.path().join("quoted.csv"), &qbad).unwrap();
    for f in ["plain.csv", "quoted.csv"] {
        let e = read_transactions(&spec(&dir.path().join(f), Delimiter::Comma))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 8, column amount") && e.contains("\"5x\""),
            "{f}: {e}"
        );
    }
}

#[test]
fn dates() {
    let d = |s| fast_epoch_day(s).map(from_epoch_day).map(|d| d.to_string());
    assert_eq!(d("2024-02-29"), Some("2024-02-29".into()));
    assert_eq!(d("20240229"), Some("2024-02-29".into()));
    assert_eq!(d("2024-02-29T23:59:59Z"), Some("2024-02-29".into()));
    assert_eq!(d("2023-02-29"), None);
    assert_eq!(d("2024-2-9"), None);
    assert_eq!(d("2024-02-29x"), None);
    assert_eq!(
        parse_date("29/02/2024", Some("%d/%m/%Y")).map(|d| d.to_string()),
        Some("2024-02-29".into())
    );
}

#[test]
fn a_summary_header_is_recognised_in_any_case_and_separator() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("ID,frequency,recency,T\n1,2,30.4,38.9\n", true),
        ("customer\tFrequency\tRecency\tt\tmonetary_value\n", true),
        ("id;frequency;recency;T", true),
        ("customer_id,date,amount\nc1,2024-01-03,10\n", false),
        ("ID,frequency,recency\n", false),
    ];
    for (k, (text, want)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("f{k}.csv"));
        std::fs::write(&path, text).unwrap();
        assert_eq!(
            has_summary_header(&path, Delimiter::Auto).unwrap(),
            *want,
            "{text:?}"
        );
    }
    let e = has_summary_header(&dir.path().join("missing.csv"), Delimiter::Auto).unwrap_err();
    assert!(e.to_string().contains("missing.csv"), "{e}");
}
