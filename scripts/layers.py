"""Checks that no module of src/ imports from a layer above it (docs/design.md, rules of the code).

    python3 scripts/layers.py      # exit 1 and the offending imports when there are any
"""

import pathlib
import re
import sys

# Lowest first; a module may use its own layer and the ones below.
LAYERS = [
    {"util", "error"},
    {"mart"},
    {"config"},
    {"etl", "query", "sample"},
    {"ml", "basket"},
    {"recommend"},
    {"crm", "report"},
    {"pipeline"},
]
LEVEL = {m: i for i, layer in enumerate(LAYERS) for m in layer}
REF = re.compile(r"\bcrate::([a-z_]+)")


def main() -> None:
    bad = []
    for f in sorted(pathlib.Path("src").rglob("*.rs")):
        parts = f.relative_to("src").parts
        top = parts[0].removesuffix(".rs")
        if top in ("main", "lib", "cli", "commands"):
            continue  # the binary sits on top of everything
        own = LEVEL[top]
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if line.lstrip().startswith("//"):
                continue
            for m in REF.finditer(line):
                used = m.group(1)
                if used in LEVEL and LEVEL[used] > own:
                    bad.append(f"{f}:{n}: {top} (layer {own}) uses {used} (layer {LEVEL[used]})")
    for b in bad:
        print(b)
    print(f"{len(bad)} imports from a layer above")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
