"""Fixtures of the unit tests that talk to a fake AMI server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.unit.fake_ami import Clients, FakeAmi


@pytest.fixture
async def server() -> AsyncIterator[FakeAmi]:
    async with FakeAmi() as fake:
        yield fake


@pytest.fixture
async def clients(server: FakeAmi) -> AsyncIterator[Clients]:
    pool = Clients(server)
    try:
        yield pool
    finally:
        await pool.close()
