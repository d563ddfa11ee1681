//! The report as an Excel workbook: one sheet per section with native charts.

use std::path::Path;

use super::html::callout;
use super::{Report, Section};
use crate::error::{Error, Result};

/// A worksheet name for a section: Excel allows 31 characters and no `[]:*?/\`.
fn sheet_name(title: &str, taken: &mut Vec<String>) -> String {
    let mut name: String = title
        .chars()
        .filter(|c| !"[]:*?/\\".contains(*c))
        .take(31)
        .collect();
    let base = name.clone();
    let mut k = 2;
    while taken.contains(&name) {
        name = format!("{} {k}", &base[..base.len().min(28)]);
        k += 1;
    }
    taken.push(name.clone());
    name
}

/// The cell formats of the workbook.
struct Formats {
    title: rust_xlsxwriter::Format,
    header: rust_xlsxwriter::Format,
    money: rust_xlsxwriter::Format,
    whole: rust_xlsxwriter::Format,
    note: rust_xlsxwriter::Format,
}

impl Formats {
    fn new() -> Formats {
        use rust_xlsxwriter::{Format, FormatBorder};
        Formats {
            title: Format::new().set_bold().set_font_size(14),
            header: Format::new()
                .set_bold()
                .set_background_color("#F1F4F8")
                .set_border_bottom(FormatBorder::Thin),
            money: Format::new().set_num_format("#,##0.00"),
            whole: Format::new().set_num_format("0"),
            note: Format::new().set_italic().set_font_color("#777777"),
        }
    }
}

/// The workbook writer's error as ours, naming the file.
fn xerr(path: &Path) -> impl Fn(rust_xlsxwriter::XlsxError) -> Error + '_ {
    move |e| Error::usage(format!("{}: {e}", path.display()))
}

/// The report as an Excel workbook: one sheet per section with a formatted table and a native
/// chart where the HTML has one, then the model cards and the appendix. Written to
/// `path.partial` and renamed.
pub fn xlsx(r: &Report, path: &Path) -> Result<()> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let f = Formats::new();
    let mut taken = Vec::new();
    for sec in &r.sections {
        let name = sheet_name(sec.title, &mut taken);
        section_sheet(&mut wb, sec, &name, &f, path)?;
    }
    appendix(&mut wb, r, &f, path)?;
    let tmp = path.with_extension("partial");
    wb.save(&tmp).map_err(xerr(path))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// One section's sheet: title, lead, the table (numbers as numbers), the source, the chart.
fn section_sheet(
    wb: &mut rust_xlsxwriter::Workbook,
    sec: &Section,
    name: &str,
    f: &Formats,
    path: &Path,
) -> Result<()> {
    let xerr = xerr(path);
    let ws = wb.add_worksheet();
    ws.set_name(name).map_err(&xerr)?;
    ws.write_string_with_format(0, 0, sec.title, &f.title)
        .map_err(&xerr)?;
    ws.write_string(1, 0, &sec.lead).map_err(&xerr)?;
    if let Some(m) = &sec.missing {
        ws.write_string_with_format(3, 0, m, &f.note)
            .map_err(&xerr)?;
        return Ok(());
    }
    if let Some(c) = callout(sec) {
        ws.write_string_with_format(2, 0, &c, &f.note)
            .map_err(&xerr)?;
    }
    let top: u32 = 3;
    write_table(ws, sec, top, f, &xerr)?;
    let last = top + sec.rows.len() as u32;
    ws.write_string_with_format(
        last + 2,
        0,
        format!(
            "Source: named query {} (crm-mart query --name {})",
            sec.query, sec.query
        ),
        &f.note,
    )
    .map_err(&xerr)?;
    if let Some(ch) = &sec.chart
        && let (Some(li), Some(vi)) = (
            sec.columns.iter().position(|c| c == ch.label),
            sec.columns.iter().position(|c| c == ch.value),
        )
    {
        let mut chart = if ch.line {
            rust_xlsxwriter::Chart::new_line()
        } else {
            rust_xlsxwriter::Chart::new_column()
        };
        chart
            .add_series()
            .set_name(ch.value)
            .set_categories((name, top + 1, li as u16, last, li as u16))
            .set_values((name, top + 1, vi as u16, last, vi as u16));
        chart.title().set_name(sec.title);
        chart.legend().set_hidden();
        ws.insert_chart(top, sec.columns.len() as u16 + 1, &chart)
            .map_err(&xerr)?;
    }
    Ok(())
}

/// The section's table from row `top`: a header, then numbers as numbers (whole or money).
fn write_table(
    ws: &mut rust_xlsxwriter::Worksheet,
    sec: &Section,
    top: u32,
    f: &Formats,
    xerr: &dyn Fn(rust_xlsxwriter::XlsxError) -> Error,
) -> Result<()> {
    for (j, c) in sec.columns.iter().enumerate() {
        ws.write_string_with_format(top, j as u16, c, &f.header)
            .map_err(&xerr)?;
        let width = sec
            .rows
            .iter()
            .map(|r| r[j].chars().count())
            .chain([c.chars().count()])
            .max()
            .unwrap_or(8)
            .clamp(8, 60);
        ws.set_column_width(j as u16, width as f64 + 2.0)
            .map_err(&xerr)?;
    }
    for (i, (row, nums)) in sec.rows.iter().zip(&sec.numbers).enumerate() {
        let at = top + 1 + i as u32;
        for (j, (cell, n)) in row.iter().zip(nums).enumerate() {
            match n {
                Some(v) if v.fract() == 0.0 => {
                    ws.write_number_with_format(at, j as u16, *v, &f.whole)
                }
                Some(v) => ws.write_number_with_format(at, j as u16, *v, &f.money),
                None => ws.write_string(at, j as u16, cell),
            }
            .map_err(&xerr)?;
        }
    }
    Ok(())
}

/// The model cards' sheet and the appendix of where the numbers come from.
fn appendix(
    wb: &mut rust_xlsxwriter::Workbook,
    r: &Report,
    f: &Formats,
    path: &Path,
) -> Result<()> {
    let xerr = xerr(path);
    let ws = wb.add_worksheet();
    ws.set_name("Model cards").map_err(&xerr)?;
    ws.write_string_with_format(0, 0, "Model cards", &f.title)
        .map_err(&xerr)?;
    for (k, (p, m)) in r.models.iter().enumerate() {
        ws.write_string(2 + k as u32, 0, m).map_err(&xerr)?;
        ws.write_string(2 + k as u32, 1, p.display().to_string())
            .map_err(&xerr)?;
    }
    let ws = wb.add_worksheet();
    ws.set_name("Appendix").map_err(&xerr)?;
    ws.write_string_with_format(0, 0, "Where the numbers come from", &f.title)
        .map_err(&xerr)?;
    ws.write_string(
        1,
        0,
        format!(
            "Mart version {}, generated {}",
            r.mart_version.map_or("-".into(), |v| v.to_string()),
            r.generated_at
        ),
    )
    .map_err(&xerr)?;
    for (k, sec) in r.sections.iter().enumerate() {
        ws.write_string(3 + k as u32, 0, sec.title).map_err(&xerr)?;
        ws.write_string(3 + k as u32, 1, format!("named query {}", sec.query))
            .map_err(&xerr)?;
    }
    Ok(())
}
