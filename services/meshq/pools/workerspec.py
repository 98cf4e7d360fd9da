"""Resolve and build a pool's Worker: from "module:Class" plus JSON kwargs, or an agent spec.

``resolve_worker_class`` runs in the service at StartPool, so a bad import path or a class
that is not a ``Worker`` is refused before any replica starts. ``build_worker`` runs in each
replica (a Ray actor process, or an asyncio task).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

from meshq.core.errors import InvalidArgument
from meshq.core.validation import shown
from meshq.pools.model import WorkerConfig

logger = logging.getLogger(__name__)

WORKER_PATH_HELP = 'use "package.module:ClassName" naming a meshq.agents.worker.Worker subclass'


def _worker_base() -> type:
    from meshq.agents.worker import Worker

    return Worker


def resolve_worker_class(path: str) -> type:
    """Import ``path`` ("module:Class") and check it is a Worker subclass."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidArgument(f"worker_class {shown(path)} is not an import path: {WORKER_PATH_HELP}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise InvalidArgument(
            f"worker_class {shown(path)}: module {err.name!r} is not importable on the "
            f"server (is it installed, or on PYTHONPATH?)"
        ) from None
    except Exception as err:  # the module itself raised while importing
        raise InvalidArgument(
            f"worker_class {shown(path)}: importing {module_name!r} raised "
            f"{type(err).__name__}: {shown(str(err), 200)}"
        ) from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise InvalidArgument(f"worker_class {shown(path)}: {module_name!r} has no {attr!r}")
    base = _worker_base()
    if not (inspect.isclass(target) and issubclass(target, base)):
        raise InvalidArgument(
            f"worker_class {shown(path)} is not a Worker subclass: {WORKER_PATH_HELP}"
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
            model=agent.model or None, concurrency=config.concurrency,
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
