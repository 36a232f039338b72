"""What the IVR needs from the outside, declared as small interfaces (implemented in callcenter).

The IVR reports everything that happens on a call as :class:`ContactEvent` objects, keyed by the
call's Asterisk ``Linkedid``. The call center stores them (one contact row + its timeline) and
derives the contact's outcome when the call ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from ivr.events import EventKind as EventKind
from ivr.events import EventRecord as EventRecord
from ivr.events import Json, record_from_dict
from knowledge_base.models import Decision, FaqEntry


@dataclass(frozen=True)
class ContactEvent:
    """One thing that happened on a contact: a typed ``record`` (:mod:`ivr.events`, one class
    per kind), ``at`` a moment of the process clock (``ivr.clock``): producers stamp it, never
    the wall clock."""

    linkedid: str
    record: EventRecord
    at: datetime = field(kw_only=True)
    # the event's identity for idempotent storage: set by a producer that can re-derive the
    # event (e.g. after a reconnection) to a value stable across re-derivations; left empty,
    # the contact log assigns one from the content (callcenter.contacts.spool.event_key)
    key: str = field(default="", kw_only=True)

    @property
    def kind(self) -> EventKind:
        return self.record.KIND

    @property
    def data(self) -> dict[str, Json]:
        """The record's JSON form (what is stored and spooled)."""
        return self.record.to_dict()

    @classmethod
    def parse(cls, linkedid: str, kind: str, data: Mapping[str, Any], *, at: datetime,
              key: str = "") -> ContactEvent:
        """The event of a JSON form (a spool line, a stored row, a test's fixture);
        :class:`ivr.events.EventFormatError` when it does not fit its kind."""
        return cls(linkedid, record_from_dict(kind, data), at=at, key=key)


class ContactRecorder(Protocol):
    """Stores contact events. ``record`` must not block: it queues the event in order."""

    def record(self, event: ContactEvent) -> None: ...

    async def flush(self) -> None:
        """Wait until every recorded event is stored."""
        ...

    async def open_contacts(self) -> list[str]:
        """Linkedids of contacts that started and have not ended."""
        ...


# -- the knowledge base (knowledge_base.KnowledgeBase, built once by the composition root) --


class FaqSource(Protocol):
    """The FAQ knowledge base as the menu's ``faq`` nodes use it."""

    def decide(self, query: str, top: int = 3) -> Decision:
        """Answer, ask to confirm or decline a caller's question (blocking; run it in a
        thread)."""
        ...

    def get(self, entry_id: str) -> FaqEntry:
        """The entry ``entry_id`` (KeyError when there is none)."""
        ...


# -- self-services of the 12366 menu (implemented in callcenter, wired in runtime.py) ------------


@dataclass(frozen=True)
class InvoiceCheck:
    """Result of an invoice authenticity check (发票真伪鉴别)."""

    found: bool
    amount_matches: bool = False
    status: str = ""              # normal | void | red (red-letter reversed)
    issued_on: date | None = None


class InvoiceRegistry(Protocol):
    async def check(self, code: str, number: str, amount_fen: int) -> InvoiceCheck: ...


@dataclass(frozen=True)
class PinCheck:
    """``status``: ok | wrong_pin | locked | unknown (no such taxpayer)."""

    status: str
    attempts_left: int = 0


@dataclass(frozen=True)
class FilingStatus:
    tax: str                      # a prompt-able tax key: vat | cit | iit | stamp ...
    period: str                   # e.g. 2026-10
    filed: bool
    unpaid_fen: int = 0


@dataclass(frozen=True)
class TaxpayerStatus:
    tin: str
    filings: tuple[FilingStatus, ...]
    unpaid_fen: int


class TaxpayerDirectory(Protocol):
    async def verify_pin(self, tin: str, pin: str) -> PinCheck: ...

    async def status(self, tin: str) -> TaxpayerStatus | None: ...


@dataclass(frozen=True)
class Hall:
    id: int
    prompt: str                   # catalogue prompt id that names the hall


@dataclass(frozen=True)
class Slot:
    id: int
    starts_at: datetime


@dataclass(frozen=True)
class BookingConfirmation:
    confirmation_no: str
    hall_id: int
    starts_at: datetime


@dataclass(frozen=True)
class CallbackConfirmation:
    callback_id: int
    number: str
    due_at: datetime


class BookingDesk(Protocol):
    async def halls(self) -> list[Hall]: ...

    async def free_slots(self, hall_id: int, after: datetime, limit: int) -> list[Slot]: ...

    async def book(self, slot_id: int, caller: str, linkedid: str
                   ) -> BookingConfirmation | None:
        """None when the slot was taken in the meantime."""
        ...


@dataclass(frozen=True)
class TicketConfirmation:
    ticket_no: str
    due_at: datetime


class TicketDesk(Protocol):
    async def create_ticket(self, kind: str, caller: str, linkedid: str,
                            recording_path: str | None, summary: str = ""
                            ) -> TicketConfirmation: ...

    async def request_callback(self, number: str, linkedid: str, reason: str
                               ) -> CallbackConfirmation: ...


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float             # 0..1, mean word confidence
    grammar: str = "free"         # "free" or the node's grammar name


class SpeechRecognizer(Protocol):
    def recognize(self, wav_path: str, phrases: list[str] | None = None) -> Transcript:
        """Recognise a recorded utterance (blocking; run it in a thread).

        ``phrases`` restricts recognition to these phrases (plus ``[unk]``)."""
        ...
