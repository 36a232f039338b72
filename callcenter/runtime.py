"""The call-handling side of the process: AMI connection, bridge and contact log, wired."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from callcenter.agents.services import AgentDesk
from callcenter.contacts.services import ContactLog, ContactService
from callcenter.notify.services import Notifier
from callcenter.queues.services import QueueService
from callcenter.settings import Settings
from callcenter.tickets.desk import QueueCallbacks
from ivr.ami.client import AmiClient
from ivr.bridge import IvrBridge
from ivr.clock import Clock
from ivr.menu.loader import load_menu
from ivr.menu.schema import Menu
from ivr.services import IvrServices

log = logging.getLogger(__name__)


class MenuHolder:
    """The running menu; a failed reload keeps the menu that was running."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.menu_file
        self.menu: Menu = load_menu(self.path)

    def __call__(self) -> Menu:
        return self.menu

    def reload(self) -> Menu:
        self.menu = load_menu(self.path)  # raises MenuError and keeps the old one
        return self.menu


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    contact_log: ContactLog
    notifier: Notifier
    ami: AmiClient | None = None
    bridge: IvrBridge | None = None
    menu: MenuHolder | None = None
    desk: AgentDesk | None = None  # agent states <-> Asterisk queue membership
    ivr_services: IvrServices | None = None  # self-services of the menu (selfservice/)
    answers_task: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, settings: Settings, contacts: ContactService, clock: Clock) -> Runtime:
        contact_log = ContactLog(contacts, settings.spool_dir, clock=clock,
                                 max_failures=settings.spool_max_failures)
        runtime = cls(settings=settings, clock=clock, contact_log=contact_log,
                      notifier=Notifier(clock))
        if settings.ami_enabled:
            runtime.menu = MenuHolder(settings)
            runtime.ami = AmiClient(
                settings.ami_host, settings.ami_port, settings.ami_user, settings.ami_secret,
                action_timeout=settings.ami_action_timeout,
                ping_interval=settings.ami_ping_interval,
            )
            from callcenter.selfservice.services import build_ivr_services

            runtime.ivr_services = build_ivr_services(settings, contacts.db, clock)
            runtime.bridge = IvrBridge(runtime.ami, runtime.menu, contact_log,
                                       services=runtime.ivr_services)
        runtime.desk = AgentDesk(contacts.db, QueueService(contacts.db, clock), runtime.notifier,
                                 contacts, contact_log, runtime.ami,
                                 wrapup_seconds=settings.wrapup_seconds,
                                 callbacks=QueueCallbacks(
                                     contacts.db, settings.hours_file,
                                     settings.ticket_commitment_days,
                                     settings.callback_due_hours, clock=clock),
                                 clock=clock)
        return runtime

    async def start(self) -> None:
        self.contact_log.start()
        if self.desk is not None:
            try:
                await asyncio.to_thread(self.desk.load)
            except Exception:
                log.exception("agent states could not be loaded")
        if self.ivr_services is not None:
            from callcenter.selfservice.runtime import start_answer_audio

            self.answers_task = await start_answer_audio(self.settings, self.ivr_services)
        if self.ami is not None:
            await self.ami.start()

    def attach_knowledge_base(self, kb: object) -> None:
        """Share the app's loaded knowledge base with the menu (FAQ nodes)."""
        from knowledge_base import KnowledgeBase

        if self.ivr_services is not None and isinstance(kb, KnowledgeBase):
            self.ivr_services.kb = kb

    async def stop(self) -> None:
        if self.answers_task is not None:
            self.answers_task.cancel()
        if self.ami is not None:
            await self.ami.close()
        if self.desk is not None:
            await self.desk.close()
        await self.contact_log.close()
