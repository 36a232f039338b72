"""Knowledge operations through the API (docs/kb.md, "Knowledge operations"): the database
seeded from the repository YAML, drafts, the field-by-field 422s, the second person who
publishes, versions and restore, export/import round trip, and the unanswered report on a
seeded set of declined questions. Real knowledge base (the server's), SQLite per module."""

from __future__ import annotations

import filecmp
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callcenter.app import create_app
from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.db import Database
from callcenter.kb.services import KbStore
from callcenter.migrate import upgrade
from callcenter.settings import Settings
from callcenter.stats.services import stats_service_for
from knowledge_base import DEFAULT_DATA_DIR, KnowledgeBase, default_spec_path
from tests.callcenter.util import bearer, token_for
from tests.support import SUITE_CLOCK, sqlite_url

ENTRY = "iit.basic_deduction"
QUESTION = "个税起征点是多少"
USERS = {"editor": "editor1", "editor2": "editor2", "reviewer": "reviewer1",
         "supervisor": "sup1", "agent": "agent1"}


class Kb:
    def __init__(self, client: TestClient, db: Database, headers: dict[str, dict[str, str]]
                 ) -> None:
        self.client = client
        self.db = db
        self.h = headers

    @property
    def base(self) -> KnowledgeBase:
        kb = self.client.app.state.knowledge_base  # type: ignore[attr-defined]
        assert isinstance(kb, KnowledgeBase)
        return kb

    def entry(self, entry_id: str = ENTRY) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/kb/entries/{entry_id}", headers=self.h["editor"])
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def draft(self, who: str, fields: dict[str, Any], entry_id: str = ENTRY,
              kind: str = "edit") -> Any:
        return self.client.post("/api/v1/kb/drafts", headers=self.h[who], json={
            "entry_id": entry_id, "kind": kind, "fields": fields})

    def publish(self, who: str, draft_id: int) -> Any:
        return self.client.post(f"/api/v1/kb/drafts/{draft_id}/publish", headers=self.h[who])


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kb]:
    url = sqlite_url(tmp_path_factory.mktemp("kbops"))
    upgrade(url)
    db = Database(url)
    headers = {key: bearer(token_for(db, name, "editor" if key == "editor2" else key))
               for key, name in USERS.items()}
    settings = Settings(database_url=url, ami_enabled=False, kb_enabled=True)
    with TestClient(create_app(settings, SUITE_CLOCK), base_url="https://testserver") as client:
        yield Kb(client, db, headers)
    db.dispose()


def _store(db: Database) -> KbStore:
    return KbStore(db, SUITE_CLOCK, spec_path=default_spec_path())


def test_the_database_is_seeded_from_the_yaml_and_exports_it_exactly(kb: Kb,
                                                                       tmp_path: Path) -> None:
    entry = kb.entry()
    assert entry["version"] == 1
    assert entry["file"] == "iit_social_credit.yaml"
    assert kb.base.get(ENTRY).answer == entry["fields"]["answer"]
    written = _store(kb.db).export_dir(tmp_path)
    originals = sorted(DEFAULT_DATA_DIR.glob("*.yaml"))
    assert [p.name for p in written] == [p.name for p in originals]
    for original in originals:
        assert filecmp.cmp(original, tmp_path / original.name, shallow=False), original.name


