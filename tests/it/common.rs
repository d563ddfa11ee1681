//! Helpers: run the binary, generate data, read mart tables.

use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use assert_cmd::Command;
use crm_mart::mart::delta::Mart;

/// The crm-mart binary, run in `dir` with no config file around, none of the `CRM_MART_*`
/// settings of the environment, and logging quiet. A command
/// still running after 15 minutes is killed and fails its test (the longest takes about a
/// minute in a debug build), so a stalled run cannot hold up the suite.
pub fn cmd(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("crm-mart").unwrap();
    c.current_dir(dir)
        .env_remove("CRM_MART_LOG")
        .env_remove("CRM_MART_CONFIG")
        .env_remove("CRM_MART_MART")
        .env_remove("CRM_MART_SOURCE")
        .env_remove("CRM_MART_HISTORY")
        .timeout(std::time::Duration::from_secs(900));
    c
}

/// The bundled sample data (`crm-mart generate --customers 2000 --months 24 --seed 42
/// --dirty-rate 0.005`); its planted truth is `Profile::new(42, i)`.
pub fn sample_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data")
}

/// Generates a dataset into `dir/src`.
pub fn generate(dir: &Path, customers: u64, months: u32, dirty: f64) -> PathBuf {
    let src = dir.join("src");
    cmd(dir)
        .args(["generate", "--out"])
        .arg(&src)
        .args([
            "--customers",
            &customers.to_string(),
            "--months",
            &months.to_string(),
        ])
        .args(["--dirty-rate", &dirty.to_string(), "--seed", "7"])
        .assert()
        .success();
    src
}

/// `crm-mart etl --source SRC --mart MART`, ready to run.
pub fn etl_cmd(dir: &Path, src: &Path, mart: &Path) -> Command {
    let mut c = cmd(dir);
    c.arg("etl")
        .arg("--source")
        .arg(src)
        .arg("--mart")
        .arg(mart);
    c
}

/// Runs `args` in `dir`, expecting exit code 1 and every one of `needles` on stderr.
pub fn expect_bad_input(dir: &Path, args: &[&str], needles: &[&str]) {
    let mut a = cmd(dir).args(args).assert().code(1);
    for n in needles {
        a = a.stderr(predicates::str::contains(*n));
    }
}

/// Runs `crm-mart etl` and returns stdout.
pub fn etl(dir: &Path, src: &Path, mart: &Path) -> String {
    let out = etl_cmd(dir, src, mart).assert().success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

/// Runs SQL over one mart table.
pub fn sql(mart: &Path, table: &str, sql: &str) -> Vec<RecordBatch> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(Mart::new(mart).query(table, sql)).unwrap()
}

/// Every row as one `|`-joined string.
pub fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    let opts = FormatOptions::default().with_null("∅");
    for b in batches {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            out.push(
                fmts.iter()
                    .map(|f| f.value(i).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    out
}

/// A single number from a one-row, one-column result.
pub fn scalar(mart: &Path, table: &str, q: &str) -> String {
    let r = rows(&sql(mart, table, q));
    assert_eq!(r.len(), 1, "{q}");
    r[0].clone()
}

/// Delta versions of every table, in a stable order.
pub fn versions(mart: &Path) -> Vec<(String, Option<i64>)> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let m = Mart::new(mart);
    crm_mart::mart::schema::ETL_TABLES
        .iter()
        .map(|t| (t.to_string(), rt.block_on(m.version(t)).unwrap()))
        .collect()
}

/// The whole content of every ETL table, sorted, without run timestamps.
pub fn snapshot(mart: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for t in crm_mart::mart::schema::ETL_TABLES {
        let cols: Vec<String> = crm_mart::mart::schema::schema(t)
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|c| c != "started_at" && c != "finished_at")
            .map(|c| format!("\"{c}\""))
            .collect();
        let q = format!("SELECT {} FROM {t}", cols.join(", "));
        let mut r = rows(&sql(mart, t, &q));
        r.sort();
        out.push(format!("== {t} ({} rows)", r.len()));
        out.extend(r);
    }
    out
}

/// The pooled (hit rate, precision) of `kind` and `recommender` in `recommend --evaluate`'s table.
pub fn pooled_eval(table: &str, kind: &str, recommender: &str) -> (f64, f64) {
    let line = table
        .lines()
        .find(|l| {
            let cells: Vec<&str> = l.split('┆').map(|c| c.trim_matches(['│', ' '])).collect();
            cells.len() == 6 && cells[0] == "pooled" && cells[1] == kind && cells[2] == recommender
        })
        .unwrap_or_else(|| panic!("no pooled row for {kind} / {recommender} in\n{table}"));
    let v: Vec<f64> = line
        .split('┆')
        .filter_map(|c| c.trim_matches(['│', ' ']).parse().ok())
        .collect();
    (v[v.len() - 2], v[v.len() - 1])
}
