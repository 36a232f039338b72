"""Nothing lost: events the database refuses wait in a durable spool and are replayed in order;
a replayed or re-derived event is applied once; a poison event is dead-lettered without holding
up the others; the spool outlives the process. On SQLite and PostgreSQL (a real database behind
a wrapper that refuses while it is "down")."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.contacts.services import ContactLog, ContactService
from callcenter.contacts.spool import DEAD_LETTER_FILE, from_line, to_line
from callcenter.db import Database
from ivr.ports import ContactEvent, EventKind

T0 = datetime(2026, 11, 28, 1, 0, 0, tzinfo=UTC)


class FlakyDatabase(Database):
    """A real database that refuses every session while ``down`` (as a PostgreSQL that was
    stopped does), or fails ``lose_acks`` commits after they were made (the connection lost
    between the commit and its answer)."""

    def __init__(self, inner: Database) -> None:
        self.inner = inner
        self.url = inner.url
        self.engine = inner.engine
        self.sessions = inner.sessions
        self.down = False
        self.refused = 0
        self.lose_acks = 0

    def _refuse(self) -> None:
        if self.down:
            self.refused += 1
            raise OperationalError("INSERT INTO contact_events ...", {},
                                   ConnectionRefusedError("the database is down"))

    @contextmanager
    def session(self) -> Iterator[Session]:
        self._refuse()
        with self.inner.session() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        self._refuse()
        with self.inner.transaction() as session:
            yield session
        if self.lose_acks:
            self.lose_acks -= 1
            raise OperationalError("COMMIT", {}, ConnectionResetError("connection lost"))

    def ping(self) -> None:
        self._refuse()
        self.inner.ping()


@pytest.fixture
def flaky(contacts: ContactService) -> FlakyDatabase:
    return FlakyDatabase(contacts.db)


def make_log(flaky: FlakyDatabase, spool_dir: Path | None, delays: list[float] | None = None,
             max_failures: int = 4, max_batch: int = 100, gather_s: float = 0.0
             ) -> ContactLog:
    async def sleep(seconds: float) -> None:
        if delays is not None:
            delays.append(seconds)
        await asyncio.sleep(0.005)  # the backoff itself is not what these tests measure

    return ContactLog(ContactService(flaky), spool_dir, max_failures=max_failures, sleep=sleep,
                      max_batch=max_batch, gather_s=gather_s)


def call(linkedid: str, start: float, caller: str, talk: float = 30.0) -> list[ContactEvent]:
    """A whole answered call's events."""
    at = T0 + timedelta(seconds=start)
    steps: list[tuple[float, EventKind, dict[str, Any]]] = [
        (0, EventKind.CALL_STARTED, {"caller": caller, "channel": f"PJSIP/{caller}-1"}),
        (1, EventKind.MENU_NODE, {"node": "main"}),
        (5, EventKind.QUEUE_JOINED, {"queue": "consult", "position": 1}),
        (9, EventKind.AGENT_CONNECTED, {"queue": "consult", "agent": "agent1",
                                        "hold_time": 4}),
        (9 + talk, EventKind.AGENT_COMPLETED, {"queue": "consult", "agent": "agent1",
                                               "talk_time": talk}),
        (9 + talk, EventKind.CALL_ENDED, {"cause": 16, "cause_txt": "Normal Clearing"}),
    ]
    return [ContactEvent.parse(linkedid, kind, data, at=at + timedelta(seconds=offset))
            for offset, kind, data in steps]


def spool_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("contacts-*.jsonl"))


def spool_lines(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in spool_files(directory)
            for line in path.read_text(encoding="utf-8").splitlines()]


def timeline(contacts: ContactService, linkedid: str) -> list[str]:
    contact = contacts.get_by_linkedid(linkedid)
    assert contact is not None, f"no contact {linkedid}"
    return [e.kind for e in contact.events]


def event_count(contacts: ContactService) -> int:
    with contacts.db.session() as session:
        return session.scalar(select(func.count()).select_from(ContactEventRow)) or 0


async def until(condition: Any, what: str, tries: int = 2000) -> None:
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


KINDS = ["call_started", "menu_node", "queue_joined", "agent_connected", "agent_completed",
         "call_ended"]