def test_an_edit_is_a_draft_until_a_second_person_publishes_it(kb: Kb) -> None:
    fields = kb.entry()["fields"]
    old_answer = fields["answer"]
    new_answer = old_answer + "如有疑问，可拨打12366咨询。"
    response = kb.draft("editor", {**fields, "answer": new_answer})
    assert response.status_code == 201, response.text
    draft = response.json()
    assert (draft["status"], draft["author"], draft["base_version"]) == ("open", "editor1", 1)
    assert kb.base.get(ENTRY).answer == old_answer  # a draft is not served
    # the author cannot publish it, nor another editor, nor an agent
    assert kb.publish("editor", draft["id"]).status_code == 403
    assert kb.publish("editor2", draft["id"]).status_code == 403
    assert kb.publish("agent", draft["id"]).status_code == 403
    published = kb.publish("reviewer", draft["id"])
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["version"] == 2
    assert body["reloaded"] is True
    assert body["entries"] == len(kb.base)
    assert kb.base.get(ENTRY).answer == new_answer  # this process serves it now
    decision = kb.base.decide(QUESTION)
    assert decision.results[0].id == ENTRY
    search = kb.client.get("/api/v1/kb/search", params={"q": QUESTION},
                           headers=kb.h["agent"]).json()
    assert search["results"][0]["id"] == ENTRY
    assert kb.publish("supervisor", draft["id"]).status_code == 409  # published already
    # every version kept; a restore is a new version with the old fields
    versions = kb.client.get(f"/api/v1/kb/entries/{ENTRY}/versions",
                             headers=kb.h["editor"]).json()
    assert [(v["version"], v["author"], v["published_by"]) for v in versions] == [
        (2, "editor1", "reviewer1"), (1, "seed", "seed")]
    assert kb.client.post(f"/api/v1/kb/entries/{ENTRY}/versions/1/restore",
                          headers=kb.h["editor"]).status_code == 403
    restored = kb.client.post(f"/api/v1/kb/entries/{ENTRY}/versions/1/restore",
                              headers=kb.h["supervisor"])
    assert restored.status_code == 200, restored.text
    assert restored.json()["version"] == 3
    assert kb.base.get(ENTRY).answer == old_answer
    assert kb.entry()["version"] == 3


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"answer": ""}, "answer", "不能为空"),
    ({"answer": "请咨询主管税务机关。", "key_facts": ["5000元"]}, "key_facts", "关键事实"),
    ({"effective_from": "2026-13-01"}, "effective_from", "YYYY-MM-DD"),
    ({"effective_to": "2000-01-01"}, "effective_to", "早于"),
    ({"similar": ["个税起征点", ""]}, "similar", "第2项为空"),
    ({"colour": "red"}, "colour", "不认识"),
])
def test_a_bad_field_is_refused_with_its_reason(kb: Kb, change: dict[str, Any], field: str,
                                                reason: str) -> None:
    fields = {**kb.entry()["fields"], **change}
    response = kb.draft("editor", fields)
    assert response.status_code == 422, response.text
    body = response.json()
    assert any(e["loc"] == ["body", "fields", field] and reason in e["msg"]
               for e in body["errors"]), body
    assert reason in body["detail"] or body["errors"][0]["loc"][-1] != field


def test_the_spec_is_checked_on_publish_and_requests_are_checked(kb: Kb) -> None:
    fields = kb.entry()["fields"]
    # the spec's key fact (5000元) dropped from answer and key facts: the draft saves, the
    # base refuses it on publish, on the answer field
    answer = "个人所得税的起征点请以最新政策为准。"
    draft = kb.draft("editor", {**fields, "answer": answer, "key_facts": []})
    assert draft.status_code == 201, draft.text
    refused = kb.publish("reviewer", draft.json()["id"])
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["body", "fields", "answer"]
    assert "规范" in refused.json()["errors"][0]["msg"]
    assert kb.client.post(f"/api/v1/kb/drafts/{draft.json()['id']}/discard",
                          headers=kb.h["editor2"]).status_code == 403  # not theirs
    assert kb.client.post(f"/api/v1/kb/drafts/{draft.json()['id']}/discard",
                          headers=kb.h["editor"]).json()["status"] == "discarded"
    assert kb.draft("editor", fields, entry_id="no.such.entry").status_code == 404
    assert kb.draft("editor", fields, kind="new").status_code == 409  # the id exists
    assert kb.draft("editor", fields, entry_id="Bad Id").status_code == 422
    assert kb.draft("agent", fields).status_code == 403
    assert kb.client.get("/api/v1/kb/drafts", headers=kb.h["agent"]).status_code == 403
    assert kb.publish("reviewer", 999_999).status_code == 404
    assert kb.client.post(f"/api/v1/kb/entries/{ENTRY}/versions/99/restore",
                          headers=kb.h["reviewer"]).status_code == 404


def new_fields(question: str, similar: str, keywords: list[str], answer: str,
               key_fact: str) -> dict[str, Any]:
    """A new entry's fields, of the category 12366服务."""
    return {"category": "12366服务", "question": question, "similar": [similar],
            "keywords": keywords, "answer": answer, "effective_from": "2020-01-01",
            "effective_to": None, "source": "测试", "key_facts": [key_fact]}


