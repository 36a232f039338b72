"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from callcenter.agents.front import LocalFront, RemoteFront
from callcenter.api import api_router
from callcenter.auth.deps import SESSION_COOKIE
from callcenter.consult.http import pages_router as consult_pages_router
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.edge import Edge, install_access_log_filter
from callcenter.errors import DomainError, domain_error_response
from callcenter.openapi import describe_errors
from callcenter.roles import ApiRole
from callcenter.runtime import Runtime, load_shared
from callcenter.settings import Settings, clock_of, get_settings
from callcenter.sms.worker import SmsWorker
from callcenter.stats.http import pages_router as stats_pages_router
from callcenter.stats.live import WallboardPublisher
from callcenter.stats.services import stats_service_for
from callcenter.web.http import router as web_router
from ivr.clock import Clock

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """The app; ``clock`` is the process clock, built from the settings when not given."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the composition root: each long-lived service is built here, once, and request
        # dependencies (callcenter/deps.py and the domains' get_* functions) read app.state
        db = Database(settings.database_url)
        contacts = ContactService(db)
        process_clock = clock or clock_of(settings)  # the one clock every service reads
        install_access_log_filter()  # no caller numbers or questions in the access log
        # the calendar (its coverage: a warning in the log and in the health report), the
        # knowledge base (/kb and the IVR's FAQ nodes) and the ticket service
        shared = await asyncio.to_thread(load_shared, settings, db, process_clock)
        api_role: ApiRole | None = None
        if settings.redis_url:
            # an API worker among several (docs/deployment.md): no AMI here, the bridges of
            # the Asterisk nodes run as `hotline bridge`; notifications, session endings, the
            # login limit and the desk's commands go over Redis
            api_role = ApiRole.build(settings, process_clock)
            runtime = Runtime.build(settings.model_copy(update={"ami_enabled": False}),
                                    contacts, process_clock, shared, notifier=api_role.notifier)
            assert runtime.desk is not None
            app.state.desk_front = RemoteFront(runtime.desk, api_role.commands, settings.node)
            app.state.live_sessions = api_role.live_sessions
            app.state.login_limiter = api_role.limiter
            assert runtime.kb_reloads is not None
            runtime.kb_reloads.attach(api_role.bus)  # publications reload every process
            await api_role.start()
        else:
            runtime = Runtime.build(settings, contacts, process_clock, shared)
            assert runtime.desk is not None
            app.state.desk_front = LocalFront(runtime.desk)
        app.state.api_role = api_role
        app.state.settings = settings
        app.state.clock = process_clock
        app.state.db = db
        app.state.contacts = contacts
        app.state.runtime = runtime
        app.state.notifier = runtime.notifier  # the one event bus (callcenter/notify)
        app.state.calendar = shared.calendar
        app.state.knowledge_base = shared.kb
        app.state.kb_store = shared.kb_store  # knowledge operations (callcenter/kb)
        app.state.kb_reloads = runtime.kb_reloads
        app.state.tickets = shared.tickets
        app.state.stats = stats_service_for(db, settings, process_clock)
        await runtime.start()
        wallboard = WallboardPublisher(app, settings.stats_wallboard_interval_s)
        wallboard.start()
        sms_worker = SmsWorker(app, settings)  # held texts (callcenter/sms/worker.py)
        sms_worker.start()
        try:
            yield
        finally:
            await sms_worker.stop()
            await wallboard.stop()
            await runtime.stop()
            if api_role is not None:
                await api_role.stop()
            db.dispose()

    app = FastAPI(
        title="hotline12366",
        version="0.1.0",
        description="IVR and call-center backend for the 12366 tax service hotline.",
        lifespan=lifespan,
        # the interactive docs load a viewer from a CDN: development only
        docs_url=None if settings.env == "production" else "/docs",
        redoc_url=None if settings.env == "production" else "/redoc",
    )

    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    # every domain's refusal (callcenter/errors.py), rendered once: routes do not catch them
    app.add_exception_handler(DomainError, domain_error_response)
    app.include_router(api_router)
    app.include_router(web_router)  # the console: /console
    app.include_router(stats_pages_router)
    app.include_router(consult_pages_router)  # the taxpayers' page: /consult
    # body limit, Origin check, security headers (callcenter/edge.py)
    app.add_middleware(Edge, max_body_bytes=settings.max_body_bytes,
                       trusted_origins=settings.trusted_origins, cookie_name=SESSION_COOKIE,
                       sessionless_paths={"/api/v1/auth/login"})
    describe_errors(app)  # the OpenAPI document says what the API answers on errors
    return app


async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """Every 422 of bad input: a ``Problem`` (callcenter/openapi.py)."""
    return JSONResponse(status_code=422, content=validation_problem(exc.errors()))


# What the console shows for each kind of invalid field (pydantic's error types), in Chinese;
# ``{field}`` is the field's name, the others come from the error's context. A kind not listed
# keeps pydantic's own words after the field's name.
_REASONS: dict[str, str] = {
    "missing": "缺少“{field}”",
    "extra_forbidden": "不认识的字段“{field}”",
    "json_invalid": "请求内容不是有效的 JSON",
    "string_type": "“{field}”须为文本",
    "string_too_short": "“{field}”至少 {min_length} 个字",
    "string_too_long": "“{field}”最多 {max_length} 个字",
    "string_pattern_mismatch": "“{field}”的格式不对",
    "too_short": "“{field}”至少 {min_length} 项",
    "too_long": "“{field}”最多 {max_length} 项",
    "int_type": "“{field}”须为整数",
    "int_parsing": "“{field}”须为整数",
    "int_from_float": "“{field}”须为整数",
    "float_type": "“{field}”须为数字",
    "float_parsing": "“{field}”须为数字",
    "bool_type": "“{field}”须为 true 或 false",
    "bool_parsing": "“{field}”须为 true 或 false",
    "greater_than": "“{field}”须大于 {gt}",
    "greater_than_equal": "“{field}”不能小于 {ge}",
    "less_than": "“{field}”须小于 {lt}",
    "less_than_equal": "“{field}”不能大于 {le}",
    "literal_error": "“{field}”只能是 {expected}",
    "enum": "“{field}”只能是 {expected}",
    "date_type": "“{field}”须为日期，如 2026-12-01",
    "date_parsing": "“{field}”须为日期，如 2026-12-01",
    "date_from_datetime_parsing": "“{field}”须为日期，如 2026-12-01",
    "datetime_type": "“{field}”须为时间，如 2026-12-01T09:00:00+08:00",
    "datetime_parsing": "“{field}”须为时间，如 2026-12-01T09:00:00+08:00",
    "datetime_from_date_parsing": "“{field}”须为时间，如 2026-12-01T09:00:00+08:00",
    "timezone_aware": "“{field}”须带时区，如 +08:00",
    "list_type": "“{field}”须为列表",
    "dict_type": "“{field}”须为对象",
    "model_type": "“{field}”须为对象",
    "model_attributes_type": "“{field}”须为对象",
    "url_parsing": "“{field}”须为网址",
}


def _reason(loc: list[str], kind: str, msg: str, context: Mapping[str, Any]) -> str:
    """One invalid field, in Chinese where its kind is known."""
    # loc starts with where the field came from (body, query, path): the name is what follows
    field = ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc)
    template = _REASONS.get(kind)
    if template is not None:
        values = {key: str(value).replace(", ", "、").replace(" or ", "、")
                  for key, value in context.items()}
        try:
            return template.format(field=field, **values)
        except (KeyError, IndexError):
            pass  # a context without the value the template names: pydantic's own words
    return f"{'.'.join(loc)}: {msg}" if loc else msg


def validation_problem(errors: Sequence[Any]) -> dict[str, Any]:
    """The 422 body: ``detail``, one line for people (in Chinese); ``errors``, one entry per
    field, with pydantic's ``type`` for programs."""
    details: list[dict[str, Any]] = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ())]
        kind = str(error.get("type", ""))
        msg = str(error.get("msg", "")).removeprefix("Value error, ")
        context = error.get("ctx") or {}
        details.append({"loc": loc, "msg": _reason(loc, kind, msg, context), "type": kind})
    reason = "; ".join(str(d["msg"]) for d in details)
    return {"detail": reason or "请求参数无效", "errors": details}
