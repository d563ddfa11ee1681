//! The SQL shell: a script on standard input (tables, a query, a named query with a parameter,
//! modes, an output file, an error that does not end the session), and an interactive session
//! through a pseudo-terminal (line editing, continuation lines, history file).

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::common::*;

fn small_mart(d: &Path) -> std::path::PathBuf {
    let src = generate(d, 300, 6, 0.0);
    let mart = d.join("mart");
    etl(d, &src, &mart);
    mart
}

#[test]
fn a_script_on_stdin_prints_each_result_and_an_error_does_not_end_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mart = small_mart(d);
    let lines = scalar(&mart, "fact_sales", "SELECT count(*) FROM fact_sales");
    let customers = scalar(
        &mart,
        "dim_customer",
        "SELECT count(DISTINCT customer_id) FROM dim_customer",
    );
    let script = "\
.tables
SELECT count(*) AS n FROM fact_sales;
.mode csv
-- a statement over two lines, with a ';' inside a string
SELECT count(DISTINCT customer_id) AS customers, 'a;b' AS s
FROM dim_customer;
SELECT nope FROM fact_sales;
.run product_top_products top=3
.schema fact_sales
.mode markdown
SELECT 1 AS one, 'x|y' AS two;
.output out.csv
.mode csv
SELECT 2 AS two;
SELECT 3 AS three;
.output
.frobnicate
.quit
SELECT 4 AS after_quit;
";
    let out = cmd(d)
        .args(["shell", "--mart"])
        .arg(&mart)
        .write_stdin(script)
        .assert()
        .code(1);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    // .tables: the mart's tables with their Delta versions.
    for t in ["fact_sales", "dim_customer", "dim_product", "_quarantine"] {
        assert!(stdout.contains(t), "{t} not listed:\n{stdout}");
    }
    assert!(stdout.contains("delta, version 0"), "{stdout}");
    // The first query as a table, the second as CSV after .mode csv.
    assert!(stdout.contains(&format!("│ {lines} │")), "{stdout}");
    assert!(
        stdout.contains(&format!("customers,s\n{customers},a;b\n")),
        "{stdout}"
    );
    // The named query with its parameter: a header and three products.
    let top = stdout
        .split("product_id")
        .nth(1)
        .expect("product_top_products printed");
    let top_rows: Vec<&str> = top
        .lines()
        .skip(1)
        .take_while(|l| l.contains(','))
        .collect();
    assert_eq!(top_rows.len(), 3, "{top}");
    // .schema lists the columns and their types.
    assert!(
        stdout.contains("date_key") && stdout.contains("Int32") && stdout.contains("nullable"),
        "{stdout}"
    );
    // Markdown, with '|' escaped.
    assert!(
        stdout.contains("| one | two |\n|---:|---|\n| 1 | x\\|y |\n"),
        "{stdout}"
    );
    // .output: both results in the file, none on stdout; nothing after .quit.
    assert_eq!(
        std::fs::read_to_string(d.join("out.csv")).unwrap(),
        "two\n2\nthree\n3\n"
    );
    assert!(!stdout.contains("three") && !stdout.contains("after_quit"));
    // The failed statement is named with its line; the session went on and the exit code says
    // one statement failed.
    assert!(
        stderr.contains("error (line 7)") && stderr.contains("nope"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unknown command .frobnicate; .help lists the commands"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 7 statements failed"), "{stderr}");

    // `query` with no SQL reads the same kind of script; a clean script exits 0.
    let out = cmd(d)
        .args(["query", "--mart"])
        .arg(&mart)
        .write_stdin(".mode csv\nSELECT count(*) AS n FROM fact_sales")
        .assert()
        .success();
    assert_eq!(
        String::from_utf8(out.get_output().stdout.clone()).unwrap(),
        format!("n\n{lines}\n")
    );
}

/// A child on a pseudo-terminal: what it printed so far, and its input.
struct Pty {
    master: std::fs::File,
    seen: Arc<Mutex<Vec<u8>>>,
    child: std::process::Child,
}

impl Pty {
    fn spawn(mut c: std::process::Command) -> Pty {
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize {
            ws_row: 40,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors into the given integers and reads the size.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty");
        use std::os::fd::FromRawFd;
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) = unsafe {
            (
                std::fs::File::from_raw_fd(master),
                std::fs::File::from_raw_fd(slave),
            )
        };
        c.stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        let child = c.spawn().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, sink) = (master.try_clone().unwrap(), seen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            master,
            seen,
            child,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Waits until the output holds `needle` `times` times (60 s at most).
    fn wait_for(&self, needle: &str, times: usize) {
        let t = Instant::now();
        while self.text().matches(needle).count() < times {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "waited for {needle:?} ×{times}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn send(&mut self, line: &str) {
        self.master.write_all(line.as_bytes()).unwrap();
        self.master.write_all(b"\r").unwrap();
    }
}

#[test]
fn an_interactive_session_on_a_terminal_edits_continues_and_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mart = small_mart(d);
    let lines = scalar(&mart, "fact_sales", "SELECT count(*) FROM fact_sales");
    let history = d.join("history");
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("crm-mart"));
    c.current_dir(d)
        .env_remove("CRM_MART_LOG")
        .env("TERM", "xterm")
        .args(["shell", "--mart"])
        .arg(&mart)
        .arg("--history")
        .arg(&history);
    let mut pty = Pty::spawn(c);
    pty.wait_for("crm-mart> ", 1);
    assert!(pty.text().contains(".help for help"), "{}", pty.text());
    // The line editor discards what is typed before its prompt, as a terminal does when raw
    // mode starts: each line is sent after the prompt it answers. A statement over two lines
    // gets the continuation prompt.
    pty.send("SELECT count(*) AS n");
    pty.wait_for("...> ", 1);
    pty.send("FROM fact_sales;");
    pty.wait_for("crm-mart> ", 2);
    pty.send("SELEC 1;");
    pty.wait_for("crm-mart> ", 3);
    pty.send(".mode csv");
    pty.wait_for("crm-mart> ", 4);
    pty.send("SELECT 42 AS answer;");
    pty.wait_for("crm-mart> ", 5);
    pty.send(".quit");
    let t = Instant::now();
    while pty.child.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(60), "{}", pty.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(pty.child.wait().unwrap().success(), "{}", pty.text());
    let text = pty.text();
    assert!(text.contains(&format!("│ {lines} │")), "{text}");
    assert!(text.contains("error:") && text.contains("SELEC"), "{text}");
    assert!(text.contains("answer\r\n42\r\n"), "{text}");
    assert!(text.contains("1 rows in "), "{text}");
    // The history file has the statements as they were entered, the two-line one whole.
    let h = std::fs::read_to_string(&history).unwrap();
    assert!(
        h.contains("SELECT 42 AS answer;") && h.contains(".mode csv"),
        "{h}"
    );
    assert!(h.contains("SELECT count(*) AS n"), "{h}");
}
