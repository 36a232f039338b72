"""Password hashing (argon2id), login sessions, the login rate limit and the audit log.

A login session is an opaque random token; only its SHA-256 is stored, so a database leak
does not hand out sessions, and logout revokes it for every process sharing the database.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.auth.models import AuditEntry, AuthSession, Role, User
from callcenter.auth.passwords import WeakPassword, check_password
from callcenter.db import Database
from callcenter.errors import DomainError, NotFound
from ivr.clock import Clock

_hasher = PasswordHasher()
# verifying against this keeps the timing of "no such user" close to "wrong password"; made on
# the first such login, not at import (0.1-0.2 CPU-s that every process importing this module
# paid: each `hotline` command, each API worker)
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash("not-a-real-password")
    return _DUMMY_HASH


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthError(DomainError):
    """A user or credential problem, with a message for people (Simplified Chinese); 409."""


class PasswordRejected(AuthError):
    """The new password breaks the password rule (callcenter/auth/passwords.py); 422."""

    default_status = 422


def _checked(password: str, username: str) -> str:
    try:
        check_password(password, username)
    except WeakPassword as exc:
        raise PasswordRejected(str(exc)) from exc
    return password


@dataclass(frozen=True)
class AuthUser:
    id: int
    username: str
    role: Role
    display_name: str
    interface: str | None
    active: bool = True
    node: str | None = None
    mobile: str | None = None  # for notices to staff by text (callcenter/notices)

    @classmethod
    def of(cls, user: User) -> AuthUser:
        return cls(user.id, user.username, Role(user.role), user.display_name, user.interface,
                   bool(user.active), user.node, user.mobile)


def audit(session: Session, actor: str, action: str, target: str = "", *, at: datetime,
          **detail: Any) -> None:
    """Add an audit entry, made ``at`` a moment of the process clock, to the caller's
    transaction (so it commits with the change)."""
    session.add(AuditEntry(at=at, actor=actor, action=action, target=target[:128],
                           detail=detail))


class UserService:
    def __init__(self, db: Database, clock: Clock,
                 session_ttl: timedelta = timedelta(hours=12)) -> None:
        self.db = db
        self.clock = clock
        self.session_ttl = session_ttl

    # -- users ----------------------------------------------------------------------------

    def create_user(self, username: str, password: str, role: Role, *, actor: str,
                    display_name: str = "", interface: str | None = None,
                    node: str | None = None) -> AuthUser:
        user = User(username=username, role=str(role),
                    password_hash=hash_password(_checked(password, username)),
                    display_name=display_name or username, active=True, interface=interface,
                    node=node, created_at=self.clock())
        try:
            with self.db.transaction() as session:
                session.add(user)
                session.flush()
                audit(session, actor, "user.create", username, at=self.clock(),
                      role=str(role), interface=interface, node=node)
        except IntegrityError as exc:
            raise AuthError(f"用户名 {username} 已存在") from exc
        return AuthUser.of(user)

    def update_user(self, username: str, *, actor: str, role: Role | None = None,
                    display_name: str | None = None, password: str | None = None,
                    active: bool | None = None, interface: str | None = None,
                    node: str | None = None, mobile: str | None = None) -> AuthUser:
        """Change a user (``mobile`` "": none); a new password or a deactivation ends every
        session of the user (the caller also closes the user's WebSockets:
        ``LiveSessions.end_user``)."""
        with self.db.transaction() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound(f"用户 {username} 不存在")
            changed: dict[str, Any] = {}
            if role is not None:
                user.role = str(role)
                changed["role"] = str(role)
            if display_name is not None:
                user.display_name = display_name
                changed["display_name"] = display_name
            if interface is not None:
                user.interface = interface or None
                changed["interface"] = interface
            if node is not None:  # "" puts the agent back on the default node
                user.node = node or None
                changed["node"] = node
            if mobile is not None:
                user.mobile = mobile or None
                changed["mobile"] = f"***{mobile[-4:]}" if mobile else ""
            if password is not None:
                user.password_hash = hash_password(_checked(password, username))
                changed["password"] = "changed"
                changed["sessions_revoked"] = self._revoke_all(session, user.id)
            if active is not None:
                user.active = active
                changed["active"] = active
                if not active:
                    changed["sessions_revoked"] = self._revoke_all(session, user.id)
            audit(session, actor, "user.update", username, at=self.clock(), **changed)
            return AuthUser.of(user)

    def _revoke_all(self, session: Session, user_id: int) -> int:
        rows = session.scalars(select(AuthSession).where(
            AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))).all()
        for row in rows:
            row.revoked_at = self.clock()
        return len(rows)

    def active_staff(self, username: str) -> AuthUser | None:
        """The active user ``username`` (any role), or None: who may own a work item."""
        user = self.get_user(username)
        return user if user is not None and user.active else None

    def list_users(self) -> Sequence[User]:
        with self.db.session() as session:
            return session.scalars(select(User).order_by(User.username)).all()

    def get_user(self, username: str) -> AuthUser | None:
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.username == username))
            return AuthUser.of(user) if user else None

    # -- sessions -------------------------------------------------------------------------

    def login(self, username: str, password: str) -> tuple[AuthUser, str, datetime] | None:
        """A new session token for valid credentials of an active user, else None."""
        with self.db.transaction() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None or not user.active:
                verify_password(_dummy_hash(), password)
                audit(session, username[:64] or "?", "auth.login_failed", username,
                      at=self.clock())
                return None
            if not verify_password(user.password_hash, password):
                audit(session, username, "auth.login_failed", username, at=self.clock())
                return None
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            token = secrets.token_urlsafe(32)
            expires = self.clock() + self.session_ttl
            session.add(AuthSession(token_hash=token_digest(token), user_id=user.id,
                                    created_at=self.clock(), expires_at=expires))
            audit(session, username, "auth.login", username, at=self.clock())
            return AuthUser.of(user), token, expires

    def authenticate(self, token: str) -> AuthUser | None:
        found = self.session_of(token)
        return found[0] if found else None

    def session_of(self, token: str) -> tuple[AuthUser, datetime] | None:
        """The user of a live session token and when the session expires, else None."""
        with self.db.session() as session:
            row = session.execute(
                select(AuthSession, User).join(User, User.id == AuthSession.user_id)
                .where(AuthSession.token_hash == token_digest(token))
            ).first()
            if row is None:
                return None
            auth_session, user = row
            if (auth_session.revoked_at is not None or auth_session.expires_at <= self.clock()
                    or not user.active):
                return None
            return AuthUser.of(user), auth_session.expires_at

    def logout(self, token: str) -> bool:
        with self.db.transaction() as session:
            row = session.scalar(select(AuthSession).where(
                AuthSession.token_hash == token_digest(token)))
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = self.clock()
            user = session.get(User, row.user_id)
            audit(session, user.username if user else "?", "auth.logout", at=self.clock())
            return True

    # -- audit ----------------------------------------------------------------------------

    def record(self, actor: str, action: str, target: str = "", **detail: Any) -> None:
        with self.db.transaction() as session:
            audit(session, actor, action, target, at=self.clock(), **detail)

    def audit_log(self, limit: int = 200, action: str | None = None) -> Sequence[AuditEntry]:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if action:
            query = query.where(AuditEntry.action == action)
        with self.db.session() as session:
            return session.scalars(query).all()


class LoginLimited(Exception):
    """Too many login attempts for now; ``retry_after`` seconds until the next may start."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginAttempt:
    """A reserved login attempt: end it with ``failed``, ``succeeded`` or ``release``."""

    pair: str  # user name at client address
    address: str


