"""Health checking and server reflection, as grpc tools expect them."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

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
