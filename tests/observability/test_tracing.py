"""A job's span continues the trace of the span that sent it, through message headers."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from meshq.api.queues import QueuesClient
from meshq.otel.tracing import job_span, send_span


def test_job_span_is_a_child_of_the_send_span(spans: InMemorySpanExporter) -> None:
    # Given a producer that sends inside a span, carrying its context in the headers
    headers: dict[str, str] = {}
    with send_span("send support-jobs", headers) as sending:
        sent_context = sending.get_span_context()

    # When a worker processes the message with those headers
    with job_span("process support-jobs", headers, queue="support-jobs", attempt=1):
        pass

    # Then the processing span is the sending span's child, in the same trace
    finished = {span.name: span for span in spans.get_finished_spans()}
    job = finished["process support-jobs"]
    assert "traceparent" in headers
    assert job.parent is not None
    assert job.parent.span_id == sent_context.span_id
    assert job.context.trace_id == sent_context.trace_id
    assert job.kind is SpanKind.CONSUMER
    assert finished["send support-jobs"].kind is SpanKind.PRODUCER
    assert job.attributes == {"queue": "support-jobs", "attempt": 1}


def test_a_message_without_trace_headers_starts_a_new_trace(
    spans: InMemorySpanExporter,
) -> None:
    # Given a message sent by a client that does no tracing
    headers = {"content-type": "application/json"}

    # When a worker processes it
    with job_span("process plain", headers):
        pass

    # Then its span is a root span
    (job,) = spans.get_finished_spans()
    assert job.parent is None


async def test_trace_continues_through_a_real_queue_round_trip(
    spans: InMemorySpanExporter, server: Any, unique: str
) -> None:
    # Given a client that sends inside its own span, over gRPC to the shared meshq server
    tracer = trace.get_tracer("test-client")
    async with server.connection() as conn:
        queues = QueuesClient(conn, unique)
        with tracer.start_as_current_span("request handler") as sending:
            await queues.send("jobs", {"prompt": "hi"})

        # When a worker receives the message and processes it in a job span
        (message,) = await queues.receive_leased("jobs", timeout=10.0)
        with job_span("meshq.job", message.headers, queue="jobs"):
            pass
        await message.ack()

    # Then the job's span is a child of the client's span: the trace crossed the queue
    (job,) = [s for s in spans.get_finished_spans() if s.name == "meshq.job"]
    assert job.parent is not None
    assert job.parent.span_id == sending.get_span_context().span_id
    assert job.context.trace_id == sending.get_span_context().trace_id
