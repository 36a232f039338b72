"""The app builds each long-lived service once (callcenter/app.py's lifespan, the composition
root): the knowledge base that /kb answers from is the one the IVR's FAQ nodes use, one
service calendar dates tickets, callbacks and the menu's hours, one ticket service serves the
API, the IVR's voice messages and the queue's callback offers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from callcenter.app import create_app
from callcenter.db import Database
from callcenter.kb.models import KbDraft, KbEntry, KbSeedFile, KbVersion
from callcenter.selfservice import runtime as selfservice_runtime
from callcenter.settings import Settings
from callcenter.tickets.services import IvrTicketDesk, TicketService
from ivr.calendar import ServiceCalendar
from knowledge_base import KnowledgeBase
from tests.callcenter.util import bearer, token_for
from tests.support import ONE_ENTRY_FAQ, SUITE_CLOCK


class Counts:
    def __init__(self) -> None:
        self.kb = 0
        self.calendar = 0
        self.tickets = 0
        self.rendered: list[Any] = []


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Counts:
    """Count every knowledge-base load, calendar load and ticket service built."""
    seen = Counts()
    kb_load = KnowledgeBase.load.__func__  # type: ignore[attr-defined]
    calendar_load = ServiceCalendar.load.__func__  # type: ignore[attr-defined]
    tickets_init = TicketService.__init__

    def load_kb(cls: type[KnowledgeBase], data_dir: Path, /, **kwargs: Any) -> KnowledgeBase:
        seen.kb += 1
        kwargs.update(spec_path=None, embedder=None, cache_dir=None)  # small and fast
        return kb_load(cls, data_dir, **kwargs)  # type: ignore[no-any-return]

    def load_calendar(cls: type[ServiceCalendar], *args: Any, **kwargs: Any
                      ) -> ServiceCalendar:
        seen.calendar += 1
        return calendar_load(cls, *args, **kwargs)  # type: ignore[no-any-return]

    def init_tickets(self: TicketService, *args: Any, **kwargs: Any) -> None:
        seen.tickets += 1
        tickets_init(self, *args, **kwargs)

    def render(kb: Any, answers: Any) -> None:
        seen.rendered.append(kb)  # no audio rendered into the sounds folder by this test

    monkeypatch.setattr(KnowledgeBase, "load", classmethod(load_kb))
    monkeypatch.setattr(ServiceCalendar, "load", classmethod(load_calendar))
    monkeypatch.setattr(TicketService, "__init__", init_tickets)
    monkeypatch.setattr(selfservice_runtime, "start_answer_audio", render)
    return seen


def _settings(db_url: str, data: Path) -> Settings:
    # the AMI side is built (the bridge and the IVR's services), though no Asterisk listens
    # on port 1: the client retries in the background
    return Settings(database_url=db_url, ami_enabled=True, ami_host="127.0.0.1", ami_port=1,
                    kb_enabled=True, kb_data_dir=data, asr_engine="off", consult_ring_s=45)


def no_knowledge_base(db_url: str) -> None:
    """The base lives in the database, seeded from the YAML on the first start: a database
    another test of the worker seeded (the whole base) would serve its entries whatever the
    files say (callcenter/kb); one run's order put such a test first, and `增值税税率` found
    land_vat.rates where the one entry was due."""
    db = Database(db_url)
    try:
        with db.transaction() as session:
            for table in (KbDraft, KbVersion, KbEntry, KbSeedFile):
                session.execute(delete(table))
    finally:
        db.dispose()


def test_the_app_builds_each_shared_service_once(db_url: str, counts: Counts,
                                                  tmp_path: Path) -> None:
    (tmp_path / "faq.yaml").write_text(ONE_ENTRY_FAQ, encoding="utf-8")
    no_knowledge_base(db_url)
    db = Database(db_url)
    auth = bearer(token_for(db, "root_admin", "admin"))
    db.dispose()
    app = create_app(_settings(db_url, tmp_path), SUITE_CLOCK)
    with TestClient(app, base_url="https://testserver") as client:
        state = app.state
        ivr = state.runtime.ivr_services
        assert (counts.kb, counts.calendar, counts.tickets) == (1, 1, 1)
        assert isinstance(state.knowledge_base, KnowledgeBase)
        assert ivr.kb is state.knowledge_base              # /kb and the IVR agree
        assert counts.rendered == [state.knowledge_base]   # its answers' audio, that KB's
        assert ivr.calendar is state.calendar
        assert isinstance(ivr.tickets, IvrTicketDesk)
        assert ivr.tickets.service is state.tickets
        queue_callbacks = state.runtime.desk.events.callbacks
        assert isinstance(queue_callbacks, IvrTicketDesk)
        assert queue_callbacks.service is state.tickets
        assert state.runtime.desk.consult.ring_s == 45  # HOTLINE_CONSULT_RING_S
        # requests read what the lifespan built; they build nothing
        response = client.post("/api/v1/callbacks", headers=auth,
                               json={"number": "13800000000"})
        assert response.status_code == 201, response.text
        response = client.get("/api/v1/kb/search", headers=auth, params={"q": "增值税税率"})
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["id"] == "t.vat.rates"
        assert (counts.kb, counts.calendar, counts.tickets) == (1, 1, 1)


def test_a_knowledge_base_that_fails_to_load_is_tried_once(
        db_url: str, counts: Counts, tmp_path: Path) -> None:
    """On main the IVR's start-up loaded it a second time when the app's load failed."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "faq.yaml").write_text("- id: [not, an, id]\n", encoding="utf-8")
    no_knowledge_base(db_url)
    app = create_app(_settings(db_url, broken), SUITE_CLOCK)
    with TestClient(app, base_url="https://testserver"):
        assert counts.kb == 1
        assert app.state.knowledge_base is None
        assert app.state.runtime.ivr_services.kb is None   # FAQ nodes go to their agents
