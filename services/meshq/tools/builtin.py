"""The toolkits a worker can ask for by name: ``requires=[RequiredToolkit("storage")]``."""

from __future__ import annotations

from collections.abc import Callable

from meshq.tools.storage import StorageToolkit
from meshq.tools.toolkit import Toolkit, ToolNotFound
from meshq.tools.web_search import WebSearchToolkit

BUILTIN_TOOLKITS: dict[str, Callable[[], Toolkit]] = {
    "storage": StorageToolkit,
    "web_search": WebSearchToolkit,
}


def resolve_toolkit(name: str) -> Toolkit:
    """A fresh instance of the built-in toolkit ``name``, or ``ToolNotFound`` naming the known."""
    factory = BUILTIN_TOOLKITS.get(name)
    if factory is None:
        known = ", ".join(sorted(BUILTIN_TOOLKITS))
        raise ToolNotFound(f"no built-in toolkit {name!r}; the known ones are: {known}")
    return factory()
