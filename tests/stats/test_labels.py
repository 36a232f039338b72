"""FAQ words for the reports (callcenter/stats/labels.py): the live base's question first, the
data files' for an id the live base lacks, the id itself for one neither has."""

from __future__ import annotations

from collections.abc import Mapping

from callcenter.settings import PROJECT_ROOT
from callcenter.stats.labels import FileLabels

MENU = PROJECT_ROOT / "ivr" / "menus" / "12366.yaml"
KB = PROJECT_ROOT / "knowledge_base" / "data"


class Live:
    def __init__(self, questions: Mapping[str, str]) -> None:
        self._questions = questions

    def questions(self) -> Mapping[str, str]:
        return self._questions


def test_a_live_base_seeded_in_part_keeps_the_files_words_for_the_rest() -> None:
    files = FileLabels(MENU, KB).faqs()
    assert files["vat.law.effective_date"] == "增值税法什么时候开始施行？"
    live = FileLabels(MENU, KB, faqs=Live({"iit.basic_deduction": "个税起征点是多少？（编辑后）"}))
    faqs = live.faqs()
    assert faqs["iit.basic_deduction"] == "个税起征点是多少？（编辑后）"   # the live words win
    assert faqs["vat.law.effective_date"] == "增值税法什么时候开始施行？"  # not in the live base
    assert "vat.rate" not in faqs  # neither has it: the report keeps the id
    assert FileLabels(MENU, KB, faqs=Live({})).faqs() == files
