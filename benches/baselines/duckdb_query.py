"""Writes the DuckDB side of the query benchmark.

usage: duckdb_query.py MART OUT_DIR QUERIES_DIR
  OUT_DIR/views.sql      views over the Parquet files that make up each mart table's current
                         Delta version (file list from the `deltalake` package)
  OUT_DIR/<name>.sql     each named query with its parameters' defaults written in as literals
                         (DuckDB runs the same SQL text; only the placeholders differ)
"""
import pathlib
import re
import sys

from deltalake import DeltaTable

mart, out, queries = (pathlib.Path(a) for a in sys.argv[1:4])
out.mkdir(parents=True, exist_ok=True)

views = []
for table in sorted(p for p in mart.iterdir() if (p / "_delta_log").is_dir()):
    dt = DeltaTable(str(table))
    files = [u.replace("file://", "") for u in dt.file_uris()]
    if not files:
        continue
    parts = dt.metadata().partition_columns
    listing = ", ".join(f"'{f}'" for f in files)
    views.append(
        f"CREATE VIEW {table.name} AS SELECT * FROM read_parquet([{listing}], "
        f"hive_partitioning = {'true' if parts else 'false'});"
    )
(out / "views.sql").write_text("\n".join(views) + "\n")

param = re.compile(r"^--\s*param:\s*(\w+)\s+(\w+)\s*(?:=\s*([^|]*))?")
for q in sorted(queries.glob("*.sql")):
    text = q.read_text()
    values = {}
    for line in text.splitlines():
        m = param.match(line.strip())
        if not m:
            continue
        name, ty, default = m.group(1), m.group(2), (m.group(3) or "").strip()
        if default.startswith("'") and default.endswith("'"):
            default = default[1:-1]
        if ty == "date":
            values[name] = f"DATE '{default}'"
        elif ty == "text":
            values[name] = "'" + default.replace("'", "''") + "'"
        else:
            values[name] = default
    for name in sorted(values, key=len, reverse=True):
        text = re.sub(r"\$" + name + r"\b", values[name], text)
    (out / q.name).write_text(text)
