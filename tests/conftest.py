"""Fixtures: real PostgreSQL and SQLite databases, the real sandboxed Asterisk, a live bridge."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import delete

from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.contacts.services import ContactFilters, ContactLog, ContactService
from callcenter.db import Database
from callcenter.migrate import upgrade
from callcenter.settings import PROJECT_ROOT
from ivr.ami.client import AmiClient, AmiError
from ivr.bridge import IvrBridge
from ivr.menu.loader import load_menu
from ivr.menu.schema import Menu
from ivr.pbx.sandbox import AsteriskSandbox, SandboxError
from ivr.pbx.sipp import SippResult, SippRunner, Step, phones_running
from ivr.services import IvrServices
from tests.ivr_support import agents_in_moment, make_ivr_services
from tests.plugins.scope import scope
from tests.support import (
    CALL_LIMIT_S,
    NAMED_MOMENTS,
    SUITE_CLOCK,
    SUITE_START,
    TEST_PORTS,
    create_pg_database,
    driver_ami,
    drop_pg_database,
    in_ci,
    make_test_sandbox,
    sandbox_unsupported,
    sqlite_url,
)

pytest_plugins = ["tests.plugins.clock_readers", "tests.plugins.scope", "tests.plugins.skip_policy",
                  "tests.plugins.summary"]
MENU_FILE = PROJECT_ROOT / "ivr" / "menus" / "12366.yaml"


def pytest_configure(config: pytest.Config) -> None:
    # every Settings() and `hotline` subprocess of the suite runs on the suite's clock, not
    # the wall clock (a test that needs another moment sets its own)
    os.environ["HOTLINE_CLOCK_START"] = SUITE_START.isoformat()
    # the contact spool of every app and `hotline` subprocess of this pytest process (one
    # directory each: no worker takes over another's spool), never the checkout's var/spool
    os.environ["HOTLINE_SPOOL_DIR"] = tempfile.mkdtemp(prefix="hotline-spool-")
    # the health reports of the suite's apps and `hotline serve` processes wait up to 30 s for
    # the database (3 s deployed): a test asserts what the report says, and a new PostgreSQL
    # connection took over 3 s beside eleven other workers (a 503 in a check); the timeout
    # itself: tests/callcenter/test_health_database.py
    os.environ["HOTLINE_HEALTH_DB_TIMEOUT_S"] = "30"
    set_browser_expect_timeout()
    gc.set_threshold(*GC_THRESHOLDS)


# Python's cyclic garbage collector took 8-10 % of a test process's CPU (tests/stats and
# tests/kb in one process: 8.0-8.7 of 80-96 CPU-s, three quarters of it in 27 full
# collections, each walking every object the imports made). With the modules frozen after
# collection (``gc.freeze``: the collector leaves them out) and these thresholds (700, 10,
# 10 by default): 3.0-3.3 s, in 14 full collections. Refcounting still frees every object
# outside a cycle at once; a cycle lives a little longer.
GC_THRESHOLDS = (50_000, 20, 100)


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()


BROWSER_EXPECT_MS = 20_000


def set_browser_expect_timeout(ms: int = BROWSER_EXPECT_MS) -> None:
    """Playwright's ``expect`` waits 5 s by default; the browser tests run beside real calls
    on two cores, where a page's few requests in a row took longer (CI: a saved review's
    status still empty after 5 s). Both the sync and the async ``expect``."""
    try:
        from playwright.async_api import expect as async_expect
        from playwright.sync_api import expect as sync_expect
    except ImportError:  # no browser tests without playwright (they skip, or fail in CI)
        return
    sync_expect.set_options(timeout=ms)
    async_expect.set_options(timeout=ms)


def pytest_report_header(config: pytest.Config) -> str:
    run = os.environ.get("HOTLINE_TEST_CLOCK_RUN", "")
    return (f"suite clock: {SUITE_START.isoformat()}" + (f" (run {run!r})" if run else "")
            + f", scope {scope()!r} (tests/plugins/scope.py)")


def _unavailable(what: str, reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{what} is required in CI but unavailable: {reason}", pytrace=False)
    pytest.skip(f"{what} unavailable: {reason}")


DATABASES = ["sqlite", "postgresql"]


@contextlib.contextmanager
def fresh_database(kind: str, directory: Path) -> Iterator[str]:
    """A new database at head: a SQLite file in ``directory`` or a throw-away PostgreSQL
    database (dropped on exit); yields its URL."""
    if kind == "sqlite":
        url = sqlite_url(directory)
        upgrade(url)
        yield url
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database kind {kind!r}")
    try:
        url, name = create_pg_database()
    except Exception as exc:
        _unavailable("PostgreSQL at 127.0.0.1:5432", str(exc).splitlines()[0])
    try:
        upgrade(url)
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture(autouse=True)
def _phones_switched_off() -> Iterator[None]:
    """A SIPp phone a test started and left on (it failed before its wind-down) is stopped
    after it: left on its port, it failed the next tests of that worker ("held already")."""
    before = phones_running()
    yield
    for proc in phones_running() - before:
        SippRunner.stop(proc)


@pytest.fixture(scope="session", params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    yield db
    db.dispose()


@pytest.fixture
def contacts(database: Database) -> ContactService:
    with database.transaction() as session:
        session.execute(delete(ContactEventRow))
        session.execute(delete(Contact))
    return ContactService(database)


@pytest.fixture(scope="session")
def pbx() -> Iterator[AsteriskSandbox]:
    reason = sandbox_unsupported()
    if reason:
        _unavailable("the Asterisk sandbox", reason)
    sandbox = make_test_sandbox()
    try:
        sandbox.start()
    except SandboxError as exc:
        _unavailable("the Asterisk sandbox", str(exc))
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def menu() -> Menu:
    return load_menu(MENU_FILE)


class Harness:
    """A live bridge on the test Asterisk, with helpers to place calls and read contacts."""

    def __init__(self, pbx: AsteriskSandbox, contacts: ContactService, menu: Menu,
                 services: IvrServices | None = None, spool_dir: Path | None = None) -> None:
        self.pbx = pbx
        self.contacts = contacts
        # pings every 2 s, a connection declared half-open after 3 Pongs in a row missing 6 s
        # with nothing else received: on a loaded 2-core machine a 2 s limit reconnected
        # healthy connections mid-call
        self.ami = AmiClient("127.0.0.1", TEST_PORTS.ami, pbx.credentials.ami_user,
                             pbx.credentials.ami_secret, ping_interval=2.0, ping_timeout=6.0,
                             backoff_initial=0.2, backoff_max=2.0, event_filter=True)
        # the test's own hands (Originate, hanging everything up): the driver account
        self.driver = driver_ami(ping_interval=2.0, ping_timeout=6.0, backoff_initial=0.2,
                                 backoff_max=2.0)
        self.log = ContactLog(contacts, spool_dir)
        # the menu's self-services: demo data, knowledge base, a clock within service hours
        self.services = services or make_ivr_services(contacts.db, pbx.recordings_dir)
        self.bridge = IvrBridge(self.ami, lambda: menu, self.log, resume_timeout=30,
                                services=self.services)
        self.sipp = SippRunner(pbx.root, TEST_PORTS.sip)
        self._agents: list[Any] = []
        # SIPp callers block a thread each for the whole call: their own threads, so that the
        # bridge's own work in the default executor (answer audio, the contact writer) never
        # waits behind them (it has 6 threads on 2 cores)
        self._callers = ThreadPoolExecutor(16, thread_name_prefix="sipp-caller")
        self._members: list[tuple[str, str]] = []

    async def start(self) -> None:
        self.log.start()
        await self.ami.start()
        await self.driver.start()
        await self.ami.wait_ready(20)
        await self.driver.wait_ready(20)
        # the worker's Asterisk outlives the test, and so does its AstDB: a `hotline serve` of
        # an earlier test pushed its queues' keys (recording on: the notice played before the
        # queue; overflow). Each harness test starts from none, as on a fresh sandbox.
        with contextlib.suppress(AmiError):  # "not found": there were none
            await self.driver.send_action({"Action": "DBDelTree", "Family": "hotline"})

    async def call(self, steps: list[Step], local_port: int, number: str = "13800138000",
                   service: str = "12366", timeout_s: int = CALL_LIMIT_S) -> SippResult:
        """Place one SIPp call (on the callers' own threads) and wait for it to end."""
        return await asyncio.get_running_loop().run_in_executor(
            self._callers, self.sipp.call, steps, local_port, number, service, timeout_s)

    async def stop(self) -> None:
        for queue, member in self._members:
            with contextlib.suppress(AmiError):
                await self.ami.send_action({"Action": "QueueRemove", "Queue": queue,
                                            "Interface": member})
        with contextlib.suppress(AmiError):
            await self.driver.send_action({"Action": "Command",
                                           "Command": "channel request hangup all"})
        for proc in self._agents:
            self.sipp.stop(proc)
        await asyncio.sleep(0.3)
        await self.log.flush()
        await self.ami.close()
        await self.driver.close()
        await self.log.close()
        self._callers.shutdown(wait=False, cancel_futures=True)

    async def add_agent(self, n: int, queue: str = "consult", ring_ms: int = 500,
                        talk_ms: int = 3000, calls: int = 1, speaks: bool = False,
                        sends_silence: bool = False) -> Any:
        proc = self.sipp.start_agent(TEST_PORTS.agent(n), ring_ms=ring_ms, talk_ms=talk_ms,
                                     calls=calls, speaks=speaks, sends_silence=sends_silence)
        self._agents.append(proc)
        member = f"PJSIP/agent{n}"
        response = await self.ami.send_action({"Action": "QueueAdd", "Queue": queue,
                                               "Interface": member,
                                               "MemberName": f"agent{n}"})
        assert str(response.get("Response")) == "Success", response
        self._members.append((queue, member))
        return proc

    async def local_call(self, caller: str, digits: str = "", wait_s: float = 2,
                         hold_s: float = 60) -> None:
        """A call without SIP: a Local channel whose other leg sends ``digits`` after
        ``wait_s`` seconds and hangs up after ``hold_s`` more."""
        response = await self.driver.send_action({
            "Action": "Originate", "Channel": "Local/12366@hotline",
            "Context": "dtmf-injector", "Exten": "s", "Priority": "1", "Async": "true",
            "CallerID": caller,
            "Variable": [f"DIGITS={digits}", f"WAIT={wait_s}", f"HOLD={hold_s}"],
        })
        assert str(response.get("Response")) == "Success", response

    async def wait_contact(self, caller: str, timeout: float = 90) -> Contact:
        """The ended contact of ``caller`` (with its timeline)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.log.flush()
            _total, rows = await asyncio.to_thread(
                self.contacts.search, ContactFilters(caller=caller), 5, 0)
            ended = [r for r in rows if r.ended_at is not None]
            if ended:
                contact = self.contacts.get(ended[0].id)
                assert contact is not None
                return contact
            await asyncio.sleep(0.3)
        raise AssertionError(f"no ended contact for caller {caller} within {timeout} s")


@pytest.fixture
async def harness(pbx: AsteriskSandbox, contacts: ContactService, menu: Menu
                  ) -> AsyncIterator[Harness]:
    """A live bridge whose clock runs from a moment when agents are in."""
    h = Harness(pbx, contacts, menu)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


HarnessAt = Callable[[datetime], Awaitable[Harness]]


@pytest.fixture
async def harness_at(pbx: AsteriskSandbox, contacts: ContactService, menu: Menu
                     ) -> AsyncIterator[HarnessAt]:
    """``await harness_at(moment)``: a live bridge whose one clock runs from ``moment``
    (a night, a holiday, a make-up workday); stopped after the test."""
    started: list[Harness] = []

    async def start(moment: datetime) -> Harness:
        h = Harness(pbx, contacts, menu,
                    make_ivr_services(contacts.db, pbx.recordings_dir, moment))
        await h.start()
        started.append(h)
        return h

    try:
        yield start
    finally:
        for h in started:
            await h.stop()


@pytest.fixture(params=["today", *NAMED_MOMENTS])
def suite_moment(request: pytest.FixtureRequest) -> datetime:
    """Each of the suite's moments, for the calls that must work at all of them: today's
    (where the suite's clock is now) and the named ones (tests/support.py NAMED_MOMENTS; on
    PostgreSQL only, tests/plugins/scope.py). The calls pin them in today's run; the runs at
    the named moments take no calls (tests/clock_runs.py)."""
    name = str(request.param)
    return SUITE_CLOCK() if name == "today" else NAMED_MOMENTS[name]


@pytest.fixture
async def moment_harness(harness_at: HarnessAt, suite_moment: datetime) -> Harness:
    """The live bridge at 10:00 of the first working day at or after ``suite_moment`` (agents
    in), as ``harness`` is at the suite's own moment."""
    return await harness_at(agents_in_moment(suite_moment))


def kinds(contact: Contact) -> list[str]:
    return [e.kind for e in contact.events]


def events_of(contact: Contact, kind: str) -> list[dict[str, Any]]:
    return [dict(e.data) for e in contact.events if e.kind == kind]


__all__ = ["Harness", "HarnessAt", "Path", "events_of", "kinds"]
