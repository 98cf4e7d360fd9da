"""The no-code LLM queue agent behind ``meshq process join`` and the Ray pools."""

from __future__ import annotations

from collections.abc import Sequence

from meshq.agents.llm import LLMAdapter
from meshq.agents.observer import WorkerObserver
from meshq.agents.requirements import RequiredToolkit, Requirement
from meshq.agents.worker import Worker

DEFAULT_RULES = (
    "you will receive a message with instructions, process it and do what it says",
    "you are not an interactive agent so you must not ask the user questions",
)


def build_queue_agent(
    *,
    agent_name: str,
    queue: str,
    rules: Sequence[str] = (),
    require_storage: bool = False,
    require_web_search: bool = False,
    model: str | None = None,
    concurrency: int = 1,
    llm_adapter: LLMAdapter | None = None,
    observer: WorkerObserver | None = None,
    llm_api: str = "responses",
) -> Worker:
    """A ``Worker`` that runs each job through the model with the asked-for toolkits.

    ``rules`` default to the reference sample's two rules. Without ``llm_adapter`` it uses
    ``openai_adapter(llm_api, model=model)``: the Responses API, or Chat Completions with
    ``llm_api="chat"`` (key and base URL from the ``openai`` SDK's environment variables).
    """
    if llm_adapter is None:
        from meshq.openai.tools import openai_adapter

        llm_adapter = openai_adapter(llm_api, model=model)
    requires: list[Requirement] = []
    if require_storage:
        requires.append(RequiredToolkit("storage"))
    if require_web_search:
        requires.append(RequiredToolkit("web_search"))
    from meshq.openai.tools import OpenAIResponsesToolResponseAdapter

    return Worker(
        queue=queue,
        name=agent_name,
        title=agent_name,
        description=f"queue agent on {queue}",
        llm_adapter=llm_adapter,
        tool_adapter=OpenAIResponsesToolResponseAdapter() if llm_api != "chat" else None,
        rules=list(rules) or list(DEFAULT_RULES),
        requires=requires,
        concurrency=concurrency,
        observer=observer,
    )
