"""Tokens: round trips, expiry, audience, the reference's shape, and the local credentials."""

from __future__ import annotations

import stat
import time
from datetime import timedelta

import jwt
import pytest

from meshq.api.paths import admin_token_path, api_key_path
from meshq.api.tokens import (
    ApiScope,
    BadSignature,
    ExpiredToken,
    InvalidToken,
    ParticipantGrant,
    ParticipantToken,
    WrongAudience,
)
from meshq.security.keys import ensure_local_credentials, rotate_api_key
from meshq.security.principal import Grant, Principal

KEY = "k" * 43


def reference_token(room: str, api_key: str = KEY) -> str:
    # Exactly the reference's push_queue.py, with meshagent -> meshq.
    return ParticipantToken(
        name="sample-participant",
        grants=[
            ParticipantGrant(name="room", scope=room),
            ParticipantGrant(name="role", scope="agent"),
            ParticipantGrant(name="api", scope=ApiScope.agent_default()),
        ],
    ).to_jwt(api_key=api_key)


def test_reference_shaped_token_round_trips_with_exp_iat_aud() -> None:
    # Given the reference's token, when it is decoded
    raw = reference_token("queue-test")
    claims = jwt.decode(raw, KEY, algorithms=["HS256"], audience="meshq")
    token = ParticipantToken.from_jwt(raw, api_key=KEY)
    # Then it carries exp (one hour by default), iat, aud and the grants as written
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["aud"] == "meshq"
    assert token.name == "sample-participant"
    assert token.rooms == ("queue-test",) and token.role == "agent"
    assert token.api == ApiScope.agent_default()


def test_agent_default_allows_queues_storage_and_scheduler_but_not_management() -> None:
    raw = reference_token("r1")
    p = Principal.from_token(ParticipantToken.from_jwt(raw, api_key=KEY), raw)
    assert p.can("r1", Grant.QUEUE_SEND, "any-queue") and p.can("r1", Grant.QUEUE_RECEIVE, "x")
    assert p.can("r1", Grant.STORAGE_WRITE, "a/b.txt") and p.can("r1", Grant.SCHEDULER)
    assert not p.can("r1", Grant.QUEUE_MANAGE, "x") and not p.can("r1", Grant.WORKERS)
    assert not p.can("r1", Grant.ADMIN)
    assert not p.can("r2", Grant.QUEUE_SEND, "x")


def test_patterns_and_prefixes_are_exact_about_boundaries() -> None:
    scope = ApiScope.none().allow_send("jobs-*").allow_storage_read("docs")
    assert scope.can_send("jobs-1") and not scope.can_send("jobs") and not scope.can_send("x")
    assert scope.can_read("docs") and scope.can_read("docs/a/b")
    assert not scope.can_read("docs2/a") and not scope.can_read("other")


def test_every_claim_survives_a_round_trip() -> None:
    scope = (ApiScope.none().allow_send("a").allow_receive("b*").allow_queue_manage("c")
             .allow_storage_read("r").allow_storage_write("w").allow_scheduler().allow_workers())
    raw = ParticipantToken(name="n").add_room_grant("r1").add_room_grant("r2") \
        .add_api_grant(scope).to_jwt(api_key=KEY, ttl=timedelta(minutes=5))
    token = ParticipantToken.from_jwt(raw, api_key=KEY)
    assert token.api == scope and token.rooms == ("r1", "r2")
    assert token.expires_at is not None and 290 < token.expires_at - time.time() <= 300


def test_expired_wrong_audience_bad_signature_and_garbage_are_refused() -> None:
    expired = jwt.encode({"name": "n", "grants": [], "iat": 1, "exp": 2, "aud": "meshq"}, KEY,
                         algorithm="HS256")
    with pytest.raises(ExpiredToken):
        ParticipantToken.from_jwt(expired, api_key=KEY)
    other_aud = ParticipantToken(name="n").to_jwt(api_key=KEY, audience="other")
    with pytest.raises(WrongAudience):
        ParticipantToken.from_jwt(other_aud, api_key=KEY)
    with pytest.raises(BadSignature):
        ParticipantToken.from_jwt(reference_token("r", api_key="x" * 43), api_key=KEY)
    for garbage in ("", "a.b.c", "not a token", reference_token("r")[:-3]):
        with pytest.raises(InvalidToken):
            ParticipantToken.from_jwt(garbage, api_key=KEY)


def test_tokens_without_exp_or_with_alg_none_are_refused() -> None:
    no_exp = jwt.encode({"name": "n", "grants": [], "iat": 1, "aud": "meshq"}, KEY,
                        algorithm="HS256")
    unsigned = jwt.encode({"name": "n", "grants": [], "iat": 1, "exp": 2**40, "aud": "meshq"},
                          "", algorithm="none")
    for raw in (no_exp, unsigned):
        with pytest.raises(InvalidToken):
            ParticipantToken.from_jwt(raw, api_key=KEY)


def test_malformed_grants_are_refused_not_crashed_on() -> None:
    for grants in ("x", [1], [{"name": "api", "scope": "all"}],
                   [{"name": "api", "scope": {"queues": {"send": "*"}}}],
                   [{"name": "api", "scope": {"admin": "yes"}}], [{"name": "room", "scope": 3}]):
        raw = jwt.encode({"name": "n", "grants": grants, "iat": 1, "exp": 2**40,
                          "aud": "meshq"}, KEY, algorithm="HS256")
        with pytest.raises(InvalidToken):
            ParticipantToken.from_jwt(raw, api_key=KEY)


def test_to_jwt_always_sets_an_expiry() -> None:
    with pytest.raises(ValueError):
        ParticipantToken(name="n").to_jwt(api_key=KEY, ttl=timedelta(0))
    with pytest.raises(ValueError):
        ParticipantToken(name="n").to_jwt(api_key="")


def test_local_credentials_are_private_idempotent_and_rotate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Given a fresh data dir, when credentials are ensured twice
    data_dir = tmp_path / "data"
    key1, admin1 = ensure_local_credentials(data_dir)
    key2, admin2 = ensure_local_credentials(data_dir)
    # Then the files are 0600, the second call changes nothing, the admin token is for all rooms
    for path in (api_key_path(data_dir), admin_token_path(data_dir)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert (key1, admin1) == (key2, admin2) and len(key1) >= 43
    admin = ParticipantToken.from_jwt(admin1, api_key=key1)
    assert admin.rooms == ("*",) and admin.api.admin
    # When the key is rotated, the old admin token no longer verifies and a new one does
    key3, admin3 = rotate_api_key(data_dir)
    assert key3 != key1 and api_key_path(data_dir).read_text().strip() == key3
    with pytest.raises(BadSignature):
        ParticipantToken.from_jwt(admin1, api_key=key3)
    ParticipantToken.from_jwt(admin3, api_key=key3)
    # And ensure re-mints an admin token that does not verify with the current key
    admin_token_path(data_dir).write_text(admin1)
    assert ensure_local_credentials(data_dir) == (key3, ensure_local_credentials(data_dir)[1])
    ParticipantToken.from_jwt(admin_token_path(data_dir).read_text().strip(), api_key=key3)


def test_loose_permissions_on_an_existing_key_are_tightened(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ensure_local_credentials(tmp_path)
    api_key_path(tmp_path).chmod(0o644)
    ensure_local_credentials(tmp_path)
    assert stat.S_IMODE(api_key_path(tmp_path).stat().st_mode) == 0o600
