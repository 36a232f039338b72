"""The recordings store on a real database (SQLite and PostgreSQL): rows, the retention purge on
an injected clock, voice messages from tickets, who may listen, the queue push's record key."""

from __future__ import annotations

import wave
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete
from typer.testing import CliRunner

from callcenter.app import create_app
from callcenter.auth.services import UserService
from callcenter.cli import command_line
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.queues.services import QueueConfigPusher, QueueService
from callcenter.recordings.models import Recording
from callcenter.recordings.services import RecordingService, relative_path, wav_seconds
from callcenter.settings import Settings
from callcenter.tickets.models import Ticket, TicketStatusChange
from callcenter.tickets.services import TicketService
from ivr.calendar import OpeningHours, ServiceCalendar
from ivr.clock import FixedClock
from ivr.ports import ContactEvent, EventKind
from tests.callcenter.util import bearer, token_for
from tests.support import SUITE_CLOCK

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
CALENDAR = ServiceCalendar((OpeningHours((1, 2, 3, 4, 5), time(8, 30), time(17, 30)),))


def write_wav(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x10\x00" * int(8000 * seconds))


@pytest.fixture
def store(tmp_path: Path, database: Database) -> Path:
    with database.transaction() as session:
        for table in (Recording, TicketStatusChange, Ticket):
            session.execute(delete(table))
    return tmp_path


def test_purge_deletes_what_is_older_than_the_retention(database: Database, store: Path
                                                        ) -> None:
    clock = FixedClock(NOW)
    service = RecordingService(database, store, clock, retention_days=30)
    for name, age in (("old", 31), ("edge", 30), ("new", 1)):
        write_wav(store / f"call-{name}.wav", 1.0)
        service.register(f"L-{name}", "call", f"call-{name}.wav", "consult",
                         at=NOW - timedelta(days=age, seconds=1 if name == "old" else 0))
    # a row whose file is already gone is purged too
    service.register("L-gone", "call", "call-gone.wav", at=NOW - timedelta(days=90))

    result = service.purge()
    assert (result.cutoff, result.rows, result.files) == (NOW - timedelta(days=30), 2, 1)
    assert not (store / "call-old.wav").exists()
    assert (store / "call-edge.wav").exists()  # exactly 30 days: kept
    assert [r.linkedid for r in service.of_contact("L-old") + service.of_contact("L-gone")] == []
    # the clock moves on a day: the edge one goes as well, the new one stays
    clock.advance(timedelta(days=1))
    assert service.purge().rows == 1
    assert not (store / "call-edge.wav").exists()
    assert [r.seconds for r in service.of_contact("L-new")] == [1.0]


def test_the_purge_command_on_the_configured_clock(db_url: str, database: Database, store: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    service = RecordingService(database, store, FixedClock(NOW), retention_days=7)
    write_wav(store / "call-a.wav", 0.5)
    service.register("L-a", "call", "call-a.wav", at=NOW - timedelta(days=8))
    service.register("L-b", "call", "call-b.wav", at=NOW - timedelta(days=6))
    from callcenter import settings as settings_module

    for key, value in {"DATABASE_URL": db_url, "RECORDINGS_DIR": str(store),
                       "RECORDINGS_RETENTION_DAYS": "7",
                       "CLOCK_START": NOW.isoformat()}.items():
        monkeypatch.setenv(f"HOTLINE_{key}", value)
    settings_module.get_settings.cache_clear()
    try:
        result = CliRunner().invoke(command_line(), ["recordings", "purge"])
    finally:
        settings_module.get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert '"rows": 1' in result.output
    assert '"files": 1' in result.output
    assert not (store / "call-a.wav").exists()
    assert len(service.of_contact("L-b")) == 1


def test_a_voice_message_joins_the_store_with_its_ticket(database: Database, store: Path
                                                        ) -> None:
    tickets = TicketService(database, CALENDAR, {"complaint": 5}, clock=FixedClock(NOW))
    write_wav(store / "complaint-L-m-1.wav", 2.0)
    ticket = tickets.create("complaint", "13800001111", "L-m",
                            str(store / "complaint-L-m-1.wav"))
    service = RecordingService(database, store, FixedClock(NOW), retention_days=30)
    [row] = service.of_contact("L-m")
    assert (row.kind, row.available, row.seconds, row.started_at) == (
        "complaint", True, 2.0, ticket.created_at)
    # no machine path in the row: relative to the store
    with database.session() as session:
        assert session.get(Recording, row.id).path == "complaint-L-m-1.wav"  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x.wav", "a/../../x.wav", "", "a\\b.wav"])
def test_paths_outside_the_store_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a path within"):
        relative_path(bad)


def test_a_broken_file_has_no_duration(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_bytes(b"RIFF....")
    assert wav_seconds(tmp_path / "x.wav") == 0.0
    assert wav_seconds(tmp_path / "missing.wav") == 0.0


def _call(contacts: ContactService, linkedid: str, agent: str | None) -> None:
    contacts.apply(ContactEvent.parse(linkedid, EventKind.CALL_STARTED,
                                      {"caller": "13800002222", "channel": "PJSIP/x"}, at=NOW))
    if agent:
        contacts.apply(ContactEvent.parse(linkedid, EventKind.AGENT_CONNECTED,
                                          {"agent": agent, "queue": "consult"}, at=NOW))


@pytest.mark.parametrize("agents_own", [False, True])
def test_who_may_listen(db_url: str, clean_users: Database, contacts: ContactService,
                        store: Path, agents_own: bool) -> None:
    _call(contacts, "L-own", "agent1")
    write_wav(store / "call-L-own.wav", 1.0)
    service = RecordingService(clean_users, store, FixedClock(NOW), retention_days=30)
    rec = service.register("L-own", "call", "call-L-own.wav", "consult")
    gone = service.register("L-own", "call", "call-L-own-2.wav", "experts")  # no file
    settings = Settings(database_url=db_url, ami_enabled=False, kb_enabled=False,
                        recordings_dir=store, recordings_agents_own=agents_own)
    h: dict[str, Any] = {
        "agent1": bearer(token_for(clean_users, "agent1", "agent")),
        "agent2": bearer(token_for(clean_users, "agent2", "agent")),
        "admin1": bearer(token_for(clean_users, "admin1", "admin"))}
    contact = contacts.get_by_linkedid("L-own")
    assert contact is not None
    with TestClient(create_app(settings, SUITE_CLOCK),
                    base_url="https://testserver") as client:
        audio = f"/api/v1/recordings/{rec.id}/audio"
        listing = client.get(f"/api/v1/contacts/{contact.id}/recordings", headers=h["agent1"])
        assert listing.status_code == 200
        assert [(r["queue"], r["available"], r["playable"]) for r in listing.json()] == [
            ("consult", True, agents_own), ("experts", False, False)]
        assert client.get(audio, headers=h["admin1"]).status_code == 200
        own = client.get(audio, headers=h["agent1"])
        other = client.get(audio, headers=h["agent2"])
        assert client.get(f"/api/v1/recordings/{gone.id}/audio",
                          headers=h["admin1"]).status_code == 404
        assert client.get("/api/v1/recordings/999999/audio",
                          headers=h["admin1"]).status_code == 404
    assert other.status_code == 403
    if agents_own:
        assert own.status_code == 200
        assert other.json()["detail"] == "只能收听本人接听过的通话录音"
    else:
        assert own.status_code == 403
        assert own.json()["detail"] == "只有班长和管理员可以收听录音"
    users = UserService(clean_users, FixedClock(NOW))
    played = [a.actor for a in users.audit_log(action="recording.play")]
    refused = [a.actor for a in users.audit_log(action="recording.refused")]
    assert sorted(played) == (["admin1", "agent1"] if agents_own else ["admin1"])
    assert sorted(refused) == (["agent2"] if agents_own else ["agent1", "agent2"])


class FakeAmi:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_action(self, action: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.sent.append(action)
        return {"Response": "Success"}


async def test_the_queue_push_says_which_queues_record(database: Database) -> None:
    queues = QueueService(database, FixedClock(NOW))
    consult = queues.queue("consult")
    assert consult is not None
    assert consult.record is True  # every queue records unless switched off
    base = {"name": "consult", "title": consult.title, "skill": consult.skill}
    queues.save_queue({**base, "record": False}, actor="test")
    ami = FakeAmi()
    try:
        await QueueConfigPusher(queues, ami).push()  # type: ignore[arg-type]
    finally:
        queues.save_queue({**base, "record": True}, actor="test")
    keys = {a["Key"]: a["Val"] for a in ami.sent if a["Action"] == "DBPut"}
    assert keys["consult-record"] == "0"
    assert keys["experts-record"] == "1"
