"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import callcenter.models  # noqa: F401  (registers every table)
from callcenter.auth.services import UserService
from callcenter.contacts.services import ContactService
from callcenter.db import Base, Database
from callcenter.migrate import alembic_config, upgrade
from ivr.ports import ContactEvent, EventKind
from tests.callcenter.util import ensure_user
from tests.conftest import fresh_database
from tests.support import SUITE_CLOCK


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def test_models_and_migrations_agree(database: Database) -> None:
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_event_keys_migration_goes_down_and_up(kind: str, tmp_path: Path) -> None:
    """0005 adds contact_events.event_key (unique) and takes it away again, rows kept."""
    with fresh_database(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            def columns() -> set[str]:
                return {c["name"] for c in sa.inspect(engine).get_columns("contact_events")}

            assert "event_key" in columns()
            with engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO contacts (linkedid, caller_number, channel, started_at, "
                    "self_served, reconciled) VALUES ('M-1', '1', '', '2026-11-28 01:00:00', "
                    "false, false)"))
                conn.execute(sa.text(
                    "INSERT INTO contact_events (contact_id, at, kind, data, event_key) "
                    "SELECT id, '2026-11-28 01:00:00', 'call_started', '{}', 'k1' "
                    "FROM contacts"))
            downgrade(url, "0004")
            engine.dispose()
            assert "event_key" not in columns()
            upgrade(url)
            engine.dispose()
            assert "event_key" in columns()
            with engine.begin() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM contact_events")).scalar() == 1
                conn.execute(sa.text("UPDATE contact_events SET event_key = 'k2'"))
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO contact_events (contact_id, at, kind, data, event_key) "
                    "SELECT id, '2026-11-28 01:00:01', 'menu_node', '{}', 'k2' "
                    "FROM contacts"))
        finally:
            engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sms_migration_goes_down_and_up_keeping_contacts(kind: str, tmp_path: Path) -> None:
    """0006 adds contacts.medium (existing contacts: phone) and the SMS tables, and takes them
    away again; no contact or timeline row is lost either way."""
    with fresh_database(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            downgrade(url, "0005")
            engine.dispose()
            assert "medium" not in {c["name"] for c in sa.inspect(engine).get_columns("contacts")}
            with engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO contacts (linkedid, caller_number, channel, started_at, "
                    "self_served, reconciled) VALUES ('M-1', '1', '', '2026-11-28 01:00:00', "
                    "false, false)"))
                conn.execute(sa.text(
                    "INSERT INTO contact_events (contact_id, at, kind, data, event_key) "
                    "SELECT id, '2026-11-28 01:00:00', 'call_started', '{}', 'k1' "
                    "FROM contacts"))
            upgrade(url)
            engine.dispose()
            with engine.begin() as conn:
                assert conn.execute(sa.text("SELECT medium FROM contacts")).scalar() == "phone"
                assert conn.execute(sa.text("SELECT count(*) FROM sms_messages")).scalar() == 0
            downgrade(url, "0005")
            engine.dispose()
            assert "sms_messages" not in sa.inspect(engine).get_table_names()
            with engine.begin() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM contact_events")).scalar() == 1
        finally:
            engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sms_queue_migration_counts_texts_sent_before_it(kind: str, tmp_path: Path) -> None:
    """0009 adds when a text went (the sending limits count it) and when a held one may go
    (a text sent before it went when it was recorded), and the surveys by text."""
    with fresh_database(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            downgrade(url, "0008")
            engine.dispose()
            with engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO sms_messages (direction, number, service_number, text, "
                    "segments, at, linkedid, intent, status) VALUES ('mt', '1', '12366', 'x', "
                    "1, '2026-11-28 01:00:00+00:00', '', '', 'delivered'), ('mo', '1', "
                    "'12366', 'y', 1, '2026-11-28 01:00:00+00:00', '', '', '')"))
            upgrade(url)
            engine.dispose()
            with engine.begin() as conn:
                rows = conn.execute(sa.text("SELECT direction, sent_at IS NOT NULL, send_after "
                                            "FROM sms_messages ORDER BY id")).all()
            assert [tuple(r) for r in rows] == [("mt", True, None), ("mo", False, None)]
            tables = set(sa.inspect(engine).get_table_names())
            assert {"sms_surveys", "sms_subscriptions", "sms_reminder_jobs",
                    "sms_reminder_recipients"} <= tables
            assert "mobile" in {c["name"] for c in sa.inspect(engine).get_columns("taxpayers")}
            downgrade(url, "0008")
            engine.dispose()
            columns = {c["name"] for c in sa.inspect(engine).get_columns("sms_messages")}
            assert "sent_at" not in columns
            assert "send_after" not in columns
            assert not {"sms_surveys", "sms_subscriptions", "sms_reminder_jobs",
                        "sms_reminder_recipients"} & set(sa.inspect(engine).get_table_names())
            assert "mobile" not in {c["name"]
                                    for c in sa.inspect(engine).get_columns("taxpayers")}
        finally:
            engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_recordings_migration_goes_down_and_up_keeping_queues(kind: str, tmp_path: Path) -> None:
    """0010 adds cc_queues.record (existing queues: on) and the recordings table, and takes
    them away again; no queue is lost either way."""
    with fresh_database(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            def queue_columns() -> set[str]:
                return {c["name"] for c in sa.inspect(engine).get_columns("cc_queues")}

            downgrade(url, "0009")
            engine.dispose()
            assert "record" not in queue_columns()
            assert "recordings" not in sa.inspect(engine).get_table_names()
            with engine.begin() as conn:
                queues = conn.execute(sa.text("SELECT count(*) FROM cc_queues")).scalar()
            assert queues
            upgrade(url)
            engine.dispose()
            with engine.begin() as conn:
                records = conn.execute(sa.text("SELECT record FROM cc_queues")).scalars().all()
                assert len(records) == queues
                assert all(records)
                conn.execute(sa.text(
                    "INSERT INTO recordings (linkedid, kind, path, started_at) VALUES "
                    "('M-1', 'call', 'call-M-1.wav', '2026-11-28 01:00:00')"))
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO recordings (linkedid, kind, path, started_at) VALUES "
                    "('M-2', 'call', 'call-M-1.wav', '2026-11-28 01:00:00')"))
        finally:
            engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_consultation_migration_goes_down_and_up(kind: str, tmp_path: Path) -> None:
    """0011 adds the consultation tables (codes, sessions, replies) and takes them away
    again; the tickets they point at stay."""
    tables = {"consult_codes", "consult_sessions", "consult_replies"}
    with fresh_database(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO tickets (ticket_no, kind, status, caller, linkedid, summary, "
                    "created_at, due_at, updated_at) VALUES ('202612010001', 'consult', "
                    "'open', '13800138000', 'web-1', 'q', '2026-12-01 02:00:00', "
                    "'2026-12-04 09:30:00', '2026-12-01 02:00:00')"))
                ticket_id = conn.execute(sa.text("SELECT id FROM tickets")).scalar()
                conn.execute(sa.text(
                    "INSERT INTO consult_replies (ticket_id, at, by, text) VALUES "
                    f"({ticket_id}, '2026-12-01 03:00:00', 'agent1', 'a')"))
            downgrade(url, "0010")
            engine.dispose()
            assert not tables & set(sa.inspect(engine).get_table_names())
            with engine.begin() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM tickets")).scalar() == 1
            upgrade(url)
            engine.dispose()
            assert tables <= set(sa.inspect(engine).get_table_names())
            with engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO consult_codes (number, code_hash, created_at, expires_at) "
                    "VALUES ('13800138000', 's$h', '2026-12-01 02:00:00', "
                    "'2026-12-01 02:05:00')"))
                row = conn.execute(sa.text(
                    "SELECT attempts, address, used_at FROM consult_codes")).one()
            assert tuple(row) == (0, "", None)
        finally:
            engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_kb_store_migration_goes_down_and_up(kind: str, tmp_path: Path) -> None:
    """0012 adds the knowledge base's tables (entries, versions, drafts, seed files) and
    takes them away again; a version is unique per entry."""
    with fresh_database(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        tables = ("kb_entries", "kb_versions", "kb_drafts", "kb_seed_files")
        try:
            downgrade(url, "0011")
            engine.dispose()
            assert not set(tables) & set(sa.inspect(engine).get_table_names())
            upgrade(url)
            engine.dispose()
            assert set(tables) <= set(sa.inspect(engine).get_table_names())
            insert = sa.text(
                "INSERT INTO kb_versions (entry_id, version, fields, retired, author,"
                " published_by, published_at, note) VALUES ('a.b', 1, '{}', false, 'x', 'y',"
                " '2026-11-28 01:00:00', '')")
            with engine.begin() as conn:
                conn.execute(insert)
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
                conn.execute(insert)
        finally:
            engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_quality_migration_goes_down_and_up_with_the_standard_form(kind: str,
                                                                   tmp_path: Path) -> None:
    """0014 adds the review forms (with the standard form, version 1) and the reviews, and
    takes them away again; one review per reviewer and call leg."""
    with fresh_database(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            downgrade(url, "0013")
            engine.dispose()
            assert not {"qa_forms", "qa_reviews"} & set(sa.inspect(engine).get_table_names())
            upgrade(url)
            engine.dispose()
            with engine.begin() as conn:
                form = conn.execute(sa.text(
                    "SELECT id, name, version, criteria FROM qa_forms")).one()
            db = Database(url)
            try:
                contacts = ContactService(db)
                contacts.apply(ContactEvent.parse("M-1", EventKind.CALL_STARTED, {
                    "caller": "13800000000"}, at=datetime(2026, 11, 28, 1, tzinfo=UTC)))
                found = contacts.get_by_linkedid("M-1")
                assert found is not None
                contact = found.id
            finally:
                db.dispose()
            assert (form.name, form.version) == ("standard", 1)
            criteria = form.criteria if isinstance(form.criteria, list) else \
                json.loads(form.criteria)
            assert [c["title"] for c in criteria] == ["开场问候", "政策解答准确性", "服务态度",
                                                      "结束语"]
            assert sum(c["weight"] for c in criteria) == 100
            insert = sa.text(
                "INSERT INTO qa_reviews (form_id, contact_id, linkedid, agent, reviewer, scores, "
                "total, comment, call_at, created_at, updated_at) VALUES (:f, :c, 'M-1', "
                "'agent1', 'sup1', '{}', 0, '', '2026-11-28 01:00:00', '2026-11-28 02:00:00', "
                "'2026-11-28 02:00:00')")
            with engine.begin() as conn:
                conn.execute(insert, {"f": form.id, "c": contact})
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
                conn.execute(insert, {"f": form.id, "c": contact})
        finally:
            engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_outbound_migration_goes_down_and_up_keeping_contacts(kind: str,
                                                              tmp_path: Path) -> None:
    """0013 adds contacts.direction (existing contacts: inbound) and the dialler's columns of
    callback_requests, and takes them away again; no contact or request is lost."""
    with fresh_database(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO contacts (linkedid, caller_number, channel, started_at, "
                    "self_served, reconciled) VALUES ('O-1', '139', '', "
                    "'2026-11-28 01:00:00', false, false)"))
                conn.execute(sa.text(
                    "INSERT INTO callback_requests (number, linkedid, reason, status, "
                    "created_at, due_at) VALUES ('139', 'O-1', 'x', 'pending', "
                    "'2026-11-28 01:00:00', '2026-11-28 05:00:00')"))
            downgrade(url, "0012")
            engine.dispose()
            assert "direction" not in {c["name"] for c in
                                       sa.inspect(engine).get_columns("contacts")}
            assert "attempts" not in {c["name"] for c in
                                      sa.inspect(engine).get_columns("callback_requests")}
            upgrade(url)
            engine.dispose()
            with engine.begin() as conn:
                assert conn.execute(sa.text(
                    "SELECT direction FROM contacts WHERE linkedid = 'O-1'")).scalar() == "inbound"
                assert conn.execute(sa.text(
                    "SELECT attempts FROM callback_requests WHERE linkedid = 'O-1'")).scalar() == 0
        finally:
            engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_hold_rollup_migration_goes_down_and_up_and_asks_for_a_rebuild(kind: str,
                                                                       tmp_path: Path) -> None:
    """0016 adds hold_sum to the four rollup tables (rows kept, 0 until the rebuild) and clears
    the rollup state, so the next report counts the holds already recorded; and back."""
    tables = ("stats_contacts_15m", "stats_contacts_1d", "stats_queues_15m", "stats_queues_1d")
    with fresh_database(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            def with_hold() -> set[str]:
                inspector = sa.inspect(engine)
                return {t for t in tables
                        if "hold_sum" in {c["name"] for c in inspector.get_columns(t)}}

            assert with_hold() == set(tables)
            downgrade(url, "0015")
            engine.dispose()
            assert with_hold() == set()
            with engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO stats_queues_15m (bucket, queue, agent, completed, offered, "
                    "answered, abandoned, short_abandoned, answered_in_sl, wait_answered_sum, "
                    "wait_abandoned_sum, max_wait, talk_sum) "
                    "VALUES (900, 'consult', 'agent1', 1, 1, 1, 0, 0, 1, 3, 0, 3, 60)"))
                conn.execute(sa.text(
                    "INSERT INTO stats_rollup_state (id, params) VALUES (1, 'old')"))
            upgrade(url)
            engine.dispose()
            assert with_hold() == set(tables)
            with engine.begin() as conn:
                assert conn.execute(sa.text(
                    "SELECT talk_sum, hold_sum FROM stats_queues_15m")).one() == (60, 0)
                assert conn.execute(sa.text(
                    "SELECT count(*) FROM stats_rollup_state")).scalar() == 0
        finally:
            engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_staff_notices_migration_goes_down_and_up_keeping_users(kind: str,
                                                                tmp_path: Path) -> None:
    """0015 adds users.mobile and the staff notices with their recipients, and takes them away
    again; no user is lost."""
    with fresh_database(kind, tmp_path) as url:
        db = Database(url)
        try:
            ensure_user(db, "n1", "agent")
        finally:
            db.dispose()
        downgrade(url, "0014")
        tables, columns = _schema(url, "users")
        assert "mobile" not in columns
        assert not {"staff_notices", "staff_notice_recipients"} & tables
        upgrade(url)
        assert {"staff_notices", "staff_notice_recipients"} <= _schema(url, "users")[0]
        db = Database(url)
        try:
            user = UserService(db, SUITE_CLOCK).get_user("n1")
        finally:
            db.dispose()
        assert user is not None
        assert user.mobile is None


def _schema(url: str, table: str) -> tuple[set[str], set[str]]:
    """The database's tables and the columns of ``table``."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return set(inspector.get_table_names()), {c["name"] for c in inspector.get_columns(table)}
    finally:
        engine.dispose()
