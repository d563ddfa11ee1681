//! Erasure in the CRM sinks: the rows of forgotten customers leave the import files and the
//! databases (see [`crate::mart::erasure`]).

use std::collections::HashSet;
use std::path::Path;

use super::Sink;
use crate::error::{Error, Result};

/// Removes the rows of `ids` from `sink`; returns the rows removed (0 for a sink not written yet).
pub fn forget(sink: &Sink, ids: &[String]) -> Result<usize> {
    let set: HashSet<&str> = ids.iter().map(String::as_str).collect();
    match sink {
        Sink::Csv(path) => forget_csv(path, &set),
        Sink::Jsonl(path) => forget_jsonl(path, &set),
        Sink::Sqlite(path) => forget_sqlite(path, ids),
        Sink::Postgres(url) => forget_postgres(url, sink, ids),
    }
}

/// Replaces `path` with `text` (written beside it, then renamed).
fn replace_file(path: &Path, text: &[u8]) -> Result<()> {
    let tmp = path.with_extension("forget.partial");
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn forget_csv(path: &Path, ids: &HashSet<&str>) -> Result<usize> {
    if !path.is_file() {
        return Ok(0);
    }
    let mut rdr = csv::ReaderBuilder::new()
        .from_path(path)
        .map_err(|e| Error::source(path, format!("cannot read the CSV sink: {e}")))?;
    let header = rdr
        .headers()
        .map_err(|e| Error::source(path, format!("header: {e}")))?
        .clone();
    let Some(col) = header.iter().position(|h| h == "customer_id") else {
        return Err(Error::source(
            path,
            "the CSV sink has no customer_id column",
        ));
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header)
        .map_err(|e| Error::source(path, e.to_string()))?;
    let mut removed = 0;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| Error::source(path, e.to_string()))?;
        if rec.get(col).is_some_and(|c| ids.contains(c)) {
            removed += 1;
            continue;
        }
        w.write_record(&rec)
            .map_err(|e| Error::source(path, e.to_string()))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::source(path, e.to_string()))?;
    replace_file(path, &bytes)?;
    Ok(removed)
}

fn forget_jsonl(path: &Path, ids: &HashSet<&str>) -> Result<usize> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut out = String::with_capacity(text.len());
    let mut removed = 0;
    for (k, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::source(path, format!("line {}: {e}", k + 1)))?;
        if v["customer_id"].as_str().is_some_and(|c| ids.contains(c)) {
            removed += 1;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    replace_file(path, out.as_bytes())?;
    Ok(removed)
}

fn forget_sqlite(path: &Path, ids: &[String]) -> Result<usize> {
    if !path.is_file() {
        return Ok(0);
    }
    let err = |e: rusqlite::Error| Error::usage(format!("{}: SQLite: {e}", path.display()));
    let conn = rusqlite::Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(err)?;
    let exists: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'recommendations'",
            [],
            |r| r.get(0),
        )
        .map_err(err)?;
    if exists == 0 {
        return Ok(0);
    }
    let mut removed = 0;
    for id in ids {
        removed += conn
            .execute("DELETE FROM recommendations WHERE customer_id = ?1", [id])
            .map_err(err)?;
    }
    // Deleted rows stay in free pages until the file is rebuilt.
    conn.execute_batch("VACUUM").map_err(err)?;
    Ok(removed)
}

fn forget_postgres(url: &str, sink: &Sink, ids: &[String]) -> Result<usize> {
    let err = |e: postgres::Error| Error::usage(format!("{sink}: PostgreSQL: {e}"));
    let mut client = super::postgres_config(url, sink)?
        .connect(postgres::NoTls)
        .map_err(err)?;
    let exists = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'recommendations'",
            &[],
        )
        .map_err(err)?
        .get::<_, i64>(0);
    if exists == 0 {
        return Ok(0);
    }
    let n = client
        .execute(
            "DELETE FROM recommendations WHERE customer_id = ANY($1)",
            &[&ids],
        )
        .map_err(err)?;
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sinks_lose_exactly_the_forgotten_customers_rows() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("r.csv");
        std::fs::write(
            &csv,
            "customer_id,kind,rank\nC1,replenish,1\nC2,replenish,1\nC1,cross_sell,1\n",
        )
        .unwrap();
        let ids = vec!["C1".to_string()];
        assert_eq!(forget(&Sink::Csv(csv.clone()), &ids).unwrap(), 2);
        assert_eq!(
            std::fs::read_to_string(&csv).unwrap(),
            "customer_id,kind,rank\nC2,replenish,1\n"
        );
        let jsonl = dir.path().join("r.jsonl");
        std::fs::write(
            &jsonl,
            "{\"customer_id\":\"C1\"}\n{\"customer_id\":\"C3\"}\n",
        )
        .unwrap();
        assert_eq!(forget(&Sink::Jsonl(jsonl.clone()), &ids).unwrap(), 1);
        assert_eq!(
            std::fs::read_to_string(&jsonl).unwrap(),
            "{\"customer_id\":\"C3\"}\n"
        );
        assert_eq!(
            forget(&Sink::Csv(dir.path().join("none.csv")), &ids).unwrap(),
            0
        );
    }
}
