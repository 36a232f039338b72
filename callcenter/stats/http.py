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
from callcenter.stats.ranges import Channel, ReportRange
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
ChannelQ = Annotated[str | None, Query(max_length=16, description=(
    "phone | sms | web (the contacts' channel); default: phone for summary, queues, agents, "
    "nodes and faqs (queues and agents: phone only), every channel for tickets, channels "
    "and the contacts export"))]

# name -> (report, its channel when none is asked for: None = every channel)
REPORTS: dict[str, tuple[Callable[..., dict[str, Any]], Channel | None]] = {
    "summary": (StatsService.summary, Channel.PHONE),
    "channels": (StatsService.channels, None),
    "queues": (StatsService.queues, Channel.PHONE),
    "agents": (StatsService.agents, Channel.PHONE),
    "nodes": (StatsService.menu_nodes, Channel.PHONE),
    "faqs": (StatsService.faqs, Channel.PHONE),
    "tickets": (StatsService.tickets, None),
    "quality": (StatsService.quality, Channel.PHONE),
}


def _run(service: StatsService, name: str, rng: ReportRange,
         channel: Channel | None) -> dict[str, Any]:
    report, _default = REPORTS[name]
    return report(service, rng, channel) if channel is not None else report(service, rng)


async def _report(service: StatsService, name: str, start: str, end: str,
                  interval: str | None, channel: str | None) -> dict[str, Any]:
    rng = service.range(start, end, interval)
    wanted = service.channel(channel, REPORTS[name][1])
    return await asyncio.to_thread(_run, service, name, rng, wanted)


@router.get("/summary")
async def summary(service: StatsServiceDep, start: FromQ, end: ToQ, channel: ChannelQ = None,
                  interval: IntervalQ = None) -> dict[str, Any]:
    """Totals by channel (automatic voice / manual / other), IVR containment, offered,
    answered, abandoned, service level, ASA, AHT, CSAT; per interval and in total."""
    return await _report(service, "summary", start, end, interval, channel)


@router.get("/queues")
async def queues(service: StatsServiceDep, start: FromQ, end: ToQ, channel: ChannelQ = None,
                 interval: IntervalQ = None) -> dict[str, Any]:
    """Per queue (queue legs as Asterisk counts them)."""
    return await _report(service, "queues", start, end, interval, channel)


@router.get("/agents")
async def agents(service: StatsServiceDep, start: FromQ, end: ToQ, channel: ChannelQ = None,
                 interval: IntervalQ = None) -> dict[str, Any]:
    """Per agent: handled, talk, wrap-up, pause by reason, occupancy."""
    return await _report(service, "agents", start, end, interval, channel)


@router.get("/nodes")
async def nodes(service: StatsServiceDep, start: FromQ, end: ToQ, channel: ChannelQ = None,
                interval: IntervalQ = None) -> dict[str, Any]:
    """Per menu node: entered, dropped (caller hung up there)."""
    return await _report(service, "nodes", start, end, interval, channel)


@router.get("/faqs")
async def faqs(service: StatsServiceDep, start: FromQ, end: ToQ, channel: ChannelQ = None,
               interval: IntervalQ = None) -> dict[str, Any]:
    """Per FAQ id: played, escalated to an agent after it."""
    return await _report(service, "faqs", start, end, interval, channel)


@router.get("/tickets")
async def tickets(service: StatsServiceDep, start: FromQ, end: ToQ, channel: ChannelQ = None,
                  interval: IntervalQ = None) -> dict[str, Any]:
    """Tickets by type, and the on-time rate."""
    return await _report(service, "tickets", start, end, interval, channel)


@router.get("/quality")
async def quality(service: StatsServiceDep, start: FromQ, end: ToQ, channel: ChannelQ = None,
                  interval: IntervalQ = None) -> dict[str, Any]:
    """Quality review scores per agent (by when the reviewed call was made): reviews,
    average / lowest / highest weighted score out of 100, acknowledged, per criterion."""
    return await _report(service, "quality", start, end, interval, channel)


@router.get("/channels")
async def channels(service: StatsServiceDep, start: FromQ, end: ToQ, channel: ChannelQ = None,
                   interval: IntervalQ = None) -> dict[str, Any]:
    """Every channel (phone, sms, web) side by side: contacts and how they were served,
    tickets replied within their deadline, texts sent and delivered; in total and per
    interval."""
    return await _report(service, "channels", start, end, interval, channel)


@router.get("/outbound")
async def outbound(service: StatsServiceDep, start: FromQ, end: ToQ) -> dict[str, Any]:
    """Outbound callbacks: attempts by result, talk time, requests closed and pending;
    contacts by direction (the other reports count inbound contacts only)."""
    rng = service.range(start, end, None)
    return await asyncio.to_thread(service.outbound, rng)


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
        "summary | channels | queues | agents | nodes | faqs | tickets | quality | "
        "contacts"))] = "summary",
    fmt: Annotated[str, Query(alias="format", description="csv | xlsx")] = "csv",
    channel: ChannelQ = None,
) -> Response:
    """A report's interval rows (or, ``report=contacts``, the contacts themselves, at most
    31 days) as CSV (UTF-8 with BOM) or XLSX, with Chinese column headers."""
    if fmt not in ("csv", "xlsx"):
        raise HTTPException(422, f"unknown format {fmt!r}; use csv or xlsx")
    if report not in (*REPORTS, "contacts"):
        raise HTTPException(
            422, f"unknown report {report!r}; use one of {', '.join([*REPORTS, 'contacts'])}")
    rng = service.range(start, end, interval)
    wanted = service.channel(channel, REPORTS[report][1] if report in REPORTS else None)
    if report == "contacts":
        rows = service.contact_rows(rng, wanted)
        headers: list[str] = export.CONTACT_HEADERS
        first = await asyncio.to_thread(next, rows, None)  # validates the range
        rest = rows

        def all_rows() -> Any:
            if first is not None:
                yield export.contact_row(first)
            for row in rest:
                yield export.contact_row(row)

        table: Any = all_rows()
    else:
        data = await asyncio.to_thread(_run, service, report, rng, wanted)
        headers, table = export.report_table(data)
    part = f"{wanted.value}-" if wanted is not None else ""
    stem = (f"12366-{report}-{part}{rng.start.astimezone(rng.tz):%Y%m%d%H%M}-"
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
               "wallboard.js": "text/javascript", "dashboard-outbound.js": "text/javascript",
               "dashboard-quality.js": "text/javascript"}
    if name not in allowed:
        raise HTTPException(404, f"no such file: {name}")
    return FileResponse(STATIC / name, media_type=allowed[name],
                        headers={"Cache-Control": "max-age=3600"})
