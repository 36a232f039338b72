"""The real Kannel gateway for a test: the skip/fail rule (required in CI), the gateway started
and stopped around the test, and the repository's knowledge base on its lexical path."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from callcenter.app import create_app
from callcenter.db import Database
from callcenter.settings import PROJECT_ROOT, Settings
from callcenter.sms.gateway import GatewayError, KannelGateway, SmsPorts
from ivr.clock import local_date
from knowledge_base import KnowledgeBase
from tests.conftest import fresh_database
from tests.support import SUITE_CLOCK, require_kannel, serving_app


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


@dataclass
class KannelApp:
    base: str           # the app's URL
    kannel: KannelGateway
    db: Database
    app: FastAPI


@contextlib.contextmanager
def kannel_app(directory: Path, http_port: int, sms_port_base: int,
               **settings: Any) -> Iterator[KannelApp]:
    """A fresh PostgreSQL database, the app serving on ``http_port`` (no AMI, no knowledge
    base, no survey; ``settings`` add to these) and the real Kannel running against it."""
    require_kannel()
    with fresh_database("postgresql", directory) as url:
        db = Database(url)
        config = Settings(**{
            "database_url": url, "ami_enabled": False, "kb_enabled": False,
            "sms_port_base": sms_port_base, "sms_state_dir": directory / "kannel",
            "sms_app_url": f"http://127.0.0.1:{http_port}", "sms_survey_enabled": False,
            "sms_worker_interval_s": 0.2, **settings})
        kannel = KannelGateway(config.sms_state_dir, SmsPorts(config.sms_port_base),
                               app_url=config.sms_app_url, key=config.sms_gateway_key,
                               sendsms_password=config.sms_sendsms_password)
        app = create_app(config, SUITE_CLOCK)
        with serving_app(app, http_port) as base:
            try:
                with running(kannel):
                    yield KannelApp(base, kannel, db, app)
            finally:
                db.dispose()
