"""Domain errors and their one translation to HTTP.

A domain service refuses a request by raising a :class:`DomainError`: ``detail`` is the line
for people (what the console shows the agent; Simplified Chinese where agents read it) and
``status`` the HTTP status it answers with, a class default that one raise may override. The
app factory registers :func:`domain_error_response` once (``callcenter/app.py``); routes do not
catch domain errors. The body is a ``Problem``, ``{"detail": ...}``, as for an
``HTTPException`` (``callcenter/openapi.py``).

Each domain's error keeps its own class, and the built-in base it had, so code that catches
``LookupError``, ``ValueError`` or ``PermissionError`` still does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import Request
from fastapi.responses import JSONResponse


class DomainError(Exception):
    """A request a domain refuses: ``status`` (HTTP) and ``detail`` (for people)."""

    status: int
    default_status: ClassVar[int] = 409

    def __init__(self, detail: str, status: int | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status if status is not None else type(self).default_status
        # per-field reasons, ``[{"loc", "msg", "type"}]`` as a 422 of the request's validation
        self.errors = errors


class NotFound(DomainError, LookupError):
    """The thing the request names does not exist (404)."""

    default_status = 404


async def domain_error_response(_request: Request, exc: Exception) -> JSONResponse:
    """The one exception handler for every :class:`DomainError`."""
    assert isinstance(exc, DomainError)
    content: dict[str, Any] = {"detail": exc.detail}
    if exc.errors is not None:
        content["errors"] = exc.errors
    return JSONResponse(status_code=exc.status, content=content)
