"""Dumps everything `crm-mart nightly` wrote into one directory of plain, sorted text, with run ids
and timestamps masked, so that two runs (two builds) can be compared with `diff -r`.

    python scripts/golden.py WORKDIR OUTDIR

WORKDIR holds `mart/`, `models/`, `reports/`, `crm.sqlite` and `nightly.jsonl` (the layout of a
`crm-mart nightly` run with the bundled configuration). Needs `deltalake` and `pyarrow`.
"""

import json
import pathlib
import re
import sqlite3
import sys
import zipfile

import pyarrow as pa
from deltalake import DeltaTable

# Values that differ between two runs of the same build on the same input.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
RUN_ID = re.compile(r"(nightly|run|batch|recommend)-\d{8}T\d{6}Z?(-\d+)?|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
COMPACT_STAMP = re.compile(r"\b\d{8}T\d{6}Z?\b")
# DataFusion's parallel aggregations add in an order that varies run to run: the last bits of a
# sum differ. Numbers are compared to 10 significant digits.
LONG_NUMBER = re.compile(r"-?\d+\.\d{7,}(e-?\d+)?")
SECONDS = re.compile(r"\b\d+(\.\d+)? ?(s|ms|seconds)\b")
VOLATILE_COLUMNS = {"run_id", "generated_at", "loaded_at", "created_at", "batch_id", "scored_at",
                    "computed_at", "committed_at", "quarantined_at", "updated_at_load"}


def mask(text: str) -> str:
    text = RUN_ID.sub("<run-id>", text)
    text = TIMESTAMP.sub("<timestamp>", text)
    text = COMPACT_STAMP.sub("<stamp>", text)
    return LONG_NUMBER.sub(lambda m: f"{float(m.group()):.10g}", text)


def cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.10g}"
    return mask(str(v))


def dump_delta(table_dir: pathlib.Path, out: pathlib.Path) -> None:
    dt = DeltaTable(str(table_dir))
    t: pa.Table = dt.to_pyarrow_table()
    meta = dt.metadata()
    lines = [
        f"partition_columns: {meta.partition_columns}",
        *(f"field: {f.name} {f.type} nullable={f.nullable}" for f in t.schema),
    ]
    cols = [c for c in t.column_names]
    rows = []
    data = t.to_pydict()
    for i in range(t.num_rows):
        rows.append("\t".join("<masked>" if c in VOLATILE_COLUMNS else cell(data[c][i]) for c in cols))
    rows.sort()
    (out / f"{table_dir.name}.schema.txt").write_text("\n".join(lines) + "\n")
    (out / f"{table_dir.name}.tsv").write_text("\t".join(cols) + "\n" + "\n".join(rows) + "\n")


def dump_sqlite(path: pathlib.Path, out: pathlib.Path) -> None:
    con = sqlite3.connect(path)
    lines = []
    for name, sql in con.execute("SELECT name, sql FROM sqlite_master WHERE type IN ('table','index') ORDER BY name"):
        lines.append(f"-- {name}\n{sql}")
        if sql and sql.upper().startswith("CREATE TABLE"):
            cur = con.execute(f'SELECT * FROM "{name}"')
            cols = [d[0] for d in cur.description]
            rows = sorted("\t".join("<masked>" if c in VOLATILE_COLUMNS else cell(v) for c, v in zip(cols, r)) for r in cur)
            lines.append("\t".join(cols))
            lines.extend(rows)
    (out / f"{path.name}.txt").write_text("\n".join(lines) + "\n")


def dump_json(path: pathlib.Path, out: pathlib.Path, rel: str) -> None:
    def walk(v, key=None):
        if key in VOLATILE_COLUMNS or key in {"elapsed_s", "peak_rss_mb", "started_at", "seconds"}:
            return "<masked>"
        if isinstance(v, dict):
            return {k: walk(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            return mask(v)
        if isinstance(v, float):
            return float(f"{v:.10g}")
        return v

    if path.suffix == ".jsonl":
        text = "\n".join(json.dumps(walk(json.loads(l)), sort_keys=True) for l in path.read_text().splitlines() if l)
    else:
        text = json.dumps(walk(json.loads(path.read_text())), indent=1, sort_keys=True)
    (out / (rel.replace("/", "__") + ".txt")).write_text(mask(text) + "\n")


def dump_text(path: pathlib.Path, out: pathlib.Path, rel: str) -> None:
    text = mask(path.read_text())
    text = SECONDS.sub("<seconds>", text)
    (out / (rel.replace("/", "__") + ".txt")).write_text(text)


def dump_xlsx(path: pathlib.Path, out: pathlib.Path, rel: str) -> None:
    with zipfile.ZipFile(path) as z:
        parts = []
        for name in sorted(z.namelist()):
            if name == "docProps/core.xml":
                continue
            body = z.read(name).decode("utf-8", "replace")
            parts.append(f"== {name}\n{SECONDS.sub('<seconds>', mask(body))}")
    (out / (rel.replace("/", "__") + ".txt")).write_text("\n".join(parts) + "\n")


def main() -> None:
    work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    mart = work / "mart"
    for d in sorted(p for p in mart.rglob("_delta_log")):
        dump_delta(d.parent, out)
    for f in sorted(work.rglob("*")):
        rel = str(f.relative_to(work))
        if rel.startswith("mart/") or not f.is_file() or "/." in "/" + rel:
            continue
        if f.suffix == ".sqlite":
            dump_sqlite(f, out)
        elif f.suffix in (".json", ".jsonl"):
            dump_json(f, out, rel)
        elif f.suffix in (".md", ".html", ".txt"):
            dump_text(f, out, rel)
        elif f.suffix == ".xlsx":
            dump_xlsx(f, out, rel)
        # Model file names carry the training time; their contents are compared above.
    names = sorted(p.name for p in out.iterdir())
    print(f"{len(names)} files in {out}")


if __name__ == "__main__":
    main()
