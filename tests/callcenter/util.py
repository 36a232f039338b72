"""Helpers of the call-center tests: users and tokens on a test database."""

from __future__ import annotations

from callcenter.auth.models import Role
from callcenter.auth.services import UserService
from callcenter.db import Database
from tests.support import SUITE_CLOCK

PASSWORD = "test-password-1"


def ensure_user(db: Database, username: str, role: Role | str, *,
                interface: str | None = None, password: str = PASSWORD) -> None:
    users = UserService(db, SUITE_CLOCK)
    if users.get_user(username) is None:
        users.create_user(username, password, Role(role), actor="test", interface=interface)


def token_for(db: Database, username: str, role: Role | str, *,
              interface: str | None = None) -> str:
    """A bearer token of ``username`` (created with ``role`` when missing)."""
    ensure_user(db, username, role, interface=interface)
    result = UserService(db, SUITE_CLOCK).login(username, PASSWORD)
    assert result is not None
    return result[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
