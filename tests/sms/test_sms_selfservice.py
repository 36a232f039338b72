"""The taxpayer's status by text (to the registered mobile only, never a PIN) and hall
bookings by text (the IVR's bookings domain), on both databases, on one injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from callcenter.bookings.models import Booking, BookingSlot, ServiceHall
from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.db import Database
from callcenter.sms.models import SmsDeliveryReport, SmsMessage, SmsOptOut, SmsSurvey
from callcenter.sms.parsing import (
    BookingCancel,
    BookingRequest,
    Question,
    TaxpayerMalformed,
    TaxpayerQuery,
    parse,
)
from callcenter.sms.services import HELP, TAXPAYER_REFUSED, SmsService
from callcenter.taxpayers.models import TaxFiling, Taxpayer
from callcenter.taxpayers.services import TaxpayerService
from ivr.clock import FixedClock
from tests.sms.fakes import SentTexts

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
PHONE = "13800138000"
OTHER = "13900139000"
TIN = "914403001234567890"
PIN = "735194"


@pytest.fixture
def sms(database: Database) -> tuple[SmsService, FixedClock]:
    with database.transaction() as session:
        for table in (SmsSurvey, SmsDeliveryReport, SmsMessage, SmsOptOut, ContactEventRow,
                      Contact, Booking, BookingSlot, ServiceHall, TaxFiling, Taxpayer):
            session.execute(delete(table))
    clock = FixedClock(NOW)
    return SmsService(database, clock, kb=None, tickets=None, sender=SentTexts()), clock


def reply(service: SmsService, text: str, number: str = PHONE) -> str:
    _mo, replies = asyncio.run(service.receive(number, text))
    return replies[0].text


def test_parsing() -> None:
    assert parse(f"查询 {TIN}") == TaxpayerQuery(TIN)
    assert parse(f"cx{TIN}") == TaxpayerQuery(TIN)
    assert parse("查询 1234") == TaxpayerMalformed("纳税人识别号应为15至20位数字或字母")
    assert parse("查询个税汇算") == Question("查询个税汇算")
    assert parse("预约") == BookingRequest()
    assert parse("预约 2") == BookingRequest(2)
    assert parse("预约 2，1") == BookingRequest(2, 1)
    assert parse("取消预约 12345678") == BookingCancel("12345678")
    assert parse("取消预约") == BookingCancel(None)
    assert parse("预约办税服务厅要带什么") == Question("预约办税服务厅要带什么")


# -- the taxpayer's status ---------------------------------------------------------------------


def seed_taxpayer(db: Database, mobile: str | None = PHONE) -> None:
    TaxpayerService(db, FixedClock(NOW)).upsert(
        TIN, "深圳示例科技有限公司", PIN,
        [("vat", "2026-10", True, 0), ("stamp", "2026-10", False, 35000)], mobile=mobile)


def test_the_status_goes_to_the_registered_mobile(sms: tuple[SmsService, FixedClock]) -> None:
    service, _clock = sms
    seed_taxpayer(service.db)
    text = reply(service, f"查询 {TIN}")
    assert text == ("深圳示例科技有限公司：2026-10增值税已申报；2026-10印花税未申报，"
                    "欠缴350.00元。欠缴税费合计350.00元。")
    assert PIN not in text
    # +86 and the bare number are the same mobile
    assert reply(service, f"查询 {TIN}", "+86" + PHONE) == text


def test_the_status_is_refused_to_any_other_number_alike(
        sms: tuple[SmsService, FixedClock]) -> None:
    service, _clock = sms
    seed_taxpayer(service.db)
    refused = reply(service, f"查询 {TIN}", OTHER)
    assert refused == TAXPAYER_REFUSED
    # an unknown TIN reads the same: a text tells no stranger which TINs exist
    assert reply(service, "查询 914403000000000000", OTHER) == TAXPAYER_REFUSED
    assert "深圳" not in refused
    assert PIN not in refused
    with service.db.session() as session:
        results = [row.data["result"] for row in session.scalars(
            select(ContactEventRow).where(ContactEventRow.kind == "service_result")
            .order_by(ContactEventRow.id))]
    assert results == ["not_registered_mobile", "unknown"]


def test_no_registered_mobile_means_no_status_by_text(
        sms: tuple[SmsService, FixedClock]) -> None:
    service, _clock = sms
    seed_taxpayer(service.db, mobile=None)
    assert reply(service, f"查询 {TIN}") == TAXPAYER_REFUSED


def test_a_malformed_query_gets_the_format(sms: tuple[SmsService, FixedClock]) -> None:
    service, _clock = sms
    text = reply(service, "查询 12345")
    assert text.startswith("纳税人识别号应为15至20位数字或字母。")
    assert "查询 914403001234567890" in text


# -- hall bookings -------------------------------------------------------------------------------


def seed_halls(db: Database, slots: int = 4) -> list[int]:
    with db.transaction() as session:
        halls = [ServiceHall(code="a", name="市中心办税服务厅", address="示例路一号",
                             prompt="hall/a", position=0),
                 ServiceHall(code="b", name="高新区办税服务厅", address="示例大道八号",
                             prompt="hall/b", position=1)]
        session.add_all(halls)
        session.flush()
        rows = [BookingSlot(hall_id=halls[0].id, starts_at=NOW + timedelta(hours=h + 1),
                            capacity=1, booked=0) for h in range(slots)]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def test_book_a_slot_and_cancel_it(sms: tuple[SmsService, FixedClock]) -> None:
    service, _clock = sms
    slot_ids = seed_halls(service.db)
    assert reply(service, "预约") == ("请回复“预约 厅号”查看可约时段：1.市中心办税服务厅；"
                                      "2.高新区办税服务厅。")
    assert reply(service, "预约 1") == ("市中心办税服务厅可约：1.12月1日11:00；2.12月1日12:00；"
                                        "3.12月1日13:00。回复“预约 1 序号”预约。")
    booked = reply(service, "预约 1 2")
    with service.db.session() as session:
        booking = session.scalar(select(Booking))
        assert booking is not None
        assert (booking.slot_id, booking.caller, booking.status) == (slot_ids[1], PHONE,
                                                                     "booked")
        slot = session.get(BookingSlot, slot_ids[1])
        assert slot is not None
        assert slot.booked == 1
    number = booking.confirmation_no
    assert booked == (f"已预约市中心办税服务厅12月1日12:00，预约号{number}，地址：示例路一号。"
                      f"取消请发送“取消预约 {number}”。")
    # the list of the number's bookings, then the cancel by its number
    assert number in reply(service, "取消预约")
    assert reply(service, f"取消预约 {number}", OTHER).startswith(f"未找到本手机号的预约{number}")
    assert reply(service, f"取消预约 {number}") == f"预约{number}已取消。"
    assert reply(service, f"取消预约 {number}") == f"预约{number}此前已取消。"
    with service.db.session() as session:
        slot = session.get(BookingSlot, slot_ids[1])
        assert slot is not None
        assert slot.booked == 0
    assert reply(service, "取消预约") == "本手机号没有待办的预约。预约请发送“预约”。"


def test_booking_refusals(sms: tuple[SmsService, FixedClock]) -> None:
    service, clock = sms
    assert reply(service, "预约") == "暂无可预约的办税服务厅，请拨打12366咨询。"
    seed_halls(service.db, slots=1)
    assert reply(service, "预约 5") == "没有5号办税服务厅，请回复“预约”查看全部2个服务厅。"
    assert reply(service, "预约 2").startswith("高新区办税服务厅近期已约满")
    reply(service, "预约 1")
    assert reply(service, "预约 1 3") == "序号应为1至1，请回复“预约 1 序号”。"
    # someone else took the slot offered
    reply(service, "预约 1", OTHER)
    reply(service, "预约 1 1", OTHER)
    assert reply(service, "预约 1 1") == "该时段刚刚约满，请回复“预约 1”重新选择。"
    # a choice with no list offered: the list, first
    assert reply(service, "预约 1 1", "13700137000").startswith("市中心办税服务厅近期已约满")
    # a slot list is no FAQ offer: "1" after it is not taken as a confirmation
    assert reply(service, "1", OTHER) == HELP
    with service.db.session() as session:
        number = session.scalar(select(Booking.confirmation_no))
    assert number is not None
    clock.advance(timedelta(hours=2))
    assert reply(service, f"取消预约 {number}", OTHER) == f"预约{number}的时间已到，无法取消。"
