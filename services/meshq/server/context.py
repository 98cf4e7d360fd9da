"""What the server assembly hands each component's factory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshq.queue.engine import QueueEngine


@dataclass(kw_only=True)
class StackContext:
    """Shared by the components of one server process.

    ``server_address`` and ``token`` let a component reach the stack's own gRPC API (the
    scheduler sending over gRPC when it runs alone, pool actors in other processes); both are
    set once the server has bound its port, before any component starts.
    """

    data_dir: Path
    """Where stores and keys live."""
    engine: QueueEngine | None = None
    """The in-process queue engine, when this process hosts the queue service."""
    server_address: str = ""
    """host:port of this process's gRPC server (or of the queue server for `serve scheduler`)."""
    token: str = ""
    """An admin token for the stack's own calls to its gRPC API."""
    tls_ca: Path | None = None
    """CA for the stack's own calls when the server uses TLS."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Component settings from the command line, by name (e.g. "ray_address")."""
    mark_serving: Callable[[Sequence[str]], None] = lambda names: None
    """A component that can serve again (e.g. its database answers again) reports it here:
    the health service then answers SERVING for those service names."""
    room_delete_checks: list[Callable[[str], None]] = field(default_factory=list)
    """Called with a room's name before DeleteRoom deletes it; one that raises (e.g.
    FailedPrecondition: the scheduler still has tasks for the room) refuses the delete."""
    mark_not_serving: Callable[[Sequence[str]], None] = lambda names: None
    """A component that can no longer serve (e.g. its store failed) reports it here: the
    health service then answers NOT_SERVING for those service names."""
