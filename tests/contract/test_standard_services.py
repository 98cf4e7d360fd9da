"""Health checking and server reflection, as grpc tools expect them."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from meshq.core.errors import Unavailable
from meshq.server.app import StackConfig, start_stack
from meshq.v1 import queues_pb2, rooms_pb2, scheduler_pb2, storage_pb2, workers_pb2

MESHQ_SERVICES = {
    service.full_name
    for module in (rooms_pb2, queues_pb2, scheduler_pb2, storage_pb2, workers_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
}


async def test_health_reports_serving_per_service(server) -> None:
    # The grpc_health_probe-style check: the overall status and each hosted service.
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        overall = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert overall.status == health_pb2.HealthCheckResponse.SERVING
        hosted = [n for c in server.stack.components for n in c.service_names]
        assert hosted
        for name in hosted:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, name


async def test_reflection_lists_every_meshq_service(server) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        names: set[str] = set()
        async for reply in stub.ServerReflectionInfo(iter([request]), timeout=5):
            names |= {s.name for s in reply.list_services_response.service}
    assert MESHQ_SERVICES <= names, MESHQ_SERVICES - names
    assert "grpc.health.v1.Health" in names


async def test_a_failed_queue_store_turns_health_not_serving(tmp_path, monkeypatch) -> None:
    # Given a queue server of its own (it is about to break)
    stack = await start_stack(StackConfig(data_dir=tmp_path, listen="127.0.0.1:0",
                                          services=("queue",), auth=False))
    try:
        engine = stack.context.engine

        def broken_submit(ops):  # type: ignore[no-untyped-def]
            raise OSError("disk I/O error")

        # When a commit fails
        monkeypatch.setattr(engine._store, "submit", broken_submit)
        with pytest.raises(Unavailable):
            await engine.create_room("doomed")
        # Then the health check reports NOT_SERVING, overall and for the queue services
        async with grpc.aio.insecure_channel(stack.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for name in ("", "meshq.v1.QueueService", "meshq.v1.RoomService"):
                reply = await _wait_status(stub, name, health_pb2.HealthCheckResponse.NOT_SERVING)
                assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING, name
    finally:
        await stack.stop(grace=0.5)


async def _wait_status(stub, name: str, status: int):  # type: ignore[no-untyped-def]
    """The status is set by a task the failure scheduled: let it run, then read."""
    async with asyncio.timeout(5):
        while True:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            if reply.status == status:
                return reply
            await asyncio.sleep(0)
