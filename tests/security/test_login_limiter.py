"""The login rate limiter on its own (a fake monotonic clock): reservations, keys, window,
bounded memory."""

from __future__ import annotations

import pytest

from callcenter.auth.services import LoginLimited, LoginRateLimiter


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_reservations_count_before_the_password_check() -> None:
    limiter = LoginRateLimiter(3, 60, 10, monotonic=Ticker())
    held = [limiter.reserve("agent01", "192.0.2.1") for _ in range(3)]
    with pytest.raises(LoginLimited):  # three checks still running: the fourth must wait
        limiter.reserve("agent01", "192.0.2.1")
    limiter.succeeded(held[0])
    limiter.release(held[1])
    limiter.failed(held[2])
    limiter.reserve("agent01", "192.0.2.1")  # a success clears the pair's failures


def test_failures_expire_with_the_window_and_other_addresses_are_free() -> None:
    ticker = Ticker()
    limiter = LoginRateLimiter(2, 60, 10, monotonic=ticker)
    for _ in range(2):
        limiter.failed(limiter.reserve("Agent01", "192.0.2.1"))
    with pytest.raises(LoginLimited) as limited:
        limiter.reserve("agent01", "192.0.2.1")  # user names compare case-insensitively
    assert 59 <= limited.value.retry_after <= 60
    limiter.release(limiter.reserve("agent01", "192.0.2.2"))  # not from another address
    ticker.now += 61
    limiter.release(limiter.reserve("agent01", "192.0.2.1"))


def test_an_address_spraying_many_names_is_stopped() -> None:
    limiter = LoginRateLimiter(5, 60, 4, monotonic=Ticker())
    # the address limit is never below the pair limit
    assert limiter.address_max_failures == 5
    for n in range(5):
        limiter.failed(limiter.reserve(f"user{n}", "192.0.2.9"))
    with pytest.raises(LoginLimited):
        limiter.reserve("someone-else", "192.0.2.9")


def test_idle_keys_are_forgotten_beyond_the_bound() -> None:
    ticker = Ticker()
    limiter = LoginRateLimiter(5, 60, 1000, monotonic=ticker, max_keys=10)
    for n in range(20):
        limiter.failed(limiter.reserve(f"random{n}", "192.0.2.7"))
    ticker.now += 61
    limiter.release(limiter.reserve("agent01", "192.0.2.7"))
    assert len(limiter._failures) <= 3  # only the keys of the last attempt remain
