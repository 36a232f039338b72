"""The login rate limit shared by every API worker (``HOTLINE_REDIS_URL``).

The same rule as :class:`callcenter.auth.services.LoginRateLimiter` (failures per user name at
a client address and, with a higher limit, per address; an attempt reserved before the password
check), kept in Redis so that N workers count together. Each check runs as one Lua script (atomic
across workers) and reads the time from Redis (``TIME``), so every worker agrees on the window.

Keys (``<prefix>:login:...``): ``fail:<key>`` a sorted set of the failures' moments (expires
with the window), ``pending:<key>`` the attempts under way (a counter that expires after a
minute, so a worker killed mid-check holds nothing for long). Redis unreachable: the login is
refused with 503 (never let through unlimited), and the cause is logged.

A connection refused or dropped is tried twice more (50 and 100 ms later): a worker's pooled
connection may have been closed under it. One dropped after the script ran reserves a second
attempt, which expires with ``PENDING_TTL_S``. A read that times out is not tried again (the
script may be running still); the timeout is 5 s, not 2: a test worker's login got a 503 on a
loaded 2-core machine with 2 s.
"""

from __future__ import annotations

import logging
import secrets

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.retry import Retry

from callcenter.auth.services import LoginAttempt, LoginLimited
from callcenter.errors import DomainError

log = logging.getLogger(__name__)

PENDING_TTL_S = 60
TIMEOUT_S = 5.0
RETRIES = 2
UNAVAILABLE = "登录服务暂不可用（共享缓存无法访问），请稍后再试"

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local window = tonumber(ARGV[1])
local wait = 0
for i = 1, 2 do
  local fail, pend, limit = KEYS[i], KEYS[i + 2], tonumber(ARGV[i + 1])
  redis.call('ZREMRANGEBYSCORE', fail, '-inf', now - window)
  local n = redis.call('ZCARD', fail)
  local p = tonumber(redis.call('GET', pend) or '0')
  if n + p >= limit then
    local w = 1
    if n >= limit then
      local oldest = redis.call('ZRANGE', fail, 0, 0, 'WITHSCORES')
      w = tonumber(oldest[2]) + window - now
    end
    if w < 1 then w = 1 end
    if w > wait then wait = w end
  end
end
if wait > 0 then return tostring(wait) end
for i = 3, 4 do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[4]))
end
return '0'
"""

_END = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
for i = 1, 2 do
  local fail, pend = KEYS[i], KEYS[i + 2]
  if tonumber(redis.call('GET', pend) or '0') > 0 then redis.call('DECR', pend) end
  if ARGV[1] == 'failed' then
    redis.call('ZADD', fail, now, ARGV[3] .. ':' .. i)
    redis.call('EXPIRE', fail, math.ceil(tonumber(ARGV[2])) + 1)
  end
end
if ARGV[1] == 'succeeded' then redis.call('DEL', KEYS[1]) end
return 1
"""


class LoginServiceUnavailable(DomainError):
    default_status = 503


class RedisLoginRateLimiter:
    """:class:`LoginRateLimiter`'s interface (reserve / failed / succeeded / release)."""

    def __init__(self, url: str, prefix: str, max_failures: int = 5, window_s: float = 300.0,
                 address_max_failures: int = 30, timeout_s: float = TIMEOUT_S) -> None:
        self.max_failures = max_failures
        self.address_max_failures = max(address_max_failures, max_failures)
        self.window_s = window_s
        self.prefix = prefix
        self.redis = redis.Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.025), RETRIES,
                        supported_errors=(RedisConnectionError,)))
        self._reserve = self.redis.register_script(_RESERVE)
        self._end_script = self.redis.register_script(_END)

    def _keys(self, attempt: LoginAttempt) -> list[str]:
        base = f"{self.prefix}:login"
        return [f"{base}:fail:{attempt.pair}", f"{base}:fail:{attempt.address}",
                f"{base}:pending:{attempt.pair}", f"{base}:pending:{attempt.address}"]

    def reserve(self, username: str, address: str) -> LoginAttempt:
        """Reserve one attempt, or raise :class:`LoginLimited`."""
        attempt = LoginAttempt(f"pair:{username.lower()}@{address}", f"addr:{address}")
        try:
            wait = float(self._reserve(keys=self._keys(attempt), args=[
                self.window_s, self.max_failures, self.address_max_failures, PENDING_TTL_S]))
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        if wait > 0:
            raise LoginLimited(wait)
        return attempt

    def _end(self, attempt: LoginAttempt, outcome: str) -> None:
        try:
            self._end_script(keys=self._keys(attempt),
                             args=[outcome, self.window_s, secrets.token_hex(8)])
        except RedisError as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: RedisError) -> LoginServiceUnavailable:
        log.warning("login refused: the shared login limit's Redis failed (%s: %s)",
                    type(exc).__name__, exc)
        return LoginServiceUnavailable(UNAVAILABLE)

    def failed(self, attempt: LoginAttempt) -> None:
        self._end(attempt, "failed")

    def succeeded(self, attempt: LoginAttempt) -> None:
        self._end(attempt, "succeeded")

    def release(self, attempt: LoginAttempt) -> None:
        """The attempt never reached the password check (it counts as nothing)."""
        self._end(attempt, "released")

    def close(self) -> None:
        self.redis.close()
