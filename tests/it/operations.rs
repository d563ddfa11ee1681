//! Operations over many nights: maintenance, model governance, run history, erasure.

use std::path::Path;

use crate::common::{cmd, generate, rows, scalar, sql};
use crate::nightly::walk;

fn stdout(a: assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

/// Moves the daily files of `days` (sorted) from `all` into `src`, with the dimension files.
fn deliver(all: &Path, src: &Path, days: &[String]) {
    for entity in ["sales", "contacts"] {
        std::fs::create_dir_all(src.join(entity)).unwrap();
        for d in days {
            let from = all.join(entity).join(format!("{d}.csv"));
            if from.exists() {
                std::fs::copy(&from, src.join(entity).join(format!("{d}.csv"))).unwrap();
            }
        }
    }
    for f in [
        "customers.csv",
        "products.csv",
        "stores.csv",
        "campaigns.csv",
    ] {
        if !src.join(f).exists() {
            std::fs::copy(all.join(f), src.join(f)).unwrap();
        }
    }
}

fn sorted_days(all: &Path) -> Vec<String> {
    let mut days: Vec<String> = std::fs::read_dir(all.join("sales"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .to_string()
        })
        .collect();
    days.sort();
    days
}

fn data_files(dir: &Path) -> usize {
    let mut n = 0;
    for e in walk(dir) {
        if e.extension().is_some_and(|x| x == "parquet")
            && !e.to_string_lossy().contains("_delta_log")
        {
            n += 1;
        }
    }
    n
}

/// The first query's result as CSV, at batch `as_of` or the latest.
fn total_at(d: &Path, as_of: Option<&str>) -> String {
    let mut c = cmd(d);
    c.args(["query", "--mart", "mart", "--format", "csv"]);
    if let Some(v) = as_of {
        c.args(["--as-of-version", v]);
    }
    stdout(c.arg(QUERIES[0].1).assert().success())
}

const QUERIES: [(&str, &str); 3] = [
    (
        "fact_sales",
        "SELECT count(*), round(sum(net_amount), 2) FROM fact_sales",
    ),
    (
        "fact_sales",
        "SELECT month_key, count(*), round(sum(net_amount), 2) FROM fact_sales GROUP BY month_key ORDER BY month_key",
    ),
    (
        "fact_contacts",
        "SELECT count(*), count(DISTINCT customer_key) FROM fact_contacts",
    ),
];

fn answers(mart: &Path) -> Vec<Vec<String>> {
    QUERIES
        .iter()
        .map(|(t, q)| rows(&sql(mart, t, q)))
        .collect()
}

#[test]
fn daily_loads_then_maintain_compact_keep_results_and_bound_time_travel() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Daily files: one sales and one contacts file per day.
    cmd(d)
        .args([
            "generate",
            "--out",
            "all",
            "--customers",
            "150",
            "--months",
            "2",
        ])
        .args(["--seed", "7", "--period", "day"])
        .assert()
        .success();
    let all = d.join("all");
    let days = sorted_days(&all);
    assert!(days.len() >= 40, "{} daily files", days.len());
    assert!(!all.join("sales/2023-01.csv").exists());
    // The daily files hold exactly the rows the monthly ones would.
    cmd(d)
        .args([
            "generate",
            "--out",
            "monthly",
            "--customers",
            "150",
            "--months",
            "2",
            "--seed",
            "7",
        ])
        .assert()
        .success();
    let lines = |p: &Path| -> usize {
        walk(&p.join("sales"))
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap().lines().count() - 1)
            .sum()
    };
    assert_eq!(lines(&all), lines(&d.join("monthly")));

    // Ten nights of one day each.
    let src = d.join("src");
    let mart = d.join("mart");
    for k in 0..10 {
        deliver(&all, &src, &days[..=k]);
        cmd(d)
            .args(["etl", "--source", "src", "--mart", "mart"])
            .assert()
            .success();
        // A model output replaced after batches 5 and 10.
        if k == 4 || k == 9 {
            cmd(d)
                .args(["segment", "--mart", "mart", "--k", "3"])
                .assert()
                .success();
        }
    }
    let before = answers(&mart);
    let files_before = data_files(&mart.join("fact_sales"));
    let at5 = total_at(d, Some("5"));

    // Maintenance with the default window: fewer files, the same answers, time travel intact.
    let out = stdout(
        cmd(d)
            .args(["maintain", "--mart", "mart"])
            .assert()
            .success(),
    );
    assert!(
        out.contains("fact_sales") && out.contains("(all tables)"),
        "{out}"
    );
    // On disk the compacted files are added; the small ones stay for time travel until they
    // are older than the window.
    assert!(data_files(&mart.join("fact_sales")) > files_before);
    // Compaction leaves the old files for time travel until they are older than the window.
    let active: i64 = scalar(
        &mart,
        "_maintenance",
        "SELECT files_after FROM _maintenance WHERE table_name = 'fact_sales'",
    )
    .parse()
    .unwrap();
    let was: i64 = scalar(
        &mart,
        "_maintenance",
        "SELECT files_before FROM _maintenance WHERE table_name = 'fact_sales'",
    )
    .parse()
    .unwrap();
    assert!(active < was && active <= 2, "{was} → {active}");
    assert_eq!(before, answers(&mart));
    let at5_after = total_at(d, Some("5"));
    assert_eq!(at5, at5_after);
    let segments_at = |as_of: &str| {
        cmd(d)
            .args([
                "query",
                "--mart",
                "mart",
                "--format",
                "csv",
                "--as-of-version",
                as_of,
            ])
            .arg("SELECT count(*) AS n FROM customer_segments")
            .assert()
    };
    let segments5 = stdout(segments_at("5").success());
    assert!(
        segments5.starts_with("n\n") && segments5.trim() != "n\n0",
        "{segments5}"
    );

    // The model outputs have their own, shorter window: with 0 days for them, batch 5's
    // segments are gone while batch 5's facts stay readable, and the latest segments remain.
    cmd(d)
        .args(["maintain", "--mart", "mart", "--outputs-retain-days", "0"])
        .assert()
        .success();
    assert_eq!(total_at(d, Some("5")), at5);
    segments_at("5")
        .code(1)
        .stderr(predicates::str::contains(
            "batch 5 was vacuumed: `crm-mart maintain` deleted the files of customer_segments's version",
        ))
        .stderr(predicates::str::contains("[maintain] outputs_retain_days"))
        .stderr(predicates::str::contains("batch 10 remains readable"));
    let segments10 = stdout(segments_at("10").success());
    assert!(segments10.trim() != "n\n0", "{segments10}");

    // A window of 0 days: the old versions' files go, and time travel to them says so.
    let disk = |p: &Path| {
        walk(p)
            .iter()
            .map(|f| f.metadata().unwrap().len())
            .sum::<u64>()
    };
    let bytes_before = disk(&mart);
    cmd(d)
        .args(["maintain", "--mart", "mart", "--retain-days", "0"])
        .assert()
        .success();
    assert!(disk(&mart) < bytes_before);
    assert_eq!(data_files(&mart.join("fact_sales")), active as usize);
    cmd(d)
        .args(["query", "--mart", "mart", "--as-of-version", "5"])
        .arg(QUERIES[0].1)
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "--as-of-version 5: batch 5 was vacuumed",
        ))
        .stderr(predicates::str::contains("only batch 10 remains readable"));
    let latest = total_at(d, Some("10"));
    let now = total_at(d, None);
    assert_eq!(latest, now);
    // The next load after maintenance appends as before.
    deliver(&all, &src, &days[..=10]);
    cmd(d)
        .args(["etl", "--source", "src", "--mart", "mart"])
        .assert()
        .success();
    let n: i64 = scalar(&mart, "fact_sales", "SELECT count(*) FROM fact_sales")
        .parse()
        .unwrap();
    let n_before: i64 = before[0][0].split('|').next().unwrap().parse().unwrap();
    assert!(n > n_before);
    // One new file beside a compacted one is below the threshold (8 extra files): no rewrite;
    // with a threshold of 1 the partition is compacted again.
    let compacted = |args: &[&str]| -> i64 {
        cmd(d)
            .args(["maintain", "--mart", "mart"])
            .args(args)
            .assert()
            .success();
        scalar(
            &mart,
            "_maintenance",
            "SELECT files_compacted FROM _maintenance WHERE table_name = 'fact_sales' \
             ORDER BY run_at DESC LIMIT 1",
        )
        .parse()
        .unwrap()
    };
    assert_eq!(compacted(&[]), 0);
    assert_eq!(compacted(&["--compact-min-files", "1"]), 2);
    assert_eq!(total_at(d, None), total_at(d, Some("11")));
}

