//! The scheduled job: plan, one run at a time, a failing stage, the run log.

use crate::common::{cmd, generate, rows, sql};

fn config(dir: &std::path::Path, sink: &str) {
    std::fs::write(
        dir.join("crm-mart.toml"),
        format!(
            "[paths]\nsource = \"src\"\nmart = \"mart\"\n[crm]\nsinks = [\"{sink}\"]\n[nightly]\nlog = \"logs/run.jsonl\"\nretrain_after_days = 30\n"
        ),
    )
    .unwrap();
}

fn log_lines(dir: &std::path::Path) -> Vec<serde_json::Value> {
    read_log(&dir.join("logs/run.jsonl"))
}

/// The run log's complete lines (none when the file is not there yet; a line still being
/// written by a running job is left out).
pub(crate) fn read_log(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l.trim_end()).unwrap())
        .collect()
}

#[test]
fn nightly_plans_locks_logs_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, 300, 15, 0.0);
    config(d, "sqlite:crm.sqlite");

    // The plan, and nothing changed.
    let out = cmd(d).args(["nightly", "--dry-run"]).assert().success();
    let plan = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for (k, stage) in [
        "etl",
        "segment",
        "churn",
        "value",
        "basket",
        "recommend",
        "report",
    ]
    .iter()
    .enumerate()
    {
        assert!(plan.contains(&format!("{}. {stage}:", k + 1)), "{plan}");
    }
    assert!(plan.contains("train a new model (no model yet)"), "{plan}");
    assert!(plan.contains("sqlite:"), "{plan}");
    assert!(!d.join("mart").exists() && !d.join("logs").exists());

    // A second run while one holds the lock: refused with its own exit code, nothing done.
    std::fs::create_dir_all(d.join("mart")).unwrap();
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(d.join("mart/.nightly.lock"))
        .unwrap();
    held.try_lock().unwrap();
    cmd(d)
        .arg("nightly")
        .assert()
        .code(3)
        .stderr(predicates::str::contains(
            "another crm-mart nightly run is in progress",
        ));
    assert!(!d.join("mart/fact_sales").exists());
    held.unlock().unwrap();
    drop(held);

    // The last stage fails (the CRM database is unreachable): the earlier stages are committed
    // and logged, the run is logged as failed.
    config(d, "postgres://nobody@127.0.0.1:1/none");
    cmd(d)
        .arg("nightly")
        .assert()
        .code(1)
        .stderr(predicates::str::contains("nightly stage recommend failed"));
    let log = log_lines(d);
    let status: Vec<(String, String)> = log
        .iter()
        .map(|v| {
            (
                v["stage"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect: Vec<(String, String)> = [
        ("etl", "ok"),
        ("segment", "ok"),
        ("churn", "ok"),
        ("value", "ok"),
        ("basket", "ok"),
        ("recommend", "failed"),
        ("run", "failed"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(status, expect);
    assert!(log[5]["error"].as_str().unwrap().contains("PostgreSQL"));
    let sales = log[0]["rows"]["fact_sales"].as_i64().unwrap();
    assert!(sales > 1000, "{:?}", log[0]);
    assert!(log[1]["rows"]["customer_segments"].as_i64().unwrap() > 200);
    assert!(log.iter().all(|v| v["run_id"] == log[0]["run_id"]));
    let segments = rows(&sql(
        &d.join("mart"),
        "customer_segments",
        "SELECT count(*) FROM customer_segments",
    ));
    assert_eq!(segments[0], log[1]["rows"]["customer_segments"].to_string());

    // The next run starts over: nothing new to load, a recent model is only used to score, and
    // everything completes.
    config(d, "sqlite:crm.sqlite");
    let out = cmd(d).args(["nightly", "--dry-run"]).assert().success();
    let plan = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(plan.contains("3. churn: score with churn-"), "{plan}");
    cmd(d).arg("nightly").assert().success();
    let log = log_lines(d);
    assert_eq!(log.len(), 16);
    let last: Vec<&serde_json::Value> = log[7..].iter().collect();
    assert!(last.iter().all(|v| v["status"] == "ok"), "{last:?}");
    assert_eq!(last[0]["rows"]["fact_sales"].as_i64().unwrap(), sales);
    assert!(last.iter().all(|v| v["run_id"] != log[0]["run_id"]));
    let conn = rusqlite::Connection::open(d.join("crm.sqlite")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM recommendations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        n.to_string(),
        last[5]["rows"]["recommendations"].to_string()
    );
    // The report: every section has data, PII is masked, nothing is fetched, and its numbers are
    // the named queries' (here: the KPI revenue against the facts).
    let html = std::fs::read_to_string(d.join("reports/decision-report.html")).unwrap();
    let md = std::fs::read_to_string(d.join("reports/decision-report.md")).unwrap();
    assert!(!html.contains("not available") && !md.contains("not available"));
    // No source row was malformed, and the data-quality section says so.
    assert!(md.contains("## Data quality") && md.contains("_no source row was quarantined_"));
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
    assert!(html.matches("<svg").count() >= 5, "charts");
    assert!(html.contains("class=\"bar\"") && html.contains("class=\"series\""));
    assert!(
        html.contains("Razors and diapers:"),
        "the razor → diaper call-out"
    );
    let emails: Vec<&str> = md
        .split_whitespace()
        .filter(|w| w.contains("@example"))
        .collect();
    assert!(!emails.is_empty());
    assert!(emails.iter().all(|e| e.contains("***@")), "{emails:?}");
    let revenue = rows(&sql(
        &d.join("mart"),
        "fact_sales",
        "SELECT round(sum(net_amount), 2) FROM fact_sales \
         WHERE CAST(order_ts AS DATE) > (SELECT CAST(max(order_ts) AS DATE) FROM fact_sales) - INTERVAL '90' DAY",
    ));
    let kpi = md
        .lines()
        .find(|l| l.starts_with("| Revenue |"))
        .unwrap()
        .split('|')
        .nth(2)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        kpi.parse::<f64>().unwrap(),
        revenue[0].parse::<f64>().unwrap(),
        "{kpi} vs {revenue:?}"
    );
    // The workbook, read back by an independent reader: one sheet per section, each section's
    // rows, numbers as numbers equal to the Markdown report's, and native charts.
    {
        use calamine::{Data as Cell, Reader, open_workbook_auto};
        let path = d.join("reports/decision-report.xlsx");
        let mut wb = open_workbook_auto(&path).unwrap();
        let names = wb.sheet_names().to_vec();
        assert_eq!(names.len(), 13, "{names:?}");
        assert_eq!(names[0], "Executive summary");
        assert_eq!(names[12], "Appendix");
        let range = wb.worksheet_range("Executive summary").unwrap();
        let rows: Vec<_> = range.rows().collect();
        // Title, lead, blank, header, 5 KPIs, blank, source line.
        assert_eq!(rows[3][0], Cell::String("kpi".into()));
        assert_eq!(rows[4][0], Cell::String("Revenue".into()));
        let xlsx_revenue = match rows[4][1] {
            Cell::Float(v) => v,
            ref other => panic!("revenue is {other:?}"),
        };
        assert!((xlsx_revenue - kpi.parse::<f64>().unwrap()).abs() < 0.005);
        // The same number in the HTML report.
        assert!(
            html.contains(&format!("<td class=\"num\">{kpi}</td>")),
            "{kpi} in the HTML"
        );
        // Every numeric cell of the executive summary equals the HTML's cell.
        let html_kpis: Vec<f64> = html
            .split("<section id=\"report_kpis\">")
            .nth(1)
            .unwrap()
            .split("</table>")
            .next()
            .unwrap()
            .split("<td class=\"num\">")
            .skip(1)
            .map(|c| c.split('<').next().unwrap().parse().unwrap())
            .collect();
        let xlsx_kpis: Vec<f64> = rows[4..9]
            .iter()
            .flat_map(|r| r[1..].iter())
            .filter_map(|c| match c {
                Cell::Float(v) => Some(*v),
                Cell::Int(v) => Some(*v as f64),
                _ => None,
            })
            .collect();
        assert_eq!(html_kpis.len(), xlsx_kpis.len());
        for (h, x) in html_kpis.iter().zip(&xlsx_kpis) {
            assert!((h - x).abs() <= 0.005 + 1e-4 * x.abs(), "{h} vs {x}");
        }
        // Every section sheet has as many data rows as the Markdown table.
        let md_sections: Vec<&str> = md.split("\n## ").skip(1).collect();
        for (sheet, section) in names[..11].iter().zip(&md_sections) {
            let md_rows = section
                .lines()
                .filter(|l| l.starts_with("| "))
                .count()
                .saturating_sub(1);
            let range = wb.worksheet_range(sheet).unwrap();
            let data = range
                .rows()
                .skip(4)
                .take_while(|r| !r.iter().all(|c| matches!(c, Cell::Empty)))
                .count();
            assert_eq!(data, md_rows, "sheet {sheet}");
        }
        let bytes = std::fs::read(&path).unwrap();
        let charts = (1..=8)
            .filter(|k| {
                let needle = format!("xl/charts/chart{k}.xml");
                bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            })
            .count();
        assert_eq!(
            charts,
            html.matches("<svg").count(),
            "a native chart per HTML chart"
        );
    }
    browser_renders(&d.join("reports/decision-report.html"));
    // --show-pii shows them.
    cmd(d)
        .args(["report", "--show-pii", "--format", "md", "--out", "pii"])
        .assert()
        .success();
    let pii = std::fs::read_to_string(d.join("pii/decision-report.md")).unwrap();
    assert!(
        pii.split_whitespace()
            .any(|w| w.contains("@example") && !w.contains("***"))
    );

    // --retrain trains even with a recent model.
    let out = cmd(d)
        .args(["nightly", "--dry-run", "--retrain"])
        .assert()
        .success();
    assert!(
        String::from_utf8(out.get_output().stdout.clone())
            .unwrap()
            .contains("train a new model (--retrain)")
    );
}

/// Renders the report in headless Chromium: the DOM has the charts with data, a screenshot is
/// written, and the page loaded no resource at all. Without a `chromium` on the PATH this part
/// says it is skipped, unless `CI=true` (`.ci/run` installs Debian's chromium).
fn browser_renders(report: &std::path::Path) {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no chromium: the browser test must run"
        );
        eprintln!("skipped: the headless-browser test (no chromium on the PATH)");
        return;
    };
    let headless = |extra: &[&str], page: &std::path::Path| {
        let out = std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--proxy-server=127.0.0.1:9",
            ])
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let dom = headless(&["--dump-dom"], report);
    assert!(dom.matches("<svg").count() >= 5, "charts in the DOM");
    // Bars with data: a positive height on most of them.
    let heights: Vec<f64> = dom
        .split("class=\"bar\"")
        .skip(1)
        .filter_map(|rest| {
            let h = rest.split("height=\"").nth(1)?;
            h.split('"').next()?.parse().ok()
        })
        .collect();
    assert!(
        heights.len() >= 10 && heights.iter().filter(|h| **h > 0.0).count() >= 10,
        "{heights:?}"
    );
    assert!(dom.contains("class=\"series\""), "the sales line");
    // A screenshot.
    let shot = report.with_file_name("report.png");
    headless(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,2400",
        ],
        report,
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG"),
        "{} bytes",
        png.len()
    );
    // Nothing fetched: a copy of the page counts the resources it loaded.
    let probe = report.with_file_name("probe.html");
    let html = std::fs::read_to_string(report).unwrap().replace(
        "</body>",
        "<script>document.body.setAttribute('data-resources', String(performance.getEntriesByType('resource').length));</script></body>",
    );
    std::fs::write(&probe, html).unwrap();
    let dom = headless(&["--dump-dom", "--virtual-time-budget=2000"], &probe);
    assert!(
        dom.contains("data-resources=\"0\""),
        "the report loaded resources"
    );
}

