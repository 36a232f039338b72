"""Notices to staff (callcenter/notices): who receives one (all agents and experts, one
queue's agents by its skill, chosen users), who has no mobile, refusals in Chinese, the sending
limits (a second notice within the minute is held, not lost) and the per-recipient status.
SQLite and PostgreSQL, a recording gateway (the real Kannel: test_staff_notices_kannel.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from callcenter.auth.models import Role, User
from callcenter.auth.services import UserService
from callcenter.db import Database
from callcenter.errors import DomainError
from callcenter.notices.models import StaffNotice
from callcenter.notices.services import PREFIX, NoticeService
from callcenter.queues.models import AgentSkill
from callcenter.sms.models import SmsDeliveryReport, SmsMessage
from callcenter.sms.services import SmsService
from callcenter.sms.throttle import Limits
from tests.callcenter.util import ensure_user
from tests.sms.fakes import SentTexts
from tests.support import SUITE_CLOCK

STAFF = {  # username: (role, mobile, skill)
    "nt-agent-vat": ("agent", "13700137001", "vat"),
    "nt-agent-gen": ("agent", "13700137002", "general"),
    "nt-expert": ("expert", None, "vat"),
    "nt-sup": ("supervisor", "13700137004", None),
}


@pytest.fixture
def notices(database: Database) -> tuple[NoticeService, SentTexts]:
    users = UserService(database, SUITE_CLOCK)
    with database.transaction() as session:
        for table in (StaffNotice, SmsDeliveryReport, SmsMessage):
            session.execute(delete(table))
        session.execute(delete(AgentSkill).where(AgentSkill.username.in_(list(STAFF))))
        for name, (_role, _mobile, skill) in STAFF.items():
            if skill:
                session.add(AgentSkill(username=name, skill=skill, penalty=0))
    for name, (role, mobile, _skill) in STAFF.items():
        ensure_user(database, name, Role(role))
        users.update_user(name, actor="test", mobile=mobile or "", active=True)
    gateway = SentTexts()
    sms = SmsService(database, SUITE_CLOCK, kb=None, tickets=None, sender=gateway,
                     limits=Limits(per_number_minute=1))
    return NoticeService(database, SUITE_CLOCK, sms), gateway


async def test_a_queue_notice_goes_to_that_queues_agents_with_a_mobile(
        notices: tuple[NoticeService, SentTexts]) -> None:
    service, gateway = notices
    view = await service.send("nt-sup", "  增值税专席 今天 加开  ", "queue", queue="tax-vat")
    assert view.text == "增值税专席 今天 加开"
    assert view.queue == "tax-vat"
    assert [(r.username, r.number, r.status) for r in view.recipients
            if r.username in STAFF] == [  # (other tests' agents may have the skill too)
        ("nt-agent-vat", "137****7001", "queued"), ("nt-expert", None, "no_mobile")]
    assert [(n, t) for n, t, _i in gateway.sent] == [
        ("13700137001", f"{PREFIX}增值税专席 今天 加开")]


async def test_all_staff_and_chosen_users(notices: tuple[NoticeService, SentTexts]) -> None:
    service, gateway = notices
    everyone = await service.send("nt-sup", "系统今晚22点升级", "all")
    names = [r.username for r in everyone.recipients]
    assert {"nt-agent-vat", "nt-agent-gen", "nt-expert"} <= set(names)
    assert "nt-sup" not in names  # agents and experts only
    assert sorted(n for n, _t, _i in gateway.sent) == ["13700137001", "13700137002"]
    chosen = await service.send("nt-sup", "请回电", "users", usernames=["nt-sup", "nt-sup"])
    assert [(r.username, r.status) for r in chosen.recipients] == [("nt-sup", "queued")]
    # within the minute a second text to the same number is held, not lost
    again = await service.send("nt-sup", "再次提醒", "users", usernames=["nt-agent-vat"])
    assert [r.status for r in again.recipients] == ["held"]
    assert [v.id for v in service.notices()] == [again.id, chosen.id, everyone.id]


@pytest.mark.parametrize(("audience", "text", "extra", "detail"), [
    ("all", " ", {}, "请填写通知内容"),
    ("all", "长" * 301, {}, "通知最多300字，当前301字"),
    ("queue", "通知", {"queue": "nowhere"}, "队列“nowhere”不存在"),
    ("users", "通知", {"usernames": []}, "请选择接收通知的员工"),
    ("users", "通知", {"usernames": ["nt-nobody"]}, "用户不存在或已停用：nt-nobody"),
    ("everyone", "通知", {}, "接收范围须为 all、queue 或 users"),
])
async def test_refusals_are_422_in_chinese(notices: tuple[NoticeService, SentTexts],
                                           audience: str, text: str, extra: dict[str, object],
                                           detail: str) -> None:
    service, gateway = notices
    with pytest.raises(DomainError) as refused:
        await service.send("nt-sup", text, audience, **extra)  # type: ignore[arg-type]
    assert (refused.value.status, refused.value.detail) == (422, detail)
    assert gateway.sent == []
    assert service.notices() == []


async def test_a_deactivated_user_gets_nothing(notices: tuple[NoticeService, SentTexts],
                                               database: Database) -> None:
    service, gateway = notices
    UserService(database, SUITE_CLOCK).update_user("nt-agent-gen", actor="test", active=False)
    with pytest.raises(DomainError, match="用户不存在或已停用：nt-agent-gen"):
        await service.send("nt-sup", "通知", "users", usernames=["nt-agent-gen"])
    view = await service.send("nt-sup", "通知", "all")
    assert "nt-agent-gen" not in [r.username for r in view.recipients]
    with database.session() as session:
        assert session.scalar(select(User.active).where(User.username == "nt-agent-gen")) \
            is False
    assert "13700137002" not in [n for n, _t, _i in gateway.sent]
