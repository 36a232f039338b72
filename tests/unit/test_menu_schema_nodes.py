"""Schema errors of the full menu's node types: each names the file, line and field."""

from __future__ import annotations

import textwrap

import pytest

from ivr.menu.loader import MenuError, MenuProblem, parse_menu


def problems(text: str) -> list[MenuProblem]:
    with pytest.raises(MenuError) as error:
        parse_menu(textwrap.dedent(text), "m.yaml")
    return error.value.problems


HEAD = """
    version: 1
    start: a
    nodes:
      bye: {type: hangup}
"""


@pytest.mark.parametrize(("node", "field", "message"), [
    ("""
      a:
        type: collect
        prompt: welcome
        store: code
        min_digits: 8
        max_digits: 4
        next: bye
        fallback: bye
    """, "nodes.a", "min_digits must not exceed max_digits"),
    ("""
      a:
        type: collect
        prompt: welcome
        store: code
        readback: digits
        next: bye
        fallback: bye
    """, "nodes.a", "readback needs readback_prompt and confirm_prompt"),
    ("""
      a:
        type: collect
        prompt: welcome
        store: Code
        next: bye
        fallback: bye
    """, "nodes.a.store", "String should match pattern"),
    ("""
      a:
        type: speech
        prompt: ask_question
        fallback: bye
    """, "nodes.a", "a speech node needs phrases, or store and next"),
    ("""
      a:
        type: faq
        after_prompt: faq_after
        another: bye
        escalate: bye
        next: bye
    """, "nodes.a", "give exactly one of faq_id and question_from"),
    ("""
      a:
        type: faq
        question_from: question
        confirm_prompt: faq_confirm
        after_prompt: faq_after
        another: bye
        escalate: bye
        next: bye
    """, "nodes.a", "a question needs confirm_prompt and confirm_keys_prompt"),
    ("""
      a:
        type: faq
        question_from: question
        min_score: 0.5
        confirm_prompt: faq_confirm
        confirm_keys_prompt: faq_confirm_keys
        after_prompt: faq_after
        another: bye
        escalate: bye
        next: bye
    """, "nodes.a.min_score", "Extra inputs are not permitted"),
    ("""
      a:
        type: service
        service: teleport
        next: bye
    """, "nodes.a.service", "Input should be"),
    ("""
      a:
        type: survey
        prompt: survey_prompt
        scores: {"1": 5}
        next: bye
    """, "nodes.a.scores.1", "less than or equal to 3"),
    ("""
      a:
        type: hours
        open: bye
    """, "nodes.a.closed", "Field required"),
    ("""
      a:
        type: transfer
        queue: Tax VAT
    """, "nodes.a.queue", "String should match pattern"),
    ("""
      a:
        type: poll
    """, "nodes.a.type", "Input tag 'poll' found using 'type' does not match"),
])
def test_node_errors(node: str, field: str, message: str) -> None:
    found = problems(textwrap.dedent(HEAD) + textwrap.indent(textwrap.dedent(node), "  "))
    assert [p.field for p in found] == [field], found
    assert message in found[0].message
    assert found[0].file == "m.yaml"
    assert found[0].line >= 6  # inside node a, after the head


def test_unknown_targets_of_the_new_fields() -> None:
    found = problems("""
        version: 1
        start: a
        entries: {after_agent: ghost1}
        global_keys: {agent: "0", agent_node: ghost2}
        nodes:
          a:
            type: faq
            faq_id: vat.rates.overview
            after_prompt: faq_after
            another: ghost3
            escalate: ghost4
            next: b
          b:
            type: service
            service: booking
            results: {booked: ghost5}
            next: a
          c: {type: subflow, flow: ghost6, next: a}
        """)
    assert [(p.line, p.field) for p in found] == [
        (4, "entries.after_agent"), (5, "global_keys.agent_node"), (11, "nodes.a.another"),
        (12, "nodes.a.escalate"), (17, "nodes.b.results.booked"), (19, "nodes.c.flow")]
    assert found[0].message == "unknown node 'ghost1'"


def test_agent_key_needs_a_node() -> None:
    found = problems("""
        version: 1
        start: a
        global_keys: {agent: "0"}
        nodes:
          a: {type: hangup}
        """)
    assert [(p.line, p.field) for p in found] == [(4, "global_keys")]
    assert "agent key needs agent_node" in found[0].message
