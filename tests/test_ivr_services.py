"""The IVR's self-services on the real databases (SQLite and PostgreSQL): invoice registry,
taxpayers with hashed PINs and limited attempts, bookings, tickets with due dates and status
history, callback requests, the survey score on the contact, demo data and the CLI."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner

from callcenter.bookings.models import Booking, BookingSlot, ServiceHall
from callcenter.bookings.services import BookingService
from callcenter.cli import command_line
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.invoices.models import Invoice, InvoiceStatus
from callcenter.invoices.services import InvoiceService
from callcenter.selfservice.services import seed_demo
from callcenter.taxpayers.models import TaxFiling, Taxpayer
from callcenter.taxpayers.services import TaxpayerService
from callcenter.tickets.models import CallbackRequest, Ticket, TicketStatusChange
from callcenter.tickets.services import TicketError, TicketService
from ivr.calendar import OpeningHours, ServiceCalendar
from ivr.clock import FixedClock
from ivr.ports import ContactEvent, EventKind
from tests.support import SUITE_CLOCK

CALENDAR = ServiceCalendar((OpeningHours((1, 2, 3, 4, 5), time(8, 30), time(17, 30)),),
                           frozenset({date(2026, 12, 3)}))
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
SEED_DAY = FixedClock(datetime(2026, 11, 30, 4, 0, tzinfo=UTC))  # Monday noon: seed from here


@pytest.fixture
def db(database: Database) -> Database:
    with database.transaction() as session:
        for table in (TicketStatusChange, Ticket, CallbackRequest, Booking, BookingSlot,
                      ServiceHall, TaxFiling, Taxpayer, Invoice):
            session.execute(delete(table))
    return database


def test_invoice_check(db: Database) -> None:
    invoices = InvoiceService(db)
    invoices.add("144032600111", "12345678", 113000, date(2026, 10, 15))
    invoices.add("", "26442000000012345678", 565000, date(2026, 11, 2), status=InvoiceStatus.RED)
    found = invoices.check("144032600111", "12345678", 113000)
    assert (found.found, found.amount_matches, found.status) == (True, True, "normal")
    assert found.issued_on == date(2026, 10, 15)
    assert invoices.check("144032600111", "12345678", 113001).amount_matches is False
    assert invoices.check("144032600111", "12345679", 113000).found is False
    assert invoices.check("", "26442000000012345678", 565000).status == "red"
    with pytest.raises(ValueError, match="digits"):
        invoices.add("14403260011A", "1", 1, date(2026, 1, 1))
    with pytest.raises(ValueError, match="positive"):
        invoices.add("1", "1", 0, date(2026, 1, 1))


def test_pin_is_hashed_and_attempts_are_limited(db: Database) -> None:
    clock = [NOW]
    taxpayers = TaxpayerService(db, max_attempts=3, lock_minutes=30, clock=lambda: clock[0])
    taxpayers.upsert("914403001234567890", "示例", "123456",
                     [("vat", "2026-10", True, 0), ("stamp", "2026-10", False, 35000)])
    with db.session() as session:
        stored = session.scalar(select(Taxpayer.pin_hash))
    assert stored is not None
    assert stored.startswith("$argon2")
    assert "123456" not in stored

    assert taxpayers.verify_pin("914403001234567890", "123456").status == "ok"
    assert taxpayers.verify_pin("000000000000000", "123456").status == "unknown"
    first = taxpayers.verify_pin("914403001234567890", "000000")
    assert (first.status, first.attempts_left) == ("wrong_pin", 2)
    assert taxpayers.verify_pin("914403001234567890", "000000").attempts_left == 1
    assert taxpayers.verify_pin("914403001234567890", "000000").status == "locked"
    # locked: even the right PIN is refused until the lock expires
    assert taxpayers.verify_pin("914403001234567890", "123456").status == "locked"
    clock[0] = NOW + timedelta(minutes=31)
    assert taxpayers.verify_pin("914403001234567890", "123456").status == "ok"

    status = taxpayers.status("914403001234567890")
    assert status is not None
    assert status.unpaid_fen == 35000
    assert {(f.tax, f.filed) for f in status.filings} == {("vat", True), ("stamp", False)}
    assert taxpayers.status("000000000000000") is None
    with pytest.raises(ValueError, match="6 digits"):
        taxpayers.upsert("914403001234567890", "示例", "12345", [])
    with pytest.raises(ValueError, match="15-20 digits"):
        taxpayers.upsert("91440300123456789X", "示例", "123456", [])


def test_booking_until_the_slot_is_full(db: Database) -> None:
    seed_demo(db, CALENDAR, SEED_DAY, days=2)
    bookings = BookingService(db, clock=lambda: NOW)
    halls = bookings.halls()
    assert [h.prompt for h in halls] == ["hall/city_center", "hall/high_tech_zone",
                                         "hall/airport_zone"]
    slots = bookings.free_slots(halls[0].id, NOW, limit=3)
    assert len(slots) == 3
    assert all(s.starts_at > NOW for s in slots)
    # Wednesday 2026-12-03 is a holiday in this calendar: no slots that day
    assert all(s.starts_at.astimezone(CALENDAR.local(NOW).tzinfo).date() != date(2026, 12, 3)
               for s in bookings.free_slots(halls[0].id, NOW, limit=20))
    first = bookings.book(slots[0].id, "13800138000", "L1")
    second = bookings.book(slots[0].id, "13800138001", "L2")
    assert first is not None
    assert second is not None
    assert first.confirmation_no != second.confirmation_no
    assert first.confirmation_no.isdigit()
    assert len(first.confirmation_no) == 8
    assert bookings.book(slots[0].id, "13800138002", "L3") is None  # capacity 2
    assert slots[0].id not in [s.id for s in bookings.free_slots(halls[0].id, NOW, 3)]
    assert bookings.book(999999, "1", "L4") is None
    stored = bookings.get(first.confirmation_no)
    assert stored is not None
    assert stored.caller == "13800138000"


def test_seed_is_idempotent(db: Database) -> None:
    first = seed_demo(db, CALENDAR, SEED_DAY, days=3)
    again = seed_demo(db, CALENDAR, SEED_DAY, days=3)
    assert first["slots_added"] == 3 * 3 * 4
    assert again["slots_added"] == 0
    with db.session() as session:
        assert len(session.scalars(select(Invoice)).all()) == first["invoices"]


def test_ticket_numbers_due_dates_and_status_history(db: Database) -> None:
    tickets = TicketService(db, CALENDAR, {"complaint": 2, "report": 5, "director": 1},
                            clock=lambda: NOW)
    a = tickets.create("complaint", "13800138000", "L1", "/rec/a.wav")
    b = tickets.create("report", "13800138000", "L2", None)
    assert (a.ticket_no, b.ticket_no) == ("202612010001", "202612010002")
    # 2 working days after Tuesday, Wednesday being a holiday: Friday at closing time
    assert a.due_at == datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    # 5 working days: Thu, Fri, Mon, Tue, Wed
    assert b.due_at == datetime(2026, 12, 9, 9, 30, tzinfo=UTC)
    assert a.owner is None
    assert a.status == "open"

    moved = tickets.change_status(a.ticket_no, "in_progress", by="agent1", owner="agent1")
    assert moved.owner == "agent1"
    assert [(h.from_status, h.to_status, h.by) for h in moved.history] == [
        (None, "open", "ivr"), ("open", "in_progress", "agent1")]
    with pytest.raises(TicketError, match="cannot go from in_progress to in_progress"):
        tickets.change_status(a.ticket_no, "in_progress", by="agent1")
    with pytest.raises(TicketError, match="unknown status"):
        tickets.change_status(a.ticket_no, "lost", by="agent1")
    with pytest.raises(TicketError, match="no ticket"):
        tickets.change_status("1", "closed", by="agent1")
    with pytest.raises(ValueError, match="praise"):
        tickets.create("praise", "1", "L3", None)


def test_callback_requests(db: Database) -> None:
    tickets = TicketService(db, CALENDAR, callback_due_hours=2, clock=lambda: NOW)
    request = tickets.request_callback("13800138000", "L1", "queue_busy")
    assert request.due_at == NOW + timedelta(hours=2)
    assert [r.number for r in tickets.pending_callbacks()] == ["13800138000"]
    with pytest.raises(TicketError, match="digits"):
        tickets.request_callback("138-0013", "L2", "queue_busy")


def test_survey_score_lands_on_the_contact(contacts: ContactService) -> None:
    events: list[tuple[EventKind, dict[str, object]]] = [
        (EventKind.CALL_STARTED, {"caller": "1"}),
        (EventKind.SURVEY, {"node": "survey", "score": 2, "key": "2"}),
        (EventKind.SURVEY, {"node": "survey", "score": None}),
        (EventKind.SURVEY, {"node": "survey", "score": 9}),
        (EventKind.CALL_ENDED, {"cause": 16}),
    ]
    for kind, data in events:
        contacts.apply(ContactEvent.parse("S1", kind, data, at=NOW))
    contact = contacts.get_by_linkedid("S1")
    assert contact is not None
    assert contact.survey_score == 2  # no answer and out-of-range scores change nothing


def test_ticket_desk_adapter_runs_in_a_thread(db: Database) -> None:
    from callcenter.tickets.services import IvrTicketDesk

    desk = IvrTicketDesk(TicketService(db, CALENDAR, clock=lambda: NOW))
    confirmation = asyncio.run(desk.create_ticket("director", "1", "L9", "/rec/x.wav"))
    assert confirmation.ticket_no.startswith("20261201")


# -- CLI -------------------------------------------------------------------------------------


def test_menu_check_prints_the_tree_and_refuses_a_broken_file(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(command_line(), ["menu", "check", "ivr/menus/12366.yaml"])
    assert result.exit_code == 0, result.output
    assert "main (menu)" in result.output
    assert "faq_vat_law (faq)" in result.output
    assert "agent_vat (transfer) -> queue tax-vat" in result.output

    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nstart: a\nnodes:\n  a:\n    type: collect\n"
                      "    prompt: welcome\n    store: x\n    min_digits: 9\n"
                      "    max_digits: 3\n    next: a\n    fallback: nowhere\n",
                      encoding="utf-8")
    result = runner.invoke(command_line(), ["menu", "check", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:4: nodes.a: Value error, min_digits must not exceed max_digits" \
        in result.output


def test_demo_seed_command(db_url: str, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from callcenter.settings import get_settings

    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(command_line(), ["demo", "seed-ivr", "--days", "2"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert '"halls": 3' in result.output
    taxpayers = TaxpayerService(db, SUITE_CLOCK)
    assert taxpayers.verify_pin("914403001234567890", "123456").status == "ok"
    with db.session() as session:
        halls = session.scalars(select(ServiceHall)).all()
        slots = session.scalars(select(BookingSlot)).all()
    assert len(halls) == 3
    assert len(slots) == json.loads(result.output)["slots_added"] > 0
