"""Authentication and role checks as FastAPI dependencies.

* ``CurrentUser``: any logged-in user (bearer token or the console's session cookie), else 401.
* ``require_roles("supervisor", "admin")``: a dependency for ``Depends(...)`` in a route or in
  ``include_router(..., dependencies=[...])``: 401 when not logged in, 403 when the user's role
  is not one of ``roles``. Used as a parameter type it also hands over the user::

      @router.get("/stats/summary")
      def summary(user: Annotated[AuthUser, Depends(require_roles("supervisor", "admin"))]): ...
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket

from callcenter.auth.models import CALL_CENTRE_ROLES, Role
from callcenter.auth.services import AuthUser, LoginRateLimiter, UserService
from callcenter.auth.shared import RedisLoginRateLimiter
from callcenter.db import Database
from callcenter.settings import Settings

SESSION_COOKIE = "hotline_session"


def get_user_service(request: Request) -> UserService:
    return user_service_of(request.app.state)


def user_service_of(state: object) -> UserService:
    service = getattr(state, "users", None)
    if not isinstance(service, UserService):
        settings: Settings = state.settings  # type: ignore[attr-defined]
        db: Database = state.db  # type: ignore[attr-defined]
        service = UserService(db, state.clock,  # type: ignore[attr-defined]
                              timedelta(hours=settings.session_ttl_hours))
        state.users = service  # type: ignore[attr-defined]
    return service


def get_rate_limiter(request: Request) -> LoginRateLimiter | RedisLoginRateLimiter:
    """The app's login limit: in Redis with several API workers (built by the lifespan),
    else in this process's memory (made on first use)."""
    limiter = getattr(request.app.state, "login_limiter", None)
    if not isinstance(limiter, LoginRateLimiter | RedisLoginRateLimiter):
        settings: Settings = request.app.state.settings
        limiter = LoginRateLimiter(settings.login_max_failures, settings.login_window_s,
                                   settings.login_address_max_failures)
        request.app.state.login_limiter = limiter
    return limiter


def password_checks(request: Request) -> asyncio.Semaphore:
    """At most ``HOTLINE_LOGIN_MAX_CONCURRENT`` argon2 checks at once (each takes ~64 MiB)."""
    slots = getattr(request.app.state, "password_checks", None)
    if not isinstance(slots, asyncio.Semaphore):
        slots = asyncio.Semaphore(request.app.state.settings.login_max_concurrent)
        request.app.state.password_checks = slots
    return slots


def token_of(request: Request | WebSocket) -> str | None:
    """The session token: an ``Authorization: Bearer`` header (API clients) or the HttpOnly
    session cookie (the browser pages). Never a URL parameter."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie or None


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})


async def current_user(request: Request) -> AuthUser:
    token = token_of(request)
    if token is None:
        raise _unauthorized("未登录：需要 Bearer 令牌或登录会话")
    user = await asyncio.to_thread(get_user_service(request).authenticate, token)
    if user is None:
        raise _unauthorized("登录已失效，请重新登录")
    return user


async def websocket_session(websocket: WebSocket) -> tuple[AuthUser, str, datetime] | None:
    """(user, token, expiry) of a WebSocket's session (the cookie, or a bearer header of a
    client that is not a browser), None when not logged in."""
    token = token_of(websocket)
    if not token:
        return None
    found = await asyncio.to_thread(user_service_of(websocket.app.state).session_of, token)
    return (found[0], token, found[1]) if found else None


CurrentUser = Annotated[AuthUser, Depends(current_user)]


def require_roles(*roles: str | Role) -> Callable[[AuthUser], Awaitable[AuthUser]]:
    """A dependency that lets through only users whose role is one of ``roles``."""
    allowed = frozenset(Role(r) for r in roles)
    if not allowed:
        raise ValueError("require_roles needs at least one role")
    names = "、".join(sorted(str(r) for r in allowed))

    async def check(user: CurrentUser) -> AuthUser:
        if user.role not in allowed:
            raise HTTPException(403, f"权限不足：需要角色 {names}，当前角色 {user.role}")
        return user

    check.__name__ = f"require_roles_{'_'.join(sorted(str(r) for r in allowed))}"
    return check


UserServiceDep = Annotated[UserService, Depends(get_user_service)]
RateLimiterDep = Annotated[LoginRateLimiter | RedisLoginRateLimiter, Depends(get_rate_limiter)]
AnyStaff = Annotated[AuthUser, Depends(require_roles(*CALL_CENTRE_ROLES))]
Supervisor = Annotated[AuthUser, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]
Admin = Annotated[AuthUser, Depends(require_roles(Role.ADMIN))]
