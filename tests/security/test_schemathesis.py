"""schemathesis against the app (in-process ASGI), on SQLite and PostgreSQL: every operation of
the OpenAPI document with generated input, as an admin (the role that reaches the most),
asserting no server error and that status codes, content types, headers and bodies are what
the document says. The example count is bounded (``EXAMPLES`` per operation) so that the run
stays around a minute per database on a CI machine. The operations go in five parts
(``PARTS``, by path; every operation in exactly one), each a test of its own: as one test per
database they took 3 to 5 minutes of one worker under load, and ended today's run alone on it.

It runs at today's moment of the suite's clock only (``clock_independent``,
tests/plugins/scope.py): it checks that answers match the document, and what a route answers
on a holiday or across the new year is asserted by the domains' own tests at every moment.
"""

from __future__ import annotations

import re
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
from callcenter.openapi import operations
from callcenter.settings import Settings
from tests.callcenter.util import bearer, token_for
from tests.support import ONE_ENTRY_FAQ, SUITE_CLOCK

EXAMPLES = 25
# the operations by the first part of their path under /api/v1/; "rest" is every other one
# (the login, the users, the health report, the pages), so that a new route is always tested
PARTS: dict[str, tuple[str, ...]] = {
    "agents": ("agents", "calls", "desk", "queues", "skills", "pause-reasons", "dispositions"),
    "statistics": ("stats", "quality", "contacts", "recordings", "audit"),
    "knowledge": ("kb", "consult", "consultations"),
    "work": ("tickets", "callbacks", "notices", "sms"),
}


def _under(prefixes: tuple[str, ...]) -> str:
    return rf"/api/v1/({'|'.join(re.escape(p) for p in prefixes)})(/|$)"


PART_PATHS = {name: f"^{_under(prefixes)}" for name, prefixes in PARTS.items()}
PART_PATHS["rest"] = f"^(?!{_under(tuple(p for ps in PARTS.values() for p in ps))})"
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
    # the knowledge base in the database, as deployed (its operations answer 503 without
    # it), seeded from one entry when the worker's database holds none yet
    data = Path(tmp_path_factory.mktemp("kb"))
    (data / "faq.yaml").write_text(ONE_ENTRY_FAQ, encoding="utf-8")
    app = create_app(Settings(database_url=db_url, ami_enabled=False, kb_enabled=True,
                              kb_data_dir=data, asr_engine="off",
                              login_max_failures=1000, login_address_max_failures=1000),
                     SUITE_CLOCK)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app
    yield schema, auth
    shutdown_lifespans()


@pytest.fixture(scope="module")
def api_schema(api: tuple[schemathesis.schemas.BaseSchema, dict[str, str]]
               ) -> schemathesis.schemas.BaseSchema:
    return api[0]


def test_every_operation_is_in_one_part() -> None:
    app = create_app(Settings(ami_enabled=False, kb_enabled=False), SUITE_CLOCK)
    paths = {op.path for op in operations(app)}
    assert len(paths) > 90
    for path in paths:
        parts = [name for name, regex in PART_PATHS.items() if re.search(regex, path)]
        assert len(parts) == 1, (path, parts)
    assert not re.search(PART_PATHS["agents"], "/api/v1/agentsx")
    assert re.search(PART_PATHS["rest"], "/api/v1/agentsx")


# Logging out would end the run's session (that route is covered by the matrix). The filters
# go on the lazy schema: schemathesis tests the operations its own filters choose and drops
# those of the schema the fixture returns. The logout was excluded there, so it ran, ended the
# admin's session, and every operation after it was answered 401: the contract checked little
# beyond the login (found when the operations were split into parts).
LOGOUT = "/api/v1/auth/logout"
# where a 401 is an answer about the request, not about the admin's session
OWN_401 = re.compile(r"^/api/v1/(auth/login|consult/)")


def contract(part: str) -> Any:
    """The test of the operations of ``part`` (``PART_PATHS``), on both databases."""
    lazy = (schemathesis.pytest.from_fixture("api_schema")
            .include(path_regex=PART_PATHS[part]).exclude(path=LOGOUT))

    @lazy.parametrize()
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def test(case: schemathesis.Case[Any], api: tuple[object, dict[str, str]]) -> None:
        response = case.call_and_validate(headers=api[1], checks=CHECKS)
        if response.status_code == 401 and not OWN_401.match(case.operation.path):
            me = case.operation.schema["/api/v1/auth/me"]["GET"].Case().call(headers=api[1])
            assert me.status_code == 200, "the admin's session ended: the rest would be 401"

    return test


test_agents_answer_as_documented = contract("agents")
test_statistics_answer_as_documented = contract("statistics")
test_knowledge_answers_as_documented = contract("knowledge")
test_work_answers_as_documented = contract("work")
test_the_rest_answers_as_documented = contract("rest")
