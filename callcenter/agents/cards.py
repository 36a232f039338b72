"""The call card: what the console shows when an agent's phone rings, read from the contact's
timeline: the IVR path step by step in words (each menu node's Chinese title, the keys the
caller pressed there, the FAQ question heard there), the caller's words, the taxpayer (TIN and
registered name), the wait, and the previous contacts, on any channel (phone, sms, web), of the
number and of the taxpayer's registered mobile."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from callcenter.agents.models import CallNote
from callcenter.contacts.services import ContactFilters, ContactService
from callcenter.notify.messages import CallRinging
from ivr.clock import Clock
from ivr.events import Digits, Escalated, FaqPlayed, Json, MenuNodeEntered, ServiceResult
from ivr.ports import ContactRecorder

# what a global key did (``Digits.action``), as the agent reads it
KEY_ACTIONS = {"repeat": "重听", "agent": "转人工", "back": "返回上级"}

Registered = Callable[[str], tuple[str, str | None] | None]
"""A TIN's registered name and mobile number (None: no such taxpayer)."""

class CallCards:
    def __init__(self, contacts: ContactService, clock: Clock,
                 recorder: ContactRecorder | None = None,
                 node_labels: Callable[[], Mapping[str, str]] | None = None,
                 registered: Registered | None = None,
                 notes: Callable[[str], Sequence[CallNote]] | None = None) -> None:
        self.contacts = contacts
        # the notes written on the call so far (an expert reads the first agent's)
        self.notes = notes
        self.registered = registered  # the taxpayer's name and mobile (callcenter/taxpayers)
        self.clock = clock
        self.recorder = recorder  # flushed first, so that the card sees the latest events
        # the menu's Chinese node titles, as the running menu has them (it may be reloaded)
        self.node_labels = node_labels

    async def build(self, linkedid: str, caller: str, queue: str,
                    waiting_since: datetime | None) -> CallRinging:
        """The card of the call ``linkedid`` (from the contact's timeline)."""
        if self.recorder is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.recorder.flush(), 2.0)
        return await asyncio.to_thread(self.card, linkedid, caller, queue, waiting_since)

    def card(self, linkedid: str, caller: str, queue: str,
             waiting_since: datetime | None) -> CallRinging:
        contact = self.contacts.get_by_linkedid(linkedid)
        path: list[str] = []
        steps: list[dict[str, Json]] = []  # per node of the path: its title, keys, FAQ heard
        faqs: list[Mapping[str, Json]] = []
        asked: list[str] = []    # the caller's words of a question self-service handed over
        digits: list[str] = []
        taxpayer: str | None = None
        tin: str | None = None
        # the Chinese title of a menu node for the agent (its id when it has none)
        titles = self.node_labels() if self.node_labels is not None else {}
        if contact is not None:
            caller = contact.caller_number or caller
            for record in contact.records():
                if isinstance(record, MenuNodeEntered):
                    if not path or path[-1] != record.node:
                        path.append(record.node)
                        steps.append({"node": record.node,
                                      "label": titles.get(record.node, record.node),
                                      "keys": [], "heard": []})
                elif isinstance(record, Digits):
                    digits.append(record.digits)
                    step = _step_of(steps, record.node)
                    if step is not None:
                        keys = step["keys"]
                        assert isinstance(keys, list)
                        keys.append(KEY_ACTIONS.get(record.action or "", record.digits))
                elif isinstance(record, FaqPlayed):
                    # the question of the answer the caller heard (a repeat is listed once)
                    faq = {"id": record.faq_id, "question": record.question,
                           "node": record.node, "node_label": titles.get(record.node, record.node)}
                    if faq not in faqs:
                        faqs.append(faq)
                    step = _step_of(steps, record.node)
                    if step is not None and record.question:
                        heard = step["heard"]
                        assert isinstance(heard, list)
                        if record.question not in heard:
                            heard.append(record.question)
                elif isinstance(record, Escalated) and record.text:
                    asked.append(record.text)
                elif isinstance(record, ServiceResult) and record.tin:
                    # the comprehensive query: verified (TIN + PIN) or only stated
                    verified = record.result == "found"
                    if verified or taxpayer is None:
                        tin = record.tin
                        taxpayer = f"{record.tin}（{'已验证' if verified else '未验证'}）"
            if waiting_since is None and contact.queue_joined_at is not None:
                waiting_since = contact.queue_joined_at
        numbers = [caller]
        if tin is not None and self.registered is not None:
            found = self.registered(tin)
            if found is not None:
                name, mobile = found
                if name and taxpayer is not None:
                    taxpayer = f"{tin} {name}{taxpayer[len(tin):]}"
                if mobile and mobile not in numbers:
                    numbers.append(mobile)  # the taxpayer's texts and calls from that mobile
        _total, previous = self.contacts.search(ContactFilters(callers=tuple(numbers)), 6, 0)
        history: list[Mapping[str, Json]] = [
            {"id": c.id, "started_at": c.started_at.isoformat(), "outcome": c.outcome,
             "queue": c.queue, "agent": c.agent, "medium": c.medium,
             "caller": c.caller_number}
            for c in previous if c.linkedid != linkedid]
        wait = (self.clock() - waiting_since).total_seconds() if waiting_since else None
        notes: list[Mapping[str, Json]] = [
            {"username": n.username, "notes": n.notes, "disposition": n.disposition}
            for n in (self.notes(linkedid) if self.notes is not None else ())
            if n.notes or n.disposition]
        return CallRinging(linkedid=linkedid, caller=caller, queue=queue,
                           contact_id=contact.id if contact else None, ivr_path=tuple(path),
                           ivr_path_labels=tuple(titles.get(node, node) for node in path),
                           ivr_steps=tuple(steps),
                           digits=tuple(digits), faqs=tuple(faqs), asked=tuple(asked),
                           taxpayer=taxpayer,
                           wait_s=round(wait, 1) if wait is not None else None,
                           previous=tuple(history[:5]), notes=tuple(notes))


def _step_of(steps: list[dict[str, Json]], node: str) -> dict[str, Json] | None:
    """The latest step of the path at ``node`` (None: keys or an answer of a node the path
    does not show, e.g. one a stored row left out)."""
    for step in reversed(steps):
        if step["node"] == node:
            return step
    return None
