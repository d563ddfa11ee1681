//! The generator: determinism, incremental months, planted patterns.

use std::collections::{HashMap, HashSet};

use super::common::*;

#[test]
fn same_seed_gives_identical_files_and_one_more_month_keeps_the_earlier_ones() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let sa = generate(a.path(), 200, 3, 0.02);
    let sb = generate(b.path(), 200, 4, 0.02);
    for f in [
        "sales/2023-01.csv",
        "sales/2023-03.csv",
        "contacts/2023-02.csv",
        "products.csv",
    ] {
        assert_eq!(
            std::fs::read(sa.join(f)).unwrap(),
            std::fs::read(sb.join(f)).unwrap(),
            "{f}"
        );
    }
    assert!(sb.join("sales/2023-04.csv").exists());
    let c = tempfile::tempdir().unwrap();
    let sc = generate(c.path(), 200, 3, 0.02);
    assert_eq!(
        std::fs::read(sa.join("customers.csv")).unwrap(),
        std::fs::read(sc.join("customers.csv")).unwrap()
    );
}

fn sales_lines(src: &std::path::Path) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(src.join("sales"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines().skip(1) {
            out.push(line.split(',').map(str::to_string).collect());
        }
    }
    out
}

#[test]
fn planted_patterns_are_in_the_data() {
    let d = tempfile::tempdir().unwrap();
    let src = generate(d.path(), 1500, 24, 0.0);
    let lines = sales_lines(&src);
    // Scale: about 25 order lines per customer over 24 months.
    let per_customer = lines.len() as f64 / 1500.0;
    assert!(
        (18.0..=32.0).contains(&per_customer),
        "{per_customer} lines per customer"
    );

    // Razor → diaper: lift of (basket has razor) → (basket has diapers) ≥ 3.
    let razors: HashSet<&str> = ["P1001", "P1002", "P1003"].into();
    let diapers: HashSet<&str> = ["P2001", "P2002", "P2003"].into();
    let mut baskets: HashMap<&str, (bool, bool)> = HashMap::new();
    for l in &lines {
        let e = baskets.entry(l[0].as_str()).or_default();
        e.0 |= razors.contains(l[4].as_str());
        e.1 |= diapers.contains(l[4].as_str());
    }
    let n = baskets.len() as f64;
    let with_razor = baskets.values().filter(|b| b.0).count() as f64;
    let both = baskets.values().filter(|b| b.0 && b.1).count() as f64;
    let with_diaper = baskets.values().filter(|b| b.1).count() as f64;
    let lift = (both / with_razor) / (with_diaper / n);
    assert!(lift >= 3.0, "razor→diaper lift {lift:.2}");

    // Seasonality: December is the busiest month of each year.
    let mut by_month: HashMap<String, usize> = HashMap::new();
    for l in &lines {
        *by_month.entry(l[2][..7].to_string()).or_default() += 1;
    }
    for y in ["2023", "2024"] {
        let dec = by_month[&format!("{y}-12")] as f64;
        let mean = (1..=12)
            .map(|m| by_month[&format!("{y}-{m:02}")] as f64)
            .sum::<f64>()
            / 12.0;
        assert!(dec > 1.3 * mean, "{y}: December {dec} vs mean {mean}");
    }

    // Churn: customers who stop buying log complaints before; most complaints come from them.
    let text = std::fs::read_dir(src.join("contacts"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    let complaints: Vec<&str> = text.lines().filter(|l| l.contains(",complaint,")).collect();
    let unresolved = complaints
        .iter()
        .filter(|l| l.contains(",unresolved,"))
        .count();
    assert!(complaints.len() > 100, "{} complaints", complaints.len());
    assert!(
        unresolved * 3 > complaints.len(),
        "{unresolved} of {} unresolved",
        complaints.len()
    );
    let last_purchase: HashMap<&str, &str> =
        lines.iter().map(|l| (l[3].as_str(), &l[2][..7])).collect();
    let stopped = last_purchase.values().filter(|m| **m < "2024-07").count();
    assert!(
        stopped > 100,
        "{stopped} customers stopped buying before the last 6 months"
    );
}
