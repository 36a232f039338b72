"""The voice menu as data: a tree of typed nodes, validated with pydantic.

Node types: ``play`` (prompts), ``menu`` (one DTMF key), ``collect`` (digits, fixed length or
``#``-terminated, optional read-back and confirmation), ``speech`` (an utterance recognised with
a grammar or free-form), ``faq`` (a knowledge-base answer, by id or by the caller's question),
``service`` (a self-service of the hotline: invoice check, taxpayer query, booking, callback,
voice message), ``hours`` (business-hours / holiday routing), ``survey`` (1-3 key satisfaction
score), ``subflow`` / ``return`` (a reusable part of the tree), ``transfer`` (to an agent queue)
and ``hangup``.

Every node that waits for the caller has a timeout, retries, invalid-input and no-input
prompts, then a ``fallback``. Global keys (``*`` back, ``#`` repeat, ``0`` agent) are set for the
whole menu under ``global_keys`` (none by default) and can be switched off per node
(``global_keys: false``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PromptId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]*(/[a-z0-9_]+)*$")]
NodeId = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")]
Key = Annotated[str, Field(pattern=r"^[0-9*#]$")]
VarName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
QueueName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
Clock = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # what the node is, in Chinese, for people: the agent's call card shows the caller's path
    # through the menu by these titles (the node's id when it has none)
    title: str | None = Field(default=None, min_length=1, max_length=40)


class _Waits(_Node):
    """Fields of every node that waits for the caller's input."""

    timeout_ms: int = Field(default=5000, ge=500, le=60000)
    retries: int = Field(default=2, ge=0, le=5)
    invalid_prompt: PromptId | None = None
    no_input_prompt: PromptId | None = None
    global_keys: bool = True


class PlayNode(_Node):
    """Play prompts, then go on. ``service`` marks the caller as served (self-service)."""

    type: Literal["play"]
    prompts: list[PromptId] = Field(min_length=1)
    next: NodeId
    barge_in: bool = True
    service: str | None = None
    detail: str | None = None


class MenuNode(_Waits):
    """Play a prompt and wait for one key; replay on no or invalid input, then fall back."""

    type: Literal["menu"]
    prompt: PromptId
    options: dict[Key, NodeId] = Field(min_length=1)
    fallback: NodeId


class CollectNode(_Waits):
    """Collect digits into session variable ``store``: a fixed length (``min_digits ==
    max_digits``) or up to ``max_digits`` ended by ``#``. ``readback`` reads the entry back
    (digit by digit, or as an amount of money in fen) and asks for confirmation
    (``confirm_prompt``: 1 confirms, 2 re-enters)."""

    type: Literal["collect"]
    prompt: PromptId
    store: VarName
    min_digits: int = Field(default=1, ge=1, le=32)
    max_digits: int = Field(default=1, ge=1, le=32)
    readback: Literal["digits", "amount"] | None = None
    secret: bool = False    # a PIN: the keys are not written to the timeline
    readback_prompt: PromptId | None = None
    confirm_prompt: PromptId | None = None
    next: NodeId
    fallback: NodeId

    @model_validator(mode="after")
    def _lengths(self) -> CollectNode:
        if self.min_digits > self.max_digits:
            raise ValueError("min_digits must not exceed max_digits")
        if self.readback and not (self.readback_prompt and self.confirm_prompt):
            raise ValueError("readback needs readback_prompt and confirm_prompt")
        return self


class SpeechNode(_Waits):
    """Record the caller's utterance and recognise it. With ``phrases`` (phrase -> node) the
    recogniser is restricted to them (+ ``[unk]``); without, it is free-form and the text is
    stored in ``store`` before going to ``next``. Unrecognised or low-confidence speech counts
    as invalid input; silence as no input. A key pressed instead of speaking follows
    ``options``."""

    type: Literal["speech"]
    prompt: PromptId
    phrases: dict[str, NodeId] = Field(default_factory=dict)
    options: dict[Key, NodeId] = Field(default_factory=dict)
    store: VarName | None = None
    next: NodeId | None = None
    min_confidence: float = Field(default=0.4, ge=0.0, le=1.0)
    max_seconds: int = Field(default=8, ge=2, le=30)
    silence_seconds: int = Field(default=2, ge=1, le=5)
    fallback: NodeId

    @model_validator(mode="after")
    def _target(self) -> SpeechNode:
        if not self.phrases and not (self.store and self.next):
            raise ValueError("a speech node needs phrases, or store and next (free-form)")
        return self


