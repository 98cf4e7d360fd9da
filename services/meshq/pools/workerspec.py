"""Resolve and build a pool's Worker: from "module:Class" plus JSON kwargs, or an agent spec.

``resolve_worker_class`` runs in the service at StartPool, so a bad import path or a class
that is not a ``Worker`` is refused before any replica starts. Importing a module runs its
code, so everything that can be checked without running it comes first (``precheck``): the
path's syntax, that the module exists (found on the path without executing any package),
and, when its source is there, that it defines or imports the name at top level. Only then
is it imported and the class checked to be a ``Worker``. ``build_worker`` runs in each
replica (a Ray actor process, or an asyncio task).
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import inspect
import logging
import sys
from pathlib import Path
from typing import Any

from meshq.core.errors import InvalidArgument
from meshq.core.validation import shown
from meshq.pools.model import WorkerConfig

logger = logging.getLogger(__name__)

PATH_SHOWN = 300  # an import path is echoed whole up to this (cut names mislead)
WORKER_PATH_HELP = 'use "package.module:ClassName" naming a meshq.agents.worker.Worker subclass'


def _worker_base() -> type:
    from meshq.agents.worker import Worker

    return Worker


def _split(path: str) -> tuple[str, str]:
    module_name, sep, attr = path.partition(":")
    dotted = (*module_name.split("."), *attr.split("."))
    if not sep or not module_name or not attr or not all(p.isidentifier() for p in dotted):
        raise InvalidArgument(f"worker_class {shown(path, PATH_SHOWN)} is not an import path: {WORKER_PATH_HELP}")
    return module_name, attr


def _source_of(module_name: str) -> Path | None:
    """The module's .py file, found without importing it or its packages (None: not found
    as a source file, e.g. already imported, an extension module or a namespace package)."""
    search: list[str] | None = None
    spec = None
    parts = module_name.split(".")
    for depth in range(1, len(parts) + 1):
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:depth]), search)
        if spec is None:
            return None
        search = list(spec.submodule_search_locations or [])
    origin = getattr(spec, "origin", None)
    return Path(origin) if origin and origin.endswith(".py") else None


def _top_level_names(tree: ast.Module) -> set[str] | None:
    """Names a module binds at top level; None when it may bind any (``import *``)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add((alias.asname or alias.name).split(".")[0])
        else:  # assignments, and anything under if / try blocks
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
                elif isinstance(sub, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(sub.name)
                elif isinstance(sub, ast.alias):
                    names.add((sub.asname or sub.name).split(".")[0])
    return names


def precheck(path: str) -> None:
    """What can be known about ``path`` without running any of its code (module docstring)."""
    module_name, attr = _split(path)
    if module_name in sys.modules:
        return
    top = module_name.split(".")[0]
    if importlib.machinery.PathFinder.find_spec(top) is None and top not in sys.builtin_module_names:
        raise InvalidArgument(f"worker_class {shown(path, PATH_SHOWN)}: module {top!r} is not importable on "
                              "the server (is it installed, or on PYTHONPATH? or ship it with "
                              "--working-dir / --py-module)")
    source = _source_of(module_name)
    if source is None:
        return
    try:
        tree = ast.parse(source.read_bytes(), filename=str(source))
    except (OSError, SyntaxError, ValueError) as err:
        raise InvalidArgument(f"worker_class {shown(path, PATH_SHOWN)}: {module_name!r} cannot be read or "
                              f"parsed: {err}") from None
    names = _top_level_names(tree)
    first = attr.split(".")[0]
    if names is not None and first not in names:
        raise InvalidArgument(f"worker_class {shown(path, PATH_SHOWN)}: {module_name!r} defines no "
                              f"{first!r} (checked without importing it)")


def resolve_worker_class(path: str) -> type:
    """Check ``path`` ("module:Class") as far as possible without running code, then import it
    and check it is a Worker subclass."""
    precheck(path)
    module_name, attr = _split(path)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise InvalidArgument(
            f"worker_class {shown(path, PATH_SHOWN)}: module {err.name!r} is not importable on the "
            f"server (is it installed, or on PYTHONPATH?)"
        ) from None
    except Exception as err:  # the module itself raised while importing
        raise InvalidArgument(
            f"worker_class {shown(path, PATH_SHOWN)}: importing {module_name!r} raised "
            f"{type(err).__name__}: {shown(str(err), 200)}"
        ) from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise InvalidArgument(f"worker_class {shown(path, PATH_SHOWN)}: {module_name!r} has no {attr!r}")
    base = _worker_base()
    if not (inspect.isclass(target) and issubclass(target, base)):
        raise InvalidArgument(
            f"worker_class {shown(path, PATH_SHOWN)} is not a Worker subclass: {WORKER_PATH_HELP}"
        )
    return target


def _accepts(cls: type, name: str) -> bool:
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def build_worker(config: WorkerConfig) -> Any:
    """Build the replica's Worker; raises with a readable message when it cannot."""
    if config.agent is not None:
        from meshq.agents.queue_agent import build_queue_agent

        agent = config.agent
        return build_queue_agent(
            agent_name=agent.agent_name, queue=config.queue, rules=list(agent.rules),
            require_storage=agent.require_storage, require_web_search=agent.require_web_search,
            model=agent.model or None, concurrency=config.concurrency, llm_api=agent.llm_api,
        )
    cls = resolve_worker_class(config.worker_class)
    kwargs = dict(config.worker_args)
    for name, value in (("queue", config.queue), ("concurrency", config.concurrency)):
        if name not in kwargs and _accepts(cls, name):
            kwargs[name] = value
    worker = cls(**kwargs)
    queue = getattr(worker, "queue", config.queue)
    if queue != config.queue:
        raise ValueError(f"{config.worker_class} consumes queue {queue!r}, "
                         f"but the pool is for {config.queue!r}")
    return worker
