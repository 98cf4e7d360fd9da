"""Web search, run by the model provider (the Responses API's hosted ``web_search`` tool).

Chat Completions servers have no hosted tools; an adapter for them says so rather than
sending a spec the server does not understand.
"""

from __future__ import annotations

from meshq.tools.toolkit import HostedTool, Toolkit

WEB_SEARCH_SPEC = {"type": "web_search"}


class WebSearchToolkit(Toolkit):
    """The hosted web search tool."""

    def __init__(self) -> None:
        super().__init__(
            name="web_search",
            title="web search",
            description="search the web (run by the model provider)",
            tools=[HostedTool(WEB_SEARCH_SPEC)],
        )
