"""Domain errors reach HTTP through one handler (callcenter/errors.py), not per-route code."""

from __future__ import annotations

import ast
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

import callcenter.app  # noqa: F401 - imports every domain, so every DomainError subclass
from callcenter.agents.services import DeskError
from callcenter.auth.services import AuthError, PasswordRejected
from callcenter.errors import DomainError, NotFound, domain_error_response
from callcenter.queues.services import ConfigError
from callcenter.stats.ranges import StatsInputError
from callcenter.tickets.ownership import NoSuchOwner, NotYours
from callcenter.tickets.services import TicketError

ROOT = Path(__file__).resolve().parents[2]


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def test_each_domain_error_has_its_status() -> None:
    assert (DeskError("x").status, DeskError("x", 503).status) == (409, 503)
    assert AuthError("x").status == 409
    assert PasswordRejected("x").status == 422
    assert ConfigError("x").status == 422
    assert StatsInputError("x").status == 422
    assert TicketError("x").status == 409
    assert NotYours("x").status == 403
    assert NoSuchOwner("x").status == 422
    assert NotFound("x").status == 404
    # the built-in bases they had still catch them
    assert isinstance(NotFound("x"), LookupError)
    assert isinstance(NotYours("x"), PermissionError)
    assert isinstance(TicketError("x"), ValueError)


def test_the_handler_renders_status_and_detail() -> None:
    app = FastAPI()
    app.add_exception_handler(DomainError, domain_error_response)

    @app.get("/desk")
    async def desk() -> None:
        raise DeskError("当前没有通话，不能转接", 409)

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("工单 T1 不存在")

    client = TestClient(app)
    response = client.get("/desk")
    assert (response.status_code, response.json()) == (409, {"detail": "当前没有通话，不能转接"})
    response = client.get("/missing")
    assert (response.status_code, response.json()) == (404, {"detail": "工单 T1 不存在"})


def test_the_app_registers_the_handler() -> None:
    from callcenter.app import create_app
    from callcenter.settings import Settings

    app = create_app(Settings(ami_enabled=False, kb_enabled=False))
    assert app.exception_handlers[DomainError] is domain_error_response


def test_no_route_translates_a_domain_error() -> None:
    names = {cls.__name__ for cls in _subclasses(DomainError)} | {"DomainError", "LookupError"}
    offenders: list[str] = []
    for path in sorted((ROOT / "callcenter").rglob("http.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ExceptHandler) or node.type is None:
                continue
            caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            for expr in caught:
                if isinstance(expr, ast.Name) and expr.id in names:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {expr.id}")
    assert not offenders, f"routes translating domain errors: {offenders}"
