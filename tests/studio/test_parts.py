"""The Studio's small parts on plain data: login codes, sessions, counters, charts, forms."""

from __future__ import annotations

import pytest

from meshq.studio.charts import line_chart
from meshq.studio.errors import BadInput
from meshq.studio.routes.queues import parse_body, parse_delay, parse_headers
from meshq.studio.sampler import Sample, parse, rates
from meshq.studio.sessions import LoginCodes, SessionStore


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_login_code_works_once_and_only_within_its_ttl() -> None:
    clock = Clock()
    codes = LoginCodes(ttl=60, clock=clock)
    first, second = codes.issue("tok-1"), codes.issue("tok-2")
    assert first != second and "tok" not in first
    assert codes.redeem(first) == "tok-1"
    assert codes.redeem(first) is None  # used up
    clock.now += 61
    assert codes.redeem(second) is None  # expired
    assert codes.redeem("made-up") is None


class FakeClient:
    closed = False

    async def close(self) -> None:
        self.closed = True


async def test_a_session_ends_when_its_token_expires() -> None:
    import jwt

    clock = Clock(1_000_000.0)
    clients: list[FakeClient] = []

    def make(token: str) -> FakeClient:
        clients.append(FakeClient())
        return clients[-1]

    store = SessionStore(make, max_seconds=3600, clock=clock)  # type: ignore[arg-type]
    token = jwt.encode({"name": "ada", "exp": clock.now + 120}, "k" * 32, algorithm="HS256")
    session = await store.create(token)
    assert (session.name, session.expires_at) == ("ada", clock.now + 120)
    assert session.csrf_matches(session.csrf) and not session.csrf_matches("")
    assert await store.get(session.id) is session
    clock.now += 121
    assert await store.get(session.id) is None
    assert clients[0].closed and len(store) == 0


async def test_a_session_without_exp_lasts_max_seconds() -> None:
    clock = Clock()
    store = SessionStore(lambda t: FakeClient(), max_seconds=50, clock=clock)  # type: ignore[arg-type, return-value]
    session = await store.create("not-a-jwt")
    assert session.expires_at == clock.now + 50
    clock.now += 51
    assert await store.sweep() == [session.id]


EXPOSITION = """\
# TYPE meshq_queue_depth_messages gauge
meshq_queue_depth_messages{room="r",queue="jobs"} 7
meshq_queue_in_flight_messages{room="r",queue="jobs"} 2
# TYPE meshq_messages_sent_total counter
meshq_messages_sent_total{room="r",queue="jobs"} 40
meshq_messages_sent_created{room="r",queue="jobs"} 1.7e9
# TYPE meshq_messages_acked_total counter
meshq_messages_acked_total{room="r",queue="jobs"} 30
meshq_queue_depth_messages{room="r",queue="other"} 1
"""


def test_counters_are_read_from_the_metrics_text() -> None:
    samples = parse(EXPOSITION, at=5.0)
    assert samples[("r", "jobs")] == Sample(5.0, 7, 2, 0, 40, 30)
    assert samples[("r", "other")].depth == 1


def test_rates_between_samples_and_a_restarted_counter() -> None:
    got = rates([Sample(0, 0, 0, 0, 10, 0), Sample(2, 0, 0, 0, 30, 10),
                 Sample(4, 0, 0, 0, 5, 12)])
    assert [(r.send, r.ack) for r in got] == [(10.0, 5.0), (0.0, 1.0)]


def test_a_chart_scales_to_a_round_top() -> None:
    chart = line_chart("depth", [0, 5, 10], [("ready", "s-ready", [0, 3, 7])])
    assert chart.top == 10 and not chart.empty
    assert chart.lines[0].points.split()[0] == "4.0,156.0"
    assert line_chart("x", [0], [("a", "c", [1])]).empty


@pytest.mark.parametrize(("text", "wanted"), [
    ("", "empty"), ("{'a': 1}", "not valid JSON"), ('{"a": 1,}', "line 1 column 9")])
def test_bad_bodies(text: str, wanted: str) -> None:
    with pytest.raises(BadInput, match=wanted):
        parse_body(text)


def test_headers_and_delay() -> None:
    assert parse_headers("a: 1\n\nb=two words\n") == {"a": "1", "b": "two words"}
    with pytest.raises(BadInput, match="line 1"):
        parse_headers("no separator")
    assert parse_delay("") == 0.0 and parse_delay("2.5") == 2.5
    for bad in ("soon", "-1"):
        with pytest.raises(BadInput):
            parse_delay(bad)


@pytest.mark.parametrize(("asked", "went"), [
    ("/rooms/r/tasks", "/rooms/r/tasks"), ("https://elsewhere.example/", "/"),
    ("//elsewhere.example/x", "/"), ("/\\elsewhere.example", "/"), ("", "/")])
def test_after_a_post_the_browser_stays_in_the_studio(asked: str, went: str) -> None:
    from meshq.studio.web import back

    assert back(asked).headers["location"] == went


@pytest.mark.parametrize(("listen", "port", "url"), [
    ("127.0.0.1:9464", 9464, "http://127.0.0.1:9464/metrics"),
    ("0.0.0.0:0", 4321, "http://127.0.0.1:4321/metrics"),
    ("[::1]:0", 4321, "http://[::1]:4321/metrics"),
    ("", 0, ""), ("127.0.0.1:0", 0, "")])
def test_the_studio_beside_a_stack_reads_its_metrics(listen: str, port: int, url: str) -> None:
    from meshq.metrics.server import metrics_url

    assert metrics_url(listen, port) == url
