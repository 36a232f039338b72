"""Menu loading: the shipped menu is valid; every problem names its file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from callcenter.settings import PROJECT_ROOT
from ivr.menu.loader import MenuError, MenuProblem, load_menu, parse_menu
from ivr.menu.schema import FaqNode, HangupNode, MenuNode, TransferNode

MENU_FILE = PROJECT_ROOT / "ivr" / "menus" / "12366.yaml"


def yaml_doc(text: str) -> str:
    """Dedent an inline document; line 1 is the line right after the opening quotes."""
    return textwrap.dedent(text).removeprefix("\n")


def problems_of(text: str) -> list[MenuProblem]:
    with pytest.raises(MenuError) as info:
        parse_menu(yaml_doc(text), "t.yaml")
    assert info.value.problems, "a MenuError must carry at least one problem"
    return info.value.problems


def where(text: str) -> list[tuple[int, str]]:
    """(line, field) of every problem, in the order reported."""
    return [(p.line, p.field) for p in problems_of(text)]


# -- the shipped menu -----------------------------------------------------------------------


def test_shipped_menu_loads() -> None:
    menu = load_menu(MENU_FILE)
    assert menu.version == 1
    assert menu.start == "welcome"
    main = menu.nodes["main"]
    assert isinstance(main, MenuNode)
    assert main.options == {"1": "consult", "2": "invoice_kind", "3": "query_tin",
                            "4": "booking_menu", "5": "complaint_menu", "6": "director_hours"}
    assert main.fallback == "goodbye_no_input"
    assert menu.global_keys.agent == "0"
    assert menu.global_keys.agent_node == "to_consult"
    faq = menu.nodes["faq_vat_law"]
    assert isinstance(faq, FaqNode)
    assert (faq.faq_id, faq.escalate, faq.next) == ("vat.law.effective_date", "to_vat", "survey")
    agent = menu.nodes["agent"]
    assert isinstance(agent, TransferNode)
    assert agent.queue == "consult"
    bye = menu.nodes["goodbye_no_input"]
    assert isinstance(bye, HangupNode)
    assert bye.reason == "max_retries"
    assert "main_menu" in menu.prompts()
    assert menu.entries == {"after_agent": "survey_after_agent", "queue_failed": "queue_failed"}


def test_load_menu_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nstart: h\nnodes:\n  h:\n    type: hangup\n    reason: 5\n",
                    encoding="utf-8")
    with pytest.raises(MenuError) as info:
        load_menu(path)
    assert info.value.problems == [
        MenuProblem(str(path), 6, "nodes.h.reason", "Input should be a valid string")
    ]
    assert str(info.value) == f"{path}:6: nodes.h.reason: Input should be a valid string"


# -- field problems -------------------------------------------------------------------------


def test_wrong_type() -> None:
    problems = problems_of("""
        version: 1
        start: m
        nodes:
          m:
            type: menu
            prompt: main_menu
            timeout_ms: fast
            options:
              "1": h
            fallback: h
          h:
            type: hangup
        """)
    assert [(p.line, p.field) for p in problems] == [(7, "nodes.m.timeout_ms")]
    assert "integer" in problems[0].message
    assert problems[0].file == "t.yaml"


def test_value_out_of_range() -> None:
    assert where("""
        version: 1
        start: m
        nodes:
          m:
            type: menu
            prompt: main_menu
            options: {"1": m}
            fallback: m
            retries: 9
        """) == [(9, "nodes.m.retries")]


def test_unknown_key() -> None:
    problems = problems_of("""
        version: 1
        start: h
        nodes:
          h:
            type: hangup
            prompt: goodbye
            reasn: completed
        """)
    assert [(p.line, p.field) for p in problems] == [(7, "nodes.h.reasn")]
    assert "Extra inputs" in problems[0].message


def test_unknown_top_level_key() -> None:
    assert where("""
        version: 1
        start: h
        strat: h
        nodes:
          h: {type: hangup}
        """) == [(3, "strat")]


def test_missing_required_field_points_at_its_node() -> None:
    problems = problems_of("""
        version: 1
        start: p
        nodes:
          h:
            type: hangup
          p:
            type: play
            prompts: [welcome]
        """)
    assert [(p.line, p.field) for p in problems] == [(6, "nodes.p.next")]
    assert problems[0].message == "Field required"


def test_missing_top_level_field() -> None:
    assert where("""
        version: 1
        start: h
        """) == [(1, "nodes")]


def test_bad_key_in_options() -> None:
    problems = problems_of("""
        version: 1
        start: m
        nodes:
          m:
            type: menu
            prompt: main_menu
            options:
              "1": h
              "12": h
            fallback: h
          h:
            type: hangup
        """)
    assert [(p.line, p.field) for p in problems] == [(9, "nodes.m.options.12")]
    assert "pattern" in problems[0].message


def test_bad_prompt_in_a_list_names_its_index() -> None:
    assert where("""
        version: 1
        start: p
        nodes:
          p:
            type: play
            prompts:
              - welcome
              - Not-A-Prompt
            next: p
        """) == [(8, "nodes.p.prompts.1")]


def test_unknown_node_type() -> None:
    problems = problems_of("""
        version: 1
        start: h
        nodes:
          h:
            type: hangup
          x:
            prompt: welcome
            type: dance
        """)
    assert [(p.line, p.field) for p in problems] == [(8, "nodes.x.type")]
    assert "'dance'" in problems[0].message


def test_missing_node_type_points_at_the_node() -> None:
    assert where("""
        version: 1
        start: h
        nodes:
          h:
            prompt: goodbye
        """) == [(4, "nodes.h.type")]


def test_node_that_is_not_a_mapping() -> None:
    assert where("""
        version: 1
        start: h
        nodes:
          h: 5
        """) == [(4, "nodes.h")]


def test_several_problems_are_all_reported() -> None:
    assert where("""
        version: 1
        start: a
        nodes:
          a:
            type: play
            prompts: [welcome]
            nxt: b
          b:
            type: transfer
            queue: Consult
        """) == [(4, "nodes.a.next"), (7, "nodes.a.nxt"), (10, "nodes.b.queue")]


# -- references to nodes --------------------------------------------------------------------


def test_unknown_targets() -> None:
    problems = problems_of("""
        version: 1
        start: nowhere
        nodes:
          m:
            type: menu
            prompt: main_menu
            options:
              "1": p
              "2": ghost
            fallback: ghost2
          p:
            type: play
            prompts: [welcome]
            next: ghost3
        """)
    assert [(p.line, p.field) for p in problems] == [
        (2, "start"),
        (9, "nodes.m.options.2"),
        (10, "nodes.m.fallback"),
        (14, "nodes.p.next"),
    ]
    assert [p.message for p in problems] == [
        "unknown node 'nowhere'",
        "unknown node 'ghost'",
        "unknown node 'ghost2'",
        "unknown node 'ghost3'",
    ]


def test_unknown_target_in_a_node_whose_id_has_dots() -> None:
    # node ids may contain dots, so a dotted field path cannot be split back into parts
    assert where("""
        version: 1
        start: faq.vat
        nodes:
          faq.vat:
            type: menu
            prompt: main_menu
            options:
              "1": ghost
            fallback: faq.vat
        """) == [(8, "nodes.faq.vat.options.1")]


# -- documents that are not menus -----------------------------------------------------------


def test_yaml_syntax_error_reports_the_line_of_the_error() -> None:
    problems = problems_of("""
        version: 1
        start: h
        nodes:
          h:
            type: hangup
           prompt: goodbye
        """)
    assert [(p.line, p.field) for p in problems] == [(6, "(syntax)")]
    assert problems[0].message  # says what is wrong, not empty


def test_unclosed_flow_sequence() -> None:
    problems = problems_of("""
        version: 1
        start: p
        nodes:
          p:
            type: play
            prompts: [welcome, goodbye
            next: p
        """)
    assert [(p.line, p.field) for p in problems] == [(7, "(syntax)")]
    assert "expected ',' or ']'" in problems[0].message


def test_tab_indentation_is_a_syntax_error() -> None:
    problems = problems_of("version: 1\nstart: h\nnodes:\n\th: {type: hangup}\n")
    assert [(p.line, p.field) for p in problems] == [(4, "(syntax)")]


@pytest.mark.parametrize(
    "text",
    ["", "# only a comment\n", "- version\n- start\n", "just text\n", "42\n"],
    ids=["empty", "comment", "list", "scalar", "number"],
)
def test_document_that_is_not_a_mapping(text: str) -> None:
    assert where(text) == [(1, "(document)")]
