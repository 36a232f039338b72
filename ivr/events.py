"""The contact-event contract: one frozen record class per kind of contact event.

Producers (the menu engine, the IVR services, the bridge, the agent desk, the ticket API) build
these records; consumers (the contact log's derivation, the call card, the contact detail) read
their typed fields, so a consumer cannot read a field no producer writes (mypy checks it). A
record crosses a process boundary as its JSON form (:meth:`EventRecord.to_dict` /
:func:`record_from_dict`): the contact spool's lines and the ``contact_events.data`` column
hold exactly that form, with the kind beside it.

The JSON form is flat (one key per field) and leaves out an optional field whose value is None,
so that it is the shape stored before these classes existed. Reading checks it: an unknown kind,
a missing required field, an unknown field or a value of the wrong type is an
:class:`EventFormatError` naming the kind and the field. Fields that older producers did not write
are filled in when reading (``LEGACY_DEFAULTS``), so old spool lines and stored rows stay
readable. :data:`SCHEMA_VERSION` is the version of this contract; it changes when a field is
removed or changes meaning (adding an optional field does not change it).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, Union

SCHEMA_VERSION = 1

Json = str | int | float | bool | None | list[Any] | dict[str, Any]


class EventKind(enum.StrEnum):
    CALL_STARTED = "call_started"
    MENU_NODE = "menu_node"
    PROMPT_SENT = "prompt_sent"
    PROMPT = "prompt"
    PROMPT_UNHEARD = "prompt_unheard"
    DIGITS = "digits"
    NO_INPUT = "no_input"
    INVALID_INPUT = "invalid_input"
    SPEECH = "speech"
    FAQ_DECISION = "faq_decision"
    FAQ_CONFIRM = "faq_confirm"
    FAQ_PLAYED = "faq_played"
    SERVICE_RESULT = "service_result"
    SELF_SERVICE = "self_service"
    TRANSFER = "transfer"
    QUEUE_JOINED = "queue_joined"
    AGENT_RINGING = "agent_ringing"
    AGENT_CONNECTED = "agent_connected"
    AGENT_COMPLETED = "agent_completed"
    QUEUE_ABANDONED = "queue_abandoned"
    IVR_HANGUP = "ivr_hangup"
    ESCALATED = "escalated"
    AGENT_TRANSFER = "agent_transfer"
    CALL_HELD = "call_held"
    CALL_RESUMED = "call_resumed"
    CONSULT = "consult"
    TICKET = "ticket"
    CALLBACK = "callback"
    CALLBACK_DIAL = "callback_dial"
    SURVEY = "survey"
    REPLY = "reply"
    OUTCOME = "outcome"
    RESUMED = "resumed"
    CALL_ENDED = "call_ended"


class EventFormatError(ValueError):
    """A serialised record that does not fit its class (or names no kind we have)."""


@dataclass(frozen=True, kw_only=True)
class JsonRecord:
    """A frozen record with a checked, flat JSON form: the base of the contact events here
    and of the notifications (callcenter/notify/messages.py)."""

    LABEL: ClassVar[str] = "record"  # the record's name in an EventFormatError
    # fields older producers did not write, with the value a reader gets for them
    LEGACY_DEFAULTS: ClassVar[Mapping[str, Json]] = {}
    # the name of a field holding further free-form fields, flattened into the JSON form
    # (ServiceResult: every self-service reports its own details)
    EXTRA: ClassVar[str | None] = None
    # leave out an optional field (default None) that is None (True), or write it as null
    OMIT_NONE: ClassVar[bool] = True

    def to_dict(self) -> dict[str, Json]:
        """The JSON form: one key per field (an optional field left None is left out when
        ``OMIT_NONE``)."""
        out: dict[str, Json] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == self.EXTRA:
                out.update(_jsonable(value))
                continue
            if value is None and f.default is None and self.OMIT_NONE:
                continue
            out[f.name] = _jsonable(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The record of a JSON form; :class:`EventFormatError` when it does not fit."""
        if not isinstance(data, Mapping):
            raise EventFormatError(f"{cls.LABEL}: the data is not an object: {data!r}")
        hints = _hints(cls)
        values: dict[str, Any] = {**cls.LEGACY_DEFAULTS, **data}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, value in values.items():
            if name not in hints or name == cls.EXTRA:
                if cls.EXTRA is None:
                    raise EventFormatError(f"{cls.LABEL}: unknown field {name!r}")
                extra[name] = value
                continue
            kwargs[name] = _check(cls.LABEL, name, hints[name], value)
        if cls.EXTRA is not None:
            kwargs[cls.EXTRA] = extra
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.name not in kwargs and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise EventFormatError(f"{cls.LABEL}: missing field(s) {', '.join(missing)}")
        return cls(**kwargs)


