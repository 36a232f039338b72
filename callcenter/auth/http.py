"""``/api/v1/auth`` (login, logout, me), ``/api/v1/users`` and ``/api/v1/audit`` (admin)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import ValidationError

from callcenter.auth.deps import (
    SESSION_COOKIE,
    Admin,
    CurrentUser,
    RateLimiterDep,
    UserServiceDep,
    password_checks,
    token_of,
)
from callcenter.auth.live import live_sessions
from callcenter.auth.schemas import (
    AuditOut,
    LoginIn,
    LoginOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from callcenter.auth.services import AuthUser, LoginLimited
from callcenter.openapi import problems

router = APIRouter(tags=["auth"])
# how long a login waits for a free password check before it is refused
PASSWORD_CHECK_WAIT_S = 10.0


def _user_out(user: AuthUser) -> UserOut:
    return UserOut(id=user.id, username=user.username, display_name=user.display_name,
                   role=user.role, interface=user.interface, active=user.active,
                   node=user.node, mobile=user.mobile)


def _too_many(wait: float, reason: str = "登录尝试过于频繁") -> HTTPException:
    seconds = int(wait) + 1
    return HTTPException(429, f"{reason}，请 {seconds} 秒后再试",
                         headers={"Retry-After": str(seconds)})


async def _credentials(request: Request) -> LoginIn:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw: Any
    try:
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.form()
            raw = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            raw = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(422, "请求体不是有效的 JSON 或表单") from exc
    if not isinstance(raw, dict):
        raise HTTPException(422, "需要 username 和 password（JSON 对象或表单）")
    try:
        return LoginIn.model_validate(raw)
    except ValidationError as exc:
        reason = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                           for e in exc.errors())
        raise HTTPException(422, reason) from exc


@router.post("/auth/login", response_model=LoginOut, summary="Log in (form or JSON)",
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": LoginIn.model_json_schema()},
                 "application/x-www-form-urlencoded": {"schema": LoginIn.model_json_schema()},
             }, "required": True}},
             responses=problems(401, 429))
async def login(request: Request, response: Response, users: UserServiceDep,
                limiter: RateLimiterDep) -> LoginOut:
    """Give a session: the HttpOnly cookie (the browser pages use only that) and, for API
    clients that are not browsers, the same token as a bearer token in the body."""
    credentials = await _credentials(request)
    client = request.client.host if request.client else "?"
    try:  # reserved before the password check: parallel attempts cannot slip past the limit
        attempt = limiter.reserve(credentials.username, client)
    except LoginLimited as exc:
        raise _too_many(exc.retry_after) from exc
    slots = password_checks(request)
    try:
        await asyncio.wait_for(slots.acquire(), PASSWORD_CHECK_WAIT_S)
    except TimeoutError as exc:
        limiter.release(attempt)
        raise _too_many(1.0, "登录请求过多") from exc
    try:
        result = await asyncio.to_thread(users.login, credentials.username,
                                         credentials.password)
    except BaseException:
        limiter.release(attempt)
        raise
    finally:
        slots.release()
    if result is None:
        limiter.failed(attempt)
        raise HTTPException(401, "用户名或密码错误", headers={"WWW-Authenticate": "Bearer"})
    limiter.succeeded(attempt)
    user, token, expires = result
    settings = request.app.state.settings
    response.set_cookie(SESSION_COOKIE, token, httponly=True, secure=settings.session_cookie_secure,
                        samesite="strict", path="/",
                        max_age=int(settings.session_ttl_hours * 3600))
    return LoginOut(access_token=token, expires_at=expires, user=_user_out(user))


@router.post("/auth/logout", status_code=204, summary="End this session")
async def logout(request: Request, user: CurrentUser, users: UserServiceDep) -> Response:
    token = token_of(request)
    if token:
        await asyncio.to_thread(users.logout, token)
        live_sessions(request.app.state).end_token(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/auth/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return _user_out(user)


@router.get("/users", response_model=list[UserOut], tags=["admin"])
async def list_users(_admin: Admin, users: UserServiceDep) -> list[UserOut]:
    rows = await asyncio.to_thread(users.list_users)
    return [UserOut.model_validate(r) for r in rows]


@router.post("/users", response_model=UserOut, status_code=201, tags=["admin"],
             responses=problems(409))
async def create_user(body: UserCreate, admin: Admin, users: UserServiceDep) -> UserOut:
    # a taken name: AuthError (409); a weak password: PasswordRejected (422)
    user = await asyncio.to_thread(
        lambda: users.create_user(body.username, body.password, body.role,
                                  actor=admin.username, display_name=body.display_name,
                                  interface=body.interface, node=body.node))
    return _user_out(user)


@router.patch("/users/{username}", response_model=UserOut, tags=["admin"],
              responses=problems(404, 409))
async def update_user(username: Annotated[str, Path(max_length=64)], body: UserUpdate,
                      admin: Admin, users: UserServiceDep, request: Request) -> UserOut:
    if username == admin.username and (body.active is False or
                                       (body.role is not None and body.role != "admin")):
        raise HTTPException(409, "不能停用自己或取消自己的管理员角色")
    # no such user: NotFound (404); a weak password: PasswordRejected (422)
    user = await asyncio.to_thread(
        lambda: users.update_user(username, actor=admin.username, role=body.role,
                                  display_name=body.display_name, password=body.password,
                                  active=body.active, interface=body.interface,
                                  node=body.node, mobile=body.mobile))
    if body.password is not None or body.active is False or body.role is not None:
        # the user's open WebSockets end now (a new role subscribes again with its rights)
        live_sessions(request.app.state).end_user(user.id)
    return _user_out(user)


@router.get("/audit", response_model=list[AuditOut], tags=["admin"])
async def audit_log(_admin: Admin, users: UserServiceDep,
                    action: Annotated[str | None, Query(max_length=64)] = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[AuditOut]:
    rows = await asyncio.to_thread(users.audit_log, limit, action)
    return [AuditOut.model_validate(r) for r in rows]
