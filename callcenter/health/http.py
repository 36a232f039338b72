"""``/api/v1/health``: database and AMI connection state, the contact spool, the service
calendar's coverage."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response

from callcenter.deps import DatabaseDep, SettingsDep
from callcenter.health.calendar import calendar_check

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request, response: Response, db: DatabaseDep,
                 settings: SettingsDep) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    timeout = settings.health_db_timeout_s
    try:
        await asyncio.wait_for(asyncio.to_thread(db.ping), timeout)
        checks["database"] = {"ok": True, "backend": db.engine.dialect.name}
    except TimeoutError:
        checks["database"] = {"ok": False, "error": f"no answer within {timeout:g} s"}
    except Exception as exc:  # any DB failure is reported, not raised
        checks["database"] = {"ok": False, "error": str(exc)[:300]}
    runtime = getattr(request.app.state, "runtime", None)
    client = runtime.ami if runtime is not None else None
    if client is None:
        checks["ami"] = {"ok": False, "enabled": False, "state": "disabled"}
    else:
        h = client.health()
        checks["ami"] = {
            "ok": client.ready, "enabled": True, "state": str(h.state),
            "address": f"{h.host}:{h.port}", "reconnects": h.reconnects,
            "last_error": h.last_error,
            "last_event_age_s": (None if h.last_event_age_s is None
                                 else round(h.last_event_age_s, 1)),
            "handler_errors": h.handler_errors, "malformed_events": h.malformed_events,
        }
    warnings: list[str] = []
    if runtime is not None:
        # events the database refused wait in the spool; poison ones went to the dead letters
        spool = runtime.contact_log.health()
        checks["contact_spool"] = {"ok": not spool["depth"] and not spool["dead_letters"],
                                   **spool}
        if spool["depth"]:
            warnings.append(f"{spool['depth']} contact events wait in the spool for the "
                            f"database ({spool['path'] or 'in memory only'})")
        if spool["dead_letters"]:
            warnings.append(f"{spool['dead_letters']} contact events were refused for good: "
                            f"see {spool['dead_letter_path']}")
    if runtime is not None and runtime.bridge is not None:
        checks["bridge"] = {"active_calls": len(runtime.bridge.calls),
                            "sessions_started": runtime.bridge.sessions_started,
                            # calls taken over from a killed bridge (ivr/recovery.py)
                            "adopted": runtime.bridge.adopted,
                            "contact_events_written": runtime.contact_log.written,
                            "contact_events_failed": runtime.contact_log.failures,
                            # the callers' keys arrive as DTMF events (type-ahead)
                            "dtmf_events": runtime.bridge.agi.dtmf_events}
        if not runtime.bridge.agi.dtmf_events:
            warnings.append("Asterisk sends no DTMF events to the bridge (the AMI user needs "
                            "the dtmf read class): keys pressed outside a command are lost")
    api_role = getattr(request.app.state, "api_role", None)
    if api_role is not None:
        # an API worker of several: the bridges of the Asterisk nodes report through Redis
        checks["bridges"] = await api_role.health()
        if not checks["bridges"]["ok"]:
            warnings.append("no `hotline bridge` is running: calls and agent commands wait")
    checks["calendar"] = calendar_check(getattr(request.app.state, "calendar", None),
                                        request.app.state.clock())
    # warnings do not change the status: the hotline runs, but not as it should on holidays
    warnings += [checks["calendar"][k] for k in ("warning", "error") if k in checks["calendar"]]
    ok = checks["database"]["ok"] and (checks["ami"]["ok"] or not checks["ami"]["enabled"])
    if not checks["database"]["ok"]:
        response.status_code = 503
    return {"status": "ok" if ok else "degraded", "checks": checks, "warnings": warnings}
