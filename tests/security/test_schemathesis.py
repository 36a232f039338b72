"""schemathesis against the app (in-process ASGI), on SQLite and PostgreSQL: every operation of
the OpenAPI document with generated input, as an admin (the role that reaches the most),
asserting no server error and that status codes, content types, headers and bodies are what
the document says. The example count is bounded (``EXAMPLES`` per operation) so that the run
stays around a minute per database on a CI machine.

It runs at today's moment of the suite's clock only (``clock_independent``,
tests/plugins/scope.py): it checks that answers match the document, and what a route answers
on a holiday or across the new year is asserted by the domains' own tests at every moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from callcenter.app import create_app
from callcenter.db import Database
from callcenter.settings import Settings
from knowledge_base import KnowledgeBase
from tests.callcenter.util import bearer, token_for
from tests.support import ONE_ENTRY_FAQ, SUITE_CLOCK

EXAMPLES = 25
pytestmark = pytest.mark.clock_independent
ADMIN = "schemathesis-admin"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api(db_url: str, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[schemathesis.schemas.BaseSchema, dict[str, str]]]:
    db = Database(db_url)
    auth = bearer(token_for(db, ADMIN, "admin"))
    db.dispose()
    app = create_app(Settings(database_url=db_url, ami_enabled=False, kb_enabled=False,
                              login_max_failures=1000, login_address_max_failures=1000),
                     SUITE_CLOCK)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app
    data = Path(tmp_path_factory.mktemp("kb"))
    (data / "faq.yaml").write_text(ONE_ENTRY_FAQ, encoding="utf-8")
    app.state.knowledge_base = KnowledgeBase.load(data, cache_dir=None, spec_path=None,
                                                  embedder=None)
    # logging out would end the run's session: that route is covered by the matrix
    yield schema.exclude(path="/api/v1/auth/logout"), auth
    shutdown_lifespans()


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def api_schema(api: tuple[schemathesis.schemas.BaseSchema, dict[str, str]]
               ) -> schemathesis.schemas.BaseSchema:
    return api[0]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_answers_as_documented(case: schemathesis.Case[Any],
                                   api: tuple[object, dict[str, str]]) -> None:
    case.call_and_validate(headers=api[1], checks=CHECKS)
