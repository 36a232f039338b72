"""Picking up the calls of a bridge that was killed (SIGKILL, a crash, a deploy) and restarted.

What Asterisk does meanwhile (checked on the sandbox: ``tests/test_bridge_restart_calls.py``):
an AsyncAGI channel does not belong to the AMI session that drives it. When that session drops,
the channel stays in ``AGI(agi:async)`` with no time limit (CoreShowChannels shows it with
Application ``AGI``, ApplicationData ``agi:async`` or ``agi:async,<entry>``); a command it was
running (a prompt) plays to its end and its ``AsyncAGIExec`` goes to no one; keys pressed
meanwhile are lost with their DTMF events; then it waits for the next ``AGI`` action from any
AMI session. A caller in a queue or with an agent is not affected at all (Queue() and the
bridge run in Asterisk). So the caller hears the prompt end and then silence until a bridge
is back, or hangs up (the contact is then ended by the reconciliation: channel vanished).

On every (re)connection the bridge's reconciliation (:meth:`ivr.bridge.IvrBridge.reconcile`)
lists the live channels (``CoreShowChannels``) and hands the ones it has no call for to
:func:`plan_adoptions`:

* a channel in AsyncAGI is adopted: its contact is the channel's ``Linkedid``; the node to go
  on from is the last menu node entered since the call last (re)entered the menu, read from
  the contact's stored events (:class:`ContactHistory`); without one (nothing stored, a
  recorder without history, the database not answering within :data:`HISTORY_TIMEOUT_S`) the
  AGI entry the dialplan named (``agi:async,after_agent``) or the menu's start. A new
  :class:`ivr.menu.engine.MenuSession` starts there, so the node's prompt is played again;
  ``resumed`` (reason :data:`RESTART_REASON`) says so in the timeline.
* a channel of a contact still open whose ``call_started`` names it (the caller, now in a queue
  or with an agent) is followed again (its queue events and its hang-up), with no session.
* a channel whose ``Hangup`` arrives while the histories are read is not adopted (the bridge
  remembers the last hang-ups of channels it did not follow); its open contact is ended
  (``reconciled``).

The ``call_started`` an adoption records is keyed by the channel
(:func:`ivr.bridge.channel_key`), the key of the original one: the contact log stores it only
if the original never reached the database, so a contact has one ``call_started`` however often
a bridge restarts. What the killed process had not yet written (events in its memory) is lost;
what it had spooled is replayed by the next process (``callcenter/contacts/spool.py``).
Lost with the process too: the back-key history and the sub-flow return addresses of the
session (a ``return`` node with none goes to its fallback) and the keys typed ahead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ivr.events import (
    AgentCompleted,
    AgentConnected,
    AgentRinging,
    CallStarted,
    EventRecord,
    MenuNodeEntered,
    QueueAbandoned,
    QueueJoined,
    Resumed,
    Transfer,
)
from ivr.menu.schema import Menu

log = logging.getLogger(__name__)

RESTART_REASON = "bridge restarted: adopted from AsyncAGI"
HISTORY_TIMEOUT_S = 10.0
# events after which the call is no longer in the menu (it may come back through an entry)
_LEFT_MENU = (Transfer, QueueJoined, AgentRinging, AgentConnected, AgentCompleted,
              QueueAbandoned)


@runtime_checkable
class ContactHistory(Protocol):
    """A contact recorder that can read back what it stored (``ContactLog``)."""

    async def contact_histories(self, linkedids: Collection[str]
                                ) -> dict[str, list[EventRecord]]:
        """The stored events of each contact, in order (absent: no such contact)."""
        ...


@dataclass(frozen=True)
class LiveChannel:
    """One ``CoreShowChannel`` entry (the AMI fields that matter here)."""

    uniqueid: str
    linkedid: str
    channel: str
    caller: str
    application: str = ""
    application_data: str = ""
    bridged: bool = False

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> LiveChannel:
        """From a CoreShowChannel event's headers (any case)."""
        f = {k.lower(): str(v) for k, v in fields.items()}
        uniqueid = f.get("uniqueid", "")
        return cls(uniqueid=uniqueid, linkedid=f.get("linkedid", "") or uniqueid,
                   channel=f.get("channel", ""), caller=f.get("calleridnum", ""),
                   application=f.get("application", ""),
                   application_data=f.get("applicationdata", ""),
                   bridged=bool(f.get("bridgeid", "")))

    @property
    def in_agi(self) -> bool:
        return self.application.lower() == "agi"

    @property
    def agi_entry(self) -> str:
        """The menu entry the dialplan named: ``agi:async,after_agent`` -> ``after_agent``."""
        args = self.application_data.split(",")
        return args[1].strip() if len(args) > 1 else ""


