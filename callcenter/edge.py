"""The edge of the app: what every HTTP request and WebSocket meets before a route runs.

One ASGI middleware, :class:`Edge`, in this order:

1. **Origin**: a state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` is another
   site is refused (403), and so is one authenticated by the session cookie that carries no
   evidence of coming from our own pages (neither ``Origin`` nor ``Sec-Fetch-Site:
   same-origin``). A WebSocket from another origin is closed (4403) before it is accepted.
   SameSite does not separate two ports of one host; this does.
2. **Body**: at most ``max_body_bytes`` (``Content-Length`` is checked before anything is
   read, a chunked body is counted while it is read): 413. A JSON body must be UTF-8 and nest
   at most :data:`MAX_JSON_DEPTH` levels: 422 (deep nesting otherwise costs a RecursionError).
   No text may hold a NUL character, in the path, the query, a form or a JSON body: 422
   (PostgreSQL cannot store one, and no field of ours has a use for it).
3. **Headers**: every response gets ``Content-Security-Policy`` (with ``frame-ancestors
   'none'``), ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and
   ``Referrer-Policy: no-referrer``: the console, the statistics pages and the API alike.

Also here: the bounds every identifier and moment taken from a client must keep
(:data:`DB_INT_MAX`, :func:`utc_moment`) and the access-log filter that keeps query values
(caller numbers, questions) out of the log.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# -- bounds of what a client may send ------------------------------------------------------

# the largest id (and counted integer) a client may send: the tables' INTEGER columns are int4
# in PostgreSQL (2**63 - 1, the bound before, let 2**31 through to a 500: integer out of range)
DB_INT_MAX = 2**31 - 1
MAX_JSON_DEPTH = 32
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# moments outside these years mean a typo or a probe, and at the ends of the calendar the
# date arithmetic of a report (a day later, another time zone) overflows
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def utc_moment(value: datetime, name: str) -> datetime:
    """``value`` (aware) in UTC, or ValueError with a reason when it is outside
    [:data:`EARLIEST`, :data:`LATEST`)."""
    if value.tzinfo is None:
        raise ValueError(f"“{name}”须带时区偏移，例如 2026-11-28T08:00:00+08:00")
    reason = (f"“{name}”须在 {EARLIEST:%Y-%m-%d} 至 {LATEST:%Y-%m-%d}（UTC）之间，"
              f"收到 {value.isoformat()}")
    try:
        moment = value.astimezone(UTC)
    except OverflowError as exc:  # the first or last day of the calendar, shifted
        raise ValueError(reason) from exc
    if not EARLIEST <= moment < LATEST:
        raise ValueError(reason)
    return moment


# -- origins -------------------------------------------------------------------------------

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _netloc(scheme: str, host: str) -> str:
    """``host[:port]`` lower-cased, without the scheme's default port."""
    host = host.strip().lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default is not None and host.endswith(f":{default}"):
        host = host[: -len(f":{default}")]
    return host


def origin_allowed(origin: str, host: str, trusted: Iterable[str] = ()) -> bool:
    """Whether a browser page at ``origin`` may act on this server (reached as ``host``):
    the same host and port, or one of the ``trusted`` origins (``https://desk.example``)."""
    if origin in trusted:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (a sandboxed frame, a file), anything odd
    return _netloc(parts.scheme, parts.netloc) == _netloc(parts.scheme, host)


def cookie_authenticated(headers: Mapping[str, str], cookie_name: str) -> bool:
    """True when the session cookie, not a bearer header, would authenticate the request."""
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer ") and authorization[7:].strip():
        return False
    return f"{cookie_name}=" in headers.get("cookie", "")


def origin_problem(method: str, headers: Mapping[str, str], trusted: Iterable[str],
                   cookie_name: str, *, uses_cookie: bool = True) -> str | None:
    """Why a state-changing request must be refused (None: it may go on). ``uses_cookie``
    False: the route does not act on the session (the login), a foreign Origin is refused
    all the same."""
    if method not in UNSAFE_METHODS:
        return None
    origin = headers.get("origin")
    host = headers.get("host", "")
    if origin is not None:
        if origin_allowed(origin, host, trusted):
            return None
        return f"拒绝跨站请求：来源 {origin[:100]} 不是本系统的页面"
    if uses_cookie and cookie_authenticated(headers, cookie_name) and \
            headers.get("sec-fetch-site") not in ("same-origin", "none"):
        return "拒绝请求：使用登录会话的修改请求必须来自本系统的页面（缺少 Origin）"
    return None


