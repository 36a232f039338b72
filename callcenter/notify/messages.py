"""The notifications: one frozen record class per kind of message the notifier publishes.

Each has the checked JSON form of the contact events (:class:`ivr.events.JsonRecord`): the
payload a WebSocket client receives (with ``type`` first for the kinds the console tells apart
by it), and :func:`notification_from_dict` reads it back on the other side of a process
boundary. A ``None`` field is sent as ``null`` (the console's scripts read it so). Each kind is
published by its own method of :class:`callcenter.notify.services.Notifier`, which knows its
topics; nested figures (the board's rows, the card's previous contacts, the wallboard) are
JSON objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from ivr.events import EventFormatError, Json, JsonRecord

NOTIFICATIONS: dict[str, type[Notification]] = {}


@dataclass(frozen=True, kw_only=True)
class Notification(JsonRecord):
    """A message of the notifier, of one kind (``NAME``)."""

    NAME: ClassVar[str]
    TYPE: ClassVar[str | None] = None  # the payload's "type", when the console reads one
    OMIT_NONE: ClassVar[bool] = False

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is not None:
            if name in NOTIFICATIONS:
                raise TypeError(f"two notification classes named {name}")
            cls.NAME = cls.LABEL = name
            NOTIFICATIONS[name] = cls

    def to_dict(self) -> dict[str, Json]:
        fields = super().to_dict()
        return {"type": self.TYPE, **fields} if self.TYPE is not None else fields

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        if cls.TYPE is not None and isinstance(data, Mapping):
            if data.get("type") != cls.TYPE:
                raise EventFormatError(f"{cls.NAME}: type must be {cls.TYPE!r}, "
                                       f"not {data.get('type')!r}")
            data = {k: v for k, v in data.items() if k != "type"}
        return super().from_dict(data)


def notification_from_dict(name: str, payload: Mapping[str, Any]) -> Notification:
    """The notification named ``name`` from its payload (EventFormatError otherwise)."""
    cls = NOTIFICATIONS.get(name)
    if cls is None:
        raise EventFormatError(f"unknown notification {name!r}")
    return cls.from_dict(payload)


# -- agents -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AgentStateChanged(Notification, name="agent_state"):
    """An agent's state (topics ``agents`` and ``agents.<username>``)."""

    username: str
    display_name: str
    role: str
    interface: str | None
    state: str
    state_title: str
    reason: str | None
    since: str
    linkedid: str | None
    queue: str | None
    caller: str | None
    queues: tuple[str, ...]
    on_hold: bool = False  # the agent holds the caller (music on hold)
    held_since: str | None = None


@dataclass(frozen=True, kw_only=True)
class AgentsResynced(Notification, name="agents_resynced"):
    """The desk brought its agent states in line with Asterisk's (topic ``agents``)."""

    TYPE: ClassVar[str | None] = "resynced"

    resyncs: int


# -- queues ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class QueueBoard(Notification, name="queue_board"):
    """The supervisor's live board (topic ``queues``): agents (AgentStateChanged's fields),
    agents by state, waiting callers, the longest wait, per queue waiting and longest wait."""

    at: str
    agents: tuple[Mapping[str, Json], ...]
    by_state: Mapping[str, Json]
    waiting: tuple[Mapping[str, Json], ...]
    longest_wait_s: float
    queues: Mapping[str, Json]


@dataclass(frozen=True, kw_only=True)
class CallbackOffered(Notification, name="callback_offered"):
    """A caller waiting in a queue chose a callback (topic ``queues``)."""

    TYPE: ClassVar[str | None] = "callback"

    number: str
    queue: str


# -- one agent's calls (topic ``calls.<username>``) ---------------------------------------


@dataclass(frozen=True, kw_only=True)
class CallRinging(Notification, name="call_ringing"):
    """The call card, when the agent's phone rings: the caller, the IVR path (node ids and
    their Chinese titles; ``ivr_steps``: per node of the path its title, the keys pressed
    there and the FAQ questions heard there), keys, FAQ answers heard (id, question, node,
    node_label), the caller's words, the taxpayer, the wait and previous contacts on any
    channel (``medium``: phone | sms | web)."""

    TYPE: ClassVar[str | None] = "ringing"

    linkedid: str
    caller: str
    queue: str
    contact_id: int | None
    ivr_path: tuple[str, ...]
    ivr_path_labels: tuple[str, ...]
    digits: tuple[str, ...]
    faqs: tuple[Mapping[str, Json], ...]
    asked: tuple[str, ...]
    taxpayer: str | None
    wait_s: float | None
    previous: tuple[Mapping[str, Json], ...] = field(default_factory=tuple)
    ivr_steps: tuple[Mapping[str, Json], ...] = field(default_factory=tuple)
    # the notes other agents wrote on this call so far (a consultative transfer: the expert
    # reads the first agent's): username, notes, disposition
    notes: tuple[Mapping[str, Json], ...] = field(default_factory=tuple)


