"""What one run of the suite covers (``HOTLINE_TEST_SCOPE``, set per clock run by
tests/clock_runs.py), and the order its tests run in.

* ``full`` (today's run): every test. The calls through the real Asterisk and the browser
  sessions run on PostgreSQL, the production database; those marked ``sqlite_calls`` (the
  `make run` path, and the console and desk calls) also on SQLite, at today's moment only
  (the calls that pin each of the suite's moments, ``suite_moment``, pin the named ones on
  PostgreSQL). The data layer itself is tested on both databases by the fast tests.
* ``clock`` (the other moments of the suite's clock): every fast test that reads the suite's
  clock, on both databases; no call (those that must work at every moment pin it in today's
  run). A test that does not read the clock
  gives the same result at every moment, so it runs once, in ``full``. Neither does a test
  marked ``clock_independent``: it reads the clock (building an app does) but what it
  asserts cannot depend on the moment (who may use a route; that answers match the OpenAPI
  document, whose dated behaviour the domains' own tests check at every moment).

Which tests read the clock is recorded in today's run (tests/plugins/clock_readers.py: the
tests, fixtures and modules during which the running clock was read) and, added to that, read
from the source: a test whose module, conftest files or ``tests.*`` helpers (transitively; the
root conftest and tests/support.py aside, which define the clock) name the suite's moment
(``NAMES_MOMENT``: a value computed from it, a `hotline` subprocess, which reads
``HOTLINE_CLOCK_START`` in a process of its own). Without a record (a run of one moment alone)
the source decides, with the wider ``CLOCK_WORDS`` (anything that builds an app or a service
on the clock).

``HOTLINE_TEST_DATABASES`` (``sqlite``, ``postgresql`` or both, comma-separated; both when
unset) narrows a ``clock`` run to the tests of those databases (and those of none): the other
moments' runs share the two databases out (tests/clock_runs.py ``MOMENT_DATABASES``).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import pytest

from tests.plugins.clock_readers import READERS_ENV, Readers, load_readers

TESTS_DIR = Path(__file__).resolve().parents[1]
SCOPES = ("full", "clock")
DATABASES_ENV = "HOTLINE_TEST_DATABASES"
DATABASES = ("sqlite", "postgresql")
SLOW_FIXTURES = frozenset({"pbx", "live_server", "harness", "harness_at", "browser"})
SLOW_MARKERS = ("asterisk", "browser", "kannel")
CLOCK_WORDS = re.compile(
    r"SUITE_|ivr_support|harness|live_server|create_app|clock_of|make_clock|HOTLINE_CLOCK"
    r"|serving_app|\bpbx\b|with_name\(\"hotline\"\)")
# names of the suite's moment itself: a value computed from it, or a process of its own on it
# (not the suite's clock: its every read in the test process is recorded, threads included,
# and at import with the test files importing; helpers compute from the moment through
# tests/support.py suite_start(), which reads it)
NAMES_MOMENT = re.compile(
    r"SUITE_START|HOTLINE_CLOCK|HOTLINE_TEST_CLOCK|serving_app|serve_env"
    r"|with_name\(\"hotline\"\)")
_TEST_IMPORT = re.compile(r"^\s*(?:from|import)\s+(tests(?:\.\w+)+)", re.MULTILINE)


def scope() -> str:
    chosen = os.environ.get("HOTLINE_TEST_SCOPE", "") or "full"
    if chosen not in SCOPES:
        raise pytest.UsageError(f"HOTLINE_TEST_SCOPE={chosen!r}: choose one of {SCOPES}")
    return chosen


def databases() -> frozenset[str]:
    """The databases whose tests a ``clock`` run takes (``HOTLINE_TEST_DATABASES``)."""
    named = {d.strip() for d in os.environ.get(DATABASES_ENV, "").split(",") if d.strip()}
    unknown = named - set(DATABASES)
    if unknown:
        raise pytest.UsageError(f"{DATABASES_ENV}: unknown database(s) {sorted(unknown)}; "
                                f"choose from {DATABASES}")
    return frozenset(named or DATABASES)


def slow(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    marked = any(item.get_closest_marker(name) is not None for name in SLOW_MARKERS)
    return marked or bool(names & SLOW_FIXTURES)


def _database_of(item: pytest.Item) -> str | None:
    """The database kind a test runs on: the parameter of ``db_url`` or of the console's
    ``live_server`` (tests/callcenter/conftest.py)."""
    callspec = getattr(item, "callspec", None)
    for fixture in ("db_url", "live_server"):
        param = callspec.params.get(fixture) if callspec is not None else None
        if isinstance(param, str):
            return param
    return None


def _module_file(name: str) -> Path | None:
    base = TESTS_DIR.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def source_reaches_clock(path: Path, _seen: frozenset[Path] = frozenset(),
                         words: re.Pattern[str] = CLOCK_WORDS) -> bool:
    """Whether ``path`` or a ``tests.*`` module it imports (transitively) names the clock."""
    text = path.read_text(encoding="utf-8")
    if words.search(text):
        return True
    seen = _seen | {path}
    for name in _TEST_IMPORT.findall(text):
        imported = _module_file(name)
        if name == "tests.support" or imported is None or imported in seen:
            continue
        if source_reaches_clock(imported, seen, words):
            return True
    return False


def reaches_clock(path: Path, words: re.Pattern[str] = CLOCK_WORDS) -> bool:
    files = [path] + [folder / "conftest.py" for folder in path.parents
                      if TESTS_DIR in folder.parents and (folder / "conftest.py").is_file()]
    return any(source_reaches_clock(f.resolve(), words=words) for f in files)


@functools.cache
def recorded_readers() -> Readers | None:
    folder = os.environ.get(READERS_ENV, "")
    return load_readers(Path(folder)) if folder else None


def reads_clock(item: pytest.Item) -> bool:
    """Whether a fast test reads the suite's clock: by today's record, and by its source."""
    path = Path(str(item.fspath)).resolve()
    readers = recorded_readers()
    if readers is None:
        return reaches_clock(path)
    return readers.covers(item) or reaches_clock(path, NAMES_MOMENT)


def _named_moment(item: pytest.Item) -> bool:
    """Whether a call runs at one of the suite's named moments (the ``suite_moment`` fixture,
    tests/conftest.py), not today's."""
    callspec = getattr(item, "callspec", None)
    moment = callspec.params.get("suite_moment") if callspec is not None else None
    return moment not in (None, "today")


def in_scope(item: pytest.Item, chosen: str,
             among: frozenset[str] = frozenset(DATABASES)) -> bool:
    database = _database_of(item)
    on_sqlite = database == "sqlite"
    if chosen == "clock":
        if item.get_closest_marker("clock_independent") is not None or slow(item):
            return False
        if database is not None and database not in among:
            return False
        return reads_clock(item)
    if not slow(item):
        return True
    if on_sqlite:
        return item.get_closest_marker("sqlite_calls") is not None and not _named_moment(item)
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keeps the tests of this run's scope, then puts the calls through the real Asterisk
    (and the browser sessions) first: they take a minute each, so when they
    start first the parallel workers finish together instead of one worker running a long
    call test alone at the end (the same order in every worker; tests/clock_runs.py hands
    them out two at a time, ``--maxschedchunk 2``, so that they spread over the workers)."""
    chosen, among = scope(), databases()
    kept = [item for item in items if in_scope(item, chosen, among)]
    dropped = [item for item in items if not in_scope(item, chosen, among)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    kept.sort(key=lambda item: not slow(item))
    items[:] = kept
