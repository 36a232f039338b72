"""Which tests read the suite's clock: recorded in today's run, read by the other moments' runs.

A test that never reads the suite's clock (tests/support.py: the running clock every app,
`Settings()` and fixture of the suite is built on) takes the same path at any moment, so the runs
at the other moments (tests/clock_runs.py) need only the tests that read it. Today's run, with
``HOTLINE_TEST_CLOCK_RECORD`` set to a folder, records them there (one file per xdist worker):

* ``tests``: the node ids of tests during whose setup, call or teardown the clock was read
  (threads included: a live server's request handler reads it while its test runs);
* ``fixtures``: the fixtures whose setup read it (a module or session fixture is set up once,
  in one test, but every test that uses it gets what it built), each by where it is defined
  and its name (``fixture_key``: a module's own ``kb`` fixture is not the one of another).
  Only reads by the thread setting the fixture up, or by a thread started since its setup
  began (a live server it starts), count: a thread left running by an earlier test that reads
  the clock meanwhile says nothing of the fixture (such reads once recorded ``tmp_path``, so
  that every test using it ran at every moment); those threads are named in ``strays``;
* ``files``: the test modules and helpers that read it while no test ran (at import).

The later runs (``HOTLINE_TEST_CLOCK_READERS`` naming that folder) take a fast test when it is
among ``tests``, uses one of ``fixtures``, lives in one of ``files``, or names the suite's moment
in its source (tests/plugins/scope.py: a value computed from it at import, or a `hotline`
subprocess, which reads the clock in a process of its own).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ivr.clock import RunningClock

RECORD_ENV = "HOTLINE_TEST_CLOCK_RECORD"
READERS_ENV = "HOTLINE_TEST_CLOCK_READERS"


@dataclass
class Readers:
    tests: set[str] = field(default_factory=set)
    fixtures: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    strays: set[str] = field(default_factory=set)  # threads of earlier tests (not used after)

    def to_json(self) -> dict[str, list[str]]:
        return {"tests": sorted(self.tests), "fixtures": sorted(self.fixtures),
                "files": sorted(self.files), "strays": sorted(self.strays)}

    def add(self, other: dict[str, Any]) -> None:
        self.tests.update(other.get("tests", ()))
        self.fixtures.update(other.get("fixtures", ()))
        self.files.update(other.get("files", ()))
        self.strays.update(other.get("strays", ()))

    def covers(self, item: pytest.Item) -> bool:
        relative = _relative(Path(str(item.fspath)), item.config.rootpath)
        return (item.nodeid in self.tests or relative in self.files
                or bool(fixtures_of(item) & self.fixtures))


@dataclass(frozen=True)
class Setup:
    """A fixture being set up: by which thread, and the threads already running then."""

    key: str
    thread: threading.Thread
    before: frozenset[threading.Thread]

    def read_by(self, thread: threading.Thread) -> bool:
        """Whether a read by ``thread`` belongs to this setup (not to a thread that was
        running before it began, left by an earlier test)."""
        return thread is self.thread or thread not in self.before


class Recorder:
    """Notes who reads the clock: the running test, the fixtures being set up, or (outside
    any test) the test files on the stack."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.readers = Readers()
        self.current: str | None = None
        self.fixtures: list[Setup] = []
        self._lock = threading.Lock()

    def setting_up(self, key: str) -> None:
        """A fixture's setup begins (pytest's thread)."""
        self.fixtures.append(Setup(key, threading.current_thread(),
                                   frozenset(threading.enumerate())))

    def set_up(self) -> None:
        self.fixtures.pop()

    def read(self) -> None:
        thread = threading.current_thread()
        with self._lock:
            if self.current is not None:
                self.readers.tests.add(self.current)
            for setup in self.fixtures:
                if setup.read_by(thread):
                    self.readers.fixtures.add(setup.key)
                else:
                    self.readers.strays.add(thread.name)
            if self.current is None and not self.fixtures:
                self.readers.files.update(_test_files_on_stack(self.root))


def fixture_key(fixturedef: pytest.FixtureDef[Any]) -> str:
    """A fixture by where it is defined and its name (``tests/kb/test_x.py::kb``; a root
    conftest's has no folder): two modules' fixtures of one name are two fixtures."""
    return f"{fixturedef.baseid}::{fixturedef.argname}"


def fixtures_of(item: pytest.Item) -> set[str]:
    """The fixtures a test uses, by ``fixture_key`` (the definition that applies to it: the
    closest one of those that bear its name)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return set()
    return {fixture_key(defs[-1]) for defs in info.name2fixturedefs.values() if defs}


def _relative(path: Path, root: Path) -> str:
    path = path.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _test_files_on_stack(root: Path) -> set[str]:
    """The test modules and conftest files being executed (imported) when the clock is read
    outside any test; a helper module read at import is named in their source (scope.py)."""
    found: set[str] = set()
    frame: Any = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_absolute() and (path.name.startswith("test_") or path.name == "conftest.py"):
            found.add(_relative(path, root))
        frame = frame.f_back
    return found


def load_readers(folder: Path) -> Readers | None:
    """What today's run recorded in ``folder``; None when it recorded nothing."""
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        return None
    readers = Readers()
    for path in files:
        readers.add(json.loads(path.read_text(encoding="utf-8")))
    return readers


_recorder: Recorder | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _recorder
    if not os.environ.get(RECORD_ENV) or _recorder is not None:
        return
    recorder = _recorder = Recorder(config.rootpath.resolve())
    original = RunningClock.__call__

    def reading(self: RunningClock) -> Any:
        recorder.read()
        return original(self)

    RunningClock.__call__ = reading  # type: ignore[method-assign]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    if _recorder is not None:
        _recorder.current = item.nodeid
    try:
        yield
    finally:
        if _recorder is not None:
            _recorder.current = None


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Generator[None, None, None]:
    if _recorder is not None:
        _recorder.setting_up(fixture_key(fixturedef))
    try:
        yield
    finally:
        if _recorder is not None:
            _recorder.set_up()


def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = os.environ.get(RECORD_ENV)
    if _recorder is None or not folder:
        return
    # each xdist worker writes its own file; the controller runs no test, but it imports the
    # test modules too, and writes what they read at import
    name = os.environ.get("PYTEST_XDIST_WORKER", "") or "main"
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{name}.json").write_text(json.dumps(_recorder.readers.to_json(), indent=1),
                                         encoding="utf-8")
