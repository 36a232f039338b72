"""All HTTP routers under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from callcenter.agents.http import router as agents_router
from callcenter.auth.deps import require_roles
from callcenter.auth.http import router as auth_router
from callcenter.auth.models import CALL_CENTRE_ROLES
from callcenter.consult.http import router as consult_router
from callcenter.consult.http import staff_router as consultations_router
from callcenter.contacts.http import router as contacts_router
from callcenter.health.http import router as health_router
from callcenter.kb.http import router as kb_router
from callcenter.notices.http import router as notices_router
from callcenter.notify.http import router as ws_router
from callcenter.outbound.http import router as outbound_router
from callcenter.quality.http import router as quality_router
from callcenter.queues.http import router as queues_router
from callcenter.recordings.http import router as recordings_router
from callcenter.sms.http import router as sms_router
from callcenter.stats.http import router as stats_router
from callcenter.tickets.http import router as tickets_router

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(health_router)
api_router.include_router(auth_router)
# contacts: every role; an agent or expert sees only the contacts they handled (contacts/http.py)
_any_staff = [Depends(require_roles(*CALL_CENTRE_ROLES))]
api_router.include_router(contacts_router, dependencies=_any_staff)
# the knowledge base: its search for every role; its operations (entries, drafts,
# publication, the unanswered report) for editors, reviewers, supervisors, admins (kb/http.py)
api_router.include_router(kb_router, dependencies=[Depends(require_roles(
    "agent", "expert", "supervisor", "admin", "editor", "reviewer"))])
# recordings: every role; agents and experts their own calls only (recordings/http.py)
api_router.include_router(recordings_router, dependencies=_any_staff)
# quality review: every role; agents and experts read their own calls' reviews only
api_router.include_router(quality_router, dependencies=_any_staff)
# statistics: supervisors and admins
api_router.include_router(stats_router,
                          dependencies=[Depends(require_roles("supervisor", "admin"))])
api_router.include_router(agents_router)
api_router.include_router(queues_router)
api_router.include_router(ws_router)
api_router.include_router(tickets_router)
api_router.include_router(outbound_router)
# smsbox's calls: the gateway key instead of a login (callcenter/sms/http.py)
api_router.include_router(sms_router)
# online consultation: the taxpayers' page (a verified number's session, no login) and the
# console's replies (every staff role; callcenter/consult/http.py)
api_router.include_router(consult_router)
api_router.include_router(consultations_router)
api_router.include_router(notices_router)