async def test_refused_events_are_spooled_in_order_and_replayed_when_the_database_is_back(
        flaky: FlakyDatabase, contacts: ContactService, tmp_path: Path) -> None:
    delays: list[float] = []
    log = make_log(flaky, tmp_path, delays)
    log.start()
    try:
        flaky.down = True
        a, b = call("L-a", 0, "1001"), call("L-b", 2, "1002", talk=12)
        for pair in zip(a, b, strict=True):  # two calls interleaved, as they happen
            for event in pair:
                log.record(event)
        await until(lambda: len(log.spool) == 12, "every event spooled")
        # on disk, in the order recorded, each with its key and an ISO 8601 moment with offset
        lines = spool_lines(tmp_path)
        assert [(r["linkedid"], r["kind"]) for r in lines] == [
            (e.linkedid, str(e.kind)) for pair in zip(a, b, strict=True) for e in pair]
        assert all(datetime.fromisoformat(r["at"]).utcoffset() is not None for r in lines)
        assert len({r["key"] for r in lines}) == 12
        await until(lambda: len(delays) >= 4, "the replay retried")
        assert len(log.spool) == 12
        assert log.written == 0
        # the replay backs off while the database is down
        assert delays[:4] == [0.05, 0.1, 0.2, 0.4]
        assert log.head_failures == 0  # a database that is down is no event's fault
        assert log.health()["depth"] == 12

        flaky.down = False
        await asyncio.wait_for(log.flush(), 30)
        assert log.written == 12
        assert log.failures == 0
        assert log.spooled == 12
        assert timeline(contacts, "L-a") == KINDS
        assert timeline(contacts, "L-b") == KINDS
        contact = contacts.get_by_linkedid("L-b")
        assert contact is not None
        assert contact.outcome == "answered"
        assert contact.talk_seconds == 12.0
        assert contact.queue_wait_seconds == 4.0
        # the spool is emptied once replayed
        assert spool_lines(tmp_path) == []
        assert len(log.spool) == 0
        # and the next event goes straight to the database again
        log.record(ContactEvent.parse("L-c", EventKind.CALL_STARTED, {"caller": "1003"}, at=T0))
        await log.flush()
        assert log.spooled == 12
        assert timeline(contacts, "L-c") == ["call_started"]
    finally:
        await log.close()
    assert not spool_files(tmp_path)  # an empty spool file is removed


async def test_while_the_spool_holds_events_later_ones_of_any_contact_follow_them(
        flaky: FlakyDatabase, contacts: ContactService, tmp_path: Path) -> None:
    log = make_log(flaky, tmp_path)
    log.start()
    try:
        flaky.down = True
        first = ContactEvent.parse("L-a", EventKind.CALL_STARTED, {"caller": "1001"}, at=T0)
        log.record(first)
        await until(lambda: len(log.spool) == 1, "the first event spooled")
        flaky.down = False
        # the database is back, but the spool still holds an event: the next ones queue behind
        later = call("L-a", 0, "1001")[1:] + call("L-b", 1, "1002")
        for event in later:
            log.record(event)
        await asyncio.wait_for(log.flush(), 30)
        assert log.written == 12
        assert timeline(contacts, "L-a") == KINDS
        assert timeline(contacts, "L-b") == KINDS
        with contacts.db.session() as session:  # stored in the order recorded
            keys = list(session.scalars(select(ContactEventRow.kind)
                                        .order_by(ContactEventRow.id)))
        assert keys == KINDS + KINDS
    finally:
        await log.close()


async def test_a_replayed_event_is_applied_once(flaky: FlakyDatabase, contacts: ContactService,
                                                tmp_path: Path) -> None:
    log = make_log(flaky, tmp_path, max_batch=1)  # each event its own transaction
    log.start()
    try:
        events = call("L-d", 0, "1004", talk=20)
        for event in events[:4]:
            log.record(event)
        await log.flush()
        # the agent_completed commit is made but its answer lost: the event is spooled and
        # replayed, and must not add its talk time twice
        flaky.lose_acks = 1
        for event in events[4:]:
            log.record(event)
        await asyncio.wait_for(log.flush(), 30)
        assert log.spooled == 2
        assert log.duplicates == 1
        assert log.written == 5
        contact = contacts.get_by_linkedid("L-d")
        assert contact is not None
        assert [e.kind for e in contact.events] == KINDS
        assert contact.talk_seconds == 20.0
        assert contact.outcome == "answered"
    finally:
        await log.close()