class FaqNode(_Waits):
    """Play a knowledge-base answer: the entry ``faq_id``, or the answer to the question in
    session variable ``question_from`` as the knowledge base decides (ivr/services/faq.py):
    answer it; or ask the caller to confirm (``confirm_prompt``, the candidate's question,
    ``confirm_keys_prompt``: 1 yes, 2 no, then the second candidate when there are two close
    ones); or decline: ``declined_prompt`` once, ``rephrase_prompt`` (when given) to hear the
    question once more, then ``escalate`` (e.g. the category's queue) with the caller's words.
    After the answer ``after_prompt`` offers 1 repeat, 2 ``another`` question, 0 agent
    (``escalate``); no key goes to ``next``."""

    type: Literal["faq"]
    faq_id: str | None = None
    question_from: VarName | None = None
    intro_prompt: PromptId | None = None
    confirm_prompt: PromptId | None = None
    confirm_keys_prompt: PromptId | None = None
    declined_prompt: PromptId | None = None
    rephrase_prompt: PromptId | None = None
    after_prompt: PromptId
    another: NodeId
    escalate: NodeId
    next: NodeId
    fallback: NodeId | None = None

    @model_validator(mode="after")
    def _source(self) -> FaqNode:
        if (self.faq_id is None) == (self.question_from is None):
            raise ValueError("give exactly one of faq_id and question_from")
        if self.question_from is not None and not (
                self.confirm_prompt and self.confirm_keys_prompt):
            raise ValueError("a question needs confirm_prompt and confirm_keys_prompt (the"
                             " knowledge base may ask the caller to confirm)")
        return self


ServiceName = Literal[
    "invoice_check", "taxpayer_query", "booking", "callback", "voice_message",
]


class ServiceNode(_Waits):
    """A self-service of the hotline, run by the engine's service handlers. ``params`` name
    the session variables and prompts the service uses; ``results`` map the service's result
    (e.g. ``found``, ``not_found``, ``wrong_pin``, ``locked``, ``booked``, ``no_slots``,
    ``created``, ``failed``) to a node, ``next`` takes every other result."""

    type: Literal["service"]
    service: ServiceName
    params: dict[str, str] = Field(default_factory=dict)
    results: dict[str, NodeId] = Field(default_factory=dict)
    next: NodeId
    fallback: NodeId | None = None


class Weekly(_Node):
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(min_length=1)  # ISO: 1 = Monday
    open: Clock
    close: Clock


class HoursNode(_Node):
    """Route by the service calendar (business hours, holidays): ``open`` or ``closed``.
    ``closed_prompt`` is followed by the hours read back; on a public holiday
    ``holiday_prompt`` (when given) is played instead of ``closed_prompt``."""

    type: Literal["hours"]
    open: NodeId
    closed: NodeId
    closed_prompt: PromptId | None = None
    holiday_prompt: PromptId | None = None
    announce_hours: bool = True


class SurveyNode(_Waits):
    """Satisfaction survey. The score stored is the key's value in ``scores``: by default
    1 满意 (satisfied), 2 基本满意 (fairly satisfied), 3 不满意 (dissatisfied), as the
    statistics count them (``stats_satisfied_scores``)."""

    type: Literal["survey"]
    prompt: PromptId
    scores: dict[Key, Annotated[int, Field(ge=1, le=3)]] = Field(
        default_factory=lambda: {"1": 1, "2": 2, "3": 3})
    thanks_prompt: PromptId | None = None
    next: NodeId
    global_keys: bool = False


class SubflowNode(_Node):
    """Run the part of the tree starting at ``flow``; a ``return`` node there comes back to
    ``next``."""

    type: Literal["subflow"]
    flow: NodeId
    next: NodeId


class ReturnNode(_Node):
    type: Literal["return"]


class TransferNode(_Node):
    """Hand the caller to an agent queue (leaves the IVR); ``skill`` is recorded with it."""

    type: Literal["transfer"]
    queue: QueueName
    prompt: PromptId | None = None
    skill: str | None = None
    reason: str | None = None


