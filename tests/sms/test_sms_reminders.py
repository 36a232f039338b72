"""Subscriptions by text and the bulk reminder job, on both databases: everyone subscribed gets
exactly one text, through pause/resume and through crashes at either side of the hand-over."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.db import Database
from callcenter.sms.models import (
    ReminderJob,
    ReminderRecipient,
    SmsDeliveryReport,
    SmsMessage,
    SmsOptOut,
    SmsSubscription,
    SmsSurvey,
)
from callcenter.sms.parsing import Subscribe, parse
from callcenter.sms.reminders import JobError, Progress, ReminderJobs
from callcenter.sms.services import OPT_OUT_DONE, SmsService
from callcenter.sms.throttle import Limits
from ivr.clock import FixedClock

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
PHONE = "13800138000"
TEXT = "【12366】12月征期申报截止日为12月15日，请按时申报。回复TD退订。"


class Crash(Exception):
    """The process dies here."""


class Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.crash_before: int | None = None   # dies before handing over the n-th text
        self.crash_after: int | None = None    # dies after the n-th text was taken
        self.sms: SmsService | None = None

    async def send(self, number: str, text: str, message_id: int) -> str | None:
        if self.crash_before is not None and len(self.sent) + 1 == self.crash_before:
            self.crash_before = None
            raise Crash
        self.sent.append(number)
        if self.crash_after is not None and len(self.sent) == self.crash_after:
            self.crash_after = None
            assert self.sms is not None
            self.sms.record_dlr(message_id, 8, "ACK/")  # the SMSC took it, then we die
            raise Crash
        return None


@pytest.fixture
def sms(database: Database) -> tuple[SmsService, FixedClock, Recorder]:
    with database.transaction() as session:
        for table in (ReminderRecipient, ReminderJob, SmsSubscription, SmsSurvey,
                      SmsDeliveryReport, SmsMessage, SmsOptOut, ContactEventRow, Contact):
            session.execute(delete(table))
    clock, sender = FixedClock(NOW), Recorder()
    service = SmsService(database, clock, kb=None, tickets=None, sender=sender,
                         limits=Limits(total_per_second=100_000))
    sender.sms = service
    return service, clock, sender


def reply(service: SmsService, text: str, number: str = PHONE) -> str:
    _mo, replies = asyncio.run(service.receive(number, text))
    return replies[0].text


def subscribers(service: SmsService, n: int) -> list[str]:
    numbers = [f"139{i:08d}" for i in range(n)]
    for number in numbers:
        service.subscriptions.subscribe(number, "deadline")
    return numbers


def test_parsing() -> None:
    assert parse("订阅") == Subscribe(None)
    assert parse("订阅 1") == Subscribe("1")
    assert parse("订阅政策提醒") == Subscribe("政策")


def test_subscribe_by_text_and_td_ends_it(
        sms: tuple[SmsService, FixedClock, Recorder]) -> None:
    service, _clock, _sender = sms
    assert "订阅1 申报期限提醒" in reply(service, "订阅")
    assert reply(service, "订阅 1") == "您已订阅12366申报期限提醒。回复TD可随时退订。"
    assert reply(service, "订阅政策") == "您已订阅12366政策变化提醒。回复TD可随时退订。"
    assert reply(service, "订阅").startswith("您已订阅：申报期限提醒、政策变化提醒。")
    assert reply(service, "TD") == OPT_OUT_DONE
    assert service.subscriptions.topics(PHONE) == []
    # subscribing again withdraws the 退订: they asked for it
    reply(service, "订阅 2")
    assert not service.opted_out(PHONE)


def test_deadlines_of_one_tax(sms: tuple[SmsService, FixedClock, Recorder]) -> None:
    service, _clock, sender = sms
    assert reply(service, "订阅 增值税") == "您已订阅12366增值税申报期限提醒。回复TD可随时退订。"
    assert reply(service, "订阅企业所得税", "13700000001").startswith("您已订阅12366企业所得税")
    assert service.subscriptions.topics(PHONE) == ["deadline:vat"]
    everything = subscribers(service, 2)  # every deadline
    jobs = ReminderJobs(service)
    job = jobs.create("deadline", TEXT, tax="vat")
    before = len(sender.sent)  # the replies to 订阅
    asyncio.run(jobs.run(job))
    assert sorted(sender.sent[before:]) == sorted([PHONE, *everything])  # not cit's
    with pytest.raises(JobError, match="--tax"):
        jobs.create("deadline", TEXT, tax="weather")
    with pytest.raises(JobError, match="--tax"):
        jobs.create("policy", TEXT, tax="vat")


def test_a_job_sends_each_subscriber_one_text_and_reports_progress(
        sms: tuple[SmsService, FixedClock, Recorder]) -> None:
    service, _clock, sender = sms
    numbers = subscribers(service, 30)
    service.opt_out(numbers[0], "TD")  # opted out before the job: not a recipient
    jobs = ReminderJobs(service)
    job = jobs.create("deadline", TEXT)
    assert jobs.progress(job).total == 29
    service.opt_out(numbers[1], "TD")  # after: skipped when its turn comes
    lines: list[Progress] = []
    final = asyncio.run(jobs.run(job, progress=lines.append, every=10))
    assert final.status == "done"
    assert final.counts == {"pending": 0, "sending": 0, "sent": 28, "skipped": 1, "failed": 0}
    assert sorted(sender.sent) == numbers[2:]
    assert [p.done for p in lines] == [10, 20, 29]
    assert lines[-1].line() == (f"job {job} done: 29/29 "
                                "(pending 0 sending 0 sent 28 skipped 1 failed 0)")
    assert jobs.recipients(job, 2) == [(numbers[1], "skipped", ""),
                                       (numbers[2], "sent", "queued")]
    with pytest.raises(JobError, match="is done"):
        asyncio.run(jobs.run(job))


def test_pause_and_resume(sms: tuple[SmsService, FixedClock, Recorder]) -> None:
    service, _clock, sender = sms
    subscribers(service, 25)
    jobs = ReminderJobs(service)
    job = jobs.create("deadline", TEXT)
    paused = asyncio.run(jobs.run(job, progress=lambda p: jobs.pause(job), every=10))
    assert paused.status == "paused"
    assert paused.counts["sent"] == 10
    with pytest.raises(JobError, match="is paused"):
        asyncio.run(jobs.run(job))
    jobs.resume(job)
    assert asyncio.run(jobs.run(job)).status == "done"
    assert len(sender.sent) == len(set(sender.sent)) == 25


def test_a_crash_before_the_hand_over_sends_that_text_after_the_restart(
        sms: tuple[SmsService, FixedClock, Recorder]) -> None:
    service, clock, sender = sms
    numbers = subscribers(service, 20)
    job = ReminderJobs(service).create("deadline", TEXT)
    sender.crash_before = 8
    with pytest.raises(Crash):
        asyncio.run(ReminderJobs(service).run(job))
    assert ReminderJobs(service).progress(job).counts["sending"] == 1
    # the restarted job waits for the text's report, then takes it as never handed over
    clock.advance(timedelta(seconds=61))
    assert asyncio.run(ReminderJobs(service).run(job)).status == "done"
    assert Counter(sender.sent) == Counter(numbers)


def test_a_crash_after_the_hand_over_sends_nothing_twice(
        sms: tuple[SmsService, FixedClock, Recorder]) -> None:
    service, clock, sender = sms
    numbers = subscribers(service, 20)
    job = ReminderJobs(service).create("deadline", TEXT)
    sender.crash_after = 12
    with pytest.raises(Crash):
        asyncio.run(ReminderJobs(service).run(job))
    clock.advance(timedelta(seconds=1))
    final = asyncio.run(ReminderJobs(service).run(job))
    assert final.counts["sent"] == 20
    assert Counter(sender.sent) == Counter(numbers)  # every one exactly once


def test_job_refusals(sms: tuple[SmsService, FixedClock, Recorder]) -> None:
    jobs = ReminderJobs(sms[0])
    with pytest.raises(JobError, match="unknown topic"):
        jobs.create("weather", TEXT)
    with pytest.raises(JobError, match="empty"):
        jobs.create("policy", "  ")
    with pytest.raises(JobError, match="no reminder job"):
        jobs.progress(999_999)
