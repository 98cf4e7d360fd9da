"""A plain-Python meshq worker: no model, real work.

Each job names a text (``{"path": "texts/a.txt"}`` in room storage, or inline ``{"text": ...}``);
the worker counts its lines, words and characters, finds the most common words, and writes a
JSON report to ``reports/<name>.json`` in the room's storage. A job without either is a bad
job: it raises, so it is retried and then dead-lettered with the reason.

Run it in a room (the queue defaults to ``word-count``)::

    meshq service run examples/word_count_worker.py --room demo
    meshq queue send --room demo --queue word-count --json '{"text": "to be or not to be"}'
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
from typing import Any

from meshq.agents.worker import Worker
from meshq.api.services import ServiceHost

WORD = re.compile(r"[A-Za-z0-9']+")
TOP_WORDS = 5


def text_stats(text: str) -> dict[str, Any]:
    """Lines, words, characters and the most common words of ``text``."""
    words = [w.lower() for w in WORD.findall(text)]
    common = collections.Counter(words).most_common(TOP_WORDS)
    return {
        "lines": len(text.splitlines()),
        "words": len(words),
        "characters": len(text),
        "unique_words": len(set(words)),
        "top_words": [{"word": w, "count": c} for w, c in common],
    }


class WordCountWorker(Worker):
    """Counts words of texts in room storage and writes a report per job."""

    def __init__(self, queue: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("name", "word-count")
        super().__init__(queue=queue or os.getenv("WORKER_QUEUE") or "word-count", **kwargs)

    async def process_message(self, *, chat_context: Any, room: Any, message: Any,
                              toolkits: Any) -> Any:
        if "path" in message:
            source = str(message["path"])
            text = (await room.storage.read(source)).decode("utf-8", errors="replace")
        elif "text" in message:
            source, text = "inline", str(message["text"])
        else:
            raise ValueError("a word-count job needs 'path' (a file in room storage) or 'text'")
        name = str(message.get("name") or chat_context.metadata.get("message_id") or "report")
        report = {"source": source, **text_stats(text)}
        await room.storage.write(f"reports/{name}.json", json.dumps(report, indent=2))
        return report


host = ServiceHost()
host.path(path="/word-count", identity="word-count")(WordCountWorker)

if __name__ == "__main__":
    asyncio.run(host.run())
