"""The call-handling side of the process: AMI connection, bridge and contact log, wired."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from callcenter.contacts.services import ContactLog, ContactService
from callcenter.settings import Settings
from ivr.ami.client import AmiClient
from ivr.bridge import IvrBridge
from ivr.menu.loader import load_menu
from ivr.menu.schema import Menu

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
    contact_log: ContactLog
    ami: AmiClient | None = None
    bridge: IvrBridge | None = None
    menu: MenuHolder | None = None

    @classmethod
    def build(cls, settings: Settings, contacts: ContactService) -> Runtime:
        contact_log = ContactLog(contacts)
        runtime = cls(settings=settings, contact_log=contact_log)
        if settings.ami_enabled:
            runtime.menu = MenuHolder(settings)
            runtime.ami = AmiClient(
                settings.ami_host, settings.ami_port, settings.ami_user, settings.ami_secret,
                action_timeout=settings.ami_action_timeout,
                ping_interval=settings.ami_ping_interval,
            )
            runtime.bridge = IvrBridge(runtime.ami, runtime.menu, contact_log)
        return runtime

    async def start(self) -> None:
        self.contact_log.start()
        if self.ami is not None:
            await self.ami.start()

    async def stop(self) -> None:
        if self.ami is not None:
            await self.ami.close()
        await self.contact_log.close()