def live_channels(messages: Iterable[Mapping[str, object]]) -> dict[str, LiveChannel]:
    """The channels of a ``CoreShowChannels`` answer (its event list), by uniqueid."""
    out: dict[str, LiveChannel] = {}
    for message in messages:
        if str(message.get("Event", "")).lower() == "coreshowchannel":
            channel = LiveChannel.from_fields({k: str(v) for k, v in message.items()})
            out[channel.uniqueid] = channel
    return out


@dataclass(frozen=True)
class Whereabouts:
    """Where a contact's stored events leave its call."""

    node: str | None = None      # last menu node entered since the call (re)entered the menu
    queue: str | None = None     # the queue it last joined
    agent: str | None = None     # the agent it was last connected to
    caller_uniqueid: str | None = None  # the channel its call_started names
    caller: str | None = None


def whereabouts(history: Sequence[EventRecord]) -> Whereabouts:
    node = queue = agent = uniqueid = caller = None
    for record in history:
        if isinstance(record, MenuNodeEntered | Resumed):
            node = record.node
        elif isinstance(record, _LEFT_MENU):
            node = None
            if isinstance(record, QueueJoined) and not record.consult:
                queue = record.queue
            elif isinstance(record, AgentConnected):
                agent = record.agent
        elif isinstance(record, CallStarted) and uniqueid is None:
            uniqueid, caller = record.uniqueid, record.caller
    return Whereabouts(node=node, queue=queue, agent=agent, caller_uniqueid=uniqueid,
                       caller=caller)


def resume_node(menu: Menu, channel: LiveChannel, where: Whereabouts) -> str:
    """The node a session adopted on ``channel`` starts at."""
    if where.node is not None and where.node in menu.nodes:
        return where.node
    if where.node is not None:
        log.warning("node %r of %s is not in the menu (changed?); starting over",
                    where.node, channel.linkedid)
    entry = channel.agi_entry
    if entry and entry in menu.entries:
        return menu.entries[entry]
    return menu.start


@dataclass(frozen=True)
class Adoption:
    """A call the bridge takes over: with ``node``, a menu session starts there; without, the
    call (in a queue, with an agent) is only followed."""

    channel: LiveChannel
    caller: str
    node: str | None = None
    queue: str | None = None
    agent: str | None = None


async def read_histories(recorder: object, linkedids: Collection[str],
                         timeout: float = HISTORY_TIMEOUT_S) -> dict[str, list[EventRecord]]:
    """The stored events of these contacts, or none when the recorder cannot say (no history,
    an error, no answer within ``timeout``)."""
    if not linkedids or not isinstance(recorder, ContactHistory):
        return {}
    try:
        return await asyncio.wait_for(recorder.contact_histories(linkedids), timeout)
    except Exception:  # the database down or slow: adopt without history
        log.warning("could not read the history of %d contacts; adopting without it",
                    len(linkedids), exc_info=True)
        return {}


async def plan_adoptions(live: Mapping[str, LiveChannel], followed: Collection[str],
                         followed_linkedids: Collection[str], open_linkedids: Collection[str],
                         recorder: object, menu: Menu) -> list[Adoption]:
    """The calls to take over among the ``live`` channels: those in AsyncAGI that no call
    follows (``followed``: uniqueids; a second channel of a followed contact, such as the
    other leg of a Local channel, is left alone), and the caller channels of ``open_linkedids``
    contacts elsewhere in Asterisk (queue, agent)."""
    candidates = [c for c in live.values() if c.uniqueid not in followed
                  and not (c.uniqueid != c.linkedid and c.linkedid in followed_linkedids)
                  and (c.in_agi or c.linkedid in open_linkedids)]
    histories = await read_histories(recorder, {c.linkedid for c in candidates})
    plans: list[Adoption] = []
    for channel in candidates:
        where = whereabouts(histories.get(channel.linkedid, []))
        caller = where.caller or channel.caller
        if channel.in_agi:
            plans.append(Adoption(channel, caller, node=resume_node(menu, channel, where),
                                  queue=where.queue, agent=where.agent))
        elif where.caller_uniqueid == channel.uniqueid:
            plans.append(Adoption(channel, caller, queue=where.queue,
                                  agent=where.agent if channel.bridged else None))
    return plans