def test_a_new_entry_and_a_retirement(kb: Kb) -> None:
    fields = new_fields("12366热线能用数字人民币缴税吗？", "数字人民币可以交税吗",
                        ["数字人民币", "缴税"], "可以。在电子税务局缴款时选择数字人民币支付即可。",
                        "数字人民币")
    created = kb.draft("editor", fields, entry_id="svc.test.ecny", kind="new")
    assert created.status_code == 201, created.text
    assert created.json()["file"] == "cit_property_filing_reg_service.yaml"  # by category
    assert kb.publish("reviewer", created.json()["id"]).json()["version"] == 1
    assert kb.base.get("svc.test.ecny").answer == fields["answer"]
    listed = kb.client.get("/api/v1/kb/entries", params={"q": "数字人民币"},
                           headers=kb.h["editor"]).json()
    assert "svc.test.ecny" in [e["id"] for e in listed]
    retire = kb.draft("editor", {}, entry_id="svc.test.ecny", kind="retire")
    assert kb.publish("supervisor", retire.json()["id"]).json()["retired"] is True
    assert "svc.test.ecny" not in {e.id for e in kb.base.entries(effective_only=False)}
    listed = kb.client.get("/api/v1/kb/entries", params={"q": "数字人民币"},
                           headers=kb.h["editor"]).json()
    assert "svc.test.ecny" not in [e["id"] for e in listed]
    restored = kb.client.post("/api/v1/kb/entries/svc.test.ecny/versions/1/restore",
                              headers=kb.h["reviewer"])
    assert restored.json() | {"reload_s": None} == {
        "entry_id": "svc.test.ecny", "version": 3, "retired": False, "reloaded": True,
        "reload_s": None, "entries": len(kb.base), "rendered": 0}
    assert kb.base.get("svc.test.ecny").question == fields["question"]


def test_an_entry_added_in_the_console_has_its_question_in_the_statistics(kb: Kb) -> None:
    settings = Settings(database_url=str(kb.db.engine.url), ami_enabled=False)
    labels = stats_service_for(kb.db, settings, SUITE_CLOCK).reports.labels
    assert labels.faqs()[ENTRY] == kb.entry()["fields"]["question"]  # the seeded base
    assert "svc.test.labels" not in labels.faqs()
    fields = new_fields("12366短信能查询发票真伪吗？", "短信查发票", ["短信", "发票查验"],
                        "可以。编辑短信“发票 发票号码 金额”发送到12366即可查验。", "发票")
    created = kb.draft("editor", fields, entry_id="svc.test.labels", kind="new")
    assert created.status_code == 201, created.text
    assert labels.faqs().get("svc.test.labels") is None  # a draft is not the base
    assert kb.publish("reviewer", created.json()["id"]).status_code == 200
    assert labels.faqs()["svc.test.labels"] == fields["question"]
    edit = kb.draft("editor", {**fields, "question": "发短信到12366能查发票真伪吗？"},
                    entry_id="svc.test.labels")
    assert kb.publish("reviewer", edit.json()["id"]).status_code == 200
    assert labels.faqs()["svc.test.labels"] == "发短信到12366能查发票真伪吗？"
    retire = kb.draft("editor", {}, entry_id="svc.test.labels", kind="retire")
    assert kb.publish("reviewer", retire.json()["id"]).status_code == 200
    assert labels.faqs()["svc.test.labels"] == "发短信到12366能查发票真伪吗？"  # the history's


def test_without_the_tables_the_statistics_read_the_data_files(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path))  # not migrated
    try:
        labels = stats_service_for(db, Settings(database_url=str(db.engine.url),
                                                ami_enabled=False), SUITE_CLOCK).reports.labels
        assert labels.faqs()[ENTRY] == KnowledgeBase.load(
            DEFAULT_DATA_DIR, embedder=None).get(ENTRY).question
    finally:
        db.dispose()


def test_export_import_round_trip(kb: Kb, tmp_path: Path) -> None:
    """A changed entry is exported in the seed format; importing the export into a fresh
    database and exporting again gives the same files, and the same live entries."""
    store = _store(kb.db)
    fields = kb.entry("cit.rate.standard")["fields"]
    draft = kb.draft("editor", {**fields, "similar": [*fields["similar"], "企业所得税按几个点"]},
                     entry_id="cit.rate.standard")
    assert kb.publish("reviewer", draft.json()["id"]).status_code == 200
    first = tmp_path / "first"
    store.export_dir(first)
    changed = (first / "cit_property_filing_reg_service.yaml").read_text(encoding="utf-8")
    assert "企业所得税按几个点" in changed
    assert "# ---------------------------------------------------------------- 企业所得税" \
        in changed  # the header and the unchanged entries' comments are kept
    unchanged = DEFAULT_DATA_DIR / "frequent_questions.yaml"
    assert filecmp.cmp(unchanged, first / unchanged.name, shallow=False)
    url = sqlite_url(tmp_path)
    upgrade(url)
    other = Database(url)
    try:
        fresh = _store(other)
        assert fresh.seed(first) > 200
        second = tmp_path / "second"
        fresh.export_dir(second)
        for path in sorted(first.glob("*.yaml")):
            assert filecmp.cmp(path, second / path.name, shallow=False), path.name
        assert fresh.live_items() == store.live_items()
        # importing the repository's files again: the changed entry gets a version, the
        # entry the files lack is retired; the export is the repository's files again
        seed_ids = {str(f["id"]) for _, f in store.live_items()}
        extra = seed_ids - {str(f["id"]) for _, f in _repository_entries()}
        assert fresh.import_dir(DEFAULT_DATA_DIR, "import", retire_missing=True) \
            == 1 + len(extra)
        assert fresh.entry("cit.rate.standard").version == 2
        assert all(fresh.entry(entry_id).retired for entry_id in extra)
        third = tmp_path / "third"
        fresh.export_dir(third)
        for path in sorted(DEFAULT_DATA_DIR.glob("*.yaml")):
            assert filecmp.cmp(path, third / path.name, shallow=False), path.name
    finally:
        other.dispose()