class HangupNode(_Node):
    """Say goodbye and end the call."""

    type: Literal["hangup"]
    prompt: PromptId | None = None
    reason: str = "completed"


Node = Annotated[
    PlayNode | MenuNode | CollectNode | SpeechNode | FaqNode | ServiceNode | HoursNode
    | SurveyNode | SubflowNode | ReturnNode | TransferNode | HangupNode,
    Field(discriminator="type"),
]
NODE_TYPES = ("play", "menu", "collect", "speech", "faq", "service", "hours", "survey",
              "subflow", "return", "transfer", "hangup")


class GlobalKeys(_Node):
    """Keys that work in every waiting node (unless the node says ``global_keys: false``);
    a node's own options take precedence. ``agent`` goes to node ``agent_node``."""

    back: Key | None = None
    repeat: Key | None = None
    agent: Key | None = None
    agent_node: NodeId | None = None

    @model_validator(mode="after")
    def _agent_needs_node(self) -> GlobalKeys:
        if self.agent is not None and self.agent_node is None:
            raise ValueError("agent key needs agent_node")
        return self


class UnknownTargets(ValueError):
    """Node references that name no node; ``problems`` holds (field path, message) pairs.

    The path is a tuple because node ids may themselves contain dots.
    """

    def __init__(self, problems: list[tuple[tuple[str, ...], str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(path)}: {message}" for path, message in problems))


def node_targets(node: object) -> list[tuple[str, str]]:
    """(field path, target node id) of every reference a node makes."""
    out: list[tuple[str, str]] = []
    for name in ("options", "phrases", "results"):
        mapping = getattr(node, name, None)
        if isinstance(mapping, dict):
            out += [(f"{name}.{k}", v) for k, v in mapping.items()]
    for name in ("next", "fallback", "another", "escalate", "open", "closed", "flow"):
        value = getattr(node, name, None)
        if isinstance(value, str):
            out.append((name, value))
    return out


class Menu(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    start: NodeId
    # entry points for calls that come back from the dialplan: AGI(agi:async,<entry>),
    # e.g. ``after_agent`` (the agent hung up: survey) or ``queue_failed`` (no agent in time)
    entries: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], NodeId] = Field(
        default_factory=dict)
    global_keys: GlobalKeys = GlobalKeys()
    nodes: dict[NodeId, Node] = Field(min_length=1)

    @model_validator(mode="after")
    def _targets_exist(self) -> Menu:
        problems: list[tuple[tuple[str, ...], str]] = []
        if self.start not in self.nodes:
            problems.append((("start",), f"unknown node {self.start!r}"))
        for entry, target in self.entries.items():
            if target not in self.nodes:
                problems.append((("entries", entry), f"unknown node {target!r}"))
        agent_node = self.global_keys.agent_node
        if agent_node is not None and agent_node not in self.nodes:
            problems.append((("global_keys", "agent_node"), f"unknown node {agent_node!r}"))
        for node_id, node in self.nodes.items():
            for field_name, target in node_targets(node):
                if target not in self.nodes:
                    problems.append((("nodes", node_id, *field_name.split(".", 1)),
                                     f"unknown node {target!r}"))
        if problems:
            raise UnknownTargets(problems)
        return self

    def titles(self) -> dict[str, str]:
        """The nodes' Chinese titles, by node id (nodes without one left out)."""
        return {node_id: node.title for node_id, node in self.nodes.items() if node.title}

    def prompts(self) -> set[str]:
        """Every prompt id of the catalogue the menu can play."""
        found: set[str] = set()
        for node in self.nodes.values():
            if isinstance(node, PlayNode):
                found.update(node.prompts)
            for name in ("prompt", "invalid_prompt", "no_input_prompt", "readback_prompt",
                         "confirm_prompt", "confirm_keys_prompt", "intro_prompt",
                         "declined_prompt", "rephrase_prompt", "after_prompt",
                         "closed_prompt", "holiday_prompt", "thanks_prompt"):
                value = getattr(node, name, None)
                if isinstance(value, str):
                    found.add(value)
            if isinstance(node, ServiceNode):
                found.update(v for k, v in node.params.items() if k.endswith("_prompt"))
        return found
