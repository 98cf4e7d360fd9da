"""SchedulerService over real gRPC on the shared server: SDK, servicer, engine, SQLite, the
in-process queue engine, and the CLI."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import grpc
import pytest
from click.testing import CliRunner

from meshq.api.rooms import RoomsClient
from meshq.api.scheduler import SchedulerClient, run_to_dict, task_to_dict
from meshq.cli.tasks import scheduled_task


@pytest.fixture
async def room(server, unique):  # type: ignore[no-untyped-def]
    conn = server.connection()
    await RoomsClient(conn).create(unique)
    await conn.close()
    return unique


async def test_task_lifecycle_over_grpc(client: SchedulerClient, room: str, server) -> None:  # type: ignore[no-untyped-def]
    task = await client.add(room=room, queue="digest", schedule="30 17 * * *", payload={"p": 1},
                            timezone="Europe/Berlin", name="daily digest")
    data = task_to_dict(task)
    assert data["payload"] == {"p": 1} and data["active"] and data["next_fire"].endswith("30:00.000+00:00")
    assert [t.id for t in await client.list(room=room)] == [task.id]
    updated = await client.update(task.id, schedule="0 18 * * *", active=False)
    assert updated.spec.schedule == "0 18 * * *" and not updated.spec.active
    assert updated.spec.timezone == "Europe/Berlin" and updated.spec.name == "daily digest"
    run = await client.trigger(task.id)
    assert run_to_dict(run)["outcome"] == "enqueued" and run.manual
    [msg] = await server.engine.peek(room, "digest", 10)
    assert msg.message_id == run.message_id and msg.headers["x-meshq-task-id"] == task.id
    assert [r.message_id for r in await client.runs(task.id)] == [run.message_id]
    assert task_to_dict(await client.get(task.id))["last_outcome"] == "enqueued"
    await client.delete(task.id)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.get(task.id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("change", "words"),
    [({"schedule": "0 0 31 2 *"}, "schedule"), ({"schedule": "* 25 * * *"}, "hour field"),
     ({"timezone": "Nowhere/Land"}, "timezone"), ({"payload_json": "{x"}, "payload"),
     ({"room": "no-such-room-here"}, "room")],
)
async def test_bad_input_is_refused_naming_the_field(client: SchedulerClient, room: str,  # type: ignore[no-untyped-def]
                                                     change: dict[str, str], words: str) -> None:
    values = {"room": room, "queue": "q", "schedule": "* * * * *", "payload_json": "{}"}
    values.update(change)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.add(**values)  # type: ignore[arg-type]
    assert err.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert words in (err.value.details() or "")
    assert await client.list(room=room) == []


async def test_preview_matches_offline(client: SchedulerClient) -> None:
    start = int(datetime(2024, 11, 2, 12, tzinfo=UTC).timestamp() * 1000)
    online = await client.preview("30 1 * * *", timezone="America/New_York", from_unix_ms=start, count=3)
    result = CliRunner().invoke(scheduled_task, ["preview", "--schedule", "30 1 * * *", "--timezone",
                                                 "America/New_York", "--from", "2024-11-02T12:00:00Z",
                                                 "--count", "3", "-o", "json"])
    assert result.exit_code == 0, result.output
    offline = json.loads(result.output)
    assert [d["local"] for d in offline] == list(online.instants_local)
    assert offline[0]["local"] == "2024-11-03T01:30:00-04:00"
    assert offline[1]["local"] == "2024-11-04T01:30:00-05:00"


async def test_cli_add_list_runs_delete(server, room: str) -> None:  # type: ignore[no-untyped-def]
    conn_args = ["--server", server.address, "--token", server.token or "none"]
    runner = CliRunner()

    def cli(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(scheduled_task, [*args, *conn_args], catch_exceptions=False)

    added = await asyncio.to_thread(cli, "add", "--room", room, "--queue", "jobs", "--schedule",
                                    "30 17 * * *", "--payload", '{"prompt": "sum"}', "--catchup-window",
                                    "30m", "--misfire", "latest", "-o", "json")
    assert added.exit_code == 0, added.output
    task = json.loads(added.output)
    assert task["catchup_window_seconds"] == 1800 and task["misfire_policy"] == "latest"
    listed = await asyncio.to_thread(cli, "list", "--room", room, "-o", "json")
    assert [t["id"] for t in json.loads(listed.output)] == [task["id"]]
    bad = await asyncio.to_thread(cli, "add", "--room", room, "--queue", "jobs", "--schedule",
                                  "0 0 31 2 *")
    assert bad.exit_code == 2 and "never fire" in bad.output
    trig = await asyncio.to_thread(cli, "trigger", task["id"], "-o", "json")
    assert json.loads(trig.output)["outcome"] == "enqueued"
    runs = await asyncio.to_thread(cli, "runs", task["id"], "-o", "json")
    assert len(json.loads(runs.output)) == 1
    gone = await asyncio.to_thread(cli, "delete", task["id"])
    assert gone.exit_code == 0
    missing = await asyncio.to_thread(cli, "get", task["id"])
    assert missing.exit_code == 4


@pytest.mark.parametrize("from_ms", [-(2**63), 2**63 - 1, -1, 253_402_300_800_000])
async def test_preview_refuses_instants_out_of_range(client: SchedulerClient, from_ms: int) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.preview("* * * * *", from_unix_ms=from_ms, count=3)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = err.value.details() or ""
    assert "from_unix_ms" in details and "9999-01-01T00:00:00.000Z" in details


async def test_preview_at_the_end_of_time_stops_instead_of_failing(client: SchedulerClient) -> None:
    last = 253_370_764_800_000  # 9999-01-01T00:00:00Z, the latest allowed
    yearly = await client.preview("0 0 1 1 *", from_unix_ms=last, count=3)
    assert list(yearly.instants_unix_ms) == []
    minutes = await client.preview("* * * * *", timezone="Pacific/Kiritimati", from_unix_ms=last, count=2)
    assert list(minutes.instants_unix_ms) == [last + 60_000, last + 120_000]


@pytest.mark.parametrize(
    ("change", "field"),
    [({"catchup_window_seconds": float("inf")}, "catchup_window_seconds"),
     ({"catchup_window_seconds": float("nan")}, "catchup_window_seconds"),
     ({"catchup_window_seconds": -1.0}, "catchup_window_seconds"),
     ({"catchup_window_seconds": 1e300}, "catchup_window_seconds"),
     ({"jitter_seconds": 1e18}, "jitter_seconds"), ({"jitter_seconds": float("-inf")}, "jitter_seconds"),
     ({"misfire_cap": 2**32 - 1}, "misfire_cap")],
)
async def test_durations_and_caps_out_of_range_name_field_and_range(  # type: ignore[no-untyped-def]
        client: SchedulerClient, room: str, change: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"room": room, "queue": "q", "schedule": "* * * * *", "active": False}
    values.update(change)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.add(**values)  # type: ignore[arg-type]
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = err.value.details() or ""
    assert field in details and "between" in details, details
    task = await client.add(room=room, queue="q", schedule="* * * * *", active=False)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.update(task.id, **change)  # type: ignore[arg-type]
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in (err.value.details() or "")
    assert [t.id for t in await client.list(room=room)] == [task.id]


def test_cli_preview_refuses_from_out_of_range() -> None:
    result = CliRunner().invoke(scheduled_task, ["preview", "--schedule", "* * * * *",
                                                 "--from", "0001-01-01T00:00:00+14:00"])
    assert result.exit_code == 2 and "--from must be between" in result.output, result.output
