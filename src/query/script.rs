//! The text of a SQL shell session or script: lines cut into statements (ending with `;` outside
//! quotes and comments) and dot commands (`.tables`, `\d TABLE`, …), and the dot commands
//! parsed.

use std::path::PathBuf;

use super::output::Format;
use crate::error::{Error, Result};

/// One complete item of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A dot (or backslash) command line, as written.
    Command(String),
    /// A SQL statement without its `;`.
    Sql(String),
}

/// Cuts lines into [`Item`]s; a statement may span lines.
#[derive(Debug, Default)]
pub struct Splitter {
    buf: String,
    quote: Option<char>,
    block_comment: bool,
}

impl Splitter {
    /// A splitter with nothing pending.
    pub fn new() -> Splitter {
        Splitter::default()
    }

    /// Whether a statement is begun and not yet ended.
    pub fn is_pending(&self) -> bool {
        !self.buf.trim().is_empty() || self.quote.is_some() || self.block_comment
    }

    /// Forgets the pending statement (Ctrl-C at a continuation prompt).
    pub fn clear(&mut self) {
        *self = Splitter::default();
    }

    /// Feeds one line (without its line break); returns the items it completes.
    pub fn push_line(&mut self, line: &str) -> Vec<Item> {
        let trimmed = line.trim();
        if !self.is_pending() && (trimmed.starts_with('.') || trimmed.starts_with('\\')) {
            self.buf.clear();
            return vec![Item::Command(trimmed.to_string())];
        }
        let mut items = Vec::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if self.block_comment {
                self.buf.push(c);
                if c == '*' && chars.peek() == Some(&'/') {
                    self.buf.push(chars.next().expect("peeked"));
                    self.block_comment = false;
                }
                continue;
            }
            if let Some(q) = self.quote {
                self.buf.push(c);
                if c == q {
                    self.quote = None;
                }
                continue;
            }
            match c {
                '\'' | '"' => {
                    self.quote = Some(c);
                    self.buf.push(c);
                }
                '-' if chars.peek() == Some(&'-') => break,
                '/' if chars.peek() == Some(&'*') => {
                    self.buf.push(c);
                    self.buf.push(chars.next().expect("peeked"));
                    self.block_comment = true;
                }
                ';' => {
                    let sql = self.buf.trim().to_string();
                    self.buf.clear();
                    if !sql.is_empty() {
                        items.push(Item::Sql(sql));
                    }
                }
                _ => self.buf.push(c),
            }
        }
        if self.quote.is_some() {
            self.buf.push('\n');
        } else if !self.buf.trim().is_empty() {
            let end = self.buf.trim_end().len();
            self.buf.truncate(end);
            self.buf.push('\n');
        } else {
            self.buf.clear();
        }
        items
    }

    /// At the end of the input: the statement left without its `;`, if any.
    pub fn finish(&mut self) -> Option<Item> {
        let sql = self.buf.trim().to_string();
        self.clear();
        (!sql.is_empty()).then_some(Item::Sql(sql))
    }
}

/// A shell command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `.tables` (`\d` alone): the registered tables.
    Tables,
    /// `.schema TABLE` / `\d TABLE`: its columns.
    Schema(String),
    /// `.mode FORMAT`: how results print.
    Mode(Format),
    /// `.timer on|off`: print each statement's time.
    Timer(bool),
    /// `.output FILE` (None: back to stdout).
    Output(Option<PathBuf>),
    /// `.run NAME key=value…`: a named query.
    Run {
        /// The named query.
        name: String,
        /// Its parameters, `key=value`.
        params: Vec<String>,
    },
    /// `.queries`: the named queries.
    Queries,
    /// `.refresh`: reopen the tables at their latest versions.
    Refresh,
    /// `.help`.
    Help,
    /// `.quit`, `.exit`, `\q`.
    Quit,
}

/// What `.help` prints.
pub const HELP: &str = "\
.tables                 the tables (also \\d)
.schema TABLE           a table's columns (also \\d TABLE)
.mode MODE              table, csv, json, jsonl or markdown
.timer on|off           print each statement's time
.output [FILE]          results to FILE (appended to while the session lasts); alone: to stdout
.run NAME [k=v]...      a named query with parameters (.queries lists them)
.queries                the named queries
.refresh                reopen the mart's tables at their latest versions
.help                   this text
.quit                   leave (also .exit, \\q, Ctrl-D)
SQL statements end with ';' and may span lines.";

