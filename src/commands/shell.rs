//! `crm-mart shell` (and `crm-mart query` with no SQL): an interactive SQL shell with line
//! editing and a history file on a terminal, or the statements of standard input run one by one.
//! The mart's tables are opened once per session; `.refresh` reopens them.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use crm_mart::mart::catalog::{Attachment, TableSource};
use crm_mart::pipeline::{self, Ctx, Session};
use crm_mart::query::output::{Format, OutputOptions};
use crm_mart::query::script::{self, Command, Item, Splitter};
use crm_mart::query::{self, QueryText, named};

use crate::cli::{Cli, ShellArgs};

/// Rows a table shows on a terminal before it says how many it left out.
const TERMINAL_ROWS: usize = 40;

/// Runs the command.
pub fn run(cli: &Cli, ctx: &Ctx, a: &ShellArgs) -> Result<()> {
    let engine = a.engine.as_deref().map(str::parse).transpose()?;
    let attachments: Vec<Attachment> = a
        .tables
        .iter()
        .map(|t| t.parse())
        .collect::<crm_mart::error::Result<_>>()?;
    let session = pipeline::open_session(ctx, engine, attachments)?;
    let interactive = std::io::stdin().is_terminal();
    let mut shell = Shell {
        ctx,
        session,
        mode: Format::Table,
        timer: false,
        out: Out::Stdout,
        interactive,
        quiet: cli.quiet,
        statements: 0,
        failed: 0,
    };
    if interactive {
        shell.interactive(a.history.clone().or_else(default_history))
    } else {
        shell.script(std::io::stdin().lock())
    }
}

/// `~/.crm_mart_history`.
fn default_history() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".crm_mart_history"))
}

/// Where results go.
enum Out {
    Stdout,
    /// `.output FILE`: one file for the rest of the session (or until the next `.output`).
    File(PathBuf, Arc<Mutex<std::fs::File>>),
}

/// A writer into the shared file of `.output`.
struct Shared(Arc<Mutex<std::fs::File>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().expect("not poisoned").flush()
    }
}

impl Out {
    fn writer(&self) -> Box<dyn Write + Send> {
        match self {
            Out::Stdout => Box::new(std::io::stdout()),
            Out::File(_, f) => Box::new(Shared(f.clone())),
        }
    }
}

/// What to do after an item.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

struct Shell<'a> {
    ctx: &'a Ctx,
    session: Session,
    mode: Format,
    timer: bool,
    out: Out,
    interactive: bool,
    quiet: bool,
    statements: usize,
    failed: usize,
}

