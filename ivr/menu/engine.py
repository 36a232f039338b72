"""Runs a :class:`~ivr.menu.schema.Menu` on one call: one :class:`MenuSession` per call.

The session reports every step to the contact recorder. When the AMI connection drops while a
node runs, the session waits for the connection to come back and runs the node again (recorded
as ``resumed``); when the caller hangs up, it ends quietly (the call tracker records the end).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from ivr.agi import AgiError, ChannelHungUp
from ivr.ami.client import AmiConnectionLost, AmiNotConnected, AmiTimeout
from ivr.menu.schema import HangupNode, Menu, MenuNode, PlayNode, TransferNode
from ivr.ports import ContactEvent, ContactRecorder, EventKind

log = logging.getLogger(__name__)

QUEUE_CONTEXT = "hotline-queue"


class Channel(Protocol):
    """What the engine needs of a call's channel (AgiChannel, or a fake in unit tests)."""

    linkedid: str

    async def play(self, prompts: list[str], escape_digits: str = ...) -> str | None: ...

    async def collect_digits(self, prompt: str, timeout_ms: int = ...,
                             max_digits: int = ...) -> tuple[str, bool]: ...

    async def hangup(self) -> None: ...

    async def redirect(self, context: str, exten: str, priority: int = ...) -> None: ...


class MenuSession:
    def __init__(
        self,
        menu: Menu,
        channel: Channel,
        recorder: ContactRecorder,
        wait_reconnect: Callable[[], Awaitable[None]] | None = None,
        start_node: str | None = None,
        max_steps: int = 200,
    ) -> None:
        self.menu = menu
        self.channel = channel
        self.recorder = recorder
        self.wait_reconnect = wait_reconnect
        self.node_id = start_node or menu.start
        self.max_steps = max_steps
        self.path: list[str] = []
        self.ended_by: str | None = None

    def _record(self, kind: EventKind, **data: object) -> None:
        self.recorder.record(ContactEvent(self.channel.linkedid, kind, data))

    async def run(self) -> None:
        """Walk the menu until the call leaves the IVR or hangs up."""
        steps = 0
        next_id: str | None = self.node_id
        while next_id is not None:
            steps += 1
            if steps > self.max_steps:
                log.error("menu loop on %s; ending the call", self.channel.linkedid)
                self._record(EventKind.IVR_HANGUP, node=next_id, reason="loop_guard")
                await self._safe_hangup()
                return
            self.node_id = next_id
            try:
                next_id = await self._run_node(next_id)
            except ChannelHungUp:
                self.ended_by = "caller_hangup"
                return
            except (AmiConnectionLost, AmiNotConnected, AmiTimeout) as exc:
                if self.wait_reconnect is None:
                    raise
                log.warning("AMI trouble in node %s of %s (%s); waiting to resume",
                            next_id, self.channel.linkedid, exc)
                try:
                    await self.wait_reconnect()
                except AmiNotConnected:
                    self.ended_by = "ami_lost"
                    return
                self._record(EventKind.RESUMED, node=next_id, reason=type(exc).__name__)
            except AgiError:
                log.exception("AGI failure in node %s of %s", next_id, self.channel.linkedid)
                self._record(EventKind.IVR_HANGUP, node=next_id, reason="agi_error")
                await self._safe_hangup()
                return

    async def _safe_hangup(self) -> None:
        try:
            await self.channel.hangup()
        except Exception:
            log.warning("hangup of %s failed", self.channel.linkedid, exc_info=True)

    async def _run_node(self, node_id: str) -> str | None:
        node = self.menu.nodes[node_id]
        self.path.append(node_id)
        self._record(EventKind.MENU_NODE, node=node_id, type=node.type)
        if isinstance(node, PlayNode):
            return await self._play(node_id, node)
        if isinstance(node, MenuNode):
            return await self._menu(node_id, node)
        if isinstance(node, TransferNode):
            await self._transfer(node_id, node)
            return None
        await self._hangup(node_id, node)
        return None

    async def _play(self, node_id: str, node: PlayNode) -> str:
        self._record(EventKind.PROMPT, node=node_id, prompts=list(node.prompts))
        key = await self.channel.play(list(node.prompts),
                                      escape_digits="0123456789*#" if node.barge_in else "")
        if key is not None:
            self._record(EventKind.DIGITS, node=node_id, digits=key, barge_in=True)
        if node.service:
            self._record(EventKind.SELF_SERVICE, node=node_id, service=node.service,
                         detail=node.detail)
        return node.next

    async def _menu(self, node_id: str, node: MenuNode) -> str:
        attempts = node.retries + 1
        for attempt in range(1, attempts + 1):
            self._record(EventKind.PROMPT, node=node_id, prompts=[node.prompt], attempt=attempt)
            digits, _timed_out = await self.channel.collect_digits(
                node.prompt, timeout_ms=node.timeout_ms, max_digits=1
            )
            if not digits:
                self._record(EventKind.NO_INPUT, node=node_id, attempt=attempt)
                retry_prompt = node.no_input_prompt
            elif digits in node.options:
                self._record(EventKind.DIGITS, node=node_id, digits=digits)
                return node.options[digits]
            else:
                self._record(EventKind.INVALID_INPUT, node=node_id, digits=digits,
                             attempt=attempt)
                retry_prompt = node.invalid_prompt
            if retry_prompt and attempt < attempts:
                await self.channel.play([retry_prompt], escape_digits="")
        return node.fallback

    async def _transfer(self, node_id: str, node: TransferNode) -> None:
        if node.prompt:
            self._record(EventKind.PROMPT, node=node_id, prompts=[node.prompt])
            await self.channel.play([node.prompt], escape_digits="")
        self._record(EventKind.TRANSFER, node=node_id, queue=node.queue)
        await self.channel.redirect(QUEUE_CONTEXT, node.queue)
        self.ended_by = "transfer"

    async def _hangup(self, node_id: str, node: HangupNode) -> None:
        if node.prompt:
            self._record(EventKind.PROMPT, node=node_id, prompts=[node.prompt])
            await self.channel.play([node.prompt], escape_digits="")
        self._record(EventKind.IVR_HANGUP, node=node_id, reason=node.reason)
        self.ended_by = "ivr_hangup"
        await self.channel.hangup()


async def wait_forever() -> None:  # pragma: no cover - helper for callers without reconnect
    await asyncio.Event().wait()
