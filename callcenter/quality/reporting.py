"""What the statistics read of the quality reviews (callcenter/stats/sources.py,
``QualitySource``): the reviews of calls made in a range, with the agents' names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from callcenter.db import Database
from callcenter.quality.models import Review, ReviewForm
from callcenter.quality.services import criteria_of, display_names


@dataclass(frozen=True)
class ReviewFact:
    agent: str
    agent_name: str
    call_at: datetime
    total: float
    acknowledged: bool
    # criterion title -> the score as a share of its maximum, in percent
    criteria: dict[str, float]


class QualityTableSource:
    def __init__(self, db: Database) -> None:
        self.db = db

    def reviews(self, start: datetime, end: datetime) -> Sequence[ReviewFact]:
        """Every review of a call started in [start, end)."""
        with self.db.session() as session:
            rows = session.execute(
                select(Review, ReviewForm).join(ReviewForm, ReviewForm.id == Review.form_id)
                .where(Review.call_at >= start, Review.call_at < end)
                .order_by(Review.call_at, Review.id)).all()
            names = display_names(session, {r.agent for r, _f in rows})
        return [ReviewFact(
            agent=r.agent, agent_name=names[r.agent], call_at=r.call_at, total=r.total,
            acknowledged=r.acknowledged_at is not None,
            criteria={c.title: 100 * int(r.scores.get(c.key, 0)) / c.max_score
                      for c in criteria_of(f)}) for r, f in rows]
