"""The retry policy of outbound callbacks: what each result does to a request (no clock of
its own: moments are the suite's)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callcenter.outbound.policy import DIAL_STATUS, DialResult, RetryPolicy
from callcenter.tickets.models import CallbackStatus
from tests.support import SUITE_START

AT = SUITE_START
POLICY = RetryPolicy(max_attempts=3, intervals_s=(600, 1800), requeue_s=30)


def test_reached_closes_done_and_wrong_number_closes_failed() -> None:
    reached = POLICY.after(DialResult.REACHED, 0, AT)
    assert (reached.status, reached.attempts, reached.due_at) == (CallbackStatus.DONE, 1, None)
    assert reached.closed
    wrong = POLICY.after(DialResult.WRONG_NUMBER, 1, AT)
    assert (wrong.status, wrong.attempts) == (CallbackStatus.FAILED, 2)


@pytest.mark.parametrize("result", [DialResult.NO_ANSWER, DialResult.BUSY, DialResult.FAILED])
def test_unreached_is_retried_at_the_intervals_then_fails(result: DialResult) -> None:
    first = POLICY.after(result, 0, AT)
    assert (first.status, first.attempts, first.due_at) == (
        CallbackStatus.PENDING, 1, AT + timedelta(seconds=600))
    second = POLICY.after(result, 1, AT)
    assert (second.status, second.attempts, second.due_at) == (
        CallbackStatus.PENDING, 2, AT + timedelta(seconds=1800))
    third = POLICY.after(result, 2, AT)
    assert (third.status, third.attempts, third.due_at) == (CallbackStatus.FAILED, 3, None)


def test_the_last_interval_repeats() -> None:
    policy = RetryPolicy(max_attempts=5, intervals_s=(60, 120))
    waits = [policy.after(DialResult.BUSY, n, AT).due_at for n in range(4)]
    assert waits == [AT + timedelta(seconds=s) for s in (60, 120, 120, 120)]


@pytest.mark.parametrize(("result", "wait_s"), [(DialResult.AGENT_MISSED, 30),
                                                (DialResult.SKIPPED, 30),
                                                (DialResult.INTERRUPTED, 600)])
def test_attempts_that_never_dialled_the_number_are_not_counted(result: DialResult,
                                                               wait_s: int) -> None:
    # even with every attempt used up the request is not lost: it waits and goes again
    step = POLICY.after(result, 2, AT)
    assert (step.status, step.attempts, step.due_at) == (
        CallbackStatus.PENDING, 2, AT + timedelta(seconds=wait_s))


def test_dial_statuses_map_to_results() -> None:
    assert DIAL_STATUS["ANSWER"] is DialResult.REACHED
    assert DIAL_STATUS["NOANSWER"] is DialResult.NO_ANSWER
    assert DIAL_STATUS["BUSY"] is DialResult.BUSY
    assert DIAL_STATUS["CHANUNAVAIL"] is DialResult.FAILED


def test_a_policy_without_attempts_or_intervals_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="intervals"):
        RetryPolicy(intervals_s=())
