//! Reading baskets from files: one basket per line (comma- or whitespace-separated items, the
//! "basket" and FIMI layouts) or one (basket, item) pair per row ("long").

use std::path::Path;

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};

/// Layout of a basket file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasketFormat {
    /// One basket per line, items separated by commas (e.g. the Groceries data).
    Basket,
    /// One basket per line, item ids separated by spaces (the FIMI repository format).
    Fimi,
    /// A CSV with a header, one row per (basket, item).
    Long,
}

impl BasketFormat {
    /// Every layout.
    pub const ALL: [BasketFormat; 3] =
        [BasketFormat::Basket, BasketFormat::Fimi, BasketFormat::Long];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            BasketFormat::Basket => "basket",
            BasketFormat::Fimi => "fimi",
            BasketFormat::Long => "long",
        }
    }
}

/// Baskets with interned items.
#[derive(Debug, Default, Clone)]
pub struct Baskets {
    /// Item names by id.
    pub items: Vec<String>,
    /// Each basket's distinct item ids, ascending.
    pub transactions: Vec<Vec<u32>>,
}

impl Baskets {
    /// The same baskets with item ids assigned in item-name order (and each basket's ids sorted),
    /// so that results and their tie-breaks do not depend on the order the input came in.
    /// `names` (a readable name per item, if any) is permuted alongside.
    pub fn canonical(self, names: Option<Vec<String>>) -> (Baskets, Option<Vec<String>>) {
        let mut order: Vec<u32> = (0..self.items.len() as u32).collect();
        order.sort_by(|a, b| self.items[*a as usize].cmp(&self.items[*b as usize]));
        let mut new_id = vec![0u32; self.items.len()];
        for (new, old) in order.iter().enumerate() {
            new_id[*old as usize] = new as u32;
        }
        let items = order
            .iter()
            .map(|o| self.items[*o as usize].clone())
            .collect();
        let names = names.map(|n| order.iter().map(|o| n[*o as usize].clone()).collect());
        let transactions = self
            .transactions
            .into_iter()
            .map(|t| finish(t.into_iter().map(|i| new_id[i as usize]).collect()))
            .collect();
        (
            Baskets {
                items,
                transactions,
            },
            names,
        )
    }
}

/// Interns item names.
#[derive(Default)]
pub struct Interner {
    ids: FxHashMap<String, u32>,
    /// Names by id.
    pub names: Vec<String>,
}

impl Interner {
    /// The id of `name`, new or existing.
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(i) = self.ids.get(name) {
            return *i;
        }
        let i = self.names.len() as u32;
        self.ids.insert(name.to_string(), i);
        self.names.push(name.to_string());
        i
    }
}

fn finish(mut t: Vec<u32>) -> Vec<u32> {
    t.sort_unstable();
    t.dedup();
    t
}

/// Reads `path` in `format`; for `long`, `basket_col` and `item_col` name the columns. Empty lines
/// are empty baskets in the line formats (they count as transactions); a line that is not UTF-8
/// is an error naming the line.
pub fn read(
    path: &Path,
    format: BasketFormat,
    basket_col: &str,
    item_col: &str,
) -> Result<Baskets> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut items = Interner::default();
    let transactions = match format {
        BasketFormat::Basket | BasketFormat::Fimi => read_lines(path, &bytes, format, &mut items)?,
        BasketFormat::Long => read_long(path, &bytes, basket_col, item_col, &mut items)?,
    };
    if transactions.is_empty() {
        return Err(Error::source(path, "no baskets in the file"));
    }
    Ok(Baskets {
        items: items.names,
        transactions,
    }
    .canonical(None)
    .0)
}

/// One basket per line: items separated by commas (`basket`) or whitespace (`fimi`).
fn read_lines(
    path: &Path,
    bytes: &[u8],
    format: BasketFormat,
    items: &mut Interner,
) -> Result<Vec<Vec<u32>>> {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut transactions = Vec::with_capacity(lines.len());
    for (k, raw) in lines.into_iter().enumerate() {
        let text = std::str::from_utf8(raw)
            .map_err(|_| Error::source(path, format!("line {}: not valid UTF-8", k + 1)))?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        let t: Vec<u32> = if format == BasketFormat::Basket {
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| items.id(s))
                .collect()
        } else {
            text.split_ascii_whitespace().map(|s| items.id(s)).collect()
        };
        transactions.push(finish(t));
    }
    Ok(transactions)
}

/// The position of column `name` in a CSV header (case-insensitive), or an error naming the
/// parameter that chose it and the columns there are.
fn header_position(
    path: &Path,
    header: &csv::StringRecord,
    name: &str,
    param: &str,
) -> Result<usize> {
    header
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            Error::source(
                path,
                format!(
                    "no column {name:?} ({}); the header has: {}",
                    crate::error::param(param),
                    header.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })
}

/// One (basket, item) row per line of a CSV file with a header.
fn read_long(
    path: &Path,
    bytes: &[u8],
    basket_col: &str,
    item_col: &str,
    items: &mut Interner,
) -> Result<Vec<Vec<u32>>> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(bytes);
    let header = rdr
        .headers()
        .map_err(|e| Error::source(path, format!("header: {e}")))?
        .clone();
    let bi = header_position(path, &header, basket_col, "basket_col")?;
    let ii = header_position(path, &header, item_col, "item_col")?;
    let mut transactions: Vec<Vec<u32>> = Vec::new();
    let mut by_basket: FxHashMap<String, usize> = FxHashMap::default();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            Error::source(path, format!("line {line}: {e}"))
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let (b, i) = (
            rec.get(bi).unwrap_or("").trim(),
            rec.get(ii).unwrap_or("").trim(),
        );
        if b.is_empty() || i.is_empty() {
            return Err(Error::source(
                path,
                format!(
                    "line {line}: empty {} ({:?}); every row needs a basket and an item",
                    if b.is_empty() { "basket" } else { "item" },
                    if b.is_empty() { basket_col } else { item_col }
                ),
            ));
        }
        let k = *by_basket.entry(b.to_string()).or_insert_with(|| {
            transactions.push(Vec::new());
            transactions.len() - 1
        });
        transactions[k].push(items.id(i));
    }
    Ok(transactions.into_iter().map(finish).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_follow_item_names_not_input_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.csv"), "milk,bread\nbread,eggs\n").unwrap();
        std::fs::write(dir.path().join("b.csv"), "eggs,bread\nbread,milk\n").unwrap();
        let a = read(&dir.path().join("a.csv"), BasketFormat::Basket, "", "").unwrap();
        let b = read(&dir.path().join("b.csv"), BasketFormat::Basket, "", "").unwrap();
        assert_eq!(a.items, vec!["bread", "eggs", "milk"]);
        assert_eq!(a.items, b.items);
        assert_eq!(a.transactions, vec![vec![0, 2], vec![0, 1]]);
        assert_eq!(b.transactions, vec![vec![0, 1], vec![0, 2]]);
    }
}
