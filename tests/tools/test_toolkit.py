"""Tool, Toolkit, HostedTool, argument validation and the built-in toolkits by name."""

from __future__ import annotations

from typing import Any

import pytest

from meshq.tools import (
    BUILTIN_TOOLKITS,
    HostedTool,
    InvalidToolArguments,
    Tool,
    ToolContext,
    ToolError,
    Toolkit,
    ToolNotFound,
    resolve_toolkit,
    validate_arguments,
)
from meshq.tools.storage import StorageToolkit
from meshq.tools.web_search import WebSearchToolkit


class Add(Tool):
    name = "add"
    description = "Add two integers."
    input_schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "minimum": 0},
                       "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["a", "b"],
        "additionalProperties": False,
    }

    async def execute(self, context: ToolContext, *, a: int, b: int,
                      tags: list[str] | None = None) -> Any:
        return {"sum": a + b}


async def test_a_custom_tool_runs_with_validated_arguments() -> None:
    tool = Add()
    args = {"a": 2, "b": 3}
    validate_arguments(tool, args)
    assert await tool.execute(ToolContext(room=None), **args) == {"sum": 5}


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"a": 1}, "'b' is a required property"),
        ({"a": "1", "b": 2}, "a: '1' is not of type 'integer'"),
        ({"a": 1, "b": -1}, "b: -1 is less than the minimum of 0"),
        ({"a": 1, "b": 2, "c": 3}, "Additional properties are not allowed ('c' was unexpected)"),
        ({"a": 1, "b": 2, "tags": ["x", 7]}, "tags/1: 7 is not of type 'string'"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_schema_errors_say_what_is_wrong(arguments: Any, says: str) -> None:
    with pytest.raises(InvalidToolArguments) as caught:
        validate_arguments(Add(), arguments)
    assert says in str(caught.value)
    assert isinstance(caught.value, ToolError)


def test_a_huge_bad_value_is_not_echoed_whole() -> None:
    with pytest.raises(InvalidToolArguments) as caught:
        validate_arguments(Add(), {"a": "x" * 10_000, "b": 1})
    assert len(str(caught.value)) < 400


def test_toolkit_get_and_hosted_tools() -> None:
    kit = Toolkit(name="math", tools=[Add(), HostedTool({"type": "web_search"})])
    assert isinstance(kit.get("add"), Add)
    with pytest.raises(ToolNotFound, match="has no tool 'sub' \\(it has: add\\)"):
        kit.get("sub")
    with pytest.raises(ToolNotFound):
        kit.get("web_search")  # hosted tools are the provider's, not callable here
    with pytest.raises(ValueError, match="duplicate"):
        Toolkit(name="twice", tools=[Add(), Add()])
    with pytest.raises(ValueError, match="type"):
        HostedTool({"name": "no type"})


def test_built_in_toolkits_by_name() -> None:
    storage = resolve_toolkit("storage")
    assert isinstance(storage, StorageToolkit) and storage.name == "storage"
    assert [t.name for t in storage.tools] == [
        "list_files", "read_file", "write_file", "grep", "delete_file"]
    web = resolve_toolkit("web_search")
    assert isinstance(web, WebSearchToolkit)
    assert [t.spec for t in web.tools if isinstance(t, HostedTool)] == [{"type": "web_search"}]
    assert resolve_toolkit("storage") is not storage  # a fresh instance each time
    with pytest.raises(ToolNotFound, match="no built-in toolkit 'files'; the known ones are: "
                                           "storage, web_search"):
        resolve_toolkit("files")
    assert set(BUILTIN_TOOLKITS) == {"storage", "web_search"}


@pytest.mark.parametrize("tool", StorageToolkit().tools, ids=lambda t: t.name)
def test_storage_tool_schemas_are_valid_objects(tool: Tool) -> None:
    from jsonschema.validators import validator_for

    validator_for(tool.input_schema).check_schema(tool.input_schema)
    assert tool.input_schema["type"] == "object"
    assert tool.input_schema["additionalProperties"] is False
    assert tool.description