async def test_events_trickling_in_are_gathered_into_one_transaction(
        flaky: FlakyDatabase, contacts: ContactService, tmp_path: Path) -> None:
    """With a gather window the writer waits after an event for the next ones (a call's
    events come one at a time) and stores them together; a full batch waiting is stored at
    once."""
    log = make_log(flaky, tmp_path, max_batch=6, gather_s=2.0)
    log.start()
    try:
        for event in call("L-t", 0, "1009"):
            log.record(event)
            await asyncio.sleep(0.05)  # the writer is free between two events
        await asyncio.wait_for(log.flush(), 30)
        assert (log.written, log.batches) == (6, 1)
        assert timeline(contacts, "L-t") == KINDS
        # six waiting (max_batch): stored without the window's wait
        log.gather_s = 60.0
        for event in call("L-u", 1, "1010"):
            log.record(event)
        await asyncio.wait_for(log.flush(), 30)
        assert (log.written, log.batches) == (12, 2)
    finally:
        await log.close()


async def test_events_waiting_together_are_stored_in_one_transaction_and_once(
        flaky: FlakyDatabase, contacts: ContactService, tmp_path: Path) -> None:
    """Events recorded while the writer is busy are stored together, in one commit. When the
    commit is made but its answer lost, the events are stored one by one again: each is found
    stored already (its key), so none counts twice and none is spooled."""
    log = make_log(flaky, tmp_path)
    log.start()
    try:
        a, b = call("L-f", 0, "1006", talk=20), call("L-g", 1, "1007", talk=25)
        for pair in zip(a, b, strict=True):
            for event in pair:
                log.record(event)
        await asyncio.wait_for(log.flush(), 30)
        assert log.batches >= 1
        assert (log.written, log.duplicates, log.spooled) == (12, 0, 0)
        assert timeline(contacts, "L-f") == KINDS
        assert timeline(contacts, "L-g") == KINDS
        with contacts.db.session() as session:  # stored in the order recorded
            order = list(session.scalars(select(ContactEventRow.kind)
                                         .join(Contact)
                                         .where(Contact.linkedid.in_(["L-f", "L-g"]))
                                         .order_by(ContactEventRow.id)))
        assert order == [str(e.kind) for pair in zip(a, b, strict=True) for e in pair]

        c = call("L-h", 2, "1008", talk=30)
        for event in c[:4]:
            log.record(event)
        await log.flush()
        flaky.lose_acks = 1
        batches = log.batches
        for event in c[4:]:
            log.record(event)
        await asyncio.wait_for(log.flush(), 30)
        assert log.batches == batches  # the batch's commit was not acknowledged
        assert (log.written, log.duplicates, log.spooled) == (16, 2, 0)
        contact = contacts.get_by_linkedid("L-h")
        assert contact is not None
        assert [e.kind for e in contact.events] == KINDS
        assert contact.talk_seconds == 30.0
    finally:
        await log.close()


async def test_an_event_derived_again_by_another_process_is_applied_once(
        contacts: ContactService) -> None:
    # two contact logs (two processes, or one before and after a restart) derive the same
    # events from Asterisk: the second is recognised by its key
    first, second = ContactLog(contacts), ContactLog(contacts)
    events = call("L-e", 0, "1005", talk=15)
    for log in (first, second):
        log.start()
        for event in events:
            log.record(event)
        await log.flush()
        await log.close()
    assert first.written == 6
    assert second.written == 0
    assert second.duplicates == 6
    contact = contacts.get_by_linkedid("L-e")
    assert contact is not None
    assert [e.kind for e in contact.events] == KINDS
    assert contact.talk_seconds == 15.0
    assert ContactService(contacts.db).apply(events[4]) is False  # applied directly too


async def test_identical_events_recorded_twice_are_both_kept(contacts: ContactService) -> None:
    # the same content at the same moment twice (e.g. two key presses on a stopped clock) is
    # two events, not a duplicate
    log = ContactLog(contacts)
    log.start()
    try:
        digits = ContactEvent.parse("L-f", EventKind.DIGITS, {"node": "main", "digits": "1"}, at=T0)
        for event in (digits, digits):
            log.record(event)
        await log.flush()
        assert timeline(contacts, "L-f") == ["digits", "digits"]
    finally:
        await log.close()