/// Parses a command line (`.mode csv`, `\d fact_sales`).
pub fn parse_command(line: &str) -> Result<Command> {
    let mut words = line.split_whitespace();
    let head = words.next().unwrap_or("");
    let args: Vec<&str> = words.collect();
    let one = |what: &str| -> Result<String> {
        match args.as_slice() {
            [a] => Ok(a.to_string()),
            _ => Err(Error::usage(format!("{head} takes {what}; see .help"))),
        }
    };
    Ok(match head {
        ".tables" => Command::Tables,
        "\\d" if args.is_empty() => Command::Tables,
        ".schema" | "\\d" => Command::Schema(one("one table name")?),
        ".mode" => {
            let m = one("one of table, csv, json, jsonl, markdown")?;
            match m.parse::<Format>()? {
                f @ (Format::Table
                | Format::Csv
                | Format::Json
                | Format::Jsonl
                | Format::Markdown) => Command::Mode(f),
                _ => {
                    return Err(Error::usage(format!(
                        ".mode {m}: a binary format cannot print; use table, csv, json, jsonl or markdown (or `crm-mart query --output FILE`)"
                    )));
                }
            }
        }
        ".timer" => match one("on or off")?.as_str() {
            "on" => Command::Timer(true),
            "off" => Command::Timer(false),
            other => return Err(Error::usage(format!(".timer {other}: use on or off"))),
        },
        ".output" | ".once" if args.is_empty() => Command::Output(None),
        ".output" => Command::Output(Some(PathBuf::from(one("one file name")?))),
        ".run" => match args.split_first() {
            Some((name, params)) => Command::Run {
                name: name.to_string(),
                params: params.iter().map(|p| p.to_string()).collect(),
            },
            None => {
                return Err(Error::usage(
                    ".run takes a named query and its key=value parameters, e.g. .run product_top_products top=5; .queries lists them",
                ));
            }
        },
        ".queries" => Command::Queries,
        ".refresh" => Command::Refresh,
        ".help" | "\\?" => Command::Help,
        ".quit" | ".exit" | "\\q" => Command::Quit,
        _ => {
            return Err(Error::usage(format!(
                "unknown command {head}; .help lists the commands"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<Item> {
        let mut s = Splitter::new();
        let mut items: Vec<Item> = text.lines().flat_map(|l| s.push_line(l)).collect();
        items.extend(s.finish());
        items
    }

    #[test]
    fn statements_end_at_semicolons_outside_quotes_and_comments() {
        let items = split(
            "SELECT 'a;b' AS x,\n  \"c;d\" -- a comment; not the end\nFROM t;\n.tables\n\
             SELECT /* ; */ 1; SELECT 2;\nSELECT 3",
        );
        assert_eq!(
            items,
            vec![
                Item::Sql("SELECT 'a;b' AS x,\n  \"c;d\"\nFROM t".into()),
                Item::Command(".tables".into()),
                Item::Sql("SELECT /* ; */ 1".into()),
                Item::Sql("SELECT 2".into()),
                Item::Sql("SELECT 3".into()),
            ]
        );
    }

    #[test]
    fn a_dot_inside_a_pending_statement_is_sql() {
        let mut s = Splitter::new();
        assert!(s.push_line("SELECT c").is_empty());
        assert!(s.is_pending());
        assert_eq!(
            s.push_line(".name FROM t;"),
            vec![Item::Sql("SELECT c\n.name FROM t".into())]
        );
        assert!(!s.is_pending());
        // A quote left open keeps the statement going across lines.
        assert!(s.push_line("SELECT 'it''s").is_empty());
        assert_eq!(
            s.push_line("two lines';"),
            vec![Item::Sql("SELECT 'it''s\ntwo lines'".into())]
        );
    }

    #[test]
    fn commands_parse_and_mistakes_say_what_is_accepted() {
        assert_eq!(parse_command("\\d").unwrap(), Command::Tables);
        assert_eq!(
            parse_command("\\d fact_sales").unwrap(),
            Command::Schema("fact_sales".into())
        );
        assert_eq!(
            parse_command(".mode markdown").unwrap(),
            Command::Mode(Format::Markdown)
        );
        assert_eq!(
            parse_command(".run product_top_products top=5 category=Grocery").unwrap(),
            Command::Run {
                name: "product_top_products".into(),
                params: vec!["top=5".into(), "category=Grocery".into()]
            }
        );
        assert_eq!(parse_command(".output").unwrap(), Command::Output(None));
        let e = parse_command(".mode xlsx").unwrap_err().to_string();
        assert!(e.contains("binary"), "{e}");
        let e = parse_command(".timer maybe").unwrap_err().to_string();
        assert!(e.contains("on or off"), "{e}");
        let e = parse_command(".tabels").unwrap_err().to_string();
        assert!(e.contains("unknown command .tabels"), "{e}");
    }
}
