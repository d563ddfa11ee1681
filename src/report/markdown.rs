//! The report as Markdown, for the terminal and e-mail.

use std::fmt::Write as _;

use super::Report;
use super::html::callout;

/// The report in Markdown, for the terminal and e-mail.
pub fn markdown(r: &Report) -> String {
    let mut s = format!(
        "# Decision report\n\nGenerated {} from mart version {}.\n",
        r.generated_at,
        r.mart_version.map_or("-".into(), |v| v.to_string())
    );
    for w in &r.warnings {
        let _ = write!(s, "\n> **Warning:** {w}\n");
    }
    let cell = |c: &str| c.replace('|', "\\|");
    for sec in &r.sections {
        let _ = write!(s, "\n## {}\n\n{}\n\n", sec.title, sec.lead);
        if let Some(m) = &sec.missing {
            let _ = writeln!(s, "_{m}_");
            continue;
        }
        if let Some(c) = callout(sec) {
            let _ = write!(s, "> {c}\n\n");
        }
        let _ = writeln!(
            s,
            "| {} |",
            sec.columns
                .iter()
                .map(|c| cell(c))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(
            s,
            "|{}|",
            sec.numbers
                .first()
                .map(|n| n
                    .iter()
                    .map(|x| if x.is_some() { "---:" } else { "---" })
                    .collect::<Vec<_>>()
                    .join("|"))
                .unwrap_or_default()
        );
        for row in &sec.rows {
            let _ = writeln!(
                s,
                "| {} |",
                row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
            );
        }
        let _ = write!(s, "\nSource: `crm-mart query --name {}`\n", sec.query);
    }
    s.push_str("\n## Model cards\n\n");
    for (p, m) in &r.models {
        let _ = writeln!(s, "- {m} (`{}`)", p.display());
    }
    s
}
