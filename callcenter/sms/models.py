"""SMS tables (migrations 0006, 0009): every text in and out, its delivery reports, and the
numbers that opted out of reminders (退订)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, UtcDateTime


class Direction(enum.StrEnum):
    MO = "mo"   # mobile-originated: a text to 12366
    MT = "mt"   # mobile-terminated: a text from 12366


class MtStatus(enum.StrEnum):
    QUEUED = "queued"          # accepted by smsbox's sendsms
    SMSC_ACCEPTED = "smsc"     # DLR 8: the SMSC took it
    DELIVERED = "delivered"    # DLR 1: on the phone
    FAILED = "failed"          # DLR 2 or 16, or sendsms refused it
    BUFFERED = "buffered"      # DLR 4: the SMSC keeps it for later
    HELD = "held"              # over a sending limit: waits for its slot (send_after)
    SUPPRESSED = "suppressed"  # cut: a reply storm to one number (never sent)


# Kannel's delivery report types (``%d`` of a dlr-url)
DLR_STATUS: dict[int, MtStatus] = {
    1: MtStatus.DELIVERED, 2: MtStatus.FAILED, 4: MtStatus.BUFFERED,
    8: MtStatus.SMSC_ACCEPTED, 16: MtStatus.FAILED,
}
# a later report never moves a message back: delivered and failed are final
STATUS_RANK: dict[str, int] = {MtStatus.QUEUED: 0, MtStatus.SMSC_ACCEPTED: 1,
                               MtStatus.BUFFERED: 2, MtStatus.DELIVERED: 3, MtStatus.FAILED: 3}


class SmsMessage(Base):
    __tablename__ = "sms_messages"
    __table_args__ = (Index("ix_sms_messages_number_id", "number", "id"),
                      # the worker's look for held texts, every second
                      Index("ix_sms_messages_status_send_after", "status", "send_after"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    direction: Mapped[str] = mapped_column(String(2), nullable=False)
    number: Mapped[str] = mapped_column(String(32), nullable=False)  # the phone's
    service_number: Mapped[str] = mapped_column(String(32), nullable=False, default="12366")
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    segments: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
    # the conversation's contact (contacts.linkedid "sms-..."); a reply has its text's
    linkedid: Mapped[str] = mapped_column(String(64), nullable=False, default="", index=True)
    intent: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # a confirm offer awaiting "1"/"2": the FAQ ids offered, space-separated, first = offered
    offer: Mapped[str | None] = mapped_column(String(256))
    # handed to the gateway at (the throttle counts these; migration 0009); a held text
    # waits until send_after
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    send_after: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SmsDeliveryReport(Base):
    __tablename__ = "sms_delivery_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("sms_messages.id", ondelete="CASCADE"), nullable=False, index=True)
    dlr_type: Mapped[int] = mapped_column(Integer, nullable=False)
    smsc_reply: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class SmsOptOut(Base):
    """A number that texted 退订/TD: no reminders go to it."""

    __tablename__ = "sms_opt_outs"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    text: Mapped[str] = mapped_column(String(160), nullable=False, default="")


class SurveyStatus(enum.StrEnum):
    SENT = "sent"            # the survey text went; a reply 1/2/3 within the window counts
    ANSWERED = "answered"    # the score is on the call's contact


class SmsSurvey(Base):
    """The satisfaction survey by text after one phone call: one row per call (the unique
    contact is what makes it one text per call)."""

    __tablename__ = "sms_surveys"
    __table_args__ = (UniqueConstraint("contact_id", name="uq_sms_surveys_contact_id"),
                      Index("ix_sms_surveys_number_id", "number", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False)
    linkedid: Mapped[str] = mapped_column(String(64), nullable=False)  # the call's
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("sms_messages.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="sent")
    score: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SmsSubscription(Base):
    """A number's subscription to one kind of reminder (订阅): ``deadline`` (every filing
    deadline), ``deadline:<tax>`` (one tax's) or ``policy`` (policy changes). 退订/TD ends
    every one of them."""

    __tablename__ = "sms_subscriptions"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class ReminderJob(Base):
    """A bulk reminder: one text to every subscriber of a topic (recipients fixed when the
    job is created), sent by ``hotline sms remind run``; resumable."""

    __tablename__ = "sms_reminder_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # ready|running|paused|done
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ReminderRecipient(Base):
    """One recipient of a job: pending -> sending (claimed; its text's linkedid is
    ``remind-<job>-<id>``) -> sent; or skipped (opted out meanwhile) or failed."""

    __tablename__ = "sms_reminder_recipients"
    __table_args__ = (UniqueConstraint("job_id", "number", name="uq_sms_reminder_recipient"),
                      Index("ix_sms_reminder_recipients_job_status", "job_id", "status", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("sms_reminder_jobs.id", ondelete="CASCADE"), nullable=False)
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("sms_messages.id", ondelete="SET NULL"))
    at: Mapped[datetime | None] = mapped_column(UtcDateTime)
