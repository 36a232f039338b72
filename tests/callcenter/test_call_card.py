"""The agent's call card from what the IVR really recorded: the shipped menu run by the menu
engine (a fake channel, the real FAQ node and knowledge base), its events stored by the contact
log's service, the card built by the desk. It shows the question of the FAQ answer the caller
heard and the caller's path by the menu's Chinese node titles."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.agents.services import AgentDesk
from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.notify.services import Notifier
from callcenter.queues.services import QueueService
from callcenter.taxpayers.services import TaxpayerService
from ivr.clock import FixedClock
from ivr.events import (
    AgentConnected,
    CallEnded,
    CallStarted,
    Digits,
    FaqPlayed,
    MenuNodeEntered,
    ServiceResult,
)
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
    # step by step: what the caller heard (titles, the FAQ question) and pressed there
    steps = {step["node"]: step for step in card.ivr_steps}
    assert [step["node"] for step in card.ivr_steps] == list(card.ivr_path)
    assert steps["main"] == {"node": "main", "label": "主菜单", "keys": ["1"], "heard": []}
    assert steps["cat_vat"]["keys"] == ["1"]
    assert steps["faq_vat_law"]["label"] == "增值税法施行时间"
    assert steps["faq_vat_law"]["heard"] == ["增值税法什么时候开始施行？"]
    keys = steps["faq_vat_law"]["keys"]
    assert isinstance(keys, list)
    assert "0" in keys or "转人工" in keys


async def test_the_card_names_the_taxpayer_and_their_contacts_on_every_channel(
        clean_users: Database, contacts: ContactService) -> None:
    """A caller verified as a taxpayer: the card gives the registered name, and the previous
    contacts of the calling number and of the taxpayer's registered mobile, texts included."""
    clock = FixedClock(OPEN)
    at = clock()
    TaxpayerService(clean_users, clock).upsert("913100001234567890", "上海示例贸易有限公司",
                                               "123456", [], mobile="13900000002")
    earlier = at - timedelta(days=3)
    for linkedid, caller, medium in [("P-old", "02150000001", None),
                                     ("S-old", "13900000002", "sms"),
                                     ("X-other", "13700000000", None)]:
        assert contacts.apply(ContactEvent(linkedid, CallStarted(caller=caller, medium=medium),
                                           at=earlier))
        assert contacts.apply(ContactEvent(linkedid, CallEnded(cause=16), at=earlier))
    for record in (CallStarted(caller="02150000001"), MenuNodeEntered(node="main"),
                   Digits(node="main", digits="3"), MenuNodeEntered(node="query_tin"),
                   Digits(node="query_tin", digits="*" * 6),
                   ServiceResult(node="query_tin", service="comprehensive", result="found",
                                 tin="913100001234567890"),
                   Digits(node="query_tin", digits="0", action="agent")):
        assert contacts.apply(ContactEvent("L-tax", record, at=at))
    desk = AgentDesk.build(clean_users, QueueService(clean_users, clock), Notifier(clock),
                           contacts, clock=clock, node_labels=SHIPPED.titles)
    card = await desk.call_card("L-tax", "02150000001", "consult", None)
    assert card.taxpayer == "913100001234567890 上海示例贸易有限公司（已验证）"
    assert {(c["caller"], c["medium"]) for c in card.previous} == {
        ("02150000001", "phone"), ("13900000002", "sms")}
    assert [step["keys"] for step in card.ivr_steps] == [["3"], ["******", "转人工"]]
    assert [step["label"] for step in card.ivr_steps] == ["主菜单", "输入纳税人识别号"]


async def test_a_taxpayer_not_registered_is_shown_by_the_tin_only(
        clean_users: Database, contacts: ContactService) -> None:
    clock = FixedClock(OPEN)
    for record in (CallStarted(caller="13800138001"),
                   ServiceResult(node="query_tin", service="comprehensive", result="not_found",
                                 tin="910000000000000009")):
        assert contacts.apply(ContactEvent("L-unknown", record, at=clock()))
    desk = AgentDesk.build(clean_users, QueueService(clean_users, clock), Notifier(clock),
                           contacts, clock=clock, node_labels=SHIPPED.titles)
    card = await desk.call_card("L-unknown", "13800138001", "consult", None)
    assert card.taxpayer == "910000000000000009（未验证）"
    assert card.previous == ()
    assert card.ivr_steps == ()


async def test_a_stored_row_that_fits_no_record_is_left_out_of_the_card(
        clean_users: Database, contacts: ContactService, caplog: pytest.LogCaptureFixture
        ) -> None:
    clock = FixedClock(OPEN)
    at = clock()
    for record in (CallStarted(caller="13800138000"), MenuNodeEntered(node="welcome"),
                   MenuNodeEntered(node="main"), AgentConnected(queue="consult", agent="a1")):
        assert contacts.apply(ContactEvent("L-bad", record, at=at))
    with clean_users.transaction() as session:  # a hand-edited row: a node that is a number
        # this contact's first node (the database holds other tests' contacts too, and
        # PostgreSQL returns rows in no set order without ORDER BY)
        row = session.scalars(select(ContactEventRow).join(Contact).where(
            Contact.linkedid == "L-bad", ContactEventRow.kind == "menu_node")
            .order_by(ContactEventRow.id)).first()
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
