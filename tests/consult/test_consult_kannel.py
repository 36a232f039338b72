"""Online consultation through the real Kannel (bearerbox + smsbox) and its simulated SMSC
(fakesmsc), on PostgreSQL: the verification code and the agent's reply arrive on the
simulated phone as the phone shows them (the reply in 67-character UCS-2 parts), their
delivery reports are recorded, the code is kept masked, and the page shows the reply."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from callcenter.db import Database
from callcenter.sms.codec import UCS2_PART, AirMessage, segments
from callcenter.sms.gateway import HandsetLog
from callcenter.sms.models import SmsMessage
from tests.callcenter.util import bearer, token_for
from tests.sms.kannel import KannelApp, kannel_app, lexical_kb
from tests.sms.test_sms_gateway import _replies_to
from tests.support import PORT_BASE

pytestmark = pytest.mark.kannel
PHONE = "13500135000"
API = "/api/v1/consult"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KannelApp]:
    with kannel_app(tmp_path_factory.mktemp("consult-sms"), PORT_BASE + 480, PORT_BASE + 440,
                    session_cookie_secure=False) as served:  # plain http on loopback
        served.app.state.knowledge_base = lexical_kb(served.app.state.settings.timezone)
        yield served


def _statuses(db: Database, intent: str, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        with db.session() as session:
            statuses = list(session.scalars(select(SmsMessage.status).where(
                SmsMessage.intent == intent, SmsMessage.number == PHONE)))
        if (statuses and all(s == "delivered" for s in statuses)) \
                or time.monotonic() > deadline:
            return statuses
        time.sleep(0.1)


def test_the_code_and_the_reply_arrive_on_the_phone(served: KannelApp,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    kannel = served.kannel
    handset = HandsetLog(kannel.handset_log)
    parts: list[AirMessage] = []
    page = httpx.Client(base_url=served.base, timeout=20)
    started = time.monotonic()
    assert page.post(f"{API}/code", json={"phone": PHONE}).status_code == 202
    texts = _replies_to(kannel, handset, PHONE, parts, until=1)
    code_s = time.monotonic() - started
    assert len(texts) == 1
    code_text = texts[0].text
    assert texts[0].sender == "12366"
    assert code_text.startswith("【12366】您的网上咨询验证码为")
    assert texts[0].segments == 1
    code = code_text.split("验证码为", 1)[1][:6]
    assert code.isdigit()
    with served.db.session() as session:
        stored = session.scalars(select(SmsMessage.text).where(
            SmsMessage.intent == "consult_code")).one()
    assert code not in stored
    assert stored == code_text.replace(code, "******")

    assert page.post(f"{API}/session", json={"phone": PHONE, "code": code}).status_code == 200
    suggestions = page.get(f"{API}/suggest", params={"q": "个税汇算什么时候开始"}).json()
    assert suggestions["suggestions"]
    asked = page.post(f"{API}/questions", json={"question": "我在两处取得工资，汇算时怎么补税？"})
    assert asked.status_code == 201, asked.text
    ticket = asked.json()["ticket_no"]

    agent = httpx.Client(base_url=served.base, timeout=20,
                         headers=bearer(token_for(served.db, "consult-agent", "agent")))
    answer = ("您好：您在两处取得工资薪金，年度汇算时应将全年工资合并计算综合所得，"
              "扣除基本减除费用、专项扣除和专项附加扣除后按年度税率表计算应纳税额，"
              "减去已预缴税款后补缴差额。可通过个人所得税App办理。")
    started = time.monotonic()
    replied = agent.post(f"/api/v1/consultations/{ticket}/reply", json={"text": answer})
    assert replied.status_code == 200, replied.text
    texts = _replies_to(kannel, handset, PHONE, parts, until=2)
    reply_s = time.monotonic() - started
    expected = f"【12366】您的咨询（工单号{ticket}）答复：{answer}"
    assert [t.text for t in texts] == [code_text, expected]
    reply = texts[1]
    assert reply.segments == segments(expected) > 1
    lengths = reply.part_lengths
    assert lengths == (UCS2_PART,) * (len(lengths) - 1) + (
        len(expected) - UCS2_PART * (len(lengths) - 1),)
    assert _statuses(served.db, "consult_code") == ["delivered"]
    assert _statuses(served.db, "consult_reply") == ["delivered"]
    mine = page.get(f"{API}/questions").json()
    assert [(r["text"], r["sms_status"]) for r in mine[0]["replies"]] == [
        (answer, "delivered")]
    assert mine[0]["status"] == "answered"
    with capsys.disabled():
        print(f"\nconsultation via Kannel: code on the phone {code_s:.2f} s after the request, "
              f"reply ({reply.segments} segments) {reply_s:.2f} s after the agent sent it")
