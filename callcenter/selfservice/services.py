"""The IVR's self-services wired to the database: ``IvrServices`` for the bridge, demo data.

``build_ivr_services`` is what ``callcenter/runtime.py`` (and the tests) use to give menu
sessions the knowledge base, invoice registry, taxpayer directory, booking and ticket desks,
the speech recogniser and the service calendar.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from callcenter.bookings.models import BookingSlot, ServiceHall
from callcenter.bookings.services import BookingService, IvrBookingDesk
from callcenter.db import Database
from callcenter.invoices.models import InvoiceStatus
from callcenter.invoices.services import InvoiceService, IvrInvoiceRegistry
from callcenter.settings import Settings
from callcenter.taxpayers.services import IvrTaxpayerDirectory, TaxpayerService
from callcenter.tickets.services import IvrTicketDesk, TicketService
from ivr.asr import build_recognizer
from ivr.calendar import ServiceCalendar
from ivr.clock import Clock
from ivr.ports import FaqSource
from ivr.prompts.answers import AnswerAudio
from ivr.services import IvrServices

log = logging.getLogger(__name__)


def build_ivr_services(settings: Settings, db: Database, clock: Clock, *,
                       calendar: ServiceCalendar, tickets: TicketService,
                       kb: FaqSource | None = None) -> IvrServices:
    """The menu's services over ``db``, on the calendar and the ticket service the
    composition root built (``callcenter.runtime.Shared``)."""
    recognizer = build_recognizer(settings.asr_engine, settings.whisper_model_dir,
                                  settings.vosk_model_path)
    return IvrServices(
        kb=kb,
        answers=AnswerAudio(settings.sounds_dir, settings.tts_voice),
        invoices=IvrInvoiceRegistry(InvoiceService(db)),
        taxpayers=IvrTaxpayerDirectory(TaxpayerService(db, clock)),
        bookings=IvrBookingDesk(BookingService(db, clock)),
        tickets=IvrTicketDesk(tickets),
        recognizer=recognizer,
        calendar=calendar,
        clock=clock,
        recordings_dir=settings.recordings_dir,
        pbx_recordings_dir=settings.pbx_recordings_dir,
    )


# -- demo data (`hotline demo seed-ivr`) ----------------------------------------------------

DEMO_INVOICES = [
    # code, number, amount in fen, issued on, status
    ("144032600111", "12345678", 113000, date(2026, 10, 15), InvoiceStatus.NORMAL),
    ("144032600111", "87654321", 56500, date(2026, 9, 3), InvoiceStatus.VOID),
    ("", "26442000000012345678", 565000, date(2026, 11, 2), InvoiceStatus.NORMAL),
]
DEMO_TAXPAYERS = [
    # TIN, name, PIN, filings (tax, period, filed, unpaid fen)
    ("914403001234567890", "深圳示例科技有限公司", "123456",
     [("vat", "2026-10", True, 0), ("stamp", "2026-10", False, 35000),
      ("cit", "2026-09", True, 0)]),
    ("914403009876543210", "示例商贸有限公司", "654321", [("vat", "2026-10", True, 0)]),
]
# the mobile number registered for a demo taxpayer (the status query by text answers it only)
DEMO_MOBILES = {"914403001234567890": "13800138000"}
DEMO_HALLS = [
    ("city_center", "市中心办税服务厅", "示例路一号", "hall/city_center"),
    ("high_tech_zone", "高新区办税服务厅", "示例大道八号", "hall/high_tech_zone"),
    ("airport_zone", "临空经济区办税服务厅", "示例街十二号", "hall/airport_zone"),
]
SLOT_TIMES = (time(9, 0), time(10, 30), time(14, 0), time(15, 30))


def seed_demo(db: Database, calendar: ServiceCalendar, clock: Clock,
              days: int = 10) -> dict[str, int]:
    """Idempotent demo data: invoices, taxpayers, halls and slots on the working days after
    today (by ``clock``)."""
    invoices = InvoiceService(db)
    for code, number, fen, issued, status in DEMO_INVOICES:
        invoices.add(code, number, fen, issued, "914403001234567890", status)
    taxpayers = TaxpayerService(db, clock)
    for tin, name, pin, filings in DEMO_TAXPAYERS:
        taxpayers.upsert(tin, name, pin, filings, mobile=DEMO_MOBILES.get(tin))
    tz = ZoneInfo(calendar.timezone)
    day = calendar.local(clock()).date()
    slots = 0
    with db.transaction() as session:
        for position, (code, name, address, prompt) in enumerate(DEMO_HALLS):
            hall = session.scalar(select(ServiceHall).where(ServiceHall.code == code))
            if hall is None:
                hall = ServiceHall(code=code)
                session.add(hall)
            hall.name, hall.address, hall.prompt, hall.position = name, address, prompt, position
            session.flush()
            existing = set(session.scalars(select(BookingSlot.starts_at)
                                           .where(BookingSlot.hall_id == hall.id)))
            current, added_days = day, 0
            while added_days < days:
                current += timedelta(days=1)
                if not calendar.is_working_day(current):
                    continue
                added_days += 1
                for at in SLOT_TIMES:
                    starts = datetime.combine(current, at, tzinfo=tz).astimezone(UTC)
                    if starts not in existing:
                        session.add(BookingSlot(hall_id=hall.id, starts_at=starts, capacity=2,
                                                booked=0))
                        slots += 1
    return {"invoices": len(DEMO_INVOICES), "taxpayers": len(DEMO_TAXPAYERS),
            "halls": len(DEMO_HALLS), "slots_added": slots}
