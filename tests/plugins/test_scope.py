"""The suite's scopes (tests/plugins/scope.py): which tests run at the other moments of the
suite's clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugins import scope

TESTS = scope.TESTS_DIR


def test_a_test_that_names_the_clock_reaches_it(tmp_path: Path) -> None:
    direct = tmp_path / "test_direct.py"
    direct.write_text("from tests.support import SUITE_CLOCK\n", encoding="utf-8")
    assert scope.source_reaches_clock(direct)
    plain = tmp_path / "test_plain.py"
    plain.write_text("from tests.support import PORT_BASE\n\ndef test_x() -> None: ...\n",
                     encoding="utf-8")
    assert not scope.source_reaches_clock(plain)


def test_the_clock_is_followed_through_the_test_helpers_imported() -> None:
    # tests/unit/fake_ami.py stamps its events with the suite's clock, so every test of the
    # fake AMI reaches it; the ivr helpers build services on it
    assert scope.reaches_clock(TESTS / "unit" / "test_agi.py")
    assert scope.reaches_clock(TESTS / "unit" / "test_menu_nodes.py")
    # the security conftest builds apps: every security test reaches it
    assert scope.reaches_clock(TESTS / "security" / "test_login_limiter.py")


def test_tests_pinned_to_their_own_dates_run_once() -> None:
    # the knowledge base tests serve the base as on the quality floor's own date
    assert not scope.reaches_clock(TESTS / "kb" / "test_quality_floor.py")
    assert not scope.reaches_clock(TESTS / "kb" / "test_encoder.py")
    assert not scope.reaches_clock(TESTS / "plugins" / "test_skip_policy.py")


def test_an_unknown_scope_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_TEST_SCOPE", "most")
    with pytest.raises(pytest.UsageError, match="choose one of"):
        scope.scope()
    monkeypatch.setenv("HOTLINE_TEST_SCOPE", "")
    assert scope.scope() == "full"
