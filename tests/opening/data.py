"""Synthetic rows for the opening tests (never real data)."""

from __future__ import annotations

from library.data import register_rows


def income_rows(n: int = 12) -> list[list[str]]:
    """Rows of YSR, SFZZ, LXDH, BZ, BGDH (a landline); the notes start like spreadsheet formulas."""
    out = []
    for i, row in enumerate(register_rows(n)):
        note = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "普通备注"][i % 5]
        out.append([row[4], row[6], row[2], note, f"0351-{7000000 + i * 137:07d}"])
    return out
