"""Replicas as real `meshq up` processes on one PostgreSQL: a replica SIGKILLed mid-burst,
PostgreSQL restarted mid-burst, a file written through one replica and read through another.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pgcluster import PgCluster, fresh_schema, need_postgres

from meshq.api.storage import StorageClient
from meshq.v1 import queues_pb2 as pb
from meshq.v1 import queues_pb2_grpc
from postgres.replicas import Replica, Replicas

pytestmark = pytest.mark.slow

ROOM, QUEUE = "replicas", "burst"
SENDERS = 4  # per replica
KILL_AFTER = 300  # replied messages before the kill
CALL_TIMEOUT = 10.0
HELD_LEASE = 2.0  # seconds: leases the killed replica's consumer holds, redelivered after


@pytest.fixture
async def replicas(tmp_path: Path, pg_url: str) -> AsyncIterator[Replicas]:
    group = Replicas(tmp_path, pg_url)
    try:
        yield group
    finally:
        await group.close()


def stub_of(channel: grpc.aio.Channel) -> queues_pb2_grpc.QueueServiceStub:
    return queues_pb2_grpc.QueueServiceStub(channel)


async def sender(stub: queues_pb2_grpc.QueueServiceStub, md: tuple[tuple[str, str], ...],
                 tag: str, replied: dict[str, str], stop: asyncio.Event,
                 unavailable: list[grpc.StatusCode]) -> None:
    """Send batches of 1-3 until ``stop``; remember every message whose Send got a reply.
    A failed call is recorded and retried (the replica may be dead or PostgreSQL down)."""
    k = 0
    while not stop.is_set():
        bodies = [json.dumps({"by": tag, "n": k + j}) for j in range(1 + k % 3)]
        k += len(bodies)
        request = pb.SendRequest(room=ROOM, queue=QUEUE,
                                 messages=[pb.OutgoingMessage(json=b) for b in bodies])
        try:
            reply = await stub.Send(request, metadata=md, timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError as err:
            unavailable.append(err.code())
            await asyncio.sleep(0.05)
            continue
        for result, body in zip(reply.results, bodies, strict=True):
            replied[result.message_id] = body


async def drain(stub: queues_pb2_grpc.QueueServiceStub, md: tuple[tuple[str, str], ...],
                expected: set[str], acked: set[str]) -> dict[str, pb.Delivery]:
    """Receive (leased, then acked) until every expected id came, failing on a repeat or on
    an acked id."""
    got: dict[str, pb.Delivery] = {}
    async with asyncio.timeout(60):
        while not expected <= set(got):
            reply = await stub.Receive(pb.ReceiveRequest(
                room=ROOM, queue=QUEUE, max_messages=500, wait=True, timeout_seconds=2,
                lease_seconds=60), metadata=md, timeout=CALL_TIMEOUT)
            for d in reply.deliveries:
                assert d.message_id not in got, "a message was delivered twice"
                assert d.message_id not in acked, "an acked message came back"
                got[d.message_id] = d
            if reply.deliveries:
                await stub.Ack(pb.AckRequest(room=ROOM, queue=QUEUE, lease_tokens=[
                    d.lease_token for d in reply.deliveries]), metadata=md, timeout=CALL_TIMEOUT)
    return got


async def test_a_replica_killed_mid_burst_loses_nothing_acknowledged(replicas: Replicas) -> None:
    # Given two replicas, a file written through one, and leases held through the one that dies
    a, b = await replicas.start(2)
    md = (("authorization", "Bearer " + replicas.token),)
    conn_a, conn_b = a.connection(replicas.token), b.connection(replicas.token)
    await StorageClient(conn_a, ROOM).write("notes/shared.txt", b"written through a")
    assert await StorageClient(conn_b, ROOM).read("notes/shared.txt") == b"written through a"
    async with grpc.aio.insecure_channel(a.address) as ch_a, \
            grpc.aio.insecure_channel(b.address) as ch_b:
        sa, sb = stub_of(ch_a), stub_of(ch_b)
        await sa.OpenQueue(pb.OpenQueueRequest(room=ROOM, queue=QUEUE), metadata=md,
                           timeout=CALL_TIMEOUT)
        first = await sb.Send(pb.SendRequest(room=ROOM, queue=QUEUE, messages=[
            pb.OutgoingMessage(json=json.dumps({"before": i})) for i in range(20)]),
            metadata=md, timeout=CALL_TIMEOUT)
        leased = (await sa.Receive(pb.ReceiveRequest(room=ROOM, queue=QUEUE, max_messages=20,
                                                     lease_seconds=HELD_LEASE),
                                   metadata=md, timeout=CALL_TIMEOUT)).deliveries
        assert len(leased) == 20
        acked = await sa.Ack(pb.AckRequest(room=ROOM, queue=QUEUE, lease_tokens=[
            d.lease_token for d in leased[:10]]), metadata=md, timeout=CALL_TIMEOUT)
        assert [r.outcome for r in acked.results] == [pb.SETTLE_OUTCOME_OK] * 10
        acked_ids = {d.message_id for d in leased[:10]}
        held = {d.message_id for d in leased[10:]}

        # When senders through both replicas are mid-burst and replica a is SIGKILLed
        replied: dict[str, str] = {r.message_id: "" for r in first.results
                                   if r.message_id not in acked_ids}
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        errors: list[grpc.StatusCode] = []
        tasks = [asyncio.create_task(sender(s, md, f"{tag}{i}", replied, stop, errors))
                 for s, tag, stop in ((sa, "a", stop_a), (sb, "b", stop_b))
                 for i in range(SENDERS)]
        async with asyncio.timeout(60):
            while len(replied) < KILL_AFTER:
                await asyncio.sleep(0.01)
        await a.kill()
        stop_a.set()
        at_kill = len(replied)
        async with asyncio.timeout(60):
            while len(replied) < at_kill + 100:  # the survivor goes on serving
                await asyncio.sleep(0.01)
        stop_b.set()
        await asyncio.gather(*tasks)

        # Then every replied message (and the dead replica's held leases, once expired) is
        # delivered through the survivor, once, and no acked message comes back
        got = await drain(sb, md, set(replied), acked_ids)
    assert set(replied) <= set(got)
    assert all(got[mid].attempt == 2 for mid in held), "held leases come back after expiry"
    assert all(json.loads(got[mid].json) == json.loads(body)
               for mid, body in replied.items() if body)
    await conn_a.close()
    await conn_b.close()


async def until_serving(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    async with asyncio.timeout(30):
        while (await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)).status \
                != health_pb2.HealthCheckResponse.SERVING:
            await asyncio.sleep(0.1)


@pytest.fixture
async def own_cluster() -> AsyncIterator[PgCluster]:
    """A cluster of this test's own: it is restarted mid-test."""
    need_postgres()
    cluster = PgCluster().init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.cleanup()


