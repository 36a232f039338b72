"""The composition root's parts: the long-lived services every role of the process shares
(:class:`Shared`: service calendar, knowledge base, ticket service, built once by
:func:`load_shared`), and the call-handling side (:class:`Runtime`: AMI connection, bridge,
contact log, agent desk), built on them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from callcenter.agents.services import AgentDesk
from callcenter.contacts.services import ContactLog, ContactService
from callcenter.db import Database
from callcenter.health.calendar import load_checked
from callcenter.kb.notifier import KbReloads
from callcenter.kb.services import KbStore, live_store
from callcenter.notify.services import Notifier
from callcenter.outbound.book import CallbackBook
from callcenter.outbound.dialler import CallbackDialler, DiallerConfig
from callcenter.outbound.policy import RetryPolicy
from callcenter.queues.services import QueueService
from callcenter.recordings.services import RecordingWatcher, recording_service
from callcenter.settings import Settings
from callcenter.stats.labels import FileLabels
from callcenter.tickets.services import IvrTicketDesk, TicketService
from ivr.ami.client import AmiClient
from ivr.bridge import IvrBridge
from ivr.calendar import CalendarError, ServiceCalendar
from ivr.clock import Clock, local_date
from ivr.menu.loader import load_menu
from ivr.menu.schema import Menu
from ivr.prompts.answers import AnswerAudio
from ivr.services import IvrServices

if TYPE_CHECKING:
    from knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)


def ami_client(settings: Settings, *, dial: bool = False) -> AmiClient:
    """An AMI connection with the configured timeouts and liveness: the bridge's account (its
    session filtered to the events its handlers subscribe to), or (``dial``) the
    Originate-only one (whose account may not set filters)."""
    user, secret = ((settings.ami_dial_user, settings.ami_dial_secret) if dial
                    else (settings.ami_user, settings.ami_secret))
    return AmiClient(settings.ami_host, settings.ami_port, user, secret,
                     action_timeout=settings.ami_action_timeout,
                     ping_interval=settings.ami_ping_interval,
                     ping_timeout=settings.ami_ping_timeout,
                     ping_misses=settings.ami_ping_misses,
                     event_filter=settings.ami_event_filter and not dial)


@dataclass(frozen=True)
class Shared:
    """What the API and the call handling share, built once per process: ``/kb`` and the
    IVR's FAQ nodes read the same knowledge base, tickets and callbacks the same calendar."""

    calendar: ServiceCalendar | CalendarError   # a broken hours file: the error (health)
    kb: KnowledgeBase | None                    # None: disabled or failed to load
    tickets: TicketService | None               # None: no calendar to date commitments by
    kb_store: KbStore | None = None             # the base's entries in the database


