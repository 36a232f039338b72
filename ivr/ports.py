"""What the IVR needs from the outside, declared as small interfaces (implemented in callcenter).

The IVR reports everything that happens on a call as :class:`ContactEvent` objects, keyed by the
call's Asterisk ``Linkedid``. The call center stores them (one contact row + its timeline) and
derives the contact's outcome when the call ends.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol


class EventKind(enum.StrEnum):
    CALL_STARTED = "call_started"          # caller, channel, uniqueid
    MENU_NODE = "menu_node"                # node
    PROMPT = "prompt"                      # node, prompts
    DIGITS = "digits"                      # node, digits
    NO_INPUT = "no_input"                  # node, attempt
    INVALID_INPUT = "invalid_input"        # node, digits, attempt
    SPEECH = "speech"                      # node, text, confidence, grammar
    FAQ_PLAYED = "faq_played"              # node, faq_id, score, via (key|speech)
    SERVICE_RESULT = "service_result"      # node, service, result, detail
    SELF_SERVICE = "self_service"          # node, service, detail: the caller was served
    TRANSFER = "transfer"                  # node, queue
    QUEUE_JOINED = "queue_joined"          # queue, position
    AGENT_RINGING = "agent_ringing"        # queue, agent
    AGENT_CONNECTED = "agent_connected"    # queue, agent, hold_time, ring_time
    AGENT_COMPLETED = "agent_completed"    # queue, agent, talk_time, hold_time, reason
    QUEUE_ABANDONED = "queue_abandoned"    # queue, hold_time, position
    IVR_HANGUP = "ivr_hangup"              # node, reason: the IVR ended the call
    ESCALATED = "escalated"                # node, faq_id, queue, reason: FAQ declined -> agent
    AGENT_TRANSFER = "agent_transfer"      # agent, from_queue, to_queue: agent-side transfer
    TICKET = "ticket"                      # ticket_no, type (complaint|report|director)
    CALLBACK = "callback"                  # callback_id, number, due_at
    SURVEY = "survey"                      # score (1..3) or none, node
    OUTCOME = "outcome"                    # outcome: an explicit outcome set by a service
    RESUMED = "resumed"                    # node, reason: session resumed after AMI reconnect
    CALL_ENDED = "call_ended"              # cause, cause_txt, reconciled


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ContactEvent:
    linkedid: str
    kind: EventKind
    data: Mapping[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)


class ContactRecorder(Protocol):
    """Stores contact events. ``record`` must not block: it queues the event in order."""

    def record(self, event: ContactEvent) -> None: ...

    async def flush(self) -> None:
        """Wait until every recorded event is stored."""
        ...

    async def open_contacts(self) -> list[str]:
        """Linkedids of contacts that started and have not ended."""
        ...
