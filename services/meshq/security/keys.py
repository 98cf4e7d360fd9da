"""The local API key (which signs tokens) and the local admin token, in the data dir.

``ensure_local_credentials`` is what ``meshq up`` and ``meshq setup`` call: it creates the
data dir (0700, and any parent it creates; a looser existing one is tightened), the API key (0600, 32 random bytes, URL-safe) and an admin token for every
room (0600, valid ``ADMIN_TOKEN_TTL``) at the paths of ``meshq.api.paths``. It is idempotent
and safe when two processes run it at once: files appear atomically (write a temp file, then
link it into place), and an existing key is never replaced. The admin token is re-minted
when it is missing, no longer verifies with the key, or expires within ``RENEW_BEFORE``.

``rotate_api_key`` replaces the key (every token signed with the old one stops working once
the server restarts with the new key) and re-mints the admin token.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from meshq.api.paths import admin_token_path, api_key_path
from meshq.api.tokens import ALL_ROOMS, ApiScope, InvalidToken, ParticipantGrant, ParticipantToken
from meshq.core.files import make_private_dir

logger = logging.getLogger(__name__)

API_KEY_BYTES = 32  # 256 bits of entropy, the HS256 key size
ADMIN_TOKEN_TTL = timedelta(days=365)  # the local admin token; rotate the key to revoke it
RENEW_BEFORE = timedelta(days=30)  # re-mint the admin token when it expires sooner than this
ADMIN_NAME = "local-admin"


def new_api_key() -> str:
    return secrets.token_urlsafe(API_KEY_BYTES)


def mint_admin_token(api_key: str, *, ttl: timedelta = ADMIN_TOKEN_TTL) -> str:
    """A token for every room with every API."""
    return ParticipantToken(name=ADMIN_NAME, grants=[
        ParticipantGrant(name="room", scope=ALL_ROOMS),
        ParticipantGrant(name="role", scope="admin"),
        ParticipantGrant(name="api", scope=ApiScope.full()),
    ]).to_jwt(api_key=api_key, ttl=ttl)


def _write_private(path: Path, text: str, *, replace: bool) -> bool:
    """Write ``text`` to ``path`` with mode 0600, atomically. Without ``replace`` an existing
    file is kept (returns False)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read_private(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("%s was readable by others (mode %o); setting 0600", path, mode)
        path.chmod(0o600)
    return path.read_text().strip()


def _ensure_dir(data_dir: Path) -> None:
    """The data dir and the parents this creates are 0700; a looser one is tightened."""
    make_private_dir(data_dir)


def ensure_api_key(data_dir: Path) -> str:
    """The data dir's API key, created (0600) if missing."""
    _ensure_dir(data_dir)
    path = api_key_path(data_dir)
    if not path.exists():
        if _write_private(path, new_api_key(), replace=False):
            logger.info("created the API key at %s", path)
    key = _read_private(path)
    if len(key) < 16:
        raise ValueError(f"the API key in {path} is too short; rotate it with `meshq setup "
                         "--rotate-api-key`")
    return key


def _admin_token_ok(token: str, api_key: str) -> bool:
    try:
        parsed = ParticipantToken.from_jwt(token, api_key=api_key)
    except InvalidToken:
        return False
    left = (parsed.expires_at or 0) - time.time()
    return ALL_ROOMS in parsed.rooms and parsed.api.admin and left > RENEW_BEFORE.total_seconds()


def ensure_admin_token(data_dir: Path, api_key: str) -> str:
    """The data dir's admin token, (re-)minted (0600) unless it is valid for a while yet."""
    path = admin_token_path(data_dir)
    if path.exists():
        token = _read_private(path)
        if _admin_token_ok(token, api_key):
            return token
    token = mint_admin_token(api_key)
    _write_private(path, token, replace=True)
    logger.info("wrote the local admin token to %s", path)
    return token


def ensure_local_credentials(data_dir: Path) -> tuple[str, str]:
    """(api_key, admin_token) of the data dir, created on first use. Idempotent."""
    data_dir = Path(data_dir)
    api_key = ensure_api_key(data_dir)
    return api_key, ensure_admin_token(data_dir, api_key)


def rotate_api_key(data_dir: Path) -> tuple[str, str]:
    """Replace the API key and re-mint the admin token; returns (api_key, admin_token).

    Tokens signed with the old key stop working once the server runs with the new one
    (restart `meshq up`)."""
    data_dir = Path(data_dir)
    _ensure_dir(data_dir)
    api_key = new_api_key()
    _write_private(api_key_path(data_dir), api_key, replace=True)
    token = mint_admin_token(api_key)
    _write_private(admin_token_path(data_dir), token, replace=True)
    logger.info("rotated the API key in %s", data_dir)
    return api_key, token
