//! The report as one self-contained HTML page: inline CSS and SVG charts, no scripts.

use std::fmt::Write as _;

use super::{Report, Section};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The largest value of a chart (at least a tiny positive number, for an all-zero chart).
fn max_value(points: &[(String, f64)]) -> f64 {
    points.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-9)
}

/// `label` cut to `max` characters with an ellipsis.
fn short_label(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        return label.to_string();
    }
    let mut s: String = label.chars().take(max - 1).collect();
    s.push('…');
    s
}

/// An axis number a reader takes in at a glance: 1456145.80 → "1.46M", 48210 → "48.2k",
/// 0.25 → "0.25".
pub fn compact_number(v: f64) -> String {
    let (scaled, unit) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "B"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let decimals = match scaled.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        _ => 2,
    };
    let mut text = format!("{scaled:.decimals$}");
    if text.contains('.') {
        while text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
    }
    if text == "-0" {
        text = "0".into();
    }
    format!("{text}{unit}")
}

/// Where a chart's marks go: the plot area inside its margins, the slot of each point and the
/// value scale.
struct Frame {
    w: f64,
    h: f64,
    left: f64,
    top: f64,
    plot_h: f64,
    step: f64,
    max: f64,
    /// Labels set straight (few and short) or at `ANGLE`.
    straight: bool,
}

/// The angle of labels that do not fit straight, in degrees.
const ANGLE: f64 = 35.0;

impl Frame {
    /// Labels: cut to a readable length (the full text stays in each mark's tooltip), set
    /// straight when few and short, else at an angle, with the margins they need.
    fn new(points: &[(String, f64)], labels: &[String]) -> Frame {
        const CHAR_W: f64 = 6.2;
        let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64;
        let w = 720.0;
        let slots = w - 80.0;
        let straight = longest * CHAR_W < slots / points.len() as f64 - 6.0;
        let (sin, cos) = (ANGLE.to_radians().sin(), ANGLE.to_radians().cos());
        let axis_w = (0..=3)
            .map(|k| compact_number(max_value(points) * k as f64 / 3.0).len() as f64 * CHAR_W)
            .fold(0.0, f64::max);
        let step0 = slots / points.len() as f64;
        let (bottom, left) = if straight {
            (34.0, (axis_w + 14.0).max(50.0))
        } else {
            (
                (longest * CHAR_W * sin + 24.0).max(40.0),
                (axis_w + 14.0)
                    .max(longest * CHAR_W * cos - step0 / 2.0 + 8.0)
                    .max(50.0),
            )
        };
        let (top, plot_h) = (15.0, 185.0);
        let plot_w = w - left - 10.0;
        Frame {
            w,
            h: top + plot_h + bottom,
            left,
            top,
            plot_h,
            step: plot_w / points.len() as f64,
            max: max_value(points),
            straight,
        }
    }

    fn y(&self, v: f64) -> f64 {
        self.top + self.plot_h * (1.0 - v / self.max)
    }

    fn x_of(&self, i: usize) -> f64 {
        self.left + self.step * (i as f64 + 0.5)
    }
}

/// An SVG chart of a section (bars, or a line for series), sized for a laptop and print.
pub fn svg(section: &Section) -> Option<String> {
    let chart = section.chart.as_ref()?;
    let li = section.columns.iter().position(|c| c == chart.label)?;
    let vi = section.columns.iter().position(|c| c == chart.value)?;
    let points: Vec<(String, f64)> = section
        .rows
        .iter()
        .zip(&section.numbers)
        .filter_map(|(r, n)| n[vi].map(|v| (r[li].clone(), v)))
        .collect();
    if points.is_empty() {
        return None;
    }
    const MAX_LABEL: usize = 24;
    let labels: Vec<String> = points
        .iter()
        .map(|p| short_label(&p.0, MAX_LABEL))
        .collect();
    let f = Frame::new(&points, &labels);
    let mut s = format!(
        r#"<svg class="chart" role="img" aria-label="{} by {}" viewBox="0 0 {} {:.0}" width="100%">"#,
        esc(chart.value),
        esc(chart.label),
        f.w,
        f.h
    );
    // Axis and three gridlines with values.
    for k in 0..=3 {
        let v = f.max * k as f64 / 3.0;
        let _ = write!(
            s,
            r##"<line x1="{:.1}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text class="axis" x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#555">{}</text>"##,
            f.left,
            f.w - 10.0,
            f.left - 6.0,
            f.y(v) + 4.0,
            compact_number(v),
            y = f.y(v)
        );
    }
    if chart.line {
        line_series(&mut s, &f, &points);
    } else {
        bars(&mut s, &f, &points);
    }
    x_labels(&mut s, &f, &labels);
    s.push_str("</svg>");
    Some(s)
}

