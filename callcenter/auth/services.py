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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.auth.models import AuditEntry, AuthSession, Role, User
from callcenter.db import Database
from ivr.clock import Clock

MIN_PASSWORD_LENGTH = 8
_hasher = PasswordHasher()
# verifying against this keeps the timing of "no such user" close to "wrong password"
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthError(Exception):
    """A user or credential problem, with a message for people (Simplified Chinese)."""


@dataclass(frozen=True)
class AuthUser:
    id: int
    username: str
    role: Role
    display_name: str
    interface: str | None

    @classmethod
    def of(cls, user: User) -> AuthUser:
        return cls(user.id, user.username, Role(user.role), user.display_name, user.interface)


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
                    display_name: str = "", interface: str | None = None) -> AuthUser:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AuthError(f"密码至少需要{MIN_PASSWORD_LENGTH}个字符")
        user = User(username=username, role=str(role), password_hash=hash_password(password),
                    display_name=display_name or username, active=True, interface=interface,
                    created_at=self.clock())
        try:
            with self.db.transaction() as session:
                session.add(user)
                session.flush()
                audit(session, actor, "user.create", username, at=self.clock(),
                      role=str(role), interface=interface)
        except IntegrityError as exc:
            raise AuthError(f"用户名 {username} 已存在") from exc
        return AuthUser.of(user)

    def update_user(self, username: str, *, actor: str, role: Role | None = None,
                    display_name: str | None = None, password: str | None = None,
                    active: bool | None = None, interface: str | None = None
                    ) -> AuthUser:
        with self.db.transaction() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise LookupError(f"用户 {username} 不存在")
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
            if password is not None:
                if len(password) < MIN_PASSWORD_LENGTH:
                    raise AuthError(f"密码至少需要{MIN_PASSWORD_LENGTH}个字符")
                user.password_hash = hash_password(password)
                changed["password"] = "changed"
            if active is not None:
                user.active = active
                changed["active"] = active
                if not active:
                    for row in session.scalars(select(AuthSession).where(
                            AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))):
                        row.revoked_at = self.clock()
            audit(session, actor, "user.update", username, at=self.clock(), **changed)
            return AuthUser.of(user)

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
                verify_password(_DUMMY_HASH, password)
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
            return AuthUser.of(user)

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


class LoginRateLimiter:
    """At most ``max_failures`` failed logins per key (user name, client address) per window.

    In-process memory: with several API workers each keeps its own count (documented limit).
    """

    def __init__(self, max_failures: int = 5, window_s: float = 300.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: str, at: float) -> deque[float]:
        entries = self._failures[key]
        while entries and entries[0] <= at - self.window_s:
            entries.popleft()
        return entries

    def retry_after(self, *keys: str) -> float:
        """Seconds until a login may be tried again (0 when allowed)."""
        at = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                entries = self._prune(key, at)
                if len(entries) >= self.max_failures:
                    wait = max(wait, entries[0] + self.window_s - at)
        return wait

    def failed(self, *keys: str) -> None:
        at = time.monotonic()
        with self._lock:
            for key in keys:
                self._prune(key, at).append(at)

    def succeeded(self, user_key: str) -> None:
        with self._lock:
            self._failures.pop(user_key, None)
