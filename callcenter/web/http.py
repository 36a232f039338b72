"""Serves the console: ``/console`` (the page) and ``/console/static/<file>`` (its assets)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

STATIC = Path(__file__).with_name("static")
ASSETS = {p.name for p in STATIC.iterdir() if p.is_file()} if STATIC.is_dir() else set()
# Content-Security-Policy, nosniff and frame-ancestors come from the edge (callcenter/edge.py)
HEADERS = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/console")


def html_page(path: Path) -> FileResponse:
    """A page of ours (never cached: a new release is seen at the next load)."""
    return FileResponse(path, media_type="text/html; charset=utf-8", headers=HEADERS)


def static_asset(directory: Path, assets: set[str], name: str) -> FileResponse:
    """One of the files listed in ``assets`` (read once at start-up) of ``directory``;
    any other name: 404."""
    if name not in assets:
        raise HTTPException(404, "文件不存在")
    return FileResponse(directory / name, headers=HEADERS)


@router.get("/console")
async def console() -> FileResponse:
    return html_page(STATIC / "index.html")


@router.get("/console/static/{name}")
async def asset(name: str) -> FileResponse:
    return static_asset(STATIC, ASSETS, name)
