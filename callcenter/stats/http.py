"""``/api/v1/stats/*``: reports, exports and the live snapshot (supervisor and admin roles),
and the dashboard and wallboard pages (``/stats/dashboard``, ``/stats/wallboard``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, Response, StreamingResponse

from callcenter.deps import StatsServiceDep
from callcenter.stats import export
from callcenter.stats.ranges import ReportRange
from callcenter.stats.services import StatsService

router = APIRouter(prefix="/stats", tags=["stats"])
pages_router = APIRouter(prefix="/stats", tags=["stats pages"], include_in_schema=False)

STATIC = Path(__file__).resolve().parent / "static"

FromQ = Annotated[str, Query(alias="from", max_length=40, description=(
    "start: ISO 8601 with offset (2026-11-01T00:00:00+08:00) or a date (YYYY-MM-DD, "
    "hotline time zone); required"))]
ToQ = Annotated[str, Query(alias="to", max_length=40, description=(
    "end, exclusive: ISO 8601 with offset, or a date (that day included); required"))]
IntervalQ = Annotated[str | None, Query(description="15min | hour | day | month")]

REPORTS: dict[str, Callable[[StatsService, ReportRange], dict[str, Any]]] = {
    "summary": StatsService.summary,
    "queues": StatsService.queues,
    "agents": StatsService.agents,
    "nodes": StatsService.menu_nodes,
    "faqs": StatsService.faqs,
    "tickets": StatsService.tickets,
}


async def _report(service: StatsService, name: str, start: str, end: str,
                  interval: str | None) -> dict[str, Any]:
    rng = service.range(start, end, interval)
    return await asyncio.to_thread(REPORTS[name], service, rng)


@router.get("/summary")
async def summary(service: StatsServiceDep, start: FromQ, end: ToQ,
                  interval: IntervalQ = None) -> dict[str, Any]:
    """Totals by channel (automatic voice / manual / other), IVR containment, offered,
    answered, abandoned, service level, ASA, AHT, CSAT; per interval and in total."""
    return await _report(service, "summary", start, end, interval)


@router.get("/queues")
async def queues(service: StatsServiceDep, start: FromQ, end: ToQ,
                 interval: IntervalQ = None) -> dict[str, Any]:
    """Per queue (queue legs as Asterisk counts them)."""
    return await _report(service, "queues", start, end, interval)


@router.get("/agents")
async def agents(service: StatsServiceDep, start: FromQ, end: ToQ,
                 interval: IntervalQ = None) -> dict[str, Any]:
    """Per agent: handled, talk, wrap-up, pause by reason, occupancy."""
    return await _report(service, "agents", start, end, interval)


@router.get("/nodes")
async def nodes(service: StatsServiceDep, start: FromQ, end: ToQ,
                interval: IntervalQ = None) -> dict[str, Any]:
    """Per menu node: entered, dropped (caller hung up there)."""
    return await _report(service, "nodes", start, end, interval)


@router.get("/faqs")
async def faqs(service: StatsServiceDep, start: FromQ, end: ToQ,
               interval: IntervalQ = None) -> dict[str, Any]:
    """Per FAQ id: played, escalated to an agent after it."""
    return await _report(service, "faqs", start, end, interval)


@router.get("/tickets")
async def tickets(service: StatsServiceDep, start: FromQ, end: ToQ,
                  interval: IntervalQ = None) -> dict[str, Any]:
    """Tickets by type, and the on-time rate."""
    return await _report(service, "tickets", start, end, interval)


@router.get("/live")
async def live(service: StatsServiceDep) -> dict[str, Any]:
    """The wallboard snapshot (also published on the WebSocket topic ``wallboard``)."""
    return await asyncio.to_thread(service.live)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/export", response_class=Response, responses={200: {
    "description": "The table as CSV (UTF-8 with BOM) or XLSX",
    "content": {"text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
async def export_report(
    service: StatsServiceDep, start: FromQ, end: ToQ, interval: IntervalQ = None,
    report: Annotated[str, Query(description=(
        "summary | queues | agents | nodes | faqs | tickets | contacts"))] = "summary",
    fmt: Annotated[str, Query(alias="format", description="csv | xlsx")] = "csv",
) -> Response:
    """A report's interval rows (or, ``report=contacts``, the contacts themselves, at most
    31 days) as CSV (UTF-8 with BOM) or XLSX, with Chinese column headers."""
    if fmt not in ("csv", "xlsx"):
        raise HTTPException(422, f"unknown format {fmt!r}; use csv or xlsx")
    if report not in (*REPORTS, "contacts"):
        raise HTTPException(
            422, f"unknown report {report!r}; use one of {', '.join([*REPORTS, 'contacts'])}")
    rng = service.range(start, end, interval)
    if report == "contacts":
        rows = service.contact_rows(rng)
        headers: list[str] = export.CONTACT_HEADERS
        first = await asyncio.to_thread(next, rows, None)  # validates the range
        rest = rows

        def all_rows() -> Any:
            if first is not None:
                yield first
            yield from rest

        table: Any = all_rows()
    else:
        data = await asyncio.to_thread(REPORTS[report], service, rng)
        headers, table = export.report_table(data)
    stem = (f"12366-{report}-{rng.start.astimezone(rng.tz):%Y%m%d%H%M}-"
            f"{rng.end.astimezone(rng.tz):%Y%m%d%H%M}-{rng.interval.value}")
    disposition = f"attachment; filename*=UTF-8''{quote(stem)}.{fmt}"
    if fmt == "csv":
        return StreamingResponse(export.csv_chunks(headers, table),
                                 media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": disposition})
    title = export.SHEET_TITLES[report]
    body = await asyncio.to_thread(export.xlsx_bytes, title, headers, table)
    return Response(body, media_type=XLSX, headers={"Content-Disposition": disposition})


# -- pages (static; their data comes from the API above with the user's session) ----------


@pages_router.get("/dashboard")
async def dashboard_page() -> FileResponse:
    return FileResponse(STATIC / "dashboard.html", media_type="text/html; charset=utf-8")


@pages_router.get("/wallboard")
async def wallboard_page() -> FileResponse:
    return FileResponse(STATIC / "wallboard.html", media_type="text/html; charset=utf-8")


@pages_router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    allowed = {"echarts.min.js": "text/javascript", "stats.css": "text/css",
               "stats.js": "text/javascript", "dashboard.js": "text/javascript",
               "wallboard.js": "text/javascript"}
    if name not in allowed:
        raise HTTPException(404, f"no such file: {name}")
    return FileResponse(STATIC / name, media_type=allowed[name],
                        headers={"Cache-Control": "max-age=3600"})
