"""Each pool's own token: minted by the server, scoped to the pool's room and queue.

Replicas used to subscribe with the server's admin token, so every pool of every room shared
one per-token stream quota (one room could starve the others) and a replica could do anything
anywhere. A pool token names one room and grants what a worker does there:

- receive (Subscribe, ack, nack, extend) on the pool's queue, always;
- an agent pool: storage read and write when it requires the storage toolkit, nothing else;
- a Worker-class pool: also send to the room's queues and read and write the room's storage
  (the built-in toolkits a Worker may use; its code is not known before it is built).

Never queue management, scheduled tasks, worker pools or admin. Tokens live
``POOL_TOKEN_TTL`` (a pool runs for as long as it is wanted; each start mints a new one) and
stop working when the API key is rotated.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from meshq.api.tokens import ALL_QUEUES, WHOLE_ROOM, ApiScope, ParticipantToken
from meshq.pools.model import PoolConfig

logger = logging.getLogger(__name__)

POOL_TOKEN_TTL = timedelta(days=365)  # as long as the local admin token
POOL_ROLE = "pool"


def pool_scope(config: PoolConfig) -> ApiScope:
    """What a replica of ``config`` may do in its room (module docstring)."""
    worker = config.worker
    scope = ApiScope.none().allow_receive(worker.queue)
    if worker.agent is not None:
        if worker.agent.require_storage:
            scope = scope.allow_storage_read(WHOLE_ROOM).allow_storage_write(WHOLE_ROOM)
        return scope
    return (scope.allow_send(ALL_QUEUES).allow_storage_read(WHOLE_ROOM)
            .allow_storage_write(WHOLE_ROOM))


def pool_token_name(config: PoolConfig) -> str:
    return f"pool:{config.worker.room}/{config.name}"


class PoolTokens:
    """Mints pool tokens with the server's API key; without one, hands out ``fallback``."""

    def __init__(self, api_key: str | None, *, fallback: str = "") -> None:
        self._api_key = api_key or ""
        self._fallback = fallback

    @property
    def scoped(self) -> bool:
        """True when pools get tokens of their own."""
        return bool(self._api_key)

    def mint(self, config: PoolConfig) -> str:
        if not self._api_key:
            return self._fallback
        token = ParticipantToken(name=pool_token_name(config))
        token.add_room_grant(config.worker.room).add_role_grant(POOL_ROLE)
        token.add_api_grant(pool_scope(config))
        return token.to_jwt(api_key=self._api_key, ttl=POOL_TOKEN_TTL)


def read_api_key(data_dir: Path) -> str | None:
    """The data dir's API key, if it has one (never created here)."""
    from meshq.api.paths import api_key_path

    path = api_key_path(data_dir)
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        return None
    return key or None
