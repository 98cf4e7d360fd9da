"""What a worker needs before it takes work: ``requires=[RequiredToolkit("storage"), ...]``.

Requirements are resolved once, at ``Worker.start``: a toolkit name meshq does not know is a
``RequirementError`` there and then, so a misconfigured worker fails loudly instead of idling
or failing every job later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from meshq.tools import Toolkit, ToolNotFound, resolve_toolkit


class RequirementError(Exception):
    """A worker's requirement cannot be met."""


@dataclass(frozen=True)
class RequiredToolkit:
    """A built-in toolkit by name (``storage``, ``web_search``), resolved at start."""

    name: str


@dataclass(frozen=True)
class RequiredSchema:
    """The reference's room document schema requirement.

    meshq rooms hold queues and files, not schema'd documents, so this cannot be met and is
    refused at start rather than silently ignored.
    """

    name: str


Requirement = RequiredToolkit | RequiredSchema


def resolve_requirements(requires: Sequence[Requirement]) -> list[Toolkit]:
    """The toolkits ``requires`` names, in order; ``RequirementError`` for any unknown one."""
    toolkits: list[Toolkit] = []
    for requirement in requires:
        if isinstance(requirement, RequiredToolkit):
            try:
                toolkits.append(resolve_toolkit(requirement.name))
            except ToolNotFound as err:
                raise RequirementError(
                    f"required toolkit {requirement.name!r} is unknown: {err}"
                ) from None
        elif isinstance(requirement, RequiredSchema):
            raise RequirementError(
                f"required schema {requirement.name!r}: meshq rooms have no document schemas"
            )
        else:
            raise RequirementError(f"unsupported requirement {requirement!r}")
    return toolkits
