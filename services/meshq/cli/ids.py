"""Ids by unambiguous prefix, as docker takes them: ``meshq scheduled-task get 60d8``.

A whole id is used as given. A prefix is looked up among the ids the command can list; one
match is used, several are refused with the candidates listed (exit 2), none is NOT_FOUND
(exit 4).
"""

from __future__ import annotations

from collections.abc import Iterable

from meshq.cli.common import EXIT_NOT_FOUND, EXIT_USAGE, fail

MAX_CANDIDATES_SHOWN = 10


def matches(prefix: str, candidates: Iterable[str]) -> list[str]:
    """The candidates that start with ``prefix`` (case-insensitive; ids are hex), sorted."""
    wanted = prefix.lower()
    return sorted({c for c in candidates if c.lower().startswith(wanted)})


def pick(prefix: str, candidates: Iterable[str], what: str) -> str:
    """The one candidate ``prefix`` names, or exit saying why not."""
    if not prefix:
        fail(f"give a {what} id (or a prefix of one)", EXIT_USAGE)
    found = matches(prefix, candidates)
    if len(found) == 1:
        return found[0]
    if not found:
        fail(f"NOT_FOUND: no {what} id starts with {prefix!r}", EXIT_NOT_FOUND)
    shown = ", ".join(found[:MAX_CANDIDATES_SHOWN])
    more = f" and {len(found) - MAX_CANDIDATES_SHOWN} more" if len(found) > MAX_CANDIDATES_SHOWN else ""
    fail(f"{what} id prefix {prefix!r} is ambiguous: it matches {shown}{more}; give more "
         "characters", EXIT_USAGE)