/// Complete periods as a solid line; a partial first or last period joins it dashed, and its
/// point is hollow, so that a short month does not read as a collapse.
fn line_series(s: &mut String, f: &Frame, points: &[(String, f64)]) {
    let partial = |label: &str| label.contains("(partial)");
    let full: Vec<usize> = (0..points.len())
        .filter(|i| !partial(&points[*i].0))
        .collect();
    if let (Some(&a), Some(&b)) = (full.first(), full.last()) {
        let path: Vec<String> = (a..=b)
            .map(|i| format!("{:.1},{:.1}", f.x_of(i), f.y(points[i].1)))
            .collect();
        let _ = write!(
            s,
            r##"<polyline class="series" fill="none" stroke="#1f5f99" stroke-width="2" points="{}"/>"##,
            path.join(" ")
        );
        for (from, to) in [(a.checked_sub(1), a), (Some(b + 1), b)] {
            if let Some(i) = from.filter(|i| *i < points.len()) {
                let _ = write!(
                    s,
                    r##"<line class="partial" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#1f5f99" stroke-width="2" stroke-dasharray="4 3"/>"##,
                    f.x_of(to),
                    f.y(points[to].1),
                    f.x_of(i),
                    f.y(points[i].1)
                );
            }
        }
    }
    for (i, p) in points.iter().enumerate() {
        let fill = if partial(&p.0) { "#fff" } else { "#1f5f99" };
        let _ = write!(
            s,
            r##"<circle class="point" cx="{:.1}" cy="{:.1}" r="3" fill="{fill}" stroke="#1f5f99"><title>{}: {}</title></circle>"##,
            f.x_of(i),
            f.y(p.1),
            esc(&p.0),
            crate::query::output::format_float(p.1)
        );
    }
}

/// One bar per point.
fn bars(s: &mut String, f: &Frame, points: &[(String, f64)]) {
    for (i, p) in points.iter().enumerate() {
        let bw = f.step * 0.7;
        let _ = write!(
            s,
            r##"<rect class="bar" x="{:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="#1f5f99"><title>{}: {}</title></rect>"##,
            f.left + f.step * i as f64 + f.step * 0.15,
            f.y(p.1),
            (f.top + f.plot_h - f.y(p.1)).max(0.0),
            esc(&p.0),
            crate::query::output::format_float(p.1)
        );
    }
}

/// The labels under the marks (every n-th when crowded).
fn x_labels(s: &mut String, f: &Frame, labels: &[String]) {
    let every = (labels.len() / 12).max(1);
    let base = f.top + f.plot_h + 16.0;
    for (i, label) in labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let x = f.x_of(i);
        if f.straight {
            let _ = write!(
                s,
                r##"<text class="label" x="{x:.1}" y="{base:.1}" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
                esc(label)
            );
        } else {
            let _ = write!(
                s,
                r##"<text class="label" x="{x:.1}" y="{base:.1}" font-size="11" text-anchor="end" transform="rotate(-{ANGLE} {x:.1} {base:.1})" fill="#333">{}</text>"##,
                esc(label)
            );
        }
    }
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\
h1{font-size:1.7em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:2em;border-bottom:2px solid #1f5f99;padding-bottom:.2em}\
.meta{color:#666;font-size:.9em}.lead{color:#444}.source{color:#777;font-size:.8em}.callout{background:#fff6d6;border-left:4px solid #e0a800;padding:.5em .8em}\
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.6em 0}th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}\
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f1f4f8}.missing{color:#999;font-style:italic}.warning{background:#fff4e5;border-left:4px solid #e8a33d;padding:.5em .8em}\
@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}table,svg{page-break-inside:avoid}}";