async def test_postgres_restarted_mid_burst(tmp_path: Path, own_cluster: PgCluster) -> None:
    group = Replicas(tmp_path, fresh_schema(own_cluster))
    try:
        await postgres_restart_story(group, own_cluster)
    finally:
        await group.close()


async def postgres_restart_story(group: Replicas, cluster: PgCluster) -> None:
    # Given two replicas and senders through both
    replicas: list[Replica] = await group.start(2)
    md = (("authorization", "Bearer " + group.token),)
    channels = [grpc.aio.insecure_channel(r.address) for r in replicas]
    stubs = [stub_of(ch) for ch in channels]
    try:
        await stubs[0].OpenQueue(pb.OpenQueueRequest(room=ROOM, queue=QUEUE), metadata=md,
                                 timeout=CALL_TIMEOUT)
        replied: dict[str, str] = {}
        stop = asyncio.Event()
        errors: list[grpc.StatusCode] = []
        tasks = [asyncio.create_task(sender(s, md, f"{n}{i}", replied, stop, errors))
                 for n, s in enumerate(stubs) for i in range(SENDERS)]
        async with asyncio.timeout(60):
            while len(replied) < KILL_AFTER:
                await asyncio.sleep(0.01)
        # When PostgreSQL stops at once (connections cut) and comes back
        await asyncio.to_thread(cluster.restart)
        # Then sends failed only with UNAVAILABLE, and both replicas serve again, no restart
        at_restart = len(replied)
        async with asyncio.timeout(60):
            while len(replied) < at_restart + 200:
                await asyncio.sleep(0.01)
        for stub in stubs:
            reply = await stub.Send(pb.SendRequest(room=ROOM, queue=QUEUE, messages=[
                pb.OutgoingMessage(json='"after"')]), metadata=md, timeout=CALL_TIMEOUT)
            replied[reply.results[0].message_id] = '"after"'
        stop.set()
        await asyncio.gather(*tasks)
        assert set(errors) <= {grpc.StatusCode.UNAVAILABLE}, errors
        for ch in channels:  # health follows PostgreSQL back to SERVING by itself
            await until_serving(ch)
        # And nothing whose Send was acknowledged is lost
        got = await drain(stubs[1], md, set(replied), set())
        assert set(replied) <= set(got)
    finally:
        for ch in channels:
            await ch.close()
