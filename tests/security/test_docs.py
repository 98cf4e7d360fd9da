"""docs/security.md lists the same status codes per RPC as DOCUMENTED_CODES."""

from __future__ import annotations

from pathlib import Path

from meshq.security.rpc_table import COMMON_CODES, DOCUMENTED_CODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_documented_codes_match_the_constant() -> None:
    text = DOC.read_text()
    table = text.split("<!-- codes:begin -->")[1].split("<!-- codes:end -->")[0]
    documented: dict[str, frozenset[str]] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`/"):
            extra = {c.strip() for c in cells[3].split(",") if c.strip() not in ("", "—")}
            documented[cells[0].strip("`")] = COMMON_CODES | extra
    assert documented == DOCUMENTED_CODES
    for code in COMMON_CODES:
        assert code in text.split("<!-- codes:begin -->")[0]
