//! Decision reports for managers: every section is a named query (or a model artifact) run on
//! one mart version, rendered as Markdown and as one self-contained HTML file with inline CSS
//! and SVG charts (no scripts, nothing fetched), and as an Excel workbook. `build` runs the
//! queries; `html`, `markdown` and `xlsx` render the same [`Report`].

use std::path::PathBuf;

mod build;
mod html;
mod markdown;
mod xlsx;

pub use build::{build, mask};
pub use html::{compact_number, html, svg};
pub use markdown::markdown;
pub use xlsx::xlsx;

/// A report file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// decision-report.html: one self-contained page with inline CSS and SVG charts.
    Html,
    /// decision-report.xlsx: one sheet per section with native charts.
    Xlsx,
    /// decision-report.md: for the terminal and e-mail.
    Md,
}

impl Format {
    /// Every format, in the order the nightly job writes them.
    pub const ALL: [Format; 3] = [Format::Html, Format::Xlsx, Format::Md];

    /// Its name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Xlsx => "xlsx",
            Format::Md => "md",
        }
    }

    /// The file it writes.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Html => "decision-report.html",
            Format::Xlsx => "decision-report.xlsx",
            Format::Md => "decision-report.md",
        }
    }
}

/// A chart of one numeric column against a label column.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Column with the labels.
    pub label: &'static str,
    /// Column with the values.
    pub value: &'static str,
    /// Bars or a line.
    pub line: bool,
}

/// One report section: a named query, its result, and how to show it.
#[derive(Debug, Clone)]
pub struct Section {
    /// Heading.
    pub title: &'static str,
    /// What a manager should read from it.
    pub lead: String,
    /// The named query it comes from.
    pub query: &'static str,
    /// Column names.
    pub columns: Vec<String>,
    /// Cells as text, already masked.
    pub rows: Vec<Vec<String>>,
    /// Numeric value of every cell that has one (for charts).
    pub numbers: Vec<Vec<Option<f64>>>,
    /// Chart, if any.
    pub chart: Option<Chart>,
    /// Why the section is empty, if it is.
    pub missing: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Report {
    /// Mart version (ETL batch) all sections were read at.
    pub mart_version: Option<i64>,
    /// When the report was made.
    pub generated_at: String,
    /// Sections in order.
    pub sections: Vec<Section>,
    /// Model artifacts shown (path, one-line summary).
    pub models: Vec<(PathBuf, String)>,
    /// Warnings a reader must see first (stale sources).
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(labels: &[&str], values: &[f64], line: bool) -> Section {
        Section {
            title: "t",
            lead: String::new(),
            query: "q",
            columns: vec!["label".into(), "value".into()],
            rows: labels
                .iter()
                .zip(values)
                .map(|(l, v)| vec![l.to_string(), v.to_string()])
                .collect(),
            numbers: values.iter().map(|v| vec![None, Some(*v)]).collect(),
            chart: Some(Chart {
                label: "label",
                value: "value",
                line,
            }),
            missing: None,
        }
    }

    /// (x, y) of the SVG's size.
    fn view_box(svg: &str) -> (f64, f64) {
        let v: Vec<f64> = svg
            .split("viewBox=\"0 0 ")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .split(' ')
            .map(|x| x.parse().unwrap())
            .collect();
        (v[0], v[1])
    }

    #[test]
    fn axis_numbers_are_compact() {
        assert_eq!(compact_number(1_456_145.80), "1.46M");
        assert_eq!(compact_number(14_561_458.0), "14.6M");
        assert_eq!(compact_number(48_210.0), "48.2k");
        assert_eq!(compact_number(485_400.0), "485k");
        assert_eq!(compact_number(2_500_000_000.0), "2.5B");
        assert_eq!(compact_number(1_500.0), "1500");
        assert_eq!(compact_number(0.25), "0.25");
        assert_eq!(compact_number(0.0), "0");
        assert_eq!(compact_number(-0.001), "0");
    }

    #[test]
    fn long_labels_are_cut_and_the_chart_grows_to_fit_them() {
        let short = svg(&section(&["a", "b", "c"], &[1.0, 2.0, 3.0], false)).unwrap();
        // Eight segments: too many long names to stand side by side.
        let long_names: Vec<String> = (0..8)
            .map(|k| match k {
                0 => "Loyal high spenders in the south-west region".to_string(),
                k => format!("Segment {k} of occasional buyers"),
            })
            .collect();
        let names: Vec<&str> = long_names.iter().map(String::as_str).collect();
        let long = svg(&section(&names, &[1.0; 8], false)).unwrap();
        // Short labels stand straight (so do long ones with room); crowded long ones are
        // angled, cut with an ellipsis, and the chart is taller so that they are not clipped.
        assert!(short.contains("text-anchor=\"middle\""));
        assert!(long.contains("rotate(-35"));
        assert!(long.contains(">Loyal high spenders in …<"));
        assert!(!long.contains(">Loyal high spenders in the south-west region<"));
        assert!(long.contains("<title>Loyal high spenders in the south-west region: "));
        assert!(view_box(&long).1 > view_box(&short).1 + 40.0);
        // The angled label's extent fits inside the drawing: bottom margin ≥ its height.
        let text_h = 24.0 * 6.2 * 35f64.to_radians().sin();
        assert!(view_box(&long).1 - 200.0 >= text_h, "{}", view_box(&long).1);
    }

    #[test]
    fn a_partial_last_month_is_drawn_hollow_and_dashed() {
        let s = svg(&section(
            &["202310", "202311", "202312 (partial)"],
            &[100.0, 120.0, 30.0],
            true,
        ))
        .unwrap();
        assert_eq!(s.matches("class=\"partial\"").count(), 1);
        assert!(s.contains("fill=\"#fff\" stroke=\"#1f5f99\"><title>202312 (partial)"));
        // The solid line joins the two whole months only.
        let series = s.split("class=\"series\"").nth(1).unwrap();
        let points = series
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(points.split(' ').count(), 2);
    }
}
