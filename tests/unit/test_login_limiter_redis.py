"""The shared login limit when its Redis fails: a 503 with a Chinese reason, the cause logged,
a dropped connection tried again and a silent one not (its script may have run)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from callcenter.auth.shared import (
    RETRIES,
    UNAVAILABLE,
    LoginServiceUnavailable,
    RedisLoginRateLimiter,
)


@contextmanager
def fake_redis(answers: bool) -> Iterator[tuple[str, list[int]]]:
    """A TCP server on 127.0.0.1 that counts connections and closes each at once
    (``answers`` False: keeps it open and says nothing)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = [0]
    kept: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted[0] += 1
            if answers:
                conn.close()
            else:
                kept.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0", accepted
    finally:
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close alone does not)
        server.close()
        for conn in kept:
            conn.close()
        thread.join(5)


@pytest.mark.parametrize("drops", [True, False], ids=["dropped", "silent"])
def test_a_failing_redis_refuses_the_login_with_503(drops: bool,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with fake_redis(answers=drops) as (url, accepted):
        limiter = RedisLoginRateLimiter(url, "test", timeout_s=0.3)
        with pytest.raises(LoginServiceUnavailable) as refused:
            limiter.reserve("agent1", "127.0.0.1")
        limiter.close()
    assert refused.value.status == 503
    assert refused.value.detail == UNAVAILABLE
    # a dropped connection is tried again; a silent one is not (the script may have run)
    assert accepted[0] == (1 + RETRIES if drops else 1)
    cause = "ConnectionError" if drops else "TimeoutError"
    assert any(cause in r.getMessage() for r in caplog.records), caplog.text
