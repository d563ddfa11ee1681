//! Customer value: BG/NBD and Gamma-Gamma against the published CDNOW fits, the summary against
//! the paper's own, predictions against the `lifetimes` package, and the command end to end.

use std::path::{Path, PathBuf};

use crm_mart::ml::clv;
use crm_mart::ml::clv::bgnbd::{BgNbd, Rft};
use crm_mart::ml::clv::gamma_gamma::GammaGamma;
use crm_mart::ml::clv::input::{self, Column, Delimiter, InputSpec};

use crate::common::{cmd, etl, expect_bad_input, generate, rows, sql};

fn cdnow(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cdnow")
        .join(file)
}

fn sample_spec() -> InputSpec {
    InputSpec {
        path: cdnow("CDNOW_sample.txt"),
        delimiter: Delimiter::Whitespace,
        header: false,
        customer: Column::Index(2),
        date: Column::Index(3),
        amount: Column::Index(5),
        date_format: None,
    }
}

fn day(s: &str) -> i32 {
    crm_mart::util::dates::epoch_day(s.parse().unwrap())
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} ± {tol}"
    );
}

#[test]
fn bgnbd_reproduces_the_published_cdnow_fit() {
    let s = input::read_summary(
        &cdnow("cdnow_customers_summary.csv"),
        Delimiter::Auto,
        &Column::Name("ID".into()),
    )
    .unwrap();
    assert_eq!(s.ids.len(), 2357);
    let d = Rft {
        x: &s.x,
        t_x: &s.t_x,
        t: &s.t,
    };
    let (p, fit) = BgNbd::fit(d, 0.0).unwrap();
    // Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL −9582.4.
    close(p.r, 0.243, 1e-3, "r");
    close(p.alpha, 4.414, 1e-3, "alpha");
    close(p.a, 0.793, 1e-3, "a");
    close(p.b, 2.426, 1e-3, "b");
    close(fit.log_likelihood, -9582.4, 0.05, "log-likelihood");
    close(p.log_likelihood(d), fit.log_likelihood, 1e-9, "reported LL");
    // A penalty shrinks the parameters and lowers the likelihood.
    let (q, qfit) = BgNbd::fit(d, 0.01).unwrap();
    assert!(
        q.r * q.r + q.alpha * q.alpha + q.a * q.a + q.b * q.b
            < p.r * p.r + p.alpha * p.alpha + p.a * p.a + p.b * p.b
    );
    assert!(qfit.log_likelihood < fit.log_likelihood);
}

#[test]
fn the_raw_sample_summarises_to_the_papers_summary() {
    let txns = input::read_transactions(&sample_spec()).unwrap();
    assert_eq!(txns.rows.len(), 6919);
    let (s, counts) = clv::summarize(&txns, day("1997-09-30"), day("1997-09-30"));
    assert_eq!(counts.transactions, 6919);
    let want = std::fs::read_to_string(cdnow("cdnow_customers_summary.csv")).unwrap();
    let want: Vec<Vec<f64>> = want
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(s.ids.len(), want.len());
    let mut order: Vec<usize> = (0..s.ids.len()).collect();
    order.sort_by_key(|i| s.ids[*i].parse::<u32>().unwrap());
    for (w, &i) in want.iter().zip(&order) {
        let id = s.ids[i].parse::<f64>().unwrap();
        assert_eq!(id, w[0]);
        assert_eq!(s.x[i], w[1], "frequency of {id}");
        // The paper's file rounds to two decimals.
        close(s.t_x[i], w[2], 0.005 + 1e-9, &format!("recency of {id}"));
        close(s.t[i], w[3], 0.005 + 1e-9, &format!("T of {id}"));
    }
}

