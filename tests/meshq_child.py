"""What the tests that start `meshq up` as a child process share."""

from __future__ import annotations

import asyncio


async def listening_address(stdout: asyncio.StreamReader, timeout: float) -> str:
    """Read a starting child's stdout up to its ``… listening on <address>`` line; the address.

    Fails the test if the child ends first, or after ``timeout`` seconds.
    """
    async with asyncio.timeout(timeout):
        while True:
            line = (await stdout.readline()).decode()
            assert line, "meshq up exited before it was ready"
            if "listening on" in line:
                return line.rsplit(" ", 1)[1].strip()
