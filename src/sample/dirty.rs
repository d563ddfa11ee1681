//! The CSV writer that plants malformed rows at the configured rate and records where.

use super::*;

/// A CSV writer that plants malformed rows at the configured rate and remembers where.
pub(crate) struct Dirty<'a> {
    settings: &'a GenerateSettings,
    file: String,
    w: BufWriter<File>,
    dirt: Rng,
    line: u64,
    pub(crate) lines: u64,
    defects: Vec<(String, u64, &'static str)>,
    is_contacts: bool,
}

impl<'a> Dirty<'a> {
    pub(crate) fn new(
        settings: &'a GenerateSettings,
        file: &str,
        stream: i32,
        w: BufWriter<File>,
    ) -> Self {
        Dirty {
            settings,
            file: file.to_string(),
            w,
            dirt: Rng::stream(&[settings.seed, STREAM_DIRT, stream as u64]),
            line: 0,
            lines: 0,
            defects: Vec::new(),
            is_contacts: file.starts_with("contacts"),
        }
    }

    pub(crate) fn header(&mut self, h: &str) -> Result<()> {
        self.line += 1;
        writeln!(self.w, "{h}").map_err(|e| Error::io(Path::new(&self.file), e))
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<()> {
        self.line += 1;
        self.lines += 1;
        self.w
            .write_all(bytes)
            .and_then(|_| self.w.write_all(b"\n"))
            .map_err(|e| Error::io(Path::new(&self.file), e))
    }

    /// Writes `row`, possibly malformed. Dirt has its own random stream, so clean and dirty
    /// datasets of the same seed contain the same clean rows.
    pub(crate) fn row(&mut self, row: &str) -> Result<()> {
        if self.settings.dirty_rate == 0.0 || !self.dirt.chance(self.settings.dirty_rate) {
            return self.emit(row.as_bytes());
        }
        let mut fields: Vec<String> = row.split(',').map(str::to_string).collect();
        let kinds: &[&'static str] = if self.is_contacts {
            &[
                "unparseable_date",
                "missing_id",
                "unknown_customer",
                "exact_duplicate",
                "wrong_column_count",
                "invalid_utf8",
                "satisfaction_out_of_range",
            ]
        } else {
            &[
                "unparseable_date",
                "non_numeric_quantity",
                "non_numeric_price",
                "missing_id",
                "unknown_customer",
                "unknown_product",
                "exact_duplicate",
                "wrong_column_count",
                "invalid_utf8",
                "negative_price",
            ]
        };
        let kind = *self.dirt.pick(kinds);
        let mut bytes: Vec<u8>;
        let (ts, cust) = if self.is_contacts { (1, 2) } else { (2, 3) };
        match kind {
            "unparseable_date" => {
                fields[ts] =
                    (*self
                        .dirt
                        .pick(&["2024-13-45 10:00:00", "31/02/2024 10:00", "yesterday"]))
                    .to_string()
            }
            "non_numeric_quantity" => {
                fields[6] = (*self.dirt.pick(&["three", "1,5", "x"])).to_string()
            }
            "non_numeric_price" => {
                fields[7] = (*self.dirt.pick(&["12.x", "N/A", "€9.99"])).to_string()
            }
            "missing_id" => fields[cust] = String::new(),
            "unknown_customer" => fields[cust] = format!("C9{:06}", self.dirt.below(1_000_000)),
            "unknown_product" => fields[4] = format!("P-UNKNOWN-{}", self.dirt.below(100)),
            "negative_price" => fields[7] = format!("-{}", fields[7]),
            "satisfaction_out_of_range" => fields[9] = "9".to_string(),
            "wrong_column_count" => {
                fields.pop();
            }
            _ => {}
        }
        if kind == "non_numeric_quantity" && fields[6] == "1,5" {
            fields[6] = "\"1,5\"".to_string();
        }
        if kind == "non_numeric_price" && fields[7] == "€9.99" {
            // Stays valid UTF-8: a currency symbol is not a number.
        }
        bytes = fields.join(",").into_bytes();
        if kind == "invalid_utf8" {
            // A Latin-1 byte where UTF-8 is expected, as in a mis-encoded export.
            let pos = bytes
                .iter()
                .position(|&b| b == b',')
                .unwrap_or(1)
                .saturating_sub(1);
            bytes.insert(pos, 0xE9);
        }
        if kind == "exact_duplicate" {
            self.emit(&bytes)?;
        }
        self.emit(&bytes)?;
        let line = self.line;
        self.defects.push((self.file.clone(), line, kind));
        Ok(())
    }

    pub(crate) fn finish(&mut self, path: &Path) -> Result<Vec<(String, u64, &'static str)>> {
        self.w.flush().map_err(|e| Error::io(path, e))?;
        Ok(std::mem::take(&mut self.defects))
    }
}
