"""The agent's call card from what the IVR really recorded: the shipped menu run by the menu
engine (a fake channel, the real FAQ node and knowledge base), its events stored by the contact
log's service, the card built by the desk. It shows the question of the FAQ answer the caller
heard and the caller's path by the menu's Chinese node titles."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.agents.services import AgentDesk
from callcenter.contacts.models import ContactEventRow
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.notify.services import Notifier
from callcenter.queues.services import QueueService
from ivr.clock import FixedClock
from ivr.events import AgentConnected, CallStarted, FaqPlayed, MenuNodeEntered
from ivr.menu.engine import MenuSession
from ivr.ports import ContactEvent
from ivr.prompts.answers import AnswerAudio
from ivr.services import IvrServices
from tests.ivr_support import knowledge_base
from tests.unit.test_menu_engine import ListRecorder
from tests.unit.test_menu_nodes import CALENDAR, OPEN, SHIPPED, RecordingFake


async def test_the_card_shows_the_question_heard_and_the_path_in_chinese(
        clean_users: Database, contacts: ContactService, tmp_path: Path) -> None:
    clock = FixedClock(OPEN)
    services = IvrServices(kb=knowledge_base(), answers=AnswerAudio(tmp_path / "sounds"),
                           calendar=CALENDAR, clock=clock, recordings_dir=tmp_path)
    # 1 consultation, 1 VAT, 1 the VAT law's effective date; then 0: an agent
    channel = RecordingFake(answers=["1", "1", "1", "0"])
    recorder = ListRecorder()
    await MenuSession(SHIPPED, channel, recorder, services).run()
    played = [e.record for e in recorder.events if isinstance(e.record, FaqPlayed)]
    assert [p.question for p in played] == ["增值税法什么时候开始施行？"]  # the producer wrote it
    for event in recorder.events:
        assert contacts.apply(event)

    desk = AgentDesk.build(clean_users, QueueService(clean_users, clock), Notifier(clock),
                           contacts, clock=clock, node_labels=SHIPPED.titles)
    card = await desk.call_card(channel.linkedid, channel.caller_number, "consult", None)

    assert card.faqs == ({"id": "vat.law.effective_date",
                             "question": "增值税法什么时候开始施行？",
                             "node": "faq_vat_law", "node_label": "增值税法施行时间"},)
    assert card.ivr_path[:6] == ("welcome", "hours_gate", "main", "consult", "cat_vat",
                                 "faq_vat_law")
    assert card.ivr_path_labels[:6] == ("欢迎语", "服务时间判断", "主菜单", "税费咨询",
                                        "增值税咨询", "增值税法施行时间")
    assert len(card.ivr_path_labels) == len(card.ivr_path)
    assert card.digits[:3] == ("1", "1", "1")


async def test_a_stored_row_that_fits_no_record_is_left_out_of_the_card(
        clean_users: Database, contacts: ContactService, caplog: pytest.LogCaptureFixture
        ) -> None:
    clock = FixedClock(OPEN)
    at = clock()
    for record in (CallStarted(caller="13800138000"), MenuNodeEntered(node="welcome"),
                   MenuNodeEntered(node="main"), AgentConnected(queue="consult", agent="a1")):
        assert contacts.apply(ContactEvent("L-bad", record, at=at))
    with clean_users.transaction() as session:  # a hand-edited row: a node that is a number
        row = session.scalars(select(ContactEventRow).where(
            ContactEventRow.kind == "menu_node")).first()
        assert row is not None
        row.data = {"node": 5}
    desk = AgentDesk.build(clean_users, QueueService(clean_users, clock), Notifier(clock),
                           contacts, clock=clock, node_labels=SHIPPED.titles)
    card = await desk.call_card("L-bad", "13800138000", "consult", None)
    assert card.ivr_path == ("main",)
    assert card.ivr_path_labels == ("主菜单",)
    assert "menu_node: field 'node' must be str, not 5" in caplog.text
    contact = contacts.get_by_linkedid("L-bad")
    assert contact is not None
    assert contact.agents() == ["a1"]
