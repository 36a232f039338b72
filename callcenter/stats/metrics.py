"""The metric definitions, implemented once (docs/metrics.md has the formulas).

Reports, exports, the dashboard and the wallboard all derive their figures from :class:`Counts`
(additive raw sums, read from the rollups or the live contact log) through :func:`derive`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from callcenter.contacts.models import ContactChannel, channel_of


@dataclass(frozen=True)
class Thresholds:
    service_level_seconds: float = 20.0
    short_abandon_seconds: float = 5.0
    satisfied_scores: tuple[int, ...] = (1, 2)

    def key(self) -> str:
        scores = ",".join(str(s) for s in sorted(self.satisfied_scores))
        return (f"sl={self.service_level_seconds:g};short={self.short_abandon_seconds:g};"
                f"satisfied={scores}")


@dataclass
class Counts:
    """Additive figures of a set of contacts (or queue legs). Sums are in seconds."""

    contacts: int = 0
    automatic_voice: int = 0
    manual: int = 0
    other: int = 0
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    answered_in_sl: int = 0
    wait_answered_sum: float = 0.0
    wait_abandoned_sum: float = 0.0
    max_wait: float = 0.0
    talk_sum: float = 0.0  # Asterisk's TalkTime: the caller stays bridged on hold, so it holds
    hold_sum: float = 0.0  # the seconds on hold (``call_resumed``), a part of talk_sum
    wrapup_sum: float = 0.0
    ivr_sum: float = 0.0
    survey_offered: int = 0
    surveyed: int = 0
    satisfied: int = 0
    completed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, other: Counts) -> Counts:
        # written out: this runs once per rollup row of a report
        self.contacts += other.contacts
        self.automatic_voice += other.automatic_voice
        self.manual += other.manual
        self.other += other.other
        self.offered += other.offered
        self.answered += other.answered
        self.abandoned += other.abandoned
        self.short_abandoned += other.short_abandoned
        self.answered_in_sl += other.answered_in_sl
        self.wait_answered_sum += other.wait_answered_sum
        self.wait_abandoned_sum += other.wait_abandoned_sum
        self.talk_sum += other.talk_sum
        self.hold_sum += other.hold_sum
        self.wrapup_sum += other.wrapup_sum
        self.ivr_sum += other.ivr_sum
        self.survey_offered += other.survey_offered
        self.surveyed += other.surveyed
        self.satisfied += other.satisfied
        self.completed += other.completed
        if other.max_wait > self.max_wait:
            self.max_wait = other.max_wait
        for k, v in other.outcomes.items():
            self.outcomes[k] = self.outcomes.get(k, 0) + v
        return self

    def add_outcome(self, outcome: str, n: int) -> None:
        self.contacts += n
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n
        channel = channel_of(outcome)
        if channel is ContactChannel.MANUAL:
            self.manual += n
        elif channel is ContactChannel.AUTOMATIC_VOICE:
            self.automatic_voice += n
        else:
            self.other += n


ADDITIVE = tuple(f.name for f in fields(Counts) if f.name not in ("outcomes", "max_wait"))


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None (no data) when the denominator is not positive."""
    if denominator <= 0:
        return None
    return numerator / denominator


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def handling_seconds(talk: float, wrap_up: float) -> float:
    """The handling time: talk without hold + hold + wrap-up. ``talk`` is Asterisk's talk time,
    which already holds the hold (the caller stays bridged to the agent while held), so the hold
    is in it once and is not added again (``hold_sum`` says how much of it was hold)."""
    return talk + wrap_up


def service_level(c: Counts) -> float | None:
    """answered within T / (offered - short abandons)."""
    return ratio(c.answered_in_sl, c.offered - c.short_abandoned)


def derive(c: Counts, *, contact_level: bool = True) -> dict[str, Any]:
    """Every reported figure of ``c``: counts, then rates (0..1) and averages (seconds)."""
    out: dict[str, Any] = {
        "offered": c.offered,
        "answered": c.answered,
        "abandoned": c.abandoned,
        "short_abandoned": c.short_abandoned,
        "answered_in_sl": c.answered_in_sl,
        "answer_rate": _r(ratio(c.answered, c.offered)),
        "abandon_rate": _r(ratio(c.abandoned - c.short_abandoned,
                                 c.offered - c.short_abandoned)),
        "service_level": _r(service_level(c)),
        "asa": _r(ratio(c.wait_answered_sum, c.answered), 2),
        "avg_abandon_wait": _r(ratio(c.wait_abandoned_sum, c.abandoned), 2),
        "max_wait": round(c.max_wait, 2),
        "talk_seconds": round(c.talk_sum, 2),
        "hold_seconds": round(c.hold_sum, 2),
        "avg_hold": _r(ratio(c.hold_sum, c.answered), 2),
        "aht": _r(ratio(handling_seconds(c.talk_sum, c.wrapup_sum), c.answered), 2),
    }
    if contact_level:
        out = {
            "contacts": c.contacts,
            "automatic_voice": c.automatic_voice,
            "manual": c.manual,
            "other": c.other,
            "ivr_containment": _r(ratio(c.automatic_voice, c.contacts)),
            **out,
            "avg_ivr_seconds": _r(ratio(c.ivr_sum, c.contacts), 2),
            "survey_offered": c.survey_offered,
            "surveyed": c.surveyed,
            "satisfied": c.satisfied,
            "csat": _r(ratio(c.satisfied, c.surveyed)),
            "survey_response_rate": _r(ratio(c.surveyed, c.survey_offered)),
            "outcomes": dict(sorted(c.outcomes.items())),
        }
    return out


