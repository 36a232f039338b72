"""Acceptance: PostgreSQL stopped for 60 s while 10 calls run through the real Asterisk; once it
is back, all 10 contacts are there, complete, none twice (the contact spool, docs/architecture.md
"Nothing lost").

The test starts its own PostgreSQL (``initdb`` and ``pg_ctl`` in a temporary directory, on a
port of this run's block, listening on 127.0.0.1 only), never the machine's shared one.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.contacts.services import ContactFilters, ContactService
from callcenter.db import Database
from callcenter.migrate import upgrade
from ivr.menu.schema import Menu
from ivr.pbx.sandbox import AsteriskSandbox
from ivr.pbx.sipp import Dtmf, Pause, Step
from tests.conftest import Harness, _unavailable, kinds
from tests.support import CALL_LIMIT_S, PORT_BASE, TEST_PORTS

pytestmark = pytest.mark.asterisk

PG_PORT = PORT_BASE + 380
OUTAGE_S = 60
CALLS = 10
# the FAQ path of tests/test_calls.py: 1 consultation -> 1 VAT -> 1 an answer, survey, goodbye
FAQ_STEPS: list[Step] = [Pause(7000), Dtmf("111", mode="info", gap_ms=1500)]


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (binaries found under /usr/lib/postgresql)."""

    def __init__(self, port: int) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                       key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit()
                       else 0)
        if not found:
            _unavailable("PostgreSQL server binaries", "no /usr/lib/postgresql/*/bin/pg_ctl")
        self.bin = Path(found[-1]).parent
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        # PostgreSQL refuses to run as root: as root, the cluster belongs to "postgres"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                _unavailable("a postgres user to run the test's PostgreSQL", "none")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", "60", "start", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "stop",
                  "-m", mode)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def spool_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres(PG_PORT)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.remove()


async def test_ten_calls_through_a_60_s_database_outage_lose_nothing(
        pbx: AsteriskSandbox, menu: Menu, private_pg: PrivatePostgres, tmp_path: Path) -> None:
    url = private_pg.create_database("hotline")
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    contacts = ContactService(db)
    h = Harness(pbx, contacts, menu, spool_dir=tmp_path / "spool")
    await h.start()
    try:
        await asyncio.to_thread(private_pg.stop)
        callers = [f"139000003{n:02d}" for n in range(CALLS)]
        loop = asyncio.get_running_loop()
        # the database stays down for OUTAGE_S, or until the calls and their events are done
        outage = loop.create_task(asyncio.sleep(OUTAGE_S))
        # the SIPp callers get threads of their own: in the default executor (cpu + 4
        # threads) they would starve the bridge's own work there (answer audio, the writer)
        with ThreadPoolExecutor(CALLS, thread_name_prefix="sipp") as pool:
            results = await asyncio.gather(*(
                # (about 62 s of audio and timeouts; CI's load once played it at half speed)
                loop.run_in_executor(pool, h.sipp.call, FAQ_STEPS, TEST_PORTS.sip + 20 + n,
                                     caller, "12366", CALL_LIMIT_S)
                for n, caller in enumerate(callers)))
        failed = {caller: r.stderr[-300:] for caller, r in zip(callers, results, strict=True)
                  if not r.ok}
        await outage
        await asyncio.sleep(2)  # the last hang-ups' events
        await h.log.persisted()
        # every event of the 10 calls, from start to end, waits on disk in the spool
        health = h.log.health()
        assert health["written"] == 0
        spooled = spool_records(Path(str(health["path"])))
        assert len(spooled) == health["depth"]
        ends = Counter(r["kind"] for r in spooled)
        if not failed:  # (failed calls: their timelines are shown below)
            assert ends["call_started"] == CALLS, ends
            assert ends["call_ended"] == CALLS, ends

        await asyncio.to_thread(private_pg.start)
        await asyncio.wait_for(h.log.flush(), 120)
        assert h.log.health()["depth"] == 0
        if failed:  # what the callers that failed went through, once it can be read
            timelines = {}
            for caller in failed:
                _total, rows = await asyncio.to_thread(contacts.search,
                                                       ContactFilters(caller=caller), 5, 0)
                found = [contacts.get(row.id) for row in rows]
                timelines[caller] = [[(f"{e.at:%H:%M:%S.%f}", e.kind, e.data) for e in c.events]
                                     for c in found if c is not None]
            raise AssertionError(f"SIPp callers failed: {failed}\ntimelines: {timelines}")
        assert h.log.written == len(spooled)
        for caller in callers:
            total, rows = await asyncio.to_thread(contacts.search,
                                                  ContactFilters(caller=caller), 5, 0)
            assert total == 1, f"{caller}: {total} contacts"
            contact = contacts.get(rows[0].id)
            assert contact is not None
            assert contact.ended_at is not None
            assert contact.outcome == "self_service", (caller, kinds(contact))
            assert kinds(contact)[0] == "call_started"
            assert kinds(contact)[-1] == "call_ended"
            once = Counter(kinds(contact))
            assert once["call_started"] == 1
            assert once["call_ended"] == 1
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(Contact)) == CALLS
            stored = session.scalar(select(func.count()).select_from(ContactEventRow))
            keys = session.scalar(select(func.count(func.distinct(ContactEventRow.event_key))))
        assert stored == keys == h.log.written
    finally:
        if not private_pg.running():  # a failure during the outage: stop on a live database
            await asyncio.to_thread(private_pg.start)
        await asyncio.wait_for(h.stop(), 120)
        db.dispose()
