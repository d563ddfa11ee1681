//! Crash safety: SIGKILL a real ETL process at several points, rerun, compare with an
//! uninterrupted load.

use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use super::common::*;

#[test]
fn a_load_killed_at_any_point_converges_to_the_uninterrupted_result() {
    let d = tempfile::tempdir().unwrap();
    let src = generate(d.path(), 600, 6, 0.02);
    let reference = d.path().join("reference");
    let t = Instant::now();
    etl(d.path(), &src, &reference);
    let full = t.elapsed();
    let expected = snapshot(&reference);

    let bin = assert_cmd::cargo::cargo_bin("crm-mart");
    let mut killed_mid_commit = 0;
    for (k, fraction) in [0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97]
        .iter()
        .enumerate()
    {
        let mart = d.path().join(format!("mart{k}"));
        let mut child = StdCommand::new(&bin)
            .arg("--quiet")
            .arg("etl")
            .arg("--source")
            .arg(&src)
            .arg("--mart")
            .arg(&mart)
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(*fraction).max(Duration::from_millis(20)));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let committed = versions(&mart).iter().filter(|(_, v)| v.is_some()).count();
        if !status.success()
            && committed > 0
            && committed < crm_mart::mart::schema::ETL_TABLES.len()
        {
            killed_mid_commit += 1;
        }
        etl(d.path(), &src, &mart);
        assert_eq!(
            snapshot(&mart),
            expected,
            "after a kill at {fraction} of the load"
        );
    }
    eprintln!("{killed_mid_commit} of 8 kills landed between two table commits");
}