class LoginRateLimiter:
    """Failed logins per (user name, client address) and, with a higher limit, per address.

    An attempt is *reserved* before the password is checked (:meth:`reserve`), so attempts
    sent in parallel count at once: with ``max_failures`` 5, the sixth concurrent attempt
    is refused before any argon2 work. The keys never include the user name alone, so
    nobody can lock a user out from another address; an unknown user name counts only
    against its own pair and the address it came from. In-process memory (the number of keys
    kept is bounded); several API workers share ``callcenter.auth.shared``'s limiter instead.
    """

    def __init__(self, max_failures: int = 5, window_s: float = 300.0,
                 address_max_failures: int = 30, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.max_failures = max_failures
        self.address_max_failures = max(address_max_failures, max_failures)
        self.window_s = window_s
        self.max_keys = max_keys
        self._monotonic = monotonic
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._pending: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def _limit(self, key: str) -> int:
        return self.address_max_failures if key.startswith("addr:") else self.max_failures

    def _prune(self, key: str, at: float) -> deque[float]:
        entries = self._failures[key]
        while entries and entries[0] <= at - self.window_s:
            entries.popleft()
        return entries

    def _forget_idle(self, at: float) -> None:
        for key in list(self._failures):
            if not self._prune(key, at) and not self._pending.get(key):
                del self._failures[key]
                self._pending.pop(key, None)

    def reserve(self, username: str, address: str) -> LoginAttempt:
        """Reserve one attempt, or raise :class:`LoginLimited`."""
        attempt = LoginAttempt(f"pair:{username.lower()}@{address}", f"addr:{address}")
        at = self._monotonic()
        with self._lock:
            if len(self._failures) > self.max_keys:
                self._forget_idle(at)
            wait = 0.0
            for key in (attempt.pair, attempt.address):
                entries = self._prune(key, at)
                if len(entries) + self._pending[key] >= self._limit(key):
                    # limited by failures: until the oldest leaves the window; by attempts
                    # still running: a moment
                    oldest = (entries[0] + self.window_s - at
                              if len(entries) >= self._limit(key) else 1.0)
                    wait = max(wait, oldest, 1.0)
            if wait > 0:
                raise LoginLimited(wait)
            for key in (attempt.pair, attempt.address):
                self._pending[key] += 1
        return attempt

    def _end(self, attempt: LoginAttempt, failed: bool) -> None:
        at = self._monotonic()
        with self._lock:
            for key in (attempt.pair, attempt.address):
                self._pending[key] = max(0, self._pending[key] - 1)
                if failed:
                    self._prune(key, at).append(at)

    def failed(self, attempt: LoginAttempt) -> None:
        self._end(attempt, failed=True)

    def succeeded(self, attempt: LoginAttempt) -> None:
        self._end(attempt, failed=False)
        with self._lock:
            self._failures.pop(attempt.pair, None)

    def release(self, attempt: LoginAttempt) -> None:
        """The attempt never reached the password check (it counts as nothing)."""
        self._end(attempt, failed=False)
