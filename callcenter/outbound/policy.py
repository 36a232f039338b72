"""What an attempt's result does to a callback request: close it or try again, and when.

Pure functions of the result, the attempts made and the moment (no clock of its own): the
dialler (callcenter/outbound/dialler.py) and its unit tests call them with the suite's clock.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from callcenter.tickets.models import CallbackStatus


class DialResult(enum.StrEnum):
    REACHED = "reached"            # the taxpayer answered and spoke with the agent
    NO_ANSWER = "no_answer"        # rang out, or the agent gave up while it rang
    BUSY = "busy"
    FAILED = "failed"              # congestion, unreachable, the trunk refused
    WRONG_NUMBER = "wrong_number"  # answered, but the agent found it was not the caller
    AGENT_MISSED = "agent_missed"  # the agent's phone was not answered: the number not dialled
    INTERRUPTED = "interrupted"    # the AMI connection was lost mid-dial
    SKIPPED = "skipped"            # the agent skipped the preview


# results that used up one of the taxpayer's attempts (the number was dialled)
COUNTED = frozenset({DialResult.REACHED, DialResult.NO_ANSWER, DialResult.BUSY,
                     DialResult.FAILED, DialResult.WRONG_NUMBER})
RESULT_TITLES = {
    DialResult.REACHED: "已接通", DialResult.NO_ANSWER: "无人接听", DialResult.BUSY: "占线",
    DialResult.FAILED: "呼叫失败", DialResult.WRONG_NUMBER: "号码错误",
    DialResult.AGENT_MISSED: "坐席未接听", DialResult.INTERRUPTED: "交换机连接中断",
    DialResult.SKIPPED: "坐席跳过",
}

# Asterisk's DIALSTATUS (DialEnd's DialStatus) -> the result of the attempt
DIAL_STATUS = {"ANSWER": DialResult.REACHED, "NOANSWER": DialResult.NO_ANSWER,
               "CANCEL": DialResult.NO_ANSWER, "BUSY": DialResult.BUSY,
               "CONGESTION": DialResult.FAILED, "CHANUNAVAIL": DialResult.FAILED,
               "DONTCALL": DialResult.FAILED, "TORTURE": DialResult.FAILED,
               "INVALIDARGS": DialResult.FAILED}


@dataclass(frozen=True)
class NextStep:
    """The request afterwards: its status, the attempts counted, and (pending) when it is due."""

    status: CallbackStatus
    attempts: int
    due_at: datetime | None

    @property
    def closed(self) -> bool:
        return self.status is not CallbackStatus.PENDING


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    intervals_s: Sequence[float] = (600.0, 1800.0)
    # after an attempt that did not dial the number (agent missed, skipped, interrupted)
    requeue_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or not self.intervals_s or min(self.intervals_s) < 0:
            raise ValueError("a retry policy needs max_attempts >= 1 and intervals >= 0")

    def interval(self, attempts: int) -> timedelta:
        """The wait before the next try after ``attempts`` counted attempts (>= 1): the
        n-th interval, the last one repeated."""
        index = min(max(attempts, 1), len(self.intervals_s)) - 1
        return timedelta(seconds=float(self.intervals_s[index]))

    def after(self, result: DialResult, attempts_before: int, at: datetime) -> NextStep:
        """The request after an attempt that ended at ``at`` with ``result``."""
        attempts = attempts_before + (1 if result in COUNTED else 0)
        if result is DialResult.REACHED:
            return NextStep(CallbackStatus.DONE, attempts, None)
        if result is DialResult.WRONG_NUMBER:
            return NextStep(CallbackStatus.FAILED, attempts, None)
        if result not in COUNTED:
            # nobody dialled the taxpayer: offered again soon (an interruption after the
            # first interval, the call may have gone on out of sight)
            wait = (self.interval(1) if result is DialResult.INTERRUPTED
                    else timedelta(seconds=self.requeue_s))
            return NextStep(CallbackStatus.PENDING, attempts, at + wait)
        if attempts >= self.max_attempts:
            return NextStep(CallbackStatus.FAILED, attempts, None)
        return NextStep(CallbackStatus.PENDING, attempts, at + self.interval(attempts))