/// `s` with every UTC timestamp (`2026-01-02T03:04:05Z`, with or without fractions) replaced by
/// `<time>`: the one thing that differs between two runs on the same data.
fn blank_times(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|k| b.get(k).is_some_and(u8::is_ascii_digit));
    while i < b.len() {
        let stamp = digits(i..i + 4)
            && b.get(i + 4) == Some(&b'-')
            && digits(i + 5..i + 7)
            && b.get(i + 7) == Some(&b'-')
            && digits(i + 8..i + 10)
            && b.get(i + 10) == Some(&b'T');
        if stamp {
            let mut j = i + 11;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b':' || b[j] == b'.') {
                j += 1;
            }
            if b.get(j) == Some(&b'Z') {
                out.push_str("<time>");
                i = j + 1;
                continue;
            }
        }
        let c = s[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Everything a nightly run in `d` leaves behind, minus the identity of the run (run ids, the
/// times things were written, the CRM's log of runs): every mart table's rows (sorted), the CRM
/// table in SQLite, the CSV import file, the model artifacts and the Markdown report.
pub(crate) fn outputs(d: &std::path::Path) -> Vec<String> {
    let identity = ["started_at", "finished_at", "generated_at", "run_id"];
    let mut out = Vec::new();
    let mut tables: Vec<String> = std::fs::read_dir(d.join("mart"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|t| !t.starts_with('.'))
        .collect();
    tables.sort();
    assert_eq!(tables.len(), 15, "{tables:?}");
    // `_maintenance` records what each run's maintenance found and did (file counts and bytes,
    // which depend on how many versions earlier, interrupted runs left): the run's identity.
    for t in tables.iter().filter(|t| *t != "_maintenance") {
        let cols: Vec<String> = crm_mart::mart::schema::schema(t)
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|c| !identity.contains(&c.as_str()))
            .map(|c| format!("\"{c}\""))
            .collect();
        let mut r = rows(&sql(
            &d.join("mart"),
            t,
            &format!("SELECT {} FROM {t}", cols.join(", ")),
        ));
        r.sort();
        out.push(format!("== {t} ({} rows)", r.len()));
        out.extend(r);
    }
    let conn = rusqlite::Connection::open(d.join("crm.sqlite")).unwrap();
    let mut st = conn
        .prepare(
            "SELECT customer_id, rank, product_id, product_name, score, reason, action, \
             churn_probability, clv_12m, segment FROM recommendations ORDER BY customer_id, rank",
        )
        .unwrap();
    let crm: Vec<String> = st
        .query_map([], |r| {
            Ok((0..10)
                .map(|k| format!("{:?}", r.get_ref(k).unwrap()))
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    out.push(format!("== sqlite recommendations ({} rows)", crm.len()));
    out.extend(crm);
    let csv = std::fs::read_to_string(d.join("crm-import.csv")).unwrap();
    out.push("== crm-import.csv".into());
    // The last two columns are generated_at and run_id.
    assert!(
        csv.starts_with("customer_id,")
            && csv
                .lines()
                .next()
                .unwrap()
                .ends_with(",generated_at,run_id")
    );
    out.extend(
        csv.lines()
            .map(|l| l.rsplitn(3, ',').last().unwrap().to_string()),
    );
    let mut artifacts: Vec<std::path::PathBuf> = ["churn", "clv"]
        .iter()
        .flat_map(|m| std::fs::read_dir(d.join("models").join(m)).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    artifacts.sort();
    for p in artifacts {
        out.push(format!("== {}", p.file_name().unwrap().to_string_lossy()));
        out.extend(
            std::fs::read_to_string(&p)
                .unwrap()
                .lines()
                .map(blank_times),
        );
    }
    out.push("== decision-report.md".into());
    out.extend(
        std::fs::read_to_string(d.join("reports/decision-report.md"))
            .unwrap()
            .lines()
            .map(blank_times),
    );
    out
}

#[test]
fn nightly_twice_gives_identical_outputs_and_a_killed_run_converges() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    generate(&a, 300, 15, 0.01);
    let conf = "[paths]\nsource = \"src\"\nmart = \"mart\"\n[crm]\nsinks = [\"sqlite:crm.sqlite\", \"csv:crm-import.csv\"]\n[nightly]\nlog = \"run.jsonl\"\n";
    std::fs::write(a.join("crm-mart.toml"), conf).unwrap();
    // Another copy of the same source, for the interrupted runs.
    std::fs::create_dir_all(b.join("src")).unwrap();
    for e in walk(&a.join("src")) {
        let to = b.join("src").join(e.strip_prefix(a.join("src")).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&e, &to).unwrap();
    }
    std::fs::write(b.join("crm-mart.toml"), conf).unwrap();

    // Twice on the same data: the same outputs.
    cmd(&a).arg("nightly").assert().success();
    let first = outputs(&a);
    assert!(first.len() > 5000, "{} lines", first.len());
    cmd(&a).arg("nightly").assert().success();
    assert_same(&first, &outputs(&a), "a second run on the same data");

    // SIGKILL just after a stage has finished (so inside the next one), then run again: the
    // result is the uninterrupted run's. The first kill lands while the churn model is trained
    // (there is no model yet), then inside value, recommend (the CRM sinks) and report.
    let bin = assert_cmd::cargo::cargo_bin("crm-mart");
    let mut killed_in = Vec::new();
    for after in ["segment", "churn", "basket", "recommend"] {
        let done = |stage: &str| {
            log_of(&b)
                .iter()
                .filter(|v| v["stage"] == stage && v["status"] == "ok")
                .count()
        };
        let before = done(after);
        let mut child = std::process::Command::new(&bin)
            .arg("nightly")
            .current_dir(&b)
            .env_remove("CRM_MART_LOG")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        while done(after) == before {
            assert!(std::time::Instant::now() < deadline, "no {after} stage");
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended before {after}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        assert!(!child.wait().unwrap().success());
        let log = log_of(&b);
        let last = log.last().unwrap();
        assert_ne!(last["stage"], "run", "the run was killed before its end");
        killed_in.push(last["stage"].as_str().unwrap().to_string());
        cmd(&b).arg("nightly").assert().success();
        assert_same(
            &first,
            &outputs(&b),
            &format!("a run killed after {after}, run again"),
        );
    }
    eprintln!("killed after the stages {killed_in:?}");
}

fn log_of(d: &std::path::Path) -> Vec<serde_json::Value> {
    read_log(&d.join("run.jsonl"))
}

pub(crate) fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Equal, or a panic that shows the first lines that differ.
pub(crate) fn assert_same(want: &[String], got: &[String], what: &str) {
    if want == got {
        return;
    }
    let diff: Vec<String> = want
        .iter()
        .zip(got)
        .filter(|(w, g)| w != g)
        .take(5)
        .map(|(w, g)| format!("- {w}\n+ {g}"))
        .collect();
    panic!(
        "{what}: outputs differ ({} lines vs {}):\n{}",
        want.len(),
        got.len(),
        diff.join("\n")
    );
}