fn governance_config(d: &Path) {
    std::fs::write(
        d.join("crm-mart.toml"),
        "[paths]\nsource = \"src\"\nmart = \"mart\"\n[models]\nmax_auc_drop = 0.0\n[nightly]\nlog = \"logs/run.jsonl\"\n",
    )
    .unwrap();
}

fn champion_of(list: &str) -> String {
    list.lines()
        .find(|l| l.contains("(champion"))
        .and_then(|l| l.split('┆').nth(1))
        .map(|v| v.trim().split(' ').next().unwrap().to_string())
        .unwrap_or_default()
}

fn scored_by(mart: &Path) -> String {
    scalar(
        mart,
        "churn_scores",
        "SELECT DISTINCT model_version FROM churn_scores",
    )
}

#[test]
fn a_worse_retrained_model_is_not_promoted_and_promote_pin_rollback_choose_the_scorer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, 400, 15, 0.0);
    governance_config(d);
    cmd(d).arg("etl").assert().success();

    // The first model is the champion: the better family of two on the test cut.
    let first = stdout(cmd(d).args(["churn", "train"]).assert().success());
    assert!(first.contains("promoted:"), "{first}");
    let list = stdout(cmd(d).args(["models", "list"]).assert().success());
    let a = champion_of(&list);
    assert!(a.starts_with("churn-"), "{list}");
    let chosen = if list.contains("gradient_boosting") {
        "gradient_boosting"
    } else {
        "logistic_regression"
    };
    let other = if chosen == "gradient_boosting" {
        "logistic_regression"
    } else {
        "gradient_boosting"
    };
    // The other family alone is worse on the same cut (it lost to the champion there), and
    // max_auc_drop = 0: it is trained, stored, and not promoted.
    let second = stdout(
        cmd(d)
            .args(["churn", "train", "--family", other])
            .assert()
            .success(),
    );
    assert!(
        second.contains("not promoted:") && second.contains(&format!("{a} keeps scoring")),
        "{second}"
    );
    let list = stdout(cmd(d).args(["models", "list"]).assert().success());
    assert_eq!(champion_of(&list), a, "{list}");
    assert!(list.contains("not_promoted"), "{list}");
    let b = list
        .lines()
        .filter(|l| l.contains("churn-") && !l.contains("(champion"))
        .filter_map(|l| l.split('┆').nth(1))
        .map(|v| v.trim().to_string())
        .next()
        .unwrap();
    assert_ne!(a, b);
    cmd(d).args(["churn", "score"]).assert().success();
    assert_eq!(scored_by(&d.join("mart")), a);

    // promote: B scores; rollback: A again; pin A: a better retrained model is not promoted.
    cmd(d).args(["models", "promote", &b]).assert().success();
    cmd(d).args(["churn", "score"]).assert().success();
    assert_eq!(scored_by(&d.join("mart")), b);
    cmd(d).args(["models", "rollback"]).assert().success();
    cmd(d).args(["churn", "score"]).assert().success();
    assert_eq!(scored_by(&d.join("mart")), a);
    cmd(d).args(["models", "pin", &a]).assert().success();
    let third = stdout(
        cmd(d)
            .args(["churn", "train", "--family", chosen])
            .assert()
            .success(),
    );
    assert!(
        third.contains("not promoted:") && third.contains("pinned"),
        "{third}"
    );
    let list = stdout(cmd(d).args(["models", "list"]).assert().success());
    assert!(list.contains(&format!("{a} (champion, pinned)")), "{list}");
    cmd(d)
        .args(["models", "promote", "churn-nope"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("churn-nope: no such churn model"));

    // The nightly run log and `runs` tell the story; the report names the champion.
    cmd(d).args(["nightly", "--retrain"]).assert().success();
    let runs = stdout(cmd(d).arg("runs").assert().success());
    // Logs to a pipe carry no colour codes.
    let talk = cmd(d)
        .env("CRM_MART_LOG", "info")
        .args(["churn", "score"])
        .assert()
        .success();
    let stderr = String::from_utf8(talk.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains("INFO") && !stderr.contains('\u{1b}'),
        "{stderr}"
    );
    assert!(
        runs.contains("etl segment churn value basket recommend report maintain"),
        "{runs}"
    );
    assert!(runs.contains("1 runs in"), "{runs}");
    let log = std::fs::read_to_string(d.join("logs/run.jsonl")).unwrap();
    let run_id =
        serde_json::from_str::<serde_json::Value>(log.lines().next().unwrap()).unwrap()["run_id"]
            .as_str()
            .unwrap()
            .to_string();
    let show = stdout(cmd(d).args(["runs", "show", &run_id]).assert().success());
    assert!(
        show.contains("not promoted") && show.contains("pinned"),
        "{show}"
    );
    assert!(
        show.contains("maintain") && show.contains("data files"),
        "{show}"
    );
    let q = stdout(
        cmd(d)
            .args(["query", "--format", "csv"])
            .arg("SELECT stage, status FROM _runs WHERE stage <> 'run' ORDER BY started_at")
            .assert()
            .success(),
    );
    assert_eq!(
        q.lines().collect::<Vec<_>>(),
        vec![
            "stage,status",
            "etl,ok",
            "segment,ok",
            "churn,ok",
            "value,ok",
            "basket,ok",
            "recommend,ok",
            "report,ok",
            "maintain,ok"
        ]
    );
    let md = std::fs::read_to_string(d.join("reports/decision-report.md")).unwrap();
    assert!(md.contains(&format!("Churn model {a} (champion")), "{md}");
    assert!(md.contains("not promoted"), "{md}");
    cmd(d)
        .args(["runs", "show", "nope"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("nope: no such run"))
        .stderr(predicates::str::contains(&run_id));
}

/// Every byte of every file below `dir`, and the decoded text of every Parquet file there.
fn everything(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for p in walk(dir) {
        let bytes = std::fs::read(&p).unwrap();
        if p.extension().is_some_and(|x| x == "parquet") {
            let file = std::fs::File::open(&p).unwrap();
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap();
            for b in reader {
                for line in rows(&[b.unwrap()]) {
                    out.extend_from_slice(line.as_bytes());
                }
            }
        }
        out.extend_from_slice(&bytes);
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn forget_removes_a_person_from_every_file_keeps_totals_and_survives_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, 300, 14, 0.01);
    std::fs::write(
        d.join("crm-mart.toml"),
        "[paths]\nsource = \"src\"\nmart = \"mart\"\n[crm]\nsinks = [\"sqlite:crm.sqlite\", \"csv:out/recs.csv\"]\n",
    )
    .unwrap();
    cmd(d).arg("nightly").assert().success();
    let mart = d.join("mart");
    // A customer with orders, recommendations and an e-mail; and one more whose data changed
    // (two versions in dim_customer) to forget at once.
    let person = rows(&sql(
        &mart,
        "dim_customer",
        "SELECT min(customer_id), name, min(email) FROM dim_customer WHERE email IS NOT NULL AND name IS NOT NULL \
         GROUP BY name HAVING count(DISTINCT customer_id) = 1 ORDER BY 1 LIMIT 1",
    ))[0]
        .clone();
    let parts: Vec<&str> = person.split('|').collect();
    let (id, name, email) = (
        parts[0].to_string(),
        parts[1].to_string(),
        parts[2].to_string(),
    );
    let everything_before = everything(&mart);
    assert!(contains(&everything_before, &email) && contains(&everything_before, &name));
    let total = |m: &Path| {
        scalar(
            m,
            "fact_sales",
            "SELECT round(sum(net_amount), 2) FROM fact_sales",
        )
    };
    let total_before = total(&mart);
    let recs = std::fs::read_to_string(d.join("out/recs.csv")).unwrap();
    assert!(
        recs.contains(&format!("\n{id},")),
        "the customer has recommendations"
    );

    let out = stdout(
        cmd(d)
            .args(["forget", "--customer", &id, "--customer", "C-NOT-THERE"])
            .assert()
            .success(),
    );
    assert!(out.contains("forgot 1 of 2 customers"), "{out}");
    let all = everything(&mart);
    assert!(
        !contains(&all, &email),
        "the e-mail is still in a file under the mart"
    );
    assert!(
        !contains(&all, &name),
        "the name is still in a file under the mart"
    );
    assert_eq!(total(&mart), total_before);
    let left = rows(&sql(
        &mart,
        "dim_customer",
        &format!(
            "SELECT name, email, phone, city, birth_year FROM dim_customer WHERE customer_id = '{id}'"
        ),
    ));
    assert!(
        !left.is_empty() && left.iter().all(|r| r == "∅|∅|∅|∅|∅"),
        "{left:?}"
    );
    for t in [
        "churn_scores",
        "customer_value",
        "customer_segments",
        "recommendations",
    ] {
        let n = scalar(
            &mart,
            t,
            &format!("SELECT count(*) FROM {t} WHERE customer_id = '{id}'"),
        );
        assert_eq!(n, "0", "{t}");
    }
    assert!(
        !std::fs::read_to_string(d.join("out/recs.csv"))
            .unwrap()
            .contains(&format!("\n{id},"))
    );
    let db = rusqlite::Connection::open(d.join("crm.sqlite")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM recommendations WHERE customer_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
    let crm = std::fs::read(d.join("crm.sqlite")).unwrap();
    assert!(!contains(&crm, &email));
    // Both requests are recorded (an id the mart does not know yet may arrive later).
    assert_eq!(
        scalar(&mart, "_erasures", "SELECT count(*) FROM _erasures"),
        "2"
    );

    // The source still holds the person: a changed customers file is loaded, and the
    // personal data does not come back.
    let customers = std::fs::read_to_string(d.join("src/customers.csv")).unwrap();
    let line = customers
        .lines()
        .find(|l| l.starts_with(&format!("{id},")))
        .unwrap();
    std::fs::write(
        d.join("src/customers_update.csv"),
        format!("{}\n{line}\n", customers.lines().next().unwrap()),
    )
    .unwrap();
    std::fs::write(
        d.join("crm-mart.toml"),
        "[paths]\nsource = \"src\"\nmart = \"mart\"\n[sources.customers]\npath = \"customers*.csv\"\n",
    )
    .unwrap();
    cmd(d).arg("etl").assert().success();
    let all = everything(&mart);
    assert!(!contains(&all, &email), "a reload brought the e-mail back");
    assert_eq!(total(&mart), total_before);
}
