"""The real Kannel gateway for a test: the skip/fail rule (required in CI), the gateway started
and stopped around the test, and the repository's knowledge base on its lexical path."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from callcenter.settings import PROJECT_ROOT
from callcenter.sms.gateway import GatewayError, KannelGateway
from ivr.clock import local_date
from knowledge_base import KnowledgeBase
from tests.support import SUITE_CLOCK


@contextlib.contextmanager
def running(kannel: KannelGateway) -> Iterator[KannelGateway]:
    """``kannel`` started (the test fails with the reason when it does not start), stopped on
    exit (by its PIDs)."""
    try:
        kannel.start()
    except GatewayError as exc:
        kannel.stop()
        pytest.fail(f"the Kannel gateway did not start: {exc}", pytrace=False)
    try:
        yield kannel
    finally:
        kannel.stop()


def lexical_kb(timezone: str) -> KnowledgeBase:
    """The repository's knowledge base on its lexical path (the sentence encoder takes a
    minute to load; the decision is the same code), on the suite's clock."""
    return KnowledgeBase.load(PROJECT_ROOT / "knowledge_base" / "data", cache_dir=None,
                              spec_path=None, embedder=None,
                              clock=local_date(SUITE_CLOCK, timezone))