#[test]
fn gamma_gamma_reproduces_the_published_fit_and_lifetimes_predictions() {
    let txns = input::read_transactions(&sample_spec()).unwrap();
    let (s, _) = clv::summarize(&txns, day("1997-09-30"), day("1998-06-30"));
    let (x, m): (Vec<f64>, Vec<f64>) =
        s.x.iter()
            .zip(&s.m)
            .filter(|(x, _)| **x > 0.0)
            .map(|(x, m)| (*x, *m))
            .unzip();
    assert_eq!(x.len(), 946);
    let (g, fit) = GammaGamma::fit(&x, &m, 0.0).unwrap();
    // Fader & Hardie (2013): p = 6.25, q = 3.74, v = 15.44, LL −4055.92.
    close(g.p, 6.25, 0.005 + 1e-3, "p");
    close(g.q, 3.74, 0.005 + 1e-3, "q");
    close(g.v, 15.44, 0.005 + 1e-3, "v");
    close(fit.log_likelihood, -4055.92, 0.01, "log-likelihood");

    // Per-customer predictions against lifetimes 0.11.3 (scipy's hyp2f1) with the same parameters.
    let (bg, _) = BgNbd::fit(
        Rft {
            x: &s.x,
            t_x: &s.t_x,
            t: &s.t,
        },
        0.0,
    )
    .unwrap();
    let lifetimes = [
        // id, P(alive), E[X(90 days)], E[X(52 weeks)], E[M]
        (
            "0001",
            0.7266203,
            0.4524828652919625,
            1.5586862033954796,
            Some(24.6539187132351),
        ),
        (
            "0006",
            0.64183474,
            1.2663840370326402,
            4.199523829626394,
            Some(71.46470572273857),
        ),
        (
            "1981",
            0.94893484,
            5.596405262014619,
            17.50805247106133,
            Some(47.901739979868495),
        ),
        ("0003", 1.0, 0.0690794635504954, 0.25168191035893556, None),
    ];
    for (id, alive, e90, e52, em) in lifetimes {
        let i = s.ids.iter().position(|v| v == id).unwrap();
        let (x, tx, t) = (s.x[i], s.t_x[i], s.t[i]);
        close(bg.p_alive(x, tx, t), alive, 2e-5, &format!("P(alive) {id}"));
        let got = bg.expected_purchases(90.0 / 7.0, x, tx, t).unwrap();
        close(got, e90, 1e-4 * e90, &format!("E[X(90d)] {id}"));
        let got = bg.expected_purchases(52.0, x, tx, t).unwrap();
        close(got, e52, 1e-4 * e52, &format!("E[X(52w)] {id}"));
        if let Some(em) = em {
            close(
                g.expected_value(x, s.m[i]),
                em,
                1e-3 * em,
                &format!("E[M] {id}"),
            );
        }
    }
}