def occupancy(busy_seconds: float, staffed_seconds: float) -> float | None:
    """(talk + wrap-up) / (logged-in time - pause time)."""
    return _r(ratio(busy_seconds, staffed_seconds))


@dataclass
class ChannelCounts:
    """Additive figures of one channel (phone, sms, web) in one interval."""

    contacts: int = 0
    self_service: int = 0        # outcome self_service (served without an agent)
    answered: int = 0            # outcome answered (an agent talked to the caller)
    other: int = 0               # every other outcome
    outcomes: dict[str, int] = field(default_factory=dict)
    tickets: int = 0             # tickets created from the channel's contacts
    tickets_due: int = 0         # of those: settled, or past their due time
    tickets_on_time: int = 0     # of those due: answered or closed by their due time
    texts_sent: int = 0          # sms: texts sent (mobile-terminated)
    segments_sent: int = 0
    delivered: int = 0           # sms: delivery report 1 (on the phone)
    delivery_failed: int = 0     # sms: report 2 or 16, or the gateway refused the text
    delivery_pending: int = 0    # sms: no final report yet (queued, at the SMSC, buffered)

    def add_contacts(self, c: Counts) -> None:
        self.contacts += c.contacts
        self.self_service += c.automatic_voice
        self.answered += c.manual
        self.other += c.other
        for k, v in c.outcomes.items():
            self.outcomes[k] = self.outcomes.get(k, 0) + v

    def add(self, other: ChannelCounts) -> ChannelCounts:
        for f in fields(self):
            if f.name == "outcomes":
                for k, v in other.outcomes.items():
                    self.outcomes[k] = self.outcomes.get(k, 0) + v
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self


def derive_channel(c: ChannelCounts, channel: str, *, tickets_available: bool = True
                   ) -> dict[str, Any]:
    """The reported figures of one channel (docs/metrics.md, "Channels")."""
    out: dict[str, Any] = {
        "contacts": c.contacts,
        "self_service": c.self_service,
        "answered": c.answered,
        "other": c.other,
        "self_service_rate": _r(ratio(c.self_service, c.contacts)),
        "outcomes": dict(sorted(c.outcomes.items())),
        "tickets": c.tickets if tickets_available else None,
        "tickets_due": c.tickets_due if tickets_available else None,
        "tickets_on_time": c.tickets_on_time if tickets_available else None,
        "reply_on_time_rate": _r(ratio(c.tickets_on_time, c.tickets_due))
        if tickets_available else None,
    }
    if channel == "sms":
        out.update({
            "texts_sent": c.texts_sent,
            "segments_sent": c.segments_sent,
            "delivered": c.delivered,
            "delivery_failed": c.delivery_failed,
            "delivery_pending": c.delivery_pending,
            "delivery_rate": _r(ratio(c.delivered, c.delivered + c.delivery_failed)),
        })
    return out


@dataclass
class QualityCounts:
    """Additive figures of a set of quality reviews (scores out of 100)."""

    reviews: int = 0
    score_sum: float = 0.0
    score_min: float | None = None
    score_max: float | None = None
    acknowledged: int = 0
    # criterion title -> (sum of the scores as a percentage of their maximum, reviews)
    criteria: dict[str, tuple[float, int]] = field(default_factory=dict)

    def add(self, total: float, acknowledged: bool, criteria: dict[str, float]) -> None:
        self.reviews += 1
        self.score_sum += total
        self.score_min = total if self.score_min is None else min(self.score_min, total)
        self.score_max = total if self.score_max is None else max(self.score_max, total)
        self.acknowledged += int(acknowledged)
        for title, pct in criteria.items():
            s, n = self.criteria.get(title, (0.0, 0))
            self.criteria[title] = (s + pct, n + 1)


def derive_quality(c: QualityCounts) -> dict[str, Any]:
    """Quality figures: reviews, average / lowest / highest score, acknowledged share, the
    average of each criterion as a percentage of its maximum (docs/metrics.md, "Quality")."""
    avg = ratio(c.score_sum, c.reviews)
    return {
        "reviews": c.reviews,
        "avg_score": None if avg is None else round(avg, 1),
        "min_score": c.score_min,
        "max_score": c.score_max,
        "acknowledged": c.acknowledged,
        "ack_rate": _r(ratio(c.acknowledged, c.reviews)),
        "criteria": {title: round(s / n, 1) for title, (s, n) in sorted(c.criteria.items())},
    }
