"""Tools and toolkits for workers: the base classes and the built-in toolkits by name.

``from meshq.tools.storage import StorageToolkit`` is the reference's import with
``meshagent`` replaced by ``meshq``.
"""

from meshq.tools.builtin import BUILTIN_TOOLKITS, resolve_toolkit
from meshq.tools.toolkit import (
    HostedTool,
    InvalidToolArguments,
    Tool,
    ToolContext,
    ToolError,
    Toolkit,
    ToolNotFound,
    validate_arguments,
)

__all__ = [
    "BUILTIN_TOOLKITS",
    "HostedTool",
    "InvalidToolArguments",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolNotFound",
    "Toolkit",
    "resolve_toolkit",
    "validate_arguments",
]
