"""A local HTTP server that speaks the OpenAI Responses and Chat Completions shapes.

Tests point the real ``openai`` SDK at ``FakeOpenAI.base_url``. Replies are scripted: either a
queue of replies consumed in order (``script``), or a ``handler(path, request) -> Reply``
that answers from the request itself (what a test with several concurrent jobs needs). Every
request is recorded in ``requests`` as ``(path, parsed JSON body)``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RESPONSES_PATH = "/v1/responses"
CHAT_PATH = "/v1/chat/completions"
_ids = itertools.count(1)


@dataclass
class Reply:
    """One HTTP reply: a JSON body with a status, or a hang (``hang`` seconds before it)."""

    body: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    hang: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (e.g. Retry-After)."""


Handler = Callable[[str, dict[str, Any]], Reply | dict[str, Any]]


class FakeOpenAI:
    """``with FakeOpenAI() as fake: AsyncOpenAI(base_url=fake.base_url, api_key="x")``."""

    def __init__(self, *, chat_only: bool = False) -> None:
        self.chat_only = chat_only
        """Answer /v1/responses with 404, as vLLM, Ollama and llama.cpp do."""
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.handler: Handler | None = None
        self._script: deque[Reply | dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._make_handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, *replies: Reply | dict[str, Any]) -> None:
        with self._lock:
            self._script.extend(replies)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [body for p, body in self.requests if p == path]

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str, body: dict[str, Any]) -> Reply:
        if self.chat_only and path == RESPONSES_PATH:
            with self._lock:
                self.requests.append((path, body))
            return Reply({"detail": "Not Found"}, 404)  # what a FastAPI-based server says
        with self._lock:
            self.requests.append((path, body))
            scripted = self._script.popleft() if self._script else None
        if scripted is None and self.handler is not None:
            scripted = self.handler(path, body)
        if scripted is None:
            return Reply({"error": {"message": "no scripted reply", "type": "test"}}, 500)
        return scripted if isinstance(scripted, Reply) else Reply(scripted)

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                reply = fake._answer(self.path, body)
                if reply.hang:
                    time.sleep(reply.hang)
                data = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return _Handler


# -- Responses API shapes ------------------------------------------------------------------

def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0}}


def _response(output: list[dict[str, Any]], model: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {"id": f"resp_{next(_ids)}", "object": "response", "created_at": int(time.time()),
            "model": model, "status": "completed", "output": output,
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "usage": _usage(*usage)}


def response_text(text: str, *, model: str = "fake-model",
                  usage: tuple[int, int] = (10, 5)) -> dict[str, Any]:
    """A final answer."""
    message = {"type": "message", "id": f"msg_{next(_ids)}", "role": "assistant",
               "status": "completed",
               "content": [{"type": "output_text", "text": text, "annotations": []}]}
    return _response([message], model, usage)


def response_calls(*calls: tuple[str, Any], model: str = "fake-model",
                   usage: tuple[int, int] = (10, 5)) -> dict[str, Any]:
    """A turn that calls tools: ``(name, arguments)``; a dict is sent as JSON, a str as is."""
    output = [{"type": "function_call", "id": f"fc_{next(_ids)}", "call_id": f"call_{next(_ids)}",
               "name": name, "status": "completed",
               "arguments": args if isinstance(args, str) else json.dumps(args)}
              for name, args in calls]
    return _response(output, model, usage)


def function_outputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``function_call_output`` items of a Responses request."""
    items = body.get("input") or []
    return [i for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"]


# -- Chat Completions shapes ---------------------------------------------------------------

def _completion(message: dict[str, Any], finish: str, model: str,
                usage: tuple[int, int]) -> dict[str, Any]:
    return {"id": f"chatcmpl-{next(_ids)}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                      "total_tokens": sum(usage)}}


def chat_text(text: str, *, model: str = "fake-model",
              usage: tuple[int, int] = (7, 3)) -> dict[str, Any]:
    return _completion({"role": "assistant", "content": text}, "stop", model, usage)


def chat_calls(*calls: tuple[str, Any], model: str = "fake-model",
               usage: tuple[int, int] = (7, 3)) -> dict[str, Any]:
    tool_calls = [{"id": f"call_{next(_ids)}", "type": "function",
                   "function": {"name": name,
                                "arguments": args if isinstance(args, str) else json.dumps(args)}}
                  for name, args in calls]
    return _completion({"role": "assistant", "content": None, "tool_calls": tool_calls},
                       "tool_calls", model, usage)


def error(status: int, message: str) -> Reply:
    return Reply({"error": {"message": message, "type": "server_error", "code": None}}, status)
