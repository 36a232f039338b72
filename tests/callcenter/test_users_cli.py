"""`hotline users create`: the first admin, no default password, clear refusals (on SQLite and
PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from callcenter.auth.models import Role
from callcenter.auth.services import UserService
from callcenter.db import Database
from tests.support import SUITE_CLOCK

# who may be created, with which password, does not depend on the date: today's moment
# only (about 23 CPU-s of `hotline` processes at each other moment)
pytestmark = pytest.mark.clock_independent

HOTLINE = str(Path(sys.executable).with_name("hotline"))


def run(args: list[str], stdin: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HOTLINE, "users", "create", *args], input=stdin, text=True,
                          capture_output=True, env=env, timeout=120, check=False)


def test_users_create_makes_the_first_admin(db_url: str, clean_users: Database) -> None:
    env = {**os.environ, "HOTLINE_DATABASE_URL": db_url}
    short = run(["boss", "--password-stdin"], "short\n", env)
    assert short.returncode == 1
    assert "密码至少需要10个字符" in short.stderr
    named = run(["boss", "--password-stdin"], "boss-boss-boss\n", env)
    assert named.returncode == 1
    assert "密码不能包含用户名" in named.stderr
    bad_name = run(["bad name", "--password-stdin"], "long-enough-1\n", env)
    assert bad_name.returncode == 2
    created = run(["boss", "--password-stdin"], "long-enough-1\n", env)
    assert created.returncode == 0, created.stderr
    assert "created admin boss" in created.stdout
    again = run(["boss", "--password-stdin"], "long-enough-1\n", env)
    assert again.returncode == 1
    assert "已存在" in again.stderr
    agent = run(["agent9", "--role", "agent", "--interface", "PJSIP/agent3",
                 "--password-stdin"], "long-enough-2\n", env)
    assert agent.returncode == 0, agent.stderr
    users = UserService(clean_users, SUITE_CLOCK)
    boss = users.get_user("boss")
    assert boss is not None
    assert boss.role is Role.ADMIN
    assert users.login("boss", "long-enough-1") is not None
    assert users.login("boss", "wrong-password") is None
    stored = users.get_user("agent9")
    assert stored is not None
    assert stored.interface == "PJSIP/agent3"
