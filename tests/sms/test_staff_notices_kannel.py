"""Notices to staff through the real Kannel (bearerbox + smsbox) and its simulated SMSC
(fakesmsc), on PostgreSQL: an admin records two staff members' mobiles, a supervisor sends a
notice to chosen users over the API, the agent's phone receives the text as the phone shows it,
its delivery report is recorded and shown per recipient, the one without a mobile is listed as
such, and the sending is audited."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from callcenter.auth.models import AuditEntry
from callcenter.sms.codec import AirMessage
from callcenter.sms.gateway import HandsetLog
from tests.callcenter.util import bearer, token_for
from tests.sms.kannel import KannelApp, kannel_app
from tests.sms.test_sms_gateway import _replies_to
from tests.support import PORT_BASE

pytestmark = pytest.mark.kannel
AGENT_PHONE = "13600136001"
EXPERT_PHONE = "13600136002"
NOTICE = "今天14:00起增值税专家席位加开，请专家坐席提前10分钟签入。"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KannelApp]:
    with kannel_app(tmp_path_factory.mktemp("notice-sms"), PORT_BASE + 481,
                    PORT_BASE + 450) as served:
        yield served


def test_a_notice_reaches_the_staff_phone(served: KannelApp,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    db = served.db
    admin = httpx.Client(base_url=served.base, timeout=20,
                         headers=bearer(token_for(db, "notice-admin", "admin")))
    supervisor = httpx.Client(base_url=served.base, timeout=20,
                              headers=bearer(token_for(db, "notice-sup", "supervisor")))
    token_for(db, "notice-agent", "agent")
    token_for(db, "notice-expert", "expert")
    token_for(db, "notice-nomobile", "agent")
    set_mobile = admin.patch("/api/v1/users/notice-agent", json={"mobile": AGENT_PHONE})
    assert set_mobile.status_code == 200, set_mobile.text
    assert set_mobile.json()["mobile"] == AGENT_PHONE
    assert admin.patch("/api/v1/users/notice-expert",
                       json={"mobile": "12345"}).status_code == 422  # not a mobile
    assert admin.patch("/api/v1/users/notice-expert",
                       json={"mobile": EXPERT_PHONE}).status_code == 200

    handset = HandsetLog(served.kannel.handset_log)
    parts: list[AirMessage] = []
    started = time.monotonic()
    sent = supervisor.post("/api/v1/notices", json={
        "text": NOTICE, "audience": "users",
        "usernames": ["notice-agent", "notice-nomobile"]})
    assert sent.status_code == 201, sent.text
    notice = sent.json()
    assert [(r["username"], r["number"]) for r in notice["recipients"]] == [
        ("notice-agent", "136****6001"), ("notice-nomobile", None)]
    assert notice["recipients"][1]["status"] == "no_mobile"
    texts = _replies_to(served.kannel, handset, AGENT_PHONE, parts, until=1)
    on_phone_s = time.monotonic() - started
    assert [(t.sender, t.text) for t in texts] == [("12366", f"【12366内部通知】{NOTICE}")]
    assert [m for m in handset.read() if m.receiver == EXPERT_PHONE] == []  # not chosen

    deadline = time.monotonic() + 15
    while True:
        shown = supervisor.get(f"/api/v1/notices/{notice['id']}").json()
        if shown["recipients"][0]["status"] == "delivered" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    delivered_s = time.monotonic() - started
    assert [r["status"] for r in shown["recipients"]] == ["delivered", "no_mobile"]
    assert supervisor.get("/api/v1/notices").json()[0]["id"] == notice["id"]
    with db.session() as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "notice.send")).one()
    assert (entry.actor, entry.target) == ("notice-sup", str(notice["id"]))
    assert entry.detail["recipients"] == 2
    assert entry.detail["texts"] == 1
    with capsys.disabled():
        print(f"\nstaff notice via Kannel: on the phone {on_phone_s:.2f} s after the request, "
              f"shown delivered after {delivered_s:.2f} s")