RECORDS: dict[EventKind, type[EventRecord]] = {}


@dataclass(frozen=True, kw_only=True)
class EventRecord(JsonRecord):
    """What happened on a contact, of one kind: the base of every contact-event class."""

    KIND: ClassVar[EventKind]

    def __init_subclass__(cls, kind: EventKind | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:
            if kind in RECORDS:
                raise TypeError(f"two record classes for {kind}")
            cls.KIND = kind
            cls.LABEL = str(kind)
            RECORDS[kind] = cls

    @property
    def kind(self) -> EventKind:
        return self.KIND


def record_from_dict(kind: str, data: Mapping[str, Any]) -> EventRecord:
    """The record of kind ``kind`` from its JSON form (:class:`EventFormatError` otherwise)."""
    try:
        cls = RECORDS[EventKind(kind)]
    except ValueError:
        raise EventFormatError(f"unknown event kind {kind!r}") from None
    return cls.from_dict(data)


def field_name(classes: type[EventRecord] | tuple[type[EventRecord], ...], name: str) -> str:
    """``name``, checked to be a field of each of ``classes``: for readers of the stored JSON
    form (SQL over ``contact_events.data``), so that they too read only fields a producer
    writes (the check runs when the reader's module is imported)."""
    for cls in classes if isinstance(classes, tuple) else (classes,):
        if name not in {f.name for f in dataclasses.fields(cls)}:
            raise AttributeError(f"{cls.__name__} has no field {name!r}")
    return name


# -- the records, one per kind (fields in the order producers write them) ------------------


@dataclass(frozen=True, kw_only=True)
class CallStarted(EventRecord, kind=EventKind.CALL_STARTED):
    """A caller reached the IVR (or a bridge adopted a call it found after a restart)."""

    caller: str
    channel: str | None = None
    uniqueid: str | None = None
    dnid: str | None = None
    extension: str | None = None
    adopted: bool | None = None
    medium: str | None = None  # phone (None) or sms: the channel of the contact
    direction: str | None = None  # inbound (None) or outbound: an agent's callback


@dataclass(frozen=True, kw_only=True)
class MenuNodeEntered(EventRecord, kind=EventKind.MENU_NODE):
    node: str
    type: str | None = None


@dataclass(frozen=True, kw_only=True)
class PromptSent(EventRecord, kind=EventKind.PROMPT_SENT):
    """Prompts sent to Asterisk to be played; ``on_key``: barge_in | keep."""

    node: str
    prompts: tuple[str, ...]
    on_key: str | None = None
    attempt: int | None = None
    retry: int | None = None


@dataclass(frozen=True, kw_only=True)
class PromptHeard(EventRecord, kind=EventKind.PROMPT):
    """Prompts Asterisk played; the last one stopped by a key (``interrupted_by``, at
    ``endpos``); ``kept``: keys pressed while it played on, kept for the next input."""

    node: str
    prompts: tuple[str, ...]
    interrupted_by: str | None = None
    endpos: int | None = None
    kept: str | None = None
    attempt: int | None = None
    retry: int | None = None


@dataclass(frozen=True, kw_only=True)
class PromptUnheard(EventRecord, kind=EventKind.PROMPT_UNHEARD):
    """Prompts sent but not heard; ``reason``: barge_in | typeahead | failed | hangup."""

    node: str
    prompts: tuple[str, ...]
    reason: str
    key: str | None = None
    endpos: int | None = None
    attempt: int | None = None
    retry: int | None = None


@dataclass(frozen=True, kw_only=True)
class Digits(EventRecord, kind=EventKind.DIGITS):
    """Keys the caller pressed (``*`` for each key of a secret); ``action``: repeat | agent |
    back for a global key."""

    node: str
    digits: str
    action: str | None = None


@dataclass(frozen=True, kw_only=True)
class NoInput(EventRecord, kind=EventKind.NO_INPUT):
    node: str
    attempt: int
    recorded_ms: int | None = None


@dataclass(frozen=True, kw_only=True)
class InvalidInput(EventRecord, kind=EventKind.INVALID_INPUT):
    node: str
    digits: str
    attempt: int
    speech: str | None = None


@dataclass(frozen=True, kw_only=True)
class Speech(EventRecord, kind=EventKind.SPEECH):
    """What the recogniser heard (``grammar``: free, a grammar's name, or unavailable)."""

    node: str
    text: str
    confidence: float
    grammar: str
    recording: str | None = None
    attempt: int | None = None


@dataclass(frozen=True, kw_only=True)
class FaqDecision(EventRecord, kind=EventKind.FAQ_DECISION):
    """The knowledge base's decision on a caller's question: answer | confirm | decline."""

    node: str
    text: str
    decision: str
    score: float
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class FaqConfirm(EventRecord, kind=EventKind.FAQ_CONFIRM):
    """A candidate entry offered for confirmation (``offered``: 1 or 2); ``answer``: yes | no,
    None when the caller answered neither."""

    node: str
    faq_id: str
    question: str
    offered: int
    answer: str | None


@dataclass(frozen=True, kw_only=True)
class FaqPlayed(EventRecord, kind=EventKind.FAQ_PLAYED):
    """An FAQ answer played: the entry's ``question`` is what the agent's call card shows;
    ``via``: key | speech | confirm | repeat."""

    LEGACY_DEFAULTS: ClassVar[Mapping[str, Json]] = {"question": "", "category": ""}

    node: str
    faq_id: str
    question: str
    score: float
    category: str
    via: str


@dataclass(frozen=True, kw_only=True)
class ServiceResult(EventRecord, kind=EventKind.SERVICE_RESULT):
    """The result of a self-service (``tin``: the taxpayer of the comprehensive query, which
    the call card shows); ``details``: what else the service reports (hall_id, slot_id,
    ticket_no, a holiday's name ...), flattened into the JSON form."""

    EXTRA: ClassVar[str | None] = "details"

    node: str
    service: str
    result: str
    tin: str | None = None
    details: Mapping[str, Json] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SelfService(EventRecord, kind=EventKind.SELF_SERVICE):
    """The caller was served by the IVR (``detail``: e.g. the FAQ entry played)."""

    node: str
    service: str
    detail: str | None


@dataclass(frozen=True, kw_only=True)
class Transfer(EventRecord, kind=EventKind.TRANSFER):
    node: str
    queue: str
    skill: str | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class QueueJoined(EventRecord, kind=EventKind.QUEUE_JOINED):
    """A call entered ``queue``: an offer of that queue (``consult``: the consultation leg of
    a consultative transfer queueing for the expert seat, not the caller)."""

    queue: str
    position: int | None = None
    consult: bool | None = None


@dataclass(frozen=True, kw_only=True)
class AgentRinging(EventRecord, kind=EventKind.AGENT_RINGING):
    queue: str
    agent: str


@dataclass(frozen=True, kw_only=True)
class AgentConnected(EventRecord, kind=EventKind.AGENT_CONNECTED):
    """An agent answered (``resynced``: derived after a reconnection, times unknown;
    ``consult``: the expert answering a consultation's leg, whose ``hold_time`` is that leg's
    wait, not the caller's)."""

    queue: str
    agent: str
    hold_time: float | None = None
    ring_time: float | None = None
    resynced: bool | None = None
    consult: bool | None = None


@dataclass(frozen=True, kw_only=True)
class AgentCompleted(EventRecord, kind=EventKind.AGENT_COMPLETED):
    queue: str
    agent: str
    talk_time: float | None = None
    hold_time: float | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class QueueAbandoned(EventRecord, kind=EventKind.QUEUE_ABANDONED):
    queue: str
    hold_time: float | None = None
    position: int | None = None


@dataclass(frozen=True, kw_only=True)
class IvrHangup(EventRecord, kind=EventKind.IVR_HANGUP):
    """The IVR ended the call (``reason``: completed, max_retries, loop_guard, agi_error ...)."""

    node: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Escalated(EventRecord, kind=EventKind.ESCALATED):
    """FAQ self-service handed the caller to an agent; ``text``: the caller's words."""

    node: str
    faq_id: str | None
    queue: str | None
    reason: str
    text: str | None = None


@dataclass(frozen=True, kw_only=True)
class AgentTransfer(EventRecord, kind=EventKind.AGENT_TRANSFER):
    agent: str
    from_queue: str | None
    to_queue: str


@dataclass(frozen=True, kw_only=True)
class CallHeld(EventRecord, kind=EventKind.CALL_HELD):
    """The agent put the caller on hold (music on hold; callcenter/agents/hold.py)."""

    agent: str
    queue: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallResumed(EventRecord, kind=EventKind.CALL_RESUMED):
    """The hold ended after ``held_seconds``: the agent resumed the call, or (``ended``) the
    call ended or was transferred while on hold. The statistics read ``held_seconds``."""

    agent: str
    held_seconds: float
    ended: bool = False


@dataclass(frozen=True, kw_only=True)
class Consulted(EventRecord, kind=EventKind.CONSULT):
    """A step of a consultative transfer (callcenter/agents/consult.py): ``step`` started |
    answered | no_answer | completed | conference | cancelled, by ``agent`` towards ``queue``;
    ``expert``: who answered; ``named``: the agent consulted by name (``queue`` is then the
    call's own queue)."""

    agent: str
    queue: str
    step: str
    expert: str | None = None
    named: str | None = None


@dataclass(frozen=True, kw_only=True)
class TicketCreated(EventRecord, kind=EventKind.TICKET):
    """A ticket (``type``: complaint | report | director ...) for the contact."""

    ticket_no: str
    type: str
    node: str | None = None
    recording: str | None = None
    due_at: str | None = None
    recorded_ms: int | None = None
    by: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallbackRequested(EventRecord, kind=EventKind.CALLBACK):
    callback_id: int | None
    number: str
    node: str | None = None
    due_at: str | None = None
    queue: str | None = None
    via: str | None = None
    by: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReplySent(EventRecord, kind=EventKind.REPLY):
    """A written answer to the contact's question, sent after it ended (a consultation's
    reply by text): the ticket it answers, who wrote it, the text message that carries it
    and its length in characters."""

    ticket_no: str
    by: str
    channel: str = "sms"
    message_id: int | None = None
    chars: int | None = None


@dataclass(frozen=True, kw_only=True)
class CallbackDialled(EventRecord, kind=EventKind.CALLBACK_DIAL):
    """A step of an outbound callback attempt (its own contact, direction outbound):
    ``stage`` offered (the preview card), agent_answered, or result with ``status``: answer,
    no_answer, busy, failed (the number could not be reached), agent_missed (the agent's
    phone was not answered), interrupted (the AMI connection was lost mid-dial), skipped."""

    callback_id: int
    attempt: int
    stage: str
    agent: str
    status: str | None = None
    queue: str | None = None
    by: str | None = None


@dataclass(frozen=True, kw_only=True)
class Survey(EventRecord, kind=EventKind.SURVEY):
    """The satisfaction survey: ``score`` 1..3, None when the caller gave none."""

    score: int | None
    node: str | None = None
    key: str | None = None


@dataclass(frozen=True, kw_only=True)
class OutcomeSet(EventRecord, kind=EventKind.OUTCOME):
    """An explicit outcome set by a service (callback_requested, message_left ...)."""

    outcome: str
    node: str | None = None


@dataclass(frozen=True, kw_only=True)
class Resumed(EventRecord, kind=EventKind.RESUMED):
    """The menu resumed at ``node`` after an AMI reconnection."""

    node: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class CallEnded(EventRecord, kind=EventKind.CALL_ENDED):
    """The call ended (``reconciled``: found ended after a reconnection)."""

    cause: int
    cause_txt: str | None = None
    reconciled: bool | None = None
    asterisk_restarted: bool | None = None


# -- checking the JSON form ---------------------------------------------------------------

_HINTS: dict[type[JsonRecord], dict[str, Any]] = {}


def _hints(cls: type[JsonRecord]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        every = typing.get_type_hints(cls)
        hints = _HINTS[cls] = {f.name: every[f.name] for f in dataclasses.fields(cls)}
    return hints


def _check(label: str, name: str, hint: Any, value: Any) -> Any:
    """``value`` as field ``name`` of type ``hint`` holds it (a list as a tuple)."""
    ok, converted = _fit(hint, value)
    if not ok:
        raise EventFormatError(f"{label}: field {name!r} must be {_describe(hint)}, "
                               f"not {value!r}")
    return converted


def _fit(hint: Any, value: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        for arm in typing.get_args(hint):
            ok, converted = _fit(arm, value)
            if ok:
                return True, converted
        return False, value
    if hint is type(None):
        return value is None, value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if hint is str:
        return isinstance(value, str), value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return False, value
        (arm, _ellipsis) = typing.get_args(hint)
        items = [_fit(arm, item) for item in value]
        return all(ok for ok, _ in items), tuple(item for _, item in items)
    if origin is Mapping or origin is dict:
        return isinstance(value, Mapping) and all(isinstance(k, str) for k in value), value
    if hint is Any:
        return True, value
    # Json (a union of containers and scalars) and anything else JSON can hold
    return isinstance(value, str | int | float | bool | list | dict | type(None)), value


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value