@dataclass(frozen=True, kw_only=True)
class CallConnected(Notification, name="call_connected"):
    TYPE: ClassVar[str | None] = "connected"

    linkedid: str
    queue: str
    hold_time: int


@dataclass(frozen=True, kw_only=True)
class CallCompleted(Notification, name="call_completed"):
    """The call ended (``talk_time`` None and ``reason`` lost: it ended out of sight)."""

    TYPE: ClassVar[str | None] = "completed"

    linkedid: str | None
    talk_time: int | None
    reason: str


@dataclass(frozen=True, kw_only=True)
class ConsultChanged(Notification, name="consult_changed"):
    """A consultative transfer moved on (callcenter/agents/consult.py), sent to the agent who
    consults and to the expert: ``step`` calling | talking | no_answer | completed |
    conference | cancelled | ended; ``message``: what the console shows (Chinese); ``named``:
    the agent consulted by name (who is told from the start)."""

    TYPE: ClassVar[str | None] = "consult"

    linkedid: str
    agent: str
    queue: str
    step: str
    expert: str | None
    message: str
    named: str | None = None  # the agent consulted by name (None: a queue)


@dataclass(frozen=True, kw_only=True)
class CallMissed(Notification, name="call_missed"):
    """The agent did not answer in time."""

    TYPE: ClassVar[str | None] = "missed"

    linkedid: str


@dataclass(frozen=True, kw_only=True)
class CallAbandoned(Notification, name="call_abandoned"):
    """The caller hung up while the agent's phone rang."""

    TYPE: ClassVar[str | None] = "abandoned"

    linkedid: str | None


@dataclass(frozen=True, kw_only=True)
class CallbackPreview(Notification, name="callback_preview"):
    """A due callback offered to the agent (callcenter/outbound): who (the number masked),
    why the caller asked (the reason, the original contact's IVR path by Chinese titles,
    FAQ questions heard and their own words), the attempt, and how long the agent has to
    accept or skip before it is dialled anyway (``auto_dial_s``; None: never)."""

    TYPE: ClassVar[str | None] = "callback_preview"

    callback_id: int
    linkedid: str
    number_masked: str
    reason: str
    queue: str | None
    attempt: int
    max_attempts: int
    requested_at: str
    origin_linkedid: str
    ivr_path_labels: tuple[str, ...]
    faqs: tuple[str, ...]
    asked: tuple[str, ...]
    taxpayer: str | None
    auto_dial_s: float | None


@dataclass(frozen=True, kw_only=True)
class CallbackProgress(Notification, name="callback_progress"):
    """An outbound callback moves on: ``stage`` dialling (the agent's phone rings), calling
    (the agent answered; the number is dialled), connected (the taxpayer answered), ended
    (``result``: reached, no_answer, busy, failed, agent_missed, interrupted, skipped; and
    ``next``: closed or rescheduled, with ``due_at``)."""

    TYPE: ClassVar[str | None] = "callback_progress"

    callback_id: int
    linkedid: str
    stage: str
    result: str | None = None
    next: str | None = None
    due_at: str | None = None


# -- consultations (topic ``consult``) -----------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ConsultationSubmitted(Notification, name="consult_submitted"):
    """A new consultation waits for an answer (callcenter/consult): a question submitted on
    the web page (``channel`` web) or a text the knowledge base declined (sms). The number is
    masked; the question is cut to 200 characters (the console opens the ticket for the rest).
    """

    TYPE: ClassVar[str | None] = "consult_new"

    ticket_no: str
    channel: str
    question: str
    number_masked: str
    created_at: str
    due_at: str


# -- statistics ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WallboardFigures(Notification, name="wallboard"):
    """The live wallboard's figures (topic ``wallboard``; callcenter/stats, ``live``)."""

    EXTRA: ClassVar[str | None] = "figures"

    figures: Mapping[str, Json] = field(default_factory=dict)