impl Shell<'_> {
    /// Reads lines with editing and history until `.quit` or Ctrl-D; Ctrl-C drops the pending
    /// statement. An error is printed and the session goes on.
    fn interactive(&mut self, history: Option<PathBuf>) -> Result<()> {
        let mut rl = rustyline::DefaultEditor::new().context("starting the line editor")?;
        if let Some(h) = &history {
            let _ = rl.load_history(h);
        }
        eprintln!(
            "crm-mart shell on {} ({} tables{}); .help for help, .quit to leave",
            self.ctx.settings.mart_dir.display(),
            self.session.tables().len(),
            self.session
                .mart_version()
                .map(|v| format!(", ETL batch {v}"))
                .unwrap_or_default()
        );
        let mut splitter = Splitter::new();
        'lines: loop {
            let prompt = if splitter.is_pending() {
                "     ...> "
            } else {
                "crm-mart> "
            };
            let line = match rl.readline(prompt) {
                Ok(line) => line,
                Err(rustyline::error::ReadlineError::Interrupted) => {
                    splitter.clear();
                    continue;
                }
                Err(rustyline::error::ReadlineError::Eof) => break,
                Err(e) => return Err(e).context("reading the terminal"),
            };
            for item in splitter.push_line(&line) {
                let entry = match &item {
                    Item::Command(c) => c.clone(),
                    Item::Sql(s) => format!("{s};"),
                };
                let _ = rl.add_history_entry(entry);
                if self.item(&item, None) == Flow::Quit {
                    break 'lines;
                }
            }
        }
        if let Some(h) = &history {
            let _ = rl.save_history(h);
        }
        Ok(())
    }

    /// Runs every item of `input`, printing each result; a failed statement is reported with its
    /// line and the script goes on; the command fails at the end if any did.
    fn script(&mut self, input: impl BufRead) -> Result<()> {
        let mut splitter = Splitter::new();
        for (n, line) in input.lines().enumerate() {
            let line = line.with_context(|| {
                format!(
                    "standard input line {}: not UTF-8 text; convert the script (e.g. iconv -t utf-8)",
                    n + 1
                )
            })?;
            for item in splitter.push_line(&line) {
                if self.item(&item, Some(n + 1)) == Flow::Quit {
                    return self.outcome();
                }
            }
        }
        if let Some(item) = splitter.finish() {
            self.item(&item, None);
        }
        self.outcome()
    }

    fn outcome(&self) -> Result<()> {
        if self.failed > 0 {
            return Err(crm_mart::error::Error::query(format!(
                "{} of {} statements failed (each is reported above with its line)",
                self.failed, self.statements
            ))
            .into());
        }
        Ok(())
    }

    /// Runs one item; errors are printed, not returned.
    fn item(&mut self, item: &Item, line: Option<usize>) -> Flow {
        let result = match item {
            Item::Sql(sql) => {
                self.statements += 1;
                query::prepare(&QueryText::Adhoc(sql.clone()), None, &[])
                    .map_err(anyhow::Error::from)
                    .and_then(|p| self.statement(&p))
                    .map(|()| Flow::Continue)
            }
            Item::Command(c) => script::parse_command(c)
                .map_err(anyhow::Error::from)
                .and_then(|c| self.command(c)),
        };
        match result {
            Ok(flow) => flow,
            Err(e) => {
                if matches!(item, Item::Sql(_)) {
                    self.failed += 1;
                }
                let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
                eprintln!("error{at}: {e:#}");
                Flow::Continue
            }
        }
    }

    fn statement(&mut self, p: &query::Prepared) -> Result<()> {
        let to_terminal = self.interactive && matches!(self.out, Out::Stdout);
        let opts = OutputOptions {
            format: self.mode,
            path: None,
            max_rows: to_terminal.then_some(TERMINAL_ROWS),
            width: if to_terminal {
                comfy_table::Table::new().width()
            } else {
                None
            },
        };
        let t = Instant::now();
        let w = self.session.run(self.ctx, p, &opts, self.out.writer())?;
        if self.quiet || !(self.interactive || self.timer) {
            return Ok(());
        }
        let shown = if w.shown < w.rows {
            format!(
                " ({} shown; LIMIT, or .mode csv with .output FILE)",
                w.shown
            )
        } else {
            String::new()
        };
        if !w.hidden_columns.is_empty() {
            eprintln!(
                "{} columns not shown (terminal too narrow): {}",
                w.hidden_columns.len(),
                w.hidden_columns.join(", ")
            );
        }
        let to = match &self.out {
            Out::File(path, _) => format!(" to {}", path.display()),
            Out::Stdout => String::new(),
        };
        let time = if self.timer || self.interactive {
            format!(" in {:.3}s", t.elapsed().as_secs_f64())
        } else {
            String::new()
        };
        eprintln!("{} rows{shown}{to}{time}", w.rows);
        Ok(())
    }

    fn command(&mut self, c: Command) -> Result<Flow> {
        match c {
            Command::Quit => return Ok(Flow::Quit),
            Command::Help => writeln!(self.out.writer(), "{}", script::HELP)?,
            Command::Tables => self.tables()?,
            Command::Schema(name) => self.schema(&name)?,
            Command::Mode(f) => self.mode = f,
            Command::Timer(on) => self.timer = on,
            Command::Output(path) => self.output(path)?,
            Command::Refresh => {
                self.session.refresh(self.ctx)?;
                eprintln!("{} tables reopened", self.session.tables().len());
            }
            Command::Queries => {
                let mut out = self.out.writer();
                for q in named::all(Some(&self.ctx.settings.queries_dir))? {
                    let params: Vec<String> = q.params.iter().map(|p| p.signature()).collect();
                    writeln!(
                        out,
                        "{}  {}\n    {}",
                        q.name,
                        params.join(" "),
                        q.description
                    )?;
                }
            }
            Command::Run { name, params } => {
                self.statements += 1;
                let dir = &self.ctx.settings.queries_dir;
                let p = query::prepare(&QueryText::Named(name), Some(dir), &params);
                if let Err(e) = p
                    .map_err(anyhow::Error::from)
                    .and_then(|p| self.statement(&p))
                {
                    self.failed += 1;
                    return Err(e);
                }
            }
        }
        Ok(Flow::Continue)
    }

    fn tables(&self) -> Result<()> {
        let mut t = super::table(["table", "source"]);
        for info in self.session.tables() {
            let source = match &info.source {
                TableSource::Delta { version } => format!("delta, version {version}"),
                TableSource::Parquet => "parquet".into(),
                TableSource::Csv => "csv".into(),
                TableSource::RunLog => "nightly run log".into(),
            };
            let source = if info.attached && info.source != TableSource::RunLog {
                format!("{source}, attached: {}", info.path.display())
            } else {
                source
            };
            t.add_row(vec![info.name.clone(), source]);
        }
        writeln!(self.out.writer(), "{t}")?;
        Ok(())
    }

    fn schema(&self, name: &str) -> Result<()> {
        let schema = self.session.schema(self.ctx, name)?;
        let mut t = super::table(["column", "type", "nullable"]);
        for f in schema.fields() {
            t.add_row(vec![
                f.name().clone(),
                f.data_type().to_string(),
                if f.is_nullable() { "yes" } else { "no" }.to_string(),
            ]);
        }
        writeln!(self.out.writer(), "{t}")?;
        Ok(())
    }

    fn output(&mut self, path: Option<PathBuf>) -> Result<()> {
        self.out = match path {
            None => Out::Stdout,
            Some(p) => {
                let f = std::fs::File::create(&p)
                    .with_context(|| format!("{}: cannot create the output file", p.display()))?;
                Out::File(p, Arc::new(Mutex::new(f)))
            }
        };
        Ok(())
    }
}
