"""Plain-text tables for the command line: one header row in capitals, columns padded to their widest cell."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(rows: Sequence[dict[str, str]], columns: Sequence[str]) -> str:
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
