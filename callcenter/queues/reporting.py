"""What the statistics read from this package's tables: the configured queues and their
titles (the wallboard lists every active queue, the reports name a queue by its title),
through :class:`callcenter.stats.labels.QueueTitles`."""

from __future__ import annotations

from sqlalchemy import select

from callcenter.db import Database
from callcenter.queues.models import QueueConfig


class QueueTableSource:
    def __init__(self, db: Database) -> None:
        self.db = db

    def titles(self) -> dict[str, str]:
        """Every active queue's title by name, in the console's order (experts last)."""
        with self.db.session() as session:
            rows = session.execute(
                select(QueueConfig.name, QueueConfig.title)
                .where(QueueConfig.active.is_(True))
                .order_by(QueueConfig.expert, QueueConfig.name)).all()
        return {str(name): str(title) for name, title in rows}
