"""Line charts as inline SVG, drawn on the server: no chart library, nothing to load.

``line_chart`` scales one or more series into a fixed view box; the template draws the
polylines, so a chart refreshes with the rest of a partial.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 600
HEIGHT = 160
PAD = 4


@dataclass(frozen=True)
class Line:
    label: str
    css: str
    """The CSS class that colours it."""
    points: str
    """SVG polyline points."""
    last: float


@dataclass(frozen=True)
class Chart:
    title: str
    lines: tuple[Line, ...]
    top: float
    """The value of the top edge."""
    seconds: float
    """How many seconds the x axis spans."""
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def empty(self) -> bool:
        return not any(line.points for line in self.lines)


def line_chart(title: str, times: Sequence[float],
               series: Sequence[tuple[str, str, Sequence[float]]]) -> Chart:
    """``series``: (label, css class, values aligned with ``times``)."""
    top = max([1.0, *(v for _, _, values in series for v in values)])
    top = _nice(top)
    start, end = (times[0], times[-1]) if times else (0.0, 0.0)
    span = max(end - start, 1e-9)
    lines = []
    for label, css, values in series:
        points = " ".join(
            f"{PAD + (t - start) / span * (WIDTH - 2 * PAD):.1f},"
            f"{HEIGHT - PAD - v / top * (HEIGHT - 2 * PAD):.1f}"
            for t, v in zip(times, values, strict=False)) if len(times) > 1 else ""
        lines.append(Line(label, css, points, values[-1] if values else 0.0))
    return Chart(title=title, lines=tuple(lines), top=top, seconds=end - start)


def _nice(value: float) -> float:
    """The next 1, 2 or 5 times a power of ten at or above ``value``."""
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude
