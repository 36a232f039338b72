"""What a menu session can use beyond its channel: the knowledge base, the hotline's
self-services (behind the Protocols of ``ivr.ports``), speech recognition, the service calendar
and the process clock. Everything but the clock is optional; a node whose service is missing
goes to its fallback.

Importing this package registers the node runners of its modules (``speech``, ``faq``,
``service``: :mod:`ivr.menu.runners`), so a menu session, which needs :class:`IvrServices`,
always finds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ivr.calendar import ServiceCalendar
from ivr.clock import Clock
from ivr.ports import (
    BookingDesk,
    FaqSource,
    InvoiceRegistry,
    SpeechRecognizer,
    TaxpayerDirectory,
    TicketDesk,
)
from ivr.prompts.answers import AnswerAudio

# where the sandbox (and a production Asterisk) writes recordings, as Asterisk sees the path
PBX_RECORDINGS_DIR = "/var/spool/asterisk/recording"


@dataclass
class IvrServices:
    clock: Clock = field(kw_only=True)          # the process clock (ivr/clock.py)
    kb: FaqSource | None = None
    answers: AnswerAudio | None = None
    invoices: InvoiceRegistry | None = None
    taxpayers: TaxpayerDirectory | None = None
    bookings: BookingDesk | None = None
    tickets: TicketDesk | None = None
    recognizer: SpeechRecognizer | None = None
    calendar: ServiceCalendar | None = None
    recordings_dir: Path | None = None          # the same folder, as this process sees it
    pbx_recordings_dir: str = PBX_RECORDINGS_DIR

    def recording(self, name: str) -> tuple[str, Path | None]:
        """(path for Asterisk without extension, path here with .wav) of a recording."""
        local = self.recordings_dir / f"{name}.wav" if self.recordings_dir else None
        return f"{self.pbx_recordings_dir}/{name}", local


# the node runners register themselves when imported (after IvrServices: they do not need it)
from ivr.services import faq, handlers, speech  # noqa: E402

__all__ = ["PBX_RECORDINGS_DIR", "IvrServices", "faq", "handlers", "speech"]
