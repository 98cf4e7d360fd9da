"""Input validation shared by every service: names, JSON text, numbers.

Every function raises ``InvalidArgument`` with a message that names the field and says what
to fix; none echoes more than a short, escaped prefix of the bad value.
"""

from __future__ import annotations

import json
import math
import re

from meshq.core.errors import InvalidArgument

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
NAME_RULE = "1-128 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"


SHOWN_CHARS = 40  # how much of an echoed value an error message keeps
MAX_STATUS_MESSAGE_CHARS = 1024  # a whole status message: far under gRPC's 8 KiB metadata


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """The one way a value a caller sent is echoed in an error message: its ``repr``
    (quotes, and control characters, newlines, escapes as ``\\x1b`` / ``\\n``), cut to
    ``limit`` characters. Every echo site uses it, so a 20,000-character id cannot push a
    status's details past the metadata limit nor put an escape sequence into a log line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def bounded_message(message: str) -> str:
    """A status message cut to ``MAX_STATUS_MESSAGE_CHARS``: the last guard, where domain
    errors become statuses, for a message that echoes something without ``shown``."""
    if len(message) <= MAX_STATUS_MESSAGE_CHARS:
        return message
    return message[:MAX_STATUS_MESSAGE_CHARS - 1] + "…"


def check_name(field: str, value: str) -> str:
    """Return value if it is a valid room / queue name, else raise InvalidArgument."""
    if not value:
        raise InvalidArgument(f"{field} is required ({NAME_RULE})")
    if not NAME_PATTERN.fullmatch(value):
        raise InvalidArgument(f"{field} {shown(value)} is invalid: use {NAME_RULE}")
    return value


JSON_RULE = "JSON text (RFC 8259)"


class NotJsonConstant(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, RFC 8259 has no such value."""


def refuse_json_constant(name: str) -> object:
    """``parse_constant`` for ``json`` decoders: Python accepts NaN and +-Infinity, JSON
    does not (a JavaScript ``JSON.parse`` throws on them), so they are refused."""
    raise NotJsonConstant(name)


def parse_json(field: str, text: str) -> object:
    """Parse JSON text (RFC 8259: no NaN or Infinity); on failure name the line, column and
    character position."""
    try:
        return json.loads(text, parse_constant=refuse_json_constant)
    except NotJsonConstant as err:
        raise InvalidArgument(
            f"{field} must be {JSON_RULE}: {err} is not a JSON number"
        ) from None
    except json.JSONDecodeError as err:
        raise InvalidArgument(
            f"{field} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno} "
            f"(char {err.pos})"
        ) from None
    except (RecursionError, ValueError) as err:
        raise InvalidArgument(f"{field} is not valid JSON: {shown(str(err))}") from None


def check_seconds(field: str, value: float, *, maximum: float) -> float:
    """A finite, non-negative number of seconds no larger than maximum."""
    if not math.isfinite(value) or value < 0:
        raise InvalidArgument(f"{field} must be a finite number of seconds >= 0, got {shown(value)}")
    if value > maximum:
        raise InvalidArgument(f"{field} must be at most {maximum:g} seconds, got {value:g}")
    return value


def check_text(field: str, value: str, *, max_bytes: int) -> str:
    """Text without NUL and at most max_bytes of UTF-8."""
    if "\x00" in value:
        raise InvalidArgument(f"{field} must not contain NUL characters")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise InvalidArgument(f"{field} is {size} bytes; the limit is {max_bytes}")
    return value
