"""The suite's scopes (tests/plugins/scope.py): which tests run at the other moments of the
suite's clock."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.plugins import scope
from tests.plugins.clock_readers import READERS_ENV, RECORD_ENV, load_readers

pytest_plugins = ["pytester"]

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


class Item:
    """What ``scope.in_scope`` reads of a collected test: its file, marks, fixtures and
    parameters."""

    def __init__(self, path: Path, database: str | None = None) -> None:
        self.fspath = path
        self.nodeid = f"{path.relative_to(TESTS.parent)}::test_x"
        self.fixturenames = ["db_url"] if database else []
        self.callspec = type("CallSpec", (), {"params": {"db_url": database}})()

    def get_closest_marker(self, name: str) -> None:
        return None


def test_a_clock_run_takes_the_tests_of_its_databases_and_those_of_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(READERS_ENV, raising=False)
    scope.recorded_readers.cache_clear()
    reader = TESTS / "unit" / "test_agi.py"  # reaches the clock through tests/unit/fake_ami.py
    assert scope.reaches_clock(reader)
    monkeypatch.setenv(scope.DATABASES_ENV, "sqlite")
    among = scope.databases()
    assert among == {"sqlite"}
    taken = {db: scope.in_scope(Item(reader, db), "clock", among)  # type: ignore[arg-type]
             for db in ("sqlite", "postgresql", None)}
    assert taken == {"sqlite": True, "postgresql": False, None: True}
    # today's run takes every test whatever the variable says
    assert scope.in_scope(Item(reader, "postgresql"), "full", among)  # type: ignore[arg-type]
    monkeypatch.setenv(scope.DATABASES_ENV, "")
    assert scope.databases() == {"sqlite", "postgresql"}
    monkeypatch.setenv(scope.DATABASES_ENV, "sqlite,mysql")
    with pytest.raises(pytest.UsageError, match="unknown database"):
        scope.databases()


CLOCK_SUITE = {
    "conftest": """
        import threading
        import time

        import pytest
        from ivr.clock import RunningClock
        from datetime import datetime, timezone

        pytest_plugins = ["tests.plugins.clock_readers", "tests.plugins.scope"]
        CLOCK = RunningClock(datetime(2026, 12, 1, tzinfo=timezone.utc))

        @pytest.fixture(scope="module")
        def stamped():
            return CLOCK()   # read once, in the first test that uses it

        @pytest.fixture
        def clock():
            return CLOCK

        @pytest.fixture
        def served(clock):
            # a server the fixture starts reads the clock in a thread of its own
            seen = []
            worker = threading.Thread(target=lambda: seen.append(clock()))
            worker.start()
            worker.join()
            return seen[0]

        @pytest.fixture
        def slow_plain():
            time.sleep(0.05)   # reads nothing; a thread of an earlier test may, meanwhile
            return 1

        def pytest_configure(config):
            config.addinivalue_line("markers", "clock_independent: read, but not relied on")
    """,
    "test_readers": """
        import threading

        import pytest

        def test_reads(clock):
            assert clock().year == 2026

        def test_reads_in_a_thread(clock):
            worker = threading.Thread(target=clock)
            worker.start()
            worker.join()

        def test_plain(clock):
            assert clock is not None

        def test_first_user(stamped):
            assert stamped.year == 2026

        def test_second_user(stamped):
            assert stamped.year == 2026

        def test_nothing():
            assert 1 + 1 == 2

        def test_served(served):
            assert served.year == 2026

        @pytest.mark.clock_independent
        def test_reads_but_asserts_no_date(clock):
            assert clock() is not None
    """,
    "test_same_name": """
        import pytest

        @pytest.fixture
        def stamped():
            return 2026   # named as the conftest's, which reads the clock; this one does not

        def test_own_stamped(stamped):
            assert stamped == 2026
    """,
    "test_stray": """
        import threading
        import time

        from conftest import CLOCK

        STOP = threading.Event()
        TICKERS = []

        def tick():
            while not STOP.is_set():
                CLOCK()
                time.sleep(0.001)

        def test_leaves_a_thread():
            ticker = threading.Thread(target=tick, name="stray-ticker", daemon=True)
            TICKERS.append(ticker)
            ticker.start()

        def test_plain_fixture(slow_plain):
            STOP.set()
            for ticker in TICKERS:
                ticker.join()
            assert slow_plain == 1

        def test_plain_fixture_again(slow_plain):
            assert slow_plain == 1
    """,
    "test_at_import": """
        from conftest import CLOCK

        STAMP = CLOCK()

        def test_uses_the_stamp():
            assert STAMP.year == 2026
    """,
}


def test_todays_run_records_who_reads_the_clock_and_the_others_run_only_those(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(scope.TESTS_DIR.parent))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest(textwrap.dedent(CLOCK_SUITE["conftest"]))
    pytester.makepyfile(**{name: textwrap.dedent(text) for name, text in CLOCK_SUITE.items()
                           if name != "conftest"})
    record = pytester.path / "readers"
    monkeypatch.setenv(RECORD_ENV, str(record))
    monkeypatch.setenv("HOTLINE_TEST_SCOPE", "full")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=13)
    readers = load_readers(record)
    assert readers is not None
    # a thread left by an earlier test reads the clock during a later one: the later test
    # is taken, not the fixture it was setting up (nor every other test that uses it)
    assert {t.split("::")[1] for t in readers.tests} == {
        "test_reads", "test_reads_in_a_thread", "test_first_user",
        "test_reads_but_asserts_no_date", "test_served", "test_leaves_a_thread",
        "test_plain_fixture"}
    assert readers.fixtures == {"::stamped", "::served"}
    assert readers.strays == {"stray-ticker"}
    assert any(f.endswith("test_at_import.py") for f in readers.files)

    monkeypatch.delenv(RECORD_ENV)
    monkeypatch.setenv(READERS_ENV, str(record))
    monkeypatch.setenv("HOTLINE_TEST_SCOPE", "clock")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    # the tests that neither read the clock nor use what was built from it are left out (a
    # module's own fixture of a reader's name among them), and the one that reads it but is
    # marked as not relying on it
    result.assert_outcomes(passed=8, deselected=5)
    result.stdout.no_fnmatch_line("*test_plain_fixture_again PASSED*")
    result.stdout.no_fnmatch_line("*test_own_stamped PASSED*")
    result.stdout.no_fnmatch_line("*test_plain PASSED*")
    result.stdout.no_fnmatch_line("*test_nothing PASSED*")
    result.stdout.no_fnmatch_line("*test_reads_but_asserts_no_date PASSED*")
    result.stdout.fnmatch_lines(["*test_second_user PASSED*"])
    result.stdout.fnmatch_lines(["*test_uses_the_stamp PASSED*"])


def test_without_a_record_the_source_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTLINE_TEST_CLOCK_READERS", raising=False)
    scope.recorded_readers.cache_clear()
    assert scope.recorded_readers() is None


def test_the_moment_named_in_the_source_takes_a_module_but_the_clock_is_left_to_the_record(
        ) -> None:
    # a module computing a value from the suite's moment itself: no clock read to record
    assert scope.reaches_clock(TESTS / "unit" / "test_outbound_policy.py", scope.NAMES_MOMENT)
    # one that imports helpers using the suite's clock (tests/ivr_support.py): their reads are
    # recorded, so the record decides, test by test
    assert not scope.reaches_clock(TESTS / "unit" / "test_whisper.py", scope.NAMES_MOMENT)