# -- JSON bodies ---------------------------------------------------------------------------

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings skipped); a text
    that is not JSON gets some number, and the JSON parser gives its reason later."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def json_problem(body: bytes) -> str | None:
    if not body:
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "请求体不是有效的 UTF-8 文本"
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and \
            json_depth(body) > MAX_JSON_DEPTH:
        return f"JSON 嵌套层数超过 {MAX_JSON_DEPTH} 层"
    return None


_NUL_ESCAPES = (b"\x00", b"%00", b"\\u0000")


def nul_problem(path: str, query: bytes, body: bytes, content_type: str) -> str | None:
    """A reason when a NUL character comes in the path, the query, or a form or JSON body."""
    form_or_json = content_type in ("application/x-www-form-urlencoded", "application/json") \
        or content_type.endswith("+json")
    if "\x00" in path or any(
            escape in part.lower() for part in (query, body if form_or_json else b"")
            for escape in _NUL_ESCAPES):
        return "文本不能包含空字符（NUL）"
    return None


# -- headers -------------------------------------------------------------------------------

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
# FastAPI's /docs and /redoc pages (development only: off with HOTLINE_ENV=production) load
# their viewer from a CDN and run an inline script
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
DOCS_PATHS = frozenset({"/docs", "/redoc"})
OTHER_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


def _with_security_headers(message: Message, path: str) -> Message:
    headers = [(name, value) for name, value in message.get("headers", [])
               if name.lower() != b"content-security-policy"]
    present = {name.lower() for name, _ in headers}
    policy = DOCS_CSP if path in DOCS_PATHS else CSP
    headers.append((b"content-security-policy", policy.encode()))
    headers.extend(h for h in OTHER_HEADERS if h[0] not in present)
    return {**message, "headers": headers}


# -- the middleware -----------------------------------------------------------------------


class Edge:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 trusted_origins: Iterable[str] = (), cookie_name: str = "hotline_session",
                 sessionless_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.sessionless = frozenset(sessionless_paths)
        self.max_body_bytes = max_body_bytes
        self.trusted = frozenset(o.rstrip("/") for o in trusted_origins)
        self.cookie_name = cookie_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if origin is not None and not origin_allowed(origin, headers.get("host", ""),
                                                         self.trusted):
                await send({"type": "websocket.close", "code": 4403,
                            "reason": "cross-site WebSocket refused"})
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _with_security_headers(message, scope["path"])
            await send(message)

        headers = Headers(scope=scope)
        problem = origin_problem(scope["method"], headers, self.trusted, self.cookie_name,
                                 uses_cookie=scope["path"] not in self.sessionless)
        if problem:
            await _answer(send_secured, 403, problem)
            return
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await _answer(send_secured, 400, "Content-Length 无效")
                return
            if int(length) > self.max_body_bytes:
                await _answer(send_secured, 413, self._too_large())
                return
        if scope["method"] not in UNSAFE_METHODS and not length and \
                "transfer-encoding" not in headers:
            reason = nul_problem(scope["path"], scope.get("query_string", b""), b"", "")
            if reason:
                await _answer(send_secured, 422, reason)
                return
            await self.app(scope, receive, send_secured)
            return
        body, complete = await self._read_body(receive)
        if not complete:
            if body is None:
                return  # the client went away
            await _answer(send_secured, 413, self._too_large())
            return
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        reason = nul_problem(scope["path"], scope.get("query_string", b""), body or b"",
                             content_type)
        if reason is None and (content_type == "application/json"
                               or content_type.endswith("+json")):
            reason = json_problem(body or b"")
        if reason:
            await _answer(send_secured, 422, reason)
            return
        await self.app(scope, _replay(body or b"", receive), send_secured)

    def _too_large(self) -> str:
        return f"请求体过大：最多 {self.max_body_bytes} 字节"

    async def _read_body(self, receive: Receive) -> tuple[bytes | None, bool]:
        """(body, True), or (what was read, False) when it exceeds the limit, or
        (None, False) when the client disconnected."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", False
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


# -- the access log ------------------------------------------------------------------------


class QueryRedactor(logging.Filter):
    """Keeps query values out of uvicorn's access log: ``/contacts?caller=138...`` is logged
    as ``/contacts?caller=…`` (caller numbers, questions and the like are personal data)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and \
                "?" in args[2]:
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


def redact_query(path: str) -> str:
    base, _, query = path.partition("?")
    names = [part.split("=", 1)[0] for part in query.split("&") if part]
    return base + "?" + "&".join(f"{name}=…" for name in names)


def install_access_log_filter(logger_name: str = "uvicorn.access") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, QueryRedactor) for f in logger.filters):
        logger.addFilter(QueryRedactor())


__all__ = ["DB_INT_MAX", "Edge", "QueryRedactor", "install_access_log_filter",
           "json_depth", "origin_allowed", "utc_moment"]