def _repository_entries() -> list[tuple[str, dict[str, Any]]]:
    from knowledge_base import load_data

    return [(e.file, e.to_dict()) for e in load_data(DEFAULT_DATA_DIR).entries]


def _seed_questions(db: Database) -> None:
    asked = [  # (text, medium, decision), each a contact
        *[("数字人民币怎么缴税", "phone", "decline")] * 3,
        ("用数字人民币怎么交税", "sms", "decline"),
        ("可以用数字人民币交税吗", "web", "confirm"),
        *[("明天北京会下雨吗", "phone", "decline")] * 2,
        ("北京明天天气怎么样", "sms", "decline"),
        ("社保卡丢了怎么补办", "phone", "confirm"),
        ("社保卡掉了去哪里补", "phone", "decline"),
        ("个税起征点是多少", "phone", "answer"),  # answered: not in the report
    ]
    at = SUITE_CLOCK() - timedelta(hours=2)
    with db.transaction() as session:
        for number, (text, medium, decision) in enumerate(asked):
            contact = Contact(linkedid=f"kbops-{number}", medium=medium, started_at=at,
                              caller_number="13800138000")
            session.add(contact)
            session.flush()
            session.add(ContactEventRow(contact_id=contact.id, at=at, kind="faq_decision",
                                        data={"node": "faq", "text": text, "decision": decision,
                                              "score": 0.5, "candidates": []}))


def test_the_unanswered_report_groups_the_declined_questions(kb: Kb) -> None:
    _seed_questions(kb.db)
    assert kb.client.get("/api/v1/kb/unanswered", headers=kb.h["agent"]).status_code == 403
    report = kb.client.get("/api/v1/kb/unanswered", headers=kb.h["editor"]).json()
    assert report["questions"] == 10
    groups = [(g["count"], g["examples"][0], g["channels"]) for g in report["groups"]]
    assert groups == [
        (5, "数字人民币怎么缴税", {"phone": 3, "sms": 1, "web": 1}),
        (3, "明天北京会下雨吗", {"phone": 2, "sms": 1}),
        (2, "社保卡丢了怎么补办", {"phone": 2}),
    ]
    assert set(report["groups"][0]["examples"]) == {
        "数字人民币怎么缴税", "用数字人民币怎么交税", "可以用数字人民币交税吗"}
    # one action: a group becomes a new entry's draft, or similar questions of an entry
    new = kb.client.post("/api/v1/kb/unanswered/draft", headers=kb.h["editor"],
                         json={"questions": report["groups"][2]["examples"]})
    assert new.status_code == 201, new.text
    assert new.json()["kind"] == "new"
    assert new.json()["fields"]["question"] == "社保卡丢了怎么补办"
    assert new.json()["fields"]["similar"] == ["社保卡掉了去哪里补"]
    assert kb.publish("reviewer", new.json()["id"]).status_code == 422  # no answer yet
    paraphrase = kb.client.post("/api/v1/kb/unanswered/draft", headers=kb.h["editor"],
                                json={"questions": ["个税的起征点现在是多少钱"],
                                      "entry_id": ENTRY})
    assert paraphrase.status_code == 201, paraphrase.text
    assert paraphrase.json()["fields"]["similar"][-1] == "个税的起征点现在是多少钱"
    assert kb.publish("reviewer", paraphrase.json()["id"]).status_code == 200
    assert "个税的起征点现在是多少钱" in kb.base.get(ENTRY).similar


@pytest.mark.parametrize("who", ["editor", "reviewer"])
@pytest.mark.parametrize("path", ["/api/v1/desk/lookups", "/api/v1/tickets", "/api/v1/queues",
                                  "/api/v1/callbacks", "/api/v1/agents/me", "/api/v1/contacts",
                                  "/api/v1/consultations/202612010001"])
def test_the_content_roles_stay_out_of_the_call_centre(kb: Kb, who: str, path: str) -> None:
    """An editor or reviewer works on the knowledge base only: the desk, tickets, queues,
    callbacks, contacts and consultations answer 403, while the knowledge pages answer."""
    assert kb.client.get(path, headers=kb.h[who]).status_code == 403
    assert kb.client.get("/api/v1/kb/drafts", headers=kb.h[who]).status_code == 200
