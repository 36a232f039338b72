"""All HTTP routers under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter

from callcenter.contacts.http import router as contacts_router
from callcenter.health.http import router as health_router
from callcenter.kb.http import router as kb_router

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(health_router)
api_router.include_router(contacts_router)
api_router.include_router(kb_router)