async def test_a_poison_event_is_dead_lettered_and_the_others_go_on(
        flaky: FlakyDatabase, contacts: ContactService, tmp_path: Path) -> None:
    log = make_log(flaky, tmp_path, max_failures=3)
    log.start()
    try:
        good = call("L-g", 0, "1006")
        # an outcome there is none of (the record's type lets any string through; deriving
        # the contact refuses it): refused by every try, whatever the database
        poison = ContactEvent.parse("L-p", EventKind.OUTCOME, {"outcome": "sixteen"}, at=T0)
        log.record(good[0])
        log.record(poison)
        for event in good[1:]:
            log.record(event)
        await asyncio.wait_for(log.flush(), 30)
        assert log.failures == 1
        assert log.written == 6
        assert timeline(contacts, "L-g") == KINDS
        dead = [json.loads(line) for line in
                (tmp_path / DEAD_LETTER_FILE).read_text(encoding="utf-8").splitlines()]
        assert len(dead) == 1
        assert dead[0]["linkedid"] == "L-p"
        assert dead[0]["kind"] == "outcome"
        assert "sixteen" in dead[0]["error"]
        assert from_line(json.dumps(dead[0])).data == {"outcome": "sixteen"}
        health = log.health()
        assert health["dead_letters"] == 1
        assert health["depth"] == 0
    finally:
        await log.close()
    # a later process still reports it, and never replays it
    again = make_log(flaky, tmp_path)
    again.start()
    try:
        await again.flush()
        assert again.health()["dead_letters"] == 1
        assert again.written == 0
    finally:
        await again.close()


async def test_the_spool_survives_a_restart(flaky: FlakyDatabase, contacts: ContactService,
                                            tmp_path: Path) -> None:
    events = call("L-h", 0, "1007", talk=25)
    before = make_log(flaky, tmp_path)
    before.start()
    flaky.down = True
    for event in events[:4]:
        before.record(event)
    await until(lambda: len(before.spool) == 4, "spooled")
    await before.close()  # the process ends with its events still spooled
    assert [r["kind"] for r in spool_lines(tmp_path)] == KINDS[:4]

    flaky.down = False
    after = make_log(flaky, tmp_path)
    after.record(events[4])  # recorded before the start-up replay: still after the old ones
    after.start()
    try:
        for event in events[5:]:
            after.record(event)
        await asyncio.wait_for(after.flush(), 30)
        assert after.written == 6
        contact = contacts.get_by_linkedid("L-h")
        assert contact is not None
        assert [e.kind for e in contact.events] == KINDS
        assert contact.talk_seconds == 25.0
        assert contact.outcome == "answered"
        assert spool_lines(tmp_path) == []
    finally:
        await after.close()


async def test_an_orphaned_spool_of_another_process_is_taken_over(
        contacts: ContactService, tmp_path: Path) -> None:
    # a process (another pid) died with two events spooled
    events = call("L-i", 0, "1008")
    (tmp_path / "contacts-999999.jsonl").write_text(
        "".join(to_line(e) + "\n" for e in events[:2]), encoding="utf-8")
    log = ContactLog(contacts, tmp_path)
    log.start()
    try:
        assert log.spool.adopted == ["contacts-999999.jsonl"]
        assert not (tmp_path / "contacts-999999.jsonl").exists()
        for event in events[2:]:
            log.record(event)
        await asyncio.wait_for(log.flush(), 30)
        assert timeline(contacts, "L-i") == KINDS
    finally:
        await log.close()


def test_a_spool_line_round_trips(tmp_path: Path) -> None:
    event = ContactEvent.parse("L-j", EventKind.SURVEY, {"score": 2, "node": "survey"},
                         at=datetime.fromisoformat("2026-11-28T09:00:00.123456+08:00"),
                         key="k1")
    line = to_line(event)
    assert json.loads(line)["at"] == "2026-11-28T09:00:00.123456+08:00"
    assert from_line(line) == event


def test_the_event_key_column_is_unique(contacts: ContactService) -> None:
    event = ContactEvent.parse("L-k", EventKind.CALL_STARTED, {"caller": "1"}, at=T0, key="same")
    other = ContactEvent.parse("L-k", EventKind.MENU_NODE, {"node": "main"}, at=T0, key="same")
    assert contacts.apply(event) is True
    assert contacts.apply(other) is False  # the key decides, not the content
    with contacts.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Contact)
                              .where(Contact.linkedid == "L-k")) == 1
    assert event_count(contacts) == 1


def test_call_started_derived_again_for_the_same_channel_is_stored_once(
        contacts: ContactService) -> None:
    # a bridge that finds the channel again later (restarted, a second AsyncAGIStart) derives
    # call_started at another moment: the bridge keys it by the channel
    from ivr.bridge import channel_key

    key = channel_key(EventKind.CALL_STARTED, "1700000000.1")
    for offset in (0, 40):
        contacts.apply(ContactEvent.parse("L-l", EventKind.CALL_STARTED, {"caller": "1009"},
                                    at=T0 + timedelta(seconds=offset), key=key))
    assert timeline(contacts, "L-l") == ["call_started"]
