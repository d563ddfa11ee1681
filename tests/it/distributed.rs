//! The Ballista engine (`--features distributed`): an in-process scheduler and executor
//! (`--engine ballista://standalone`) must return exactly what the local engine returns, for
//! every named query, ad-hoc SQL, time travel, attachments and the models' feature SQL.

use std::path::Path;

use crate::common::{cmd, generate};

const STANDALONE: &str = "ballista://standalone";

/// Runs `crm-mart query ARGS --format csv` on `engine` in `dir`; the CSV rows, header first.
fn query_csv(dir: &Path, engine: &str, args: &[&str]) -> Vec<Vec<String>> {
    let out = cmd(dir)
        .arg("query")
        .args(args)
        .args(["--format", "csv", "--engine", engine])
        .assert()
        .success();
    parse_csv(&out.get_output().stdout)
}

fn parse_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// Header, then the rows sorted (ties in ORDER BY may come back in either order).
fn normalised(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    assert!(!rows.is_empty(), "no header");
    let header = rows.remove(0);
    rows.sort();
    let mut out = vec![header];
    out.extend(rows);
    out
}

/// Equal cell by cell; numbers with a fraction to a relative 1e-9 (a distributed sum adds in
/// another order).
fn assert_same(local: Vec<Vec<String>>, remote: Vec<Vec<String>>, what: &str) {
    let (local, remote) = (normalised(local), normalised(remote));
    assert_eq!(local.len(), remote.len(), "{what}: row counts differ");
    for (l, r) in local.iter().zip(&remote) {
        let same = l.len() == r.len()
            && l.iter().zip(r).all(|(a, b)| {
                a == b
                    || (a.contains('.')
                        && match (a.parse::<f64>(), b.parse::<f64>()) {
                            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
                            _ => false,
                        })
            });
        assert!(same, "{what}: local {l:?}\nBallista {r:?}");
    }
}

fn named_queries() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".sql"))
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn ballista_returns_what_the_local_engine_returns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, 300, 15, 0.01);
    std::fs::write(
        d.join("crm-mart.toml"),
        "[paths]\nsource = \"src\"\nmart = \"mart\"\n[crm]\nsinks = [\"csv:crm-import.csv\"]\n",
    )
    .unwrap();
    // A full mart: ETL, segments, churn scores, rules, recommendations.
    cmd(d).arg("nightly").assert().success();

    let names = named_queries();
    assert!(names.len() >= 20, "{names:?}");
    let mut compared_rows = 0;
    for name in &names {
        let local = query_csv(d, "local", &["--name", name]);
        let remote = query_csv(d, STANDALONE, &["--name", name]);
        assert!(local.len() > 1, "{name}: no rows locally");
        compared_rows += local.len() - 1;
        assert_same(local, remote, name);
    }
    assert!(compared_rows > 1000, "{compared_rows}");

    // Typed parameters, ad-hoc SQL over a partitioned fact, time travel, an attached table.
    let with_param = [
        "--name",
        "promotion_campaign_roi",
        "--param",
        "window_days=7",
    ];
    assert_same(
        query_csv(d, "local", &with_param),
        query_csv(d, STANDALONE, &with_param),
        "promotion_campaign_roi with window_days=7",
    );
    let adhoc = "SELECT month_key, count(*) AS n, sum(net_amount) AS revenue \
                 FROM fact_sales WHERE month_key >= 202306 GROUP BY month_key ORDER BY month_key";
    let local = query_csv(d, "local", &[adhoc]);
    assert!(local.len() > 5, "{local:?}");
    assert_same(local, query_csv(d, STANDALONE, &[adhoc]), adhoc);
    let old = [
        "SELECT count(*) AS n FROM dim_customer",
        "--as-of-version",
        "1",
    ];
    assert_eq!(query_csv(d, "local", &old), query_csv(d, STANDALONE, &old));
    std::fs::write(d.join("t.csv"), "region,target\nNorth,1\nSouth,2\n").unwrap();
    let attached = [
        "SELECT t.region, t.target, count(*) AS customers FROM dim_customer c \
         JOIN t ON c.region = t.region GROUP BY 1, 2 ORDER BY 1",
        "--table",
        "t=t.csv",
    ];
    assert_eq!(
        query_csv(d, "local", &attached),
        query_csv(d, STANDALONE, &attached)
    );

    // The models' feature SQL on Ballista: the same exported feature table.
    let b = d.join("on-ballista");
    std::fs::create_dir(&b).unwrap();
    std::fs::write(
        b.join("crm-mart.toml"),
        format!("engine = \"{STANDALONE}\"\n[paths]\nsource = \"../src\"\nmart = \"../mart\"\n"),
    )
    .unwrap();
    cmd(d)
        .args(["features", "--output", "local.csv"])
        .assert()
        .success();
    cmd(&b)
        .args(["features", "--output", "remote.csv"])
        .assert()
        .success();
    let local = parse_csv(&std::fs::read(d.join("local.csv")).unwrap());
    let remote = parse_csv(&std::fs::read(b.join("remote.csv")).unwrap());
    assert!(local.len() > 200, "{}", local.len());
    assert_same(local, remote, "the exported feature table");
}

#[test]
fn an_unreachable_scheduler_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, 50, 3, 0.0);
    crate::common::etl(d, &d.join("src"), &d.join("mart"));
    let out = cmd(d)
        .args(["query", "--mart", "mart", "SELECT count(*) FROM fact_sales"])
        .args(["--engine", "ballista://127.0.0.1:9"])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(
            "engine ballista://127.0.0.1:9: cannot reach the Ballista scheduler at 127.0.0.1:9"
        ),
        "{err}"
    );
}
