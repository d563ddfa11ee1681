"""Largest files and longest functions in src/ (lines of a `fn` from its signature to its closing
brace), for keeping files under ~600 lines and functions under ~80 (docs/design.md).

    python3 scripts/sizes.py [N]
"""

import pathlib
import re
import sys

FN = re.compile(r"^\s*(pub(\([a-z]+\))?\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def functions(path: pathlib.Path):
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            code = re.sub(r'"(\\.|[^"\\])*"|//.*', "", lines[j])
            if not started and code.rstrip().endswith(";") and "{" not in code:
                break  # a declaration without a body
            depth += code.count("{") - code.count("}")
            started = started or "{" in code
            if started and depth <= 0:
                yield m.group(5), i + 1, j - i + 1
                break
            j += 1
        i += 1


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    files = sorted(pathlib.Path("src").rglob("*.rs"))
    sizes = sorted(((len(f.read_text().splitlines()), str(f)) for f in files), reverse=True)
    fns = sorted(((length, f"{f}:{line} {name}") for f in files for name, line, length in functions(f)), reverse=True)
    print(f"files over 600 lines: {sum(1 for s, _ in sizes if s > 600)}; functions over 80 lines: {sum(1 for l, _ in fns if l > 80)}")
    print("largest files:")
    for s, f in sizes[:n]:
        print(f"  {s:5} {f}")
    print("longest functions:")
    for l, f in fns[:n]:
        print(f"  {l:5} {f}")


if __name__ == "__main__":
    main()
