"""Long lists show one page at a time (``?page=N``, 1-based)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.requests import Request

T = TypeVar("T")
PER_PAGE = 25


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    number: int
    total: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def page_number(request: Request, key: str = "page") -> int:
    try:
        return max(1, int(request.query_params.get(key, "1")))
    except ValueError:
        return 1


def paginate(items: Sequence[T], number: int, per_page: int = PER_PAGE) -> Page[T]:
    total = len(items)
    number = min(max(1, number), max(1, -(-total // per_page)))
    start = (number - 1) * per_page
    return Page(items=items[start:start + per_page], number=number, total=total,
                per_page=per_page)
