"""The `ray up` YAMLs pass Ray's own offline config validation; an unreachable Ray fails fast."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from meshq.core.errors import FailedPrecondition
from meshq.pools.ray_backend import probe

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "ray"


def _validated(name: str) -> dict:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((DEPLOY / name).read_text())
    prepared = prepare_config(config)
    validate_config(prepared)
    return prepared


def test_the_local_cluster_yaml_is_valid_and_starts_meshq_on_the_head() -> None:
    config = _validated("cluster.yaml")
    assert config["provider"]["type"] == "local"
    assert config["provider"]["worker_ips"]
    head = " ".join(config["head_start_ray_commands"])
    assert "meshq up" in head and "--ray-address auto" in head
    assert "--listen 0.0.0.0:50051" in head
    workers = " ".join(config["worker_start_ray_commands"])
    assert "--address=$RAY_HEAD_IP:6379" in workers
    # Ray's token auth is set the same way on every node
    for command in [*config["head_start_ray_commands"], *config["worker_start_ray_commands"]]:
        if "ray start" in command or "ray stop" in command:
            assert "RAY_AUTH_MODE=disabled" in command


def test_the_aws_cluster_yaml_is_valid() -> None:
    config = _validated("cluster-aws.yaml")
    assert config["provider"]["type"] == "aws"
    assert "meshq up" in " ".join(config["head_start_ray_commands"])


def test_a_broken_cluster_yaml_is_refused_by_the_same_validation() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((DEPLOY / "cluster.yaml").read_text())
    config["bogus_key"] = 1  # the schema allows no unknown top-level keys
    with pytest.raises(jsonschema.ValidationError, match="bogus_key"):
        validate_config(prepare_config(config))


def test_an_unreachable_ray_address_fails_within_seconds() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    began = time.monotonic()
    with pytest.raises(FailedPrecondition, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        probe(f"127.0.0.1:{port}")
    assert time.monotonic() - began < 5
    with pytest.raises(FailedPrecondition, match="not host:port"):
        probe("nonsense")


async def test_start_pool_on_an_unreachable_ray_fails_fast_and_leaves_no_pool() -> None:
    from meshq.pools.model import Connect, PoolConfig, QueueLoad, ScalingConfig, WorkerConfig
    from meshq.pools.ray_backend import RayBackend
    from meshq.pools.service import PoolManager

    async def no_load(room: str, queue: str) -> QueueLoad:
        return QueueLoad(ready=0, in_flight=0)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    manager = PoolManager(backend=lambda: RayBackend(address=f"127.0.0.1:{port}"),
                          connect=Connect(server_address="127.0.0.1:1"), load=no_load)
    config = PoolConfig(name="p", scaling=ScalingConfig(replicas=2), worker=WorkerConfig(
        room="r", queue="q", worker_class="pool_workers:SleepWorker"))
    began = time.monotonic()
    with pytest.raises(FailedPrecondition, match="cannot reach the Ray cluster"):
        await manager.start_pool(config)
    assert time.monotonic() - began < 5
    assert manager.list_pools() == []
