"""What one run of the suite covers (``HOTLINE_TEST_SCOPE``, set per clock run by
tests/clock_runs.py), and the order its tests run in.

* ``full`` (today's run): every test. The calls through the real Asterisk and the browser
  sessions run on PostgreSQL, the production database; those marked ``sqlite_calls`` (the
  `make run` path, and the console and desk calls) also on SQLite. The data layer itself is
  tested on both databases by the fast tests.
* ``clock`` (the other moments of the suite's clock): every fast test that can reach the
  suite's clock, on both databases, and the calls marked ``every_clock``. A test that cannot
  reach it gives the same result at every moment, so it runs once, in ``full``.

Whether a test can reach the suite's clock is read from the source, conservatively: its module,
the conftest files above it (the root one aside: its clock-reading fixtures are named below)
and the ``tests.*`` modules these import, transitively (tests/support.py aside: it defines the
clock and the ports, and a module that uses the clock names it). One of ``CLOCK_WORDS``
anywhere in them (the suite's clock, the fixtures and helpers that hand it on, an app, a
`hotline` subprocess, which reads ``HOTLINE_CLOCK_START``) and the test counts as reaching it.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]
SCOPES = ("full", "clock")
SLOW_FIXTURES = frozenset({"pbx", "live_server", "harness", "harness_at", "browser"})
SLOW_MARKERS = ("asterisk", "browser", "kannel")
CLOCK_WORDS = re.compile(
    r"SUITE_|ivr_support|harness|live_server|create_app|clock_of|make_clock|HOTLINE_CLOCK"
    r"|serving_app|\bpbx\b|with_name\(\"hotline\"\)")
_TEST_IMPORT = re.compile(r"^\s*(?:from|import)\s+(tests(?:\.\w+)+)", re.MULTILINE)


def scope() -> str:
    chosen = os.environ.get("HOTLINE_TEST_SCOPE", "") or "full"
    if chosen not in SCOPES:
        raise pytest.UsageError(f"HOTLINE_TEST_SCOPE={chosen!r}: choose one of {SCOPES}")
    return chosen


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
def source_reaches_clock(path: Path, _seen: frozenset[Path] = frozenset()) -> bool:
    """Whether ``path`` or a ``tests.*`` module it imports (transitively) names the clock."""
    text = path.read_text(encoding="utf-8")
    if CLOCK_WORDS.search(text):
        return True
    seen = _seen | {path}
    for name in _TEST_IMPORT.findall(text):
        imported = _module_file(name)
        if name == "tests.support" or imported is None or imported in seen:
            continue
        if source_reaches_clock(imported, seen):
            return True
    return False


def reaches_clock(path: Path) -> bool:
    files = [path] + [folder / "conftest.py" for folder in path.parents
                      if TESTS_DIR in folder.parents and (folder / "conftest.py").is_file()]
    return any(source_reaches_clock(f.resolve()) for f in files)


def in_scope(item: pytest.Item, chosen: str) -> bool:
    on_sqlite = _database_of(item) == "sqlite"
    if chosen == "clock":
        if slow(item):
            return item.get_closest_marker("every_clock") is not None and not on_sqlite
        return reaches_clock(Path(str(item.fspath)).resolve())
    if not slow(item):
        return True
    return not on_sqlite or item.get_closest_marker("sqlite_calls") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keeps the tests of this run's scope, then puts the calls through the real Asterisk (and
    the browser sessions) first: they take a minute each, so when they start first the
    parallel workers finish together instead of one worker running a long call test alone at
    the end (the same order in every worker; tests/clock_runs.py hands them out two at a
    time, ``--maxschedchunk 2``, so that they spread over the workers)."""
    chosen = scope()
    kept = [item for item in items if in_scope(item, chosen)]
    dropped = [item for item in items if not in_scope(item, chosen)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    kept.sort(key=lambda item: not slow(item))
    items[:] = kept
