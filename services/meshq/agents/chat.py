"""The conversation a worker builds for one job: rules plus role/content messages.

Adapters turn it into their API's shape (Responses ``instructions`` + ``input``, or Chat
Completions ``messages``) and append the final assistant answer back to it. Everything in it
is plain JSON-able data, so a subclass can inspect or log it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ChatContext:
    """Rules (system instructions) and messages for one job."""

    rules: list[str] = field(default_factory=list)
    """System instructions, one rule per item, in order."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    """``{"role": ..., "content": ...}`` items (user / assistant), oldest first."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Free-form values a hook wants an adapter to see (e.g. ``model``)."""

    @property
    def instructions(self) -> str:
        """The rules joined as one system prompt ("" when there are none)."""
        return "\n".join(rule for rule in self.rules if rule)

    def append_rules(self, rules: list[str] | None) -> None:
        self.rules.extend(rules or [])

    def append_user_message(self, message: str | Any) -> None:
        """Add a user turn; a non-string is serialised as JSON."""
        self.messages.append({"role": "user", "content": _text(message)})

    def append_assistant_message(self, message: str | Any) -> None:
        self.messages.append({"role": "assistant", "content": _text(message)})

    @property
    def last_assistant_message(self) -> str | None:
        for item in reversed(self.messages):
            if item.get("role") == "assistant":
                return str(item.get("content"))
        return None

    def copy(self) -> ChatContext:
        return copy.deepcopy(self)


def _text(message: str | Any) -> str:
    return message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
