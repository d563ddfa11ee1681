//! The command line itself: completions, manual pages, examples in `--help`, and the settings
//! read from the environment.

use super::common::*;

fn stdout_of(a: assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

#[test]
fn completions_and_manual_pages_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bash = stdout_of(cmd(d).args(["completions", "bash"]).assert().success());
    assert!(
        bash.contains("_crm__mart()") && bash.contains("complete -F"),
        "{bash}"
    );
    let zsh = stdout_of(cmd(d).args(["completions", "zsh"]).assert().success());
    assert!(zsh.starts_with("#compdef crm-mart"), "{zsh}");
    let fish = stdout_of(cmd(d).args(["completions", "fish"]).assert().success());
    assert!(fish.contains("complete -c crm-mart"), "{fish}");
    for cmd_name in [
        "etl",
        "nightly",
        "query",
        "shell",
        "quarantine",
        "value",
        "report",
    ] {
        assert!(bash.contains(cmd_name), "bash completion lacks {cmd_name}");
        assert!(fish.contains(cmd_name), "fish completion lacks {cmd_name}");
    }
    // Flags of a subcommand complete too.
    assert!(bash.contains("--as-of-version") && fish.contains("cross-sell-products"));
    expect_bad_input(
        d,
        &["completions", "tcsh"],
        &["invalid value 'tcsh'", "bash"],
    );

    let page = stdout_of(cmd(d).arg("man").assert().success());
    assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
    assert!(
        page.contains(".TH crm-mart 1") && page.contains("quarantine"),
        "{page}"
    );
    cmd(d)
        .args(["man", "--out", "man1"])
        .assert()
        .success()
        .stderr(predicates::str::contains("manual pages in man1"));
    for f in [
        "crm-mart.1",
        "crm-mart-etl.1",
        "crm-mart-shell.1",
        "crm-mart-churn-train.1",
    ] {
        let p = d.join("man1").join(f);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|_| panic!("{f} not written"));
        assert!(text.contains(".TH"), "{f}");
    }
    let etl_page = std::fs::read_to_string(d.join("man1/crm-mart-etl.1")).unwrap();
    assert!(etl_page.contains("CRM_MART_SOURCE"), "{etl_page}");
}

#[test]
fn help_shows_examples_and_says_what_each_command_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (command, example) in [
        ("etl", "crm-mart etl --source exports/"),
        (
            "query",
            "crm-mart query --name product_top_products --param top=5",
        ),
        ("shell", "crm-mart shell < checks.sql"),
        ("value", "crm-mart value --input cdnow_summary.csv"),
        ("quarantine", "crm-mart quarantine --batch 3"),
    ] {
        let help = stdout_of(cmd(d).args([command, "--help"]).assert().success());
        assert!(
            help.contains("Examples:") && help.contains(example),
            "{command}:\n{help}"
        );
    }
    let report = stdout_of(cmd(d).args(["report", "--help"]).assert().success());
    assert!(report.contains("XLSX"), "{report}");
    let nightly = stdout_of(cmd(d).args(["nightly", "--help"]).assert().success());
    assert!(
        nightly.contains("report") && nightly.contains("recommend"),
        "{nightly}"
    );
    let etl = stdout_of(cmd(d).args(["etl", "--help"]).assert().success());
    assert!(etl.contains("[env: CRM_MART_SOURCE=]") && etl.contains("[env: CRM_MART_MART=]"));
    let top = stdout_of(cmd(d).arg("--help").assert().success());
    assert!(top.contains("[env: CRM_MART_CONFIG=]"), "{top}");
}

#[test]
fn the_mart_the_source_and_the_config_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = generate(d, 120, 3, 0.0);
    let elsewhere = d.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    // CRM_MART_SOURCE and CRM_MART_MART instead of --source and --mart.
    cmd(&elsewhere)
        .arg("etl")
        .env("CRM_MART_SOURCE", &src)
        .env("CRM_MART_MART", d.join("env-mart"))
        .assert()
        .success();
    let mart = d.join("env-mart");
    let lines = scalar(&mart, "fact_sales", "SELECT count(*) FROM fact_sales");
    assert!(lines.parse::<u64>().unwrap() > 100);
    let q = |c: &mut assert_cmd::Command| {
        stdout_of(
            c.args([
                "query",
                "--format",
                "csv",
                "SELECT count(*) AS n FROM fact_sales",
            ])
            .assert()
            .success(),
        )
    };
    assert_eq!(
        q(cmd(&elsewhere).env("CRM_MART_MART", &mart)),
        format!("n\n{lines}\n")
    );
    // CRM_MART_CONFIG: a configuration file in another directory, its paths relative to it.
    let conf = d.join("conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(
        conf.join("site.toml"),
        "[paths]\nsource = \"../src\"\nmart = \"../env-mart\"\n",
    )
    .unwrap();
    assert_eq!(
        q(cmd(&elsewhere).env("CRM_MART_CONFIG", conf.join("site.toml"))),
        format!("n\n{lines}\n")
    );
    // A flag beats the environment.
    expect_bad_input(
        &elsewhere,
        &["query", "--mart", "no-such-mart", "SELECT 1"],
        &["no-such-mart does not exist"],
    );
    let mut c = cmd(&elsewhere);
    c.env("CRM_MART_MART", &mart)
        .args(["query", "--mart", "no-such-mart", "SELECT 1"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("no-such-mart does not exist"));
}
