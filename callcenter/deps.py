"""FastAPI dependencies, as ``Annotated`` aliases (one place to find what a route can ask for).

They only read ``app.state``, which the app's lifespan (``callcenter/app.py``, the composition
root) fills once; none builds a service.

Authentication slots in here: routers are mounted with ``dependencies=[...]`` in ``api.py``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from callcenter.auth.deps import CurrentUser, require_roles
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.settings import Settings
from callcenter.stats.services import StatsService


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


def get_contact_service(request: Request) -> ContactService:
    service: ContactService = request.app.state.contacts
    return service


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ContactServiceDep = Annotated[ContactService, Depends(get_contact_service)]


def get_stats_service(request: Request) -> StatsService:
    service: StatsService = request.app.state.stats  # built once by the app's lifespan
    return service


StatsServiceDep = Annotated[StatsService, Depends(get_stats_service)]

__all__ = ["ContactServiceDep", "CurrentUser", "DatabaseDep", "SettingsDep", "StatsServiceDep",
           "require_roles"]
