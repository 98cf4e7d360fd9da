"""Path normalisation: one normal form, every escape refused with INVALID_ARGUMENT."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshq.core.errors import InvalidArgument
from meshq.storage.paths import contained, normalize


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("poem.txt", "poem.txt"),
        ("a/b/c.txt", "a/b/c.txt"),
        ("./a/./b", "a/b"),
        ("a/../b", "b"),
        ("a/b/../../c", "c"),
        ("docs/", "docs"),
        ("%2e%2e/x", "%2e%2e/x"),  # percent-encoding is literal: a folder named "%2e%2e"
        ("..%2f..%2fetc", "..%2f..%2fetc"),
        ("...", "..."),
        ("naïve/файл.txt", "naïve/файл.txt"),
        ("C:", "C:"),
    ],
)
def test_normal_forms(given: str, expected: str) -> None:
    assert normalize(given) == expected


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("../x", "leave the room"),
        ("..", "leave the room"),
        ("a/../../b", "leave the room"),
        ("a/b/../../../c", "leave the room"),
        ("/etc/passwd", "relative to the room"),
        ("/", "relative to the room"),
        ("a\x00b", "NUL"),
        ("a\nb", "control character"),
        ("a\x7fb", "control character"),
        ("a\\b", "not '\\'"),
        ("..\\..\\etc", "not '\\'"),
        ("a//b", "empty segment"),
        ("a/b//", "empty segment"),
        ("x" * 256, "longer than 255"),
        ("a/" * 600, "limit is 1024"),
        ("\udcff", "UTF-8"),
    ],
)
def test_refused_paths(given: str, problem: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        normalize(given)
    assert problem in caught.value.message
    assert len(caught.value.message) < 200  # a short escaped prefix, never the whole value


@pytest.mark.parametrize("given", ["", ".", "./", "a/.."])
def test_the_room_itself_only_where_allowed(given: str) -> None:
    assert normalize(given, allow_root=True) == ""
    with pytest.raises(InvalidArgument, match="path is required"):
        normalize(given)


def test_error_names_the_field() -> None:
    with pytest.raises(InvalidArgument, match="^destination "):
        normalize("../x", field="destination")


def test_contained_follows_links_and_refuses_the_way_out(tmp_path: Path) -> None:
    # Given a room with one link inside and one leading out
    room = tmp_path / "room"
    (room / "real").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(room / "real", room / "inner")
    os.symlink(outside, room / "out")
    # Then the inner link resolves inside, the outer one is refused, whatever follows it
    assert contained(room, "inner/x.txt") == (room / "real" / "x.txt").resolve()
    assert contained(room, "") == room.resolve()
    for escaping in ("out", "out/x.txt", "out/new/deeper"):
        with pytest.raises(InvalidArgument, match="symbolic link"):
            contained(room, escaping)
