"""Reminder subscriptions (订阅) and the bulk reminder job.

Topics: ``deadline`` (filing deadlines) and ``policy`` (policy changes). A number subscribes
by text (``订阅 1`` / ``订阅 申报``, ``订阅 2`` / ``订阅 政策``); 退订/TD ends every
subscription and no reminder goes to it any more.

A job (``hotline sms remind create``) fixes its recipients when it is created: the topic's
subscribers less the numbers that opted out. ``run`` sends one text to each, in order, through
the SMS service (its sending limits: a held text is waited for), printing its progress; it
stops when the job is paused (``pause``, from another process) and carries on with ``resume``
then ``run``. Each recipient moves ``pending`` -> ``sending`` -> ``sent`` (or ``skipped``: it
opted out meanwhile, ``failed``: the gateway refused the text); the ``sending`` mark is stored
before its text is recorded, and the text's linkedid is ``remind-<job>-<recipient>``.

After a crash, ``run`` first settles the recipients left ``sending``: one whose text was never
recorded goes back to pending; one whose text has a delivery report (the gateway took it) is
sent; one whose text was recorded but has no report yet waits ``settle`` (default 60 s, the
reports come within a second) and is then taken as never handed over: that text is marked
failed and the recipient sent again. No recipient is sent twice unless a text the gateway took
gets no report at all within ``settle`` (docs/sms.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update

from callcenter.db import Database
from callcenter.sms.models import (
    MtStatus,
    ReminderJob,
    ReminderRecipient,
    SmsDeliveryReport,
    SmsMessage,
    SmsOptOut,
    SmsSubscription,
)
from ivr.clock import Clock

if TYPE_CHECKING:
    from callcenter.sms.services import SmsService

log = logging.getLogger(__name__)

# the filing deadlines of one tax: "deadline:<tax>" (a job for that tax reaches them and the
# subscribers of every deadline)
TAXES = {"vat": "增值税", "cit": "企业所得税", "iit": "个人所得税", "stamp": "印花税",
         "property": "房产税", "ssc": "社会保险费"}
TOPICS = {"deadline": "申报期限提醒", "policy": "政策变化提醒",
          **{f"deadline:{key}": f"{name}申报期限提醒" for key, name in TAXES.items()}}
TOPIC_WORDS = {"1": "deadline", "申报": "deadline", "申报期限": "deadline", "期限": "deadline",
               "2": "policy", "政策": "policy", "政策变化": "policy",
               **{name: f"deadline:{key}" for key, name in TAXES.items()}}
RECIPIENT_STATES = ("pending", "sending", "sent", "skipped", "failed")


class JobError(ValueError):
    """A job that does not exist or cannot do what was asked (the CLI prints it)."""


@dataclass(frozen=True)
class Progress:
    job_id: int
    status: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return self.total - self.counts.get("pending", 0) - self.counts.get("sending", 0)

    def line(self) -> str:
        parts = " ".join(f"{k} {self.counts.get(k, 0)}" for k in RECIPIENT_STATES)
        return f"job {self.job_id} {self.status}: {self.done}/{self.total} ({parts})"


class Subscriptions:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def subscribe(self, number: str, topic: str) -> None:
        """Subscribe ``number`` to ``topic``; an earlier 退订 is withdrawn (they asked)."""
        if topic not in TOPICS:
            raise ValueError(f"unknown topic {topic!r}")
        with self.db.transaction() as session:
            if session.get(SmsSubscription, (number, topic)) is None:
                session.add(SmsSubscription(number=number, topic=topic, at=self.clock()))
            session.execute(delete(SmsOptOut).where(SmsOptOut.number == number))

    def end_all(self, number: str) -> int:
        with self.db.transaction() as session:
            result = session.execute(delete(SmsSubscription)
                                     .where(SmsSubscription.number == number))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def topics(self, number: str) -> list[str]:
        with self.db.session() as session:
            return sorted(session.scalars(select(SmsSubscription.topic)
                                          .where(SmsSubscription.number == number)))


class ReminderJobs:
    def __init__(self, sms: SmsService, settle: timedelta = timedelta(seconds=60),
                 poll: float = 0.05) -> None:
        self.sms = sms
        self.db = sms.db
        self.clock = sms.clock
        self.settle = settle
        self.poll = poll

    # -- the job -----------------------------------------------------------------------------

    def create(self, topic: str, text: str, tax: str | None = None) -> int:
        """A job for every subscriber of ``topic`` who has not opted out; returns its id.
        ``tax`` (deadline reminders): also the subscribers of that tax's deadlines."""
        if topic not in ("deadline", "policy"):
            raise JobError(f"unknown topic {topic!r}: deadline or policy")
        if tax is not None and (topic != "deadline" or tax not in TAXES):
            raise JobError(f"--tax is one of {', '.join(TAXES)}, for deadline reminders")
        topics = [topic] if tax is None else [topic, f"deadline:{tax}"]
        if not text.strip():
            raise JobError("the reminder text is empty")
        with self.db.transaction() as session:
            job = ReminderJob(topic=topics[-1], text=text.strip(), status="ready",
                              created_at=self.clock())
            session.add(job)
            session.flush()
            numbers = session.scalars(
                select(SmsSubscription.number).distinct().where(
                    SmsSubscription.topic.in_(topics),
                    ~select(SmsOptOut.number).where(SmsOptOut.number == SmsSubscription.number)
                    .exists())
                .order_by(SmsSubscription.number))
            session.add_all(ReminderRecipient(job_id=job.id, number=n, status="pending")
                            for n in numbers)
            return job.id

    def progress(self, job_id: int) -> Progress:
        with self.db.session() as session:
            job = session.get(ReminderJob, job_id)
            if job is None:
                raise JobError(f"no reminder job {job_id}")
            counts = dict(session.execute(
                select(ReminderRecipient.status, func.count())
                .where(ReminderRecipient.job_id == job_id)
                .group_by(ReminderRecipient.status)).tuples().all())
            return Progress(job_id, job.status, {k: counts.get(k, 0) for k in RECIPIENT_STATES})

    def recipients(self, job_id: int, limit: int = 100) -> list[tuple[str, str, str]]:
        """(number, the recipient's status, its text's delivery status) in order."""
        with self.db.session() as session:
            rows = session.execute(
                select(ReminderRecipient.number, ReminderRecipient.status, SmsMessage.status)
                .outerjoin(SmsMessage, SmsMessage.id == ReminderRecipient.message_id)
                .where(ReminderRecipient.job_id == job_id)
                .order_by(ReminderRecipient.id).limit(limit)).all()
        return [(r[0], r[1], r[2] or "") for r in rows]

    def _set_status(self, job_id: int, status: str, allowed: tuple[str, ...]) -> None:
        with self.db.transaction() as session:
            job = session.get(ReminderJob, job_id, with_for_update=True)
            if job is None:
                raise JobError(f"no reminder job {job_id}")
            if job.status not in allowed:
                raise JobError(f"job {job_id} is {job.status}")
            job.status = status

    def pause(self, job_id: int) -> None:
        """Stop the running job after the text it is sending (from any process)."""
        self._set_status(job_id, "paused", ("ready", "running", "paused"))

    def resume(self, job_id: int) -> None:
        """Let ``run`` carry on with a paused job."""
        self._set_status(job_id, "ready", ("paused", "ready"))

    # -- running -------------------------------------------------------------------------------

    async def run(self, job_id: int, progress: Callable[[Progress], None] | None = None,
                  every: int = 500, batch: int = 200) -> Progress:
        """Send the job's pending texts; returns when it is done or paused."""
        await asyncio.to_thread(self._set_status, job_id, "running", ("ready", "running"))
        sent_since = 0
        while True:
            await asyncio.to_thread(self._settle, job_id)
            state = await asyncio.to_thread(self._job_status, job_id)
            if state == "paused":
                break
            pending = await asyncio.to_thread(self._pending, job_id, batch)
            if not pending:
                if (await asyncio.to_thread(self.progress, job_id)).counts["sending"]:
                    await asyncio.sleep(self.poll)  # texts awaiting their reports
                    continue
                await asyncio.to_thread(self._finish, job_id)
                break
            text = await asyncio.to_thread(self._job_text, job_id)
            for n, (recipient_id, number) in enumerate(pending):
                # a pause is seen within 10 texts
                if n % 10 == 0 and n and await asyncio.to_thread(self._job_status,
                                                           job_id) == "paused":
                    break
                await self._send_one(job_id, recipient_id, number, text)
                sent_since += 1
                if progress is not None and sent_since >= every:
                    sent_since = 0
                    progress(await asyncio.to_thread(self.progress, job_id))
        final = await asyncio.to_thread(self.progress, job_id)
        if progress is not None:
            progress(final)
        return final

    async def _send_one(self, job_id: int, recipient_id: int, number: str, text: str) -> None:
        if not await asyncio.to_thread(self._claim, recipient_id, number):
            return
        mt = await self.sms.send(number, text, f"remind-{job_id}-{recipient_id}", "reminder")
        while mt.status == MtStatus.HELD:  # over a sending limit: wait for its slot
            await asyncio.sleep(self.poll)
            await self.sms.dispatch_due()
            mt = await asyncio.to_thread(self._message, mt.id)
        await asyncio.to_thread(self._sent, recipient_id, mt)

    def _claim(self, recipient_id: int, number: str) -> bool:
        """Mark the recipient ``sending`` (once); skipped when it opted out meanwhile."""
        with self.db.transaction() as session:
            out = session.get(SmsOptOut, number) is not None
            result = session.execute(
                update(ReminderRecipient)
                .where(ReminderRecipient.id == recipient_id,
                       ReminderRecipient.status == "pending")
                .values(status="skipped" if out else "sending", at=self.clock()))
            return bool(result.rowcount) and not out  # type: ignore[attr-defined]

    def _sent(self, recipient_id: int, mt: SmsMessage) -> None:
        failed = mt.status in (MtStatus.FAILED, MtStatus.SUPPRESSED)
        with self.db.transaction() as session:
            session.execute(update(ReminderRecipient)
                            .where(ReminderRecipient.id == recipient_id)
                            .values(status="failed" if failed else "sent", message_id=mt.id,
                                    at=self.clock()))

    def _settle(self, job_id: int) -> None:
        """Decide the recipients left ``sending`` by a crash (see the module's docstring)."""
        now = self.clock()
        with self.db.transaction() as session:
            stuck = list(session.scalars(select(ReminderRecipient).where(
                ReminderRecipient.job_id == job_id, ReminderRecipient.status == "sending",
                ReminderRecipient.message_id.is_(None)).with_for_update(skip_locked=True)))
            for recipient in stuck:
                message = session.scalar(
                    select(SmsMessage).where(
                        SmsMessage.linkedid == f"remind-{job_id}-{recipient.id}")
                    .order_by(SmsMessage.id.desc()).limit(1))
                if message is None:
                    recipient.status = "pending"  # its text was never recorded
                    log.info("reminder job %s: recipient %s back to pending", job_id,
                             recipient.id)
                    continue
                reported = session.scalar(select(func.count()).select_from(SmsDeliveryReport)
                                          .where(SmsDeliveryReport.message_id == message.id))
                if reported or message.status not in (MtStatus.QUEUED, MtStatus.FAILED):
                    recipient.status, recipient.message_id = "sent", message.id
                elif message.status == MtStatus.FAILED:
                    recipient.status, recipient.message_id = "failed", message.id
                elif message.at <= now - self.settle:
                    # recorded, never reported: it never reached the gateway; again
                    message.status, message.status_at = str(MtStatus.FAILED), now
                    recipient.status = "pending"
                    log.warning("reminder job %s: text %s has no delivery report after %s; "
                                "recipient %s sent again", job_id, message.id, self.settle,
                                recipient.id)

    def _pending(self, job_id: int, batch: int) -> list[tuple[int, str]]:
        with self.db.session() as session:
            rows = session.execute(
                select(ReminderRecipient.id, ReminderRecipient.number)
                .where(ReminderRecipient.job_id == job_id, ReminderRecipient.status == "pending")
                .order_by(ReminderRecipient.id).limit(batch)).all()
        return [(r[0], r[1]) for r in rows]

    def _job_status(self, job_id: int) -> str:
        with self.db.session() as session:
            status = session.scalar(select(ReminderJob.status).where(ReminderJob.id == job_id))
        if status is None:
            raise JobError(f"no reminder job {job_id}")
        return status

    def _job_text(self, job_id: int) -> str:
        with self.db.session() as session:
            return session.scalar(select(ReminderJob.text).where(ReminderJob.id == job_id)) or ""

    def _message(self, message_id: int) -> SmsMessage:
        with self.db.session() as session:
            message = session.get(SmsMessage, message_id)
            assert message is not None
            session.expunge(message)
            return message

    def _finish(self, job_id: int) -> None:
        with self.db.transaction() as session:
            job = session.get(ReminderJob, job_id)
            if job is not None and job.status == "running":
                job.status, job.finished_at = "done", self.clock()
