"""The hash an unknown user's login is checked against (callcenter/auth/services.py): made on
the first such login, not when the module is imported by every process."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_auth_services_hashes_nothing() -> None:
    probe = ("import callcenter.auth.services as s\n"
             "print(s._DUMMY_HASH)\n"
             "first = s._dummy_hash()\n"
             "print(first is s._dummy_hash(), first.startswith('$argon2id$'))\n")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, check=True)
    assert run.stdout.split() == ["None", "True", "True"]


def test_an_unknown_users_password_is_checked_against_it() -> None:
    from callcenter.auth import services

    assert services.verify_password(services._dummy_hash(), "not-a-real-password")
    assert not services.verify_password(services._dummy_hash(), "another-password")