#[test]
fn value_on_a_file_with_a_column_mapping_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = cmd(d)
        .args(["value", "--input"])
        .arg(cdnow("CDNOW_sample.txt"))
        .args([
            "--no-header",
            "--customer-col",
            "2",
            "--date-col",
            "3",
            "--amount-col",
            "5",
        ])
        .args(["--calibration-end", "1997-09-30", "--output", "values.csv"])
        .args(["--model-dir", "models/clv"])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    // The calibration fit is the paper's, and the holdout table is printed.
    assert!(
        stdout.contains("0.2426") && stdout.contains("4.4136"),
        "{stdout}"
    );
    assert!(stdout.contains("7+"), "{stdout}");
    let csv = std::fs::read_to_string(d.join("values.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("customer_id,as_of,frequency,recency_weeks,t_weeks,monetary,p_alive")
    );
    let body: Vec<&str> = lines.collect();
    assert_eq!(body.len(), 2357);
    assert!(!csv.contains("NaN") && !csv.contains("inf"));
    // The model artifact carries the parameters, the data and the holdout check.
    let model = std::fs::read_dir(d.join("models/clv"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    let m = clv::ClvModel::load(&model).unwrap();
    assert_eq!(m.as_of, Some("1998-06-30".parse().unwrap()));
    let h = m.holdout.as_ref().unwrap();
    close(h.bgnbd.r, 0.243, 1e-3, "holdout r");
    assert_eq!(h.rows.len(), 8);
    assert_eq!(h.total_actual, 1882.0);
    assert!(m.gamma_gamma.is_some());
    assert!(
        std::fs::read_to_string(model.with_extension("md"))
            .unwrap()
            .contains("Calibration / holdout check")
    );
    // `models list` shows it.
    let listed = cmd(d).args(["models", "list"]).assert().success();
    let listed = String::from_utf8(listed.get_output().stdout.clone()).unwrap();
    assert!(
        listed.contains("clv") && listed.contains("BG/NBD"),
        "{listed}"
    );

    // Bad rows are named by file, line, column and value.
    std::fs::write(
        d.join("bad.csv"),
        "customer_id,date,amount\nc1,2024-01-03,10\nc1,2024-02-30,5\n",
    )
    .unwrap();
    expect_bad_input(
        d,
        &["value", "--input", "bad.csv"],
        &["bad.csv", "line 3", "date", "2024-02-30"],
    );
    std::fs::write(
        d.join("bad.csv"),
        "customer_id,date,amount\nc1,2024-01-03,10\nc1,2024-02-03,ten\n",
    )
    .unwrap();
    expect_bad_input(
        d,
        &["value", "--input", "bad.csv"],
        &["line 3", "amount", "ten"],
    );
    expect_bad_input(
        d,
        &["value", "--input", "bad.csv", "--amount-col", "dollars"],
        &["no column \"dollars\"", "customer_id, date, amount"],
    );
    // Everyone bought once: the model is not identified; a clear error, nothing written.
    std::fs::write(
        d.join("once.csv"),
        "customer_id,date,amount\na,2024-01-03,10\nb,2024-02-03,12\nc,2024-03-01,9\n",
    )
    .unwrap();
    let before = std::fs::read_dir(d.join("models/clv")).unwrap().count();
    expect_bad_input(
        d,
        &[
            "value",
            "--input",
            "once.csv",
            "--output",
            "once-values.csv",
        ],
        &["none of the 3 customers made a repeat purchase"],
    );
    assert!(!d.join("once-values.csv").exists());
    assert_eq!(
        std::fs::read_dir(d.join("models/clv")).unwrap().count(),
        before
    );
    expect_bad_input(
        d,
        &[
            "value",
            "--input",
            "once.csv",
            "--calibration-end",
            "2030-01-01",
        ],
        &["--calibration-end 2030-01-01 must fall between"],
    );
}

#[test]
fn value_on_the_mart_writes_customer_value() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = generate(d, 400, 18, 0.0);
    let mart = d.join("mart");
    etl(d, &src, &mart);
    cmd(d)
        .args(["value", "--mart"])
        .arg(&mart)
        .assert()
        .success();
    let got = rows(&sql(
        &mart,
        "customer_value",
        "SELECT count(*), count(DISTINCT customer_id), min(p_alive) >= 0, max(p_alive) <= 1, \
         sum(CASE WHEN isnan(clv_12m) OR clv_12m < 0 THEN 1 ELSE 0 END), \
         sum(CASE WHEN expected_purchases_12m < expected_purchases_90d THEN 1 ELSE 0 END), \
         count(DISTINCT model_version), min(mart_version) FROM customer_value",
    ));
    let buyers = rows(&sql(
        &mart,
        "fact_sales",
        "SELECT count(DISTINCT customer_key) FROM fact_sales WHERE customer_key <> 0 AND NOT is_return",
    ));
    let n: usize = buyers[0].parse().unwrap();
    assert!(n > 300, "{buyers:?}");
    assert_eq!(got, vec![format!("{n}|{n}|true|true|0|0|1|1")]);
    // Customers who have not bought for a long time are less likely alive than recent buyers
    // with the same frequency.
    let alive = rows(&sql(
        &mart,
        "customer_value",
        "SELECT avg(CASE WHEN t_weeks - recency_weeks > 26 THEN p_alive END) < \
                avg(CASE WHEN t_weeks - recency_weeks < 4 THEN p_alive END) \
         FROM customer_value WHERE frequency >= 3",
    ));
    assert_eq!(alive, vec!["true"]);
}

#[test]
fn the_fit_does_not_depend_on_the_order_of_the_log() {
    let txns = input::read_transactions(&sample_spec()).unwrap();
    // The same log with customers interned in reverse order and transactions reversed.
    let mut reversed = input::Transactions::default();
    let mut index = std::collections::HashMap::new();
    for t in txns.rows.iter().rev() {
        reversed.push(&mut index, &txns.ids[t.customer as usize], t.day, t.amount);
    }
    let opts = clv::ValueOptions {
        as_of: None,
        calibration_end: None,
        holdout_days: 0,
        discount_rate: 0.01,
        penalizer: 0.0,
    };
    let a = clv::run_transactions(&txns, &opts, "a", None).unwrap();
    let b = clv::run_transactions(&reversed, &opts, "b", None).unwrap();
    // Bit for bit: the summary is put in customer-id order before any sum.
    assert_eq!(a.model.bgnbd, b.model.bgnbd);
    assert_eq!(a.model.gamma_gamma, b.model.gamma_gamma);
    assert_eq!(a.summary.ids, b.summary.ids);
    assert_eq!(a.predictions, b.predictions);
}

#[test]
fn value_on_a_summary_file_needs_no_flags_and_saves_its_model_only_where_told() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let summary = cdnow("cdnow_customers_summary.csv");
    let out = cmd(d)
        .args(["value", "--input"])
        .arg(&summary)
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("a per-customer summary"), "{stderr}");
    assert!(
        stderr.contains("2357 customers") && stderr.contains("model not saved"),
        "{stderr}"
    );
    // Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL −9582.4.
    let row = stdout
        .lines()
        .find(|l| l.contains("all data"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let cells: Vec<f64> = row
        .split(['│', '┆'])
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    for (got, (want, what)) in
        cells
            .iter()
            .zip([(0.243, "r"), (4.414, "alpha"), (0.793, "a"), (2.426, "b")])
    {
        close(*got, want, 1e-3, what);
    }
    close(cells[4], -9582.4, 0.05, "log-likelihood");
    // Nothing was written in the working directory.
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 0);

    // With --model-dir the model goes there, and the command says so.
    cmd(d)
        .args(["value", "--input"])
        .arg(&summary)
        .args(["--model-dir", "kept"])
        .assert()
        .success()
        .stderr(predicates::str::contains("model saved to kept/"));
    let saved: Vec<_> = std::fs::read_dir(d.join("kept"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(saved.len(), 1);
    let m = clv::ClvModel::load(&saved[0]).unwrap();
    close(m.bgnbd.r, 0.243, 1e-3, "saved r");
    // A transaction log is still read as one: its header names no frequency.
    std::fs::write(
        d.join("txns.csv"),
        "customer_id,date,amount\na,2024-10-06,13\na,2024-10-31,28\nb,2024-02-04,5\nb,2024-08-31,35\nb,2024-10-25,21\nb,2024-11-07,40\nb,2024-11-17,19\nc,2024-08-29,40\nc,2024-10-04,35\nd,2024-03-19,14\nd,2024-04-29,38\nd,2024-11-22,29\nd,2024-11-24,5\ne,2024-03-23,42\nf,2024-06-04,6\ng,2024-07-18,50\ng,2024-08-31,32\ng,2024-11-01,30\nh,2024-01-20,13\nh,2024-02-20,36\nh,2024-03-10,18\nh,2024-07-07,21\nh,2024-08-16,48\ni,2024-06-04,29\ni,2024-08-04,41\ni,2024-09-17,27\ni,2024-11-17,39\nj,2024-01-16,22\nj,2024-04-29,43\nj,2024-06-22,47\nj,2024-07-28,49\nj,2024-10-27,15\nk,2024-10-05,11\nk,2024-10-19,50\nk,2024-10-20,46\nl,2024-10-21,22\nl,2024-11-21,23\n",
    )
    .unwrap();
    let out = cmd(d)
        .args(["value", "--input", "txns.csv", "--holdout-days", "0"])
        .assert()
        .success();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        !stderr.contains("per-customer summary") && stderr.contains("12 customers"),
        "{stderr}"
    );
}
