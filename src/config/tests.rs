//! Tests of the configuration.

use super::*;

#[test]
fn wildcards_match_like_a_shell() {
    assert!(wildcard_match(b"*.csv", b"2024-01.csv"));
    assert!(wildcard_match(b"sales_??.csv", b"sales_01.csv"));
    assert!(!wildcard_match(b"*.csv", b"2024-01.csv.bak"));
}

#[test]
fn unknown_keys_are_rejected_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("crm-mart.toml");
    std::fs::write(&p, "[sources.sales]\ndelimeter = \";\"\n").unwrap();
    let err = Settings::resolve(Some(&p), None, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("crm-mart.toml") && err.contains("delimeter"),
        "{err}"
    );
}
