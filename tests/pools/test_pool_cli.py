"""`meshq pool …` against the real server (asyncio backend); each command in a thread."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from click.testing import CliRunner, Result

from meshq.cli.common import EXIT_NOT_FOUND, EXIT_USAGE
from meshq.cli.main import cli


async def meshq(server: Any, *args: str) -> Result:
    full = [*args, "--server", server.address, "--token", server.token or "none",
            "--timeout", "20"]
    return await asyncio.to_thread(CliRunner().invoke, cli, full, catch_exceptions=False)


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_pool_start_get_scale_list_stop(server: Any, unique: str) -> None:
    started = _json(await meshq(server, "pool", "start", "--room", unique, "--queue", "jobs",
                                "--worker", "pool_workers:SleepWorker", "--args",
                                '{"seconds": 0.01}', "--replicas", "2", "--concurrency", "3",
                                "--name", unique, "-o", "json"))
    assert (started["replicas_wanted"], started["concurrency"]) == (2, 3)

    scaled = _json(await meshq(server, "pool", "scale", unique, "--min", "0", "--max", "3",
                               "-o", "json"))
    assert (scaled["min_replicas"], scaled["max_replicas"]) == (0, 3)

    got = _json(await meshq(server, "pool", "get", unique, "-o", "json"))
    assert got["name"] == unique and got["worker"] == "pool_workers:SleepWorker"
    listed = _json(await meshq(server, "pool", "list", "--room", unique, "-o", "json"))
    assert [p["name"] for p in listed] == [unique]
    assert (await meshq(server, "pool", "get", unique)).exit_code == 0  # the table form

    stopped = _json(await meshq(server, "pool", "stop", unique, "--grace", "1", "-o", "json"))
    assert stopped["state"] == "stopped"
    gone = await meshq(server, "pool", "get", unique)
    assert gone.exit_code == EXIT_NOT_FOUND and "does not exist" in gone.stderr


async def test_pool_start_usage_errors(server: Any, unique: str) -> None:
    both = await meshq(server, "pool", "start", "--room", unique, "--queue", "q",
                       "--agent-name", "a", "--worker", "m:C")
    assert both.exit_code == EXIT_USAGE and "exactly one of" in both.stderr
    mixed = await meshq(server, "pool", "start", "--room", unique, "--queue", "q",
                        "--worker", "pool_workers:SleepWorker", "--replicas", "2", "--max", "3")
    assert mixed.exit_code == EXIT_USAGE and "not both" in mixed.stderr
    bad = await meshq(server, "pool", "start", "--room", unique, "--queue", "q",
                      "--worker", "no_such_mod_q:W")
    assert bad.exit_code == EXIT_USAGE and "INVALID_ARGUMENT" in bad.stderr
    args = await meshq(server, "pool", "start", "--room", unique, "--queue", "q",
                       "--worker", "pool_workers:SleepWorker", "--args", "[1]")
    assert args.exit_code == EXIT_USAGE and "JSON object" in args.stderr


async def test_pool_start_says_what_it_waits_for(server: Any, unique: str) -> None:
    # Given replicas that take a few seconds to start
    result = await meshq(server, "pool", "start", "--room", unique, "--queue", "jobs",
                         "--worker", "pool_workers:SlowStartWorker", "--args",
                         '{"start_delay": 4.5}', "--name", unique, "-o", "json")
    # Then `pool start` printed progress on stderr while waiting, and the pool on stdout
    assert _json(result)["replicas_running"] == 1
    assert f"pool {unique}: 0/1 replicas running" in result.stderr
    await meshq(server, "pool", "stop", unique, "--grace", "0.1")


def test_env_files_and_pairs_are_read_and_bad_lines_never_echo_values(tmp_path: Any) -> None:
    from meshq.cli.pools import read_env

    env_file = tmp_path / "pool.env"
    env_file.write_text("# keys\nexport OPENAI_API_KEY='sk-1'\nMODEL=\"m\"\n\nEMPTY=\n")
    assert read_env(["MODEL=override", "X=a=b"], str(env_file)) == {
        "OPENAI_API_KEY": "sk-1", "MODEL": "override", "EMPTY": "", "X": "a=b"}

    runner = CliRunner()
    bad = tmp_path / "bad.env"
    bad.write_text("OK=1\nsk-very-secret-value\n")
    result = runner.invoke(cli, ["pool", "start", "--room", "r", "--queue", "q", "--worker",
                                 "m:C", "--env-file", str(bad)])
    assert result.exit_code == EXIT_USAGE and "line 2 is not KEY=VALUE" in result.stderr
    assert "sk-very-secret-value" not in result.output + result.stderr
    result = runner.invoke(cli, ["pool", "start", "--room", "r", "--queue", "q", "--worker",
                                 "m:C", "--env", "sk-very-secret-value"])
    assert result.exit_code == EXIT_USAGE and "KEY=VALUE" in result.stderr
    assert "sk-very-secret-value" not in result.stderr


def test_pool_info_lists_env_names_only() -> None:
    from meshq.api.pools import PoolInfo
    from meshq.v1 import workers_pb2

    pool = workers_pb2.Pool(spec=workers_pb2.PoolSpec(name="p", env={"K": "<hidden>"}))
    assert PoolInfo.from_proto(pool).env == ("K",)