/// The razor → diaper style call-out for the top rules section: the first rule whose antecedent
/// and consequent name a razor/shaver and diapers.
pub(super) fn callout(section: &Section) -> Option<String> {
    if section.query != "report_top_rules" {
        return None;
    }
    let a = section.columns.iter().position(|c| c == "antecedent")?;
    let c = section.columns.iter().position(|c| c == "consequent")?;
    let lift = section.columns.iter().position(|c| c == "lift")?;
    let conf = section.columns.iter().position(|c| c == "confidence")?;
    section.rows.iter().zip(&section.numbers).find_map(|(r, n)| {
        let razor = |s: &str| s.contains("Razor") || s.contains("shaver");
        (razor(&r[a]) && r[c].contains("Diapers")).then(|| {
            format!(
                "Razors and diapers: {:.0}% of baskets with {} also have {} — {:.1}× the usual rate. Place them together and offer diapers to razor buyers.",
                n[conf].unwrap_or(0.0) * 100.0,
                r[a],
                r[c],
                n[lift].unwrap_or(0.0)
            )
        })
    })
}

/// One section: its lead, callout, chart and table, or why it is missing.
fn section(s: &mut String, sec: &Section) {
    let _ = write!(
        s,
        "<section id=\"{}\"><h2>{}</h2><p class=\"lead\">{}</p>",
        sec.query,
        esc(sec.title),
        esc(&sec.lead)
    );
    if let Some(m) = &sec.missing {
        let _ = write!(s, "<p class=\"missing\">{}</p></section>", esc(m));
        return;
    }
    if let Some(c) = callout(sec) {
        let _ = write!(s, "<p class=\"callout\">{}</p>", esc(&c));
    }
    if let Some(svg) = svg(sec) {
        s.push_str(&svg);
    }
    s.push_str("<table><thead><tr>");
    for c in &sec.columns {
        let _ = write!(s, "<th>{}</th>", esc(c));
    }
    s.push_str("</tr></thead><tbody>");
    for (row, nums) in sec.rows.iter().zip(&sec.numbers) {
        s.push_str("<tr>");
        for (cell, n) in row.iter().zip(nums) {
            let class = if n.is_some() { " class=\"num\"" } else { "" };
            let _ = write!(s, "<td{class}>{}</td>", esc(cell));
        }
        s.push_str("</tr>");
    }
    let _ = write!(
        s,
        "</tbody></table><p class=\"source\">Source: named query <code>{}</code> (<code>crm-mart query --name {}</code>).</p></section>",
        sec.query, sec.query
    );
}

/// The report as one self-contained HTML page.
pub fn html(r: &Report) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>crm-mart decision report</title><style>{CSS}</style></head><body>"
    );
    let _ = write!(
        s,
        "<h1>Decision report</h1><p class=\"meta\">Generated {} from mart version {} (every section read at that version).</p>",
        esc(&r.generated_at),
        r.mart_version.map_or("-".into(), |v| v.to_string())
    );
    for w in &r.warnings {
        let _ = write!(s, "<p class=\"warning\">Warning: {}</p>", esc(w));
    }
    for sec in &r.sections {
        section(&mut s, sec);
    }
    s.push_str("<section id=\"models\"><h2>Model cards</h2><ul>");
    for (p, m) in &r.models {
        let _ = write!(
            s,
            "<li>{} <span class=\"source\">({})</span></li>",
            esc(m),
            esc(&p.display().to_string())
        );
    }
    if r.models.is_empty() {
        s.push_str("<li class=\"missing\">no model artifacts yet</li>");
    }
    s.push_str("</ul></section><section id=\"appendix\"><h2>Appendix: where the numbers come from</h2><ul>");
    for sec in &r.sections {
        let _ = write!(
            s,
            "<li>{}: named query <code>{}</code></li>",
            esc(sec.title),
            sec.query
        );
    }
    for (p, _) in &r.models {
        let _ = write!(
            s,
            "<li>model artifact <code>{}</code></li>",
            esc(&p.display().to_string())
        );
    }
    s.push_str("</ul></section></body></html>\n");
    s
}