def load_shared(settings: Settings, db: Database, clock: Clock) -> Shared:
    """Load the calendar and the knowledge base and build the ticket service, each once
    (blocking: the knowledge base takes a while; run it in a thread). A broken calendar or
    knowledge base is logged, not raised: the API starts and says so (health, 503)."""
    calendar = load_checked(settings.hours_file, clock())
    kb: KnowledgeBase | None = None
    store: KbStore | None = None
    if settings.kb_enabled:
        from knowledge_base import KnowledgeBase

        today = local_date(clock, settings.timezone)
        store = live_store(settings, db, clock)
        try:
            kb = KnowledgeBase.load(settings.kb_data_dir, cache_dir=settings.kb_cache_dir,
                                    clock=today,
                                    source=store.live_items if store is not None else None)
        except Exception:
            log.exception("the knowledge base could not be loaded; /kb answers 503 and FAQ"
                          " nodes go to their agents")
    tickets = None
    if isinstance(calendar, ServiceCalendar):
        tickets = TicketService(db, calendar, settings.ticket_commitment_days,
                                settings.callback_due_hours, clock=clock)
    return Shared(calendar=calendar, kb=kb, tickets=tickets, kb_store=store)


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
    shared: Shared
    contact_log: ContactLog
    notifier: Notifier
    ami: AmiClient | None = None
    dialer: AmiClient | None = None  # the Originate-only AMI account (callcenter/agents)
    bridge: IvrBridge | None = None
    menu: MenuHolder | None = None
    desk: AgentDesk | None = None  # agent states <-> Asterisk queue membership
    ivr_services: IvrServices | None = None  # self-services of the menu (selfservice/)
    answers_task: asyncio.Task[None] | None = None
    # a publication reaches the knowledge base (and the answer audio) of this process
    kb_reloads: KbReloads | None = None
    _file_labels: FileLabels | None = None  # the menu file's titles when no menu runs here
    dialler: CallbackDialler | None = None  # outbound callbacks (callcenter/outbound)

    @classmethod
    def build(cls, settings: Settings, contacts: ContactService, clock: Clock,
              shared: Shared, *, notifier: Notifier | None = None,
              node: str | None = None) -> Runtime:
        """``notifier``: the process roles' Redis notifier (default: in-process); ``node``:
        the bridge of one Asterisk node keeps only that node's agents (default: all)."""
        contact_log = ContactLog(contacts, settings.spool_dir, clock=clock,
                                 max_failures=settings.spool_max_failures,
                                 gather_s=settings.contact_gather_ms / 1000)
        runtime = cls(settings=settings, clock=clock, shared=shared, contact_log=contact_log,
                      notifier=notifier or Notifier(clock))
        runtime.kb_reloads = KbReloads(shared.kb, answers=runtime._answer_audio)
        if settings.ami_enabled:
            runtime.menu = MenuHolder(settings)
            runtime.ami = ami_client(settings)
            # Originate only (hold's music, supervisors' phones, callbacks): a second account
            runtime.dialer = ami_client(settings, dial=True)
            from callcenter.selfservice.services import build_ivr_services

            if isinstance(shared.calendar, CalendarError):
                raise shared.calendar  # the menu routes by it: no bridge without one
            assert shared.tickets is not None  # built whenever the calendar loaded
            runtime.ivr_services = build_ivr_services(
                settings, contacts.db, clock, calendar=shared.calendar, kb=shared.kb,
                tickets=shared.tickets)
            runtime.bridge = IvrBridge(runtime.ami, runtime.menu, contact_log,
                                       services=runtime.ivr_services)
            # the dialplan's UserEvent(HotlineRecording) -> a recording row (callcenter/recordings)
            RecordingWatcher(recording_service(settings, contacts.db, clock), runtime.ami)
        runtime.desk = AgentDesk.build(
            contacts.db, QueueService(contacts.db, clock), runtime.notifier, contacts,
            contact_log, runtime.ami, wrapup_seconds=settings.wrapup_seconds,
            dialer=runtime.dialer, consult_ring_s=settings.consult_ring_s,
            # the queue's callback offers, on the one ticket service (none without a
            # calendar; then there is no AMI either: see above)
            callbacks=IvrTicketDesk(shared.tickets) if shared.tickets is not None else None,
            clock=clock, node_labels=runtime._node_titles, node=node,
            default_node=settings.node)
        if (runtime.ami is not None and settings.callback_dialler_enabled
                and isinstance(shared.calendar, ServiceCalendar)):
            # one dialler per bridge: its node's agents call back; claims keep two apart.
            # It dials on the Originate-only connection hold and the supervisors' phones use
            # (ivr/pbx/asterisk/manager.conf); the runtime starts and closes it
            assert runtime.dialer is not None  # made with runtime.ami above
            runtime.dialler = CallbackDialler(
                CallbackBook(contacts.db, clock, settings.callback_claim_timeout_s),
                RetryPolicy(settings.callback_max_attempts,
                            tuple(settings.callback_retry_intervals_s)),
                runtime.desk, runtime.dialer, contact_log, shared.calendar, runtime.notifier,
                DiallerConfig(node=node or settings.node, trunk=settings.callback_trunk,
                              caller_id=settings.callback_caller_id,
                              preview_s=settings.callback_preview_s,
                              agent_ring_s=settings.callback_agent_ring_s,
                              ring_s=settings.callback_ring_s,
                              poll_s=settings.callback_poll_s),
                clock=clock)
        return runtime

    def _answer_audio(self) -> AnswerAudio | None:
        return self.ivr_services.answers if self.ivr_services is not None else None

    def _node_titles(self) -> Mapping[str, str]:
        """The running menu's Chinese node titles; without a running menu (no AMI in this
        process: the console's API role) the menu file's, as the statistics read them."""
        if self.menu is not None:
            return self.menu.menu.titles()
        if self._file_labels is None:
            self._file_labels = FileLabels(self.settings.menu_file, self.settings.kb_data_dir)
        return self._file_labels.nodes()

    async def start(self) -> None:
        self.contact_log.start()
        if self.desk is not None:
            try:
                await asyncio.to_thread(self.desk.load)
            except Exception:
                log.exception("agent states could not be loaded")
        if self.ivr_services is not None:
            from callcenter.selfservice.runtime import start_answer_audio

            self.answers_task = start_answer_audio(self.shared.kb, self.ivr_services.answers)
        if self.ami is not None:
            await self.ami.start()
        if self.dialer is not None:
            await self.dialer.start()
        if self.dialler is not None:
            try:
                await self.dialler.start()
            except Exception:
                log.exception("the callback dialler did not start")

    async def stop(self) -> None:
        if self.answers_task is not None:
            self.answers_task.cancel()
        if self.dialler is not None:
            await self.dialler.stop()
        if self.ami is not None:
            await self.ami.close()
        if self.dialer is not None:
            await self.dialer.close()
        if self.desk is not None:
            await self.desk.close()
        await self.contact_log.close()
