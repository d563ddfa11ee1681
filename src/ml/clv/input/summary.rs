//! Reading a per-customer summary file (frequency, recency, T, monetary value), as lifetimes takes.

use super::*;

/// A per-customer summary read from a file with columns for the id, `frequency`, `recency`, `T`
/// and optionally `monetary_value` (the layout of the BG/NBD paper's CDNOW summary).
pub fn read_summary(
    path: &Path,
    delimiter: Delimiter,
    customer: &Column,
) -> Result<crate::ml::clv::Summary> {
    let mut s = crate::ml::clv::Summary::default();
    let mut cols: Option<(usize, usize, usize, usize, Option<usize>)> = None;
    let mut names: Vec<String> = Vec::new();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    for_each_record(path, &bytes, delimiter, |line, fields| {
        let Some((ci, fi, ri, ti, mi)) = cols else {
            let find = |n: &str| fields.iter().position(|h| h.trim() == n);
            let find_ci = |n: &str| fields.iter().position(|h| h.trim().eq_ignore_ascii_case(n));
            let need = |n: &str| {
                find(n).or_else(|| find_ci(n)).ok_or_else(|| {
                    Error::source(
                        path,
                        format!(
                            "line {line}: no column {n:?}; a summary file has columns id, frequency, recency, T and optionally monetary_value; the header has: {}",
                            fields.join(", ")
                        ),
                    )
                })
            };
            let ci = resolve(path, Some(fields), &[("customer", customer)])
                .map(|v| v[0])
                .or_else(|e| {
                    if matches!(customer, Column::Name(n) if n == "customer_id") {
                        Ok(0)
                    } else {
                        Err(e)
                    }
                })?;
            cols = Some((
                ci,
                need("frequency")?,
                need("recency")?,
                need("T")?,
                find_ci("monetary_value"),
            ));
            names = fields.iter().map(|s| s.trim().to_string()).collect();
            return Ok(());
        };
        let num = |i: usize| -> Result<f64> {
            let v = field(path, line, fields, i, &names[i])?;
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| {
                    Error::source(
                        path,
                        format!("line {line}, column {}: {v:?} is not a number", names[i]),
                    )
                })
        };
        s.ids.push(
            field(path, line, fields, ci, "customer")?
                .trim()
                .to_string(),
        );
        s.x.push(num(fi)?);
        s.t_x.push(num(ri)?);
        s.t.push(num(ti)?);
        s.m.push(match mi {
            Some(i) => num(i)?,
            None => 0.0,
        });
        Ok(())
    })?;
    if s.ids.is_empty() {
        return Err(Error::source(path, "no customers in the summary file"));
    }
    Ok(s)
}

/// Whether the header line of `path` names the columns of a per-customer summary (`frequency`,
/// `recency` and `T`, in any case), so that `value --input` reads it as one without being told.
pub fn has_summary_header(path: &Path, delimiter: Delimiter) -> Result<bool> {
    use std::io::{BufRead, Read};
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut first = Vec::new();
    std::io::BufReader::new(file)
        .take(1 << 20)
        .read_until(b'\n', &mut first)
        .map_err(|e| Error::io(path, e))?;
    let mut names: Vec<String> = Vec::new();
    // A header that is not text is not a summary's; the reader reports the bytes later.
    let _ = for_each_record(path, &first, delimiter, |_, fields| {
        names = fields
            .iter()
            .map(|f| f.trim().to_ascii_lowercase())
            .collect();
        Ok(())
    });
    Ok(["frequency", "recency", "t"]
        .iter()
        .all(|n| names.iter().any(|h| h == n)))
}
