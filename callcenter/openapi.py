"""The OpenAPI document says what the API answers, errors included.

Every error body is a ``Problem``: ``{"detail": "<one line for people>"}``, and for a 422
also ``"errors": [{"loc", "msg", "type"}]`` (``callcenter.app.validation_problem``). Which
errors an operation can answer:

* from the route itself: ``responses=problems(404, 409)`` next to the code that raises them;
* from what every route of a kind meets (added here, so a new route cannot forget them):
  401 and 403 where a login is needed, 403 (Origin check), 400, 413 and 422 (the body checks
  of ``callcenter/edge.py``) on state-changing requests, 422 wherever there are parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts

from callcenter.edge import UNSAFE_METHODS

DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request (the body cannot be read)",
    401: "Not logged in, or the session has ended",
    403: "Not allowed: the user's role or ownership, or a request from another site",
    404: "No such resource",
    409: "Conflicts with the resource's state",
    413: "Request body too large",
    422: "Invalid input; `detail` says why, `errors` lists the fields",
    429: "Too many attempts; see Retry-After",
    502: "Asterisk refused or failed the operation",
    503: "A service this operation needs is not available",
    504: "A service this operation needs did not answer in time (the bridge of a node)",
}

PROBLEM: dict[str, Any] = {
    "title": "Problem", "type": "object", "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "title": "Detail"},
        "errors": {"type": "array", "title": "Errors",
                   "items": {"$ref": "#/components/schemas/FieldProblem"}},
    },
}
FIELD_PROBLEM: dict[str, Any] = {
    "title": "FieldProblem", "type": "object", "required": ["loc", "msg", "type"],
    "properties": {
        "loc": {"type": "array", "items": {"type": "string"}, "title": "Location"},
        "msg": {"type": "string", "title": "Message"},
        "type": {"type": "string", "title": "Error Type"},
    },
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route for the errors it raises itself."""
    return {code: {"description": DESCRIPTIONS[code]} for code in codes}


@dataclass(frozen=True)
class Operation:
    """One method of one route of the app, as mounted (with the routers' dependencies)."""

    method: str  # GET, POST... or WEBSOCKET
    path: str
    dependant: Dependant
    in_schema: bool


def operations(app: FastAPI) -> Iterator[Operation]:
    """Every route of ``app`` (HTTP methods and WebSockets), through included routers."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            for method in sorted(context.methods or ()):
                yield Operation(method, str(context.path_format), context.dependant,
                                bool(context.include_in_schema))
        elif isinstance(route, APIWebSocketRoute):
            yield Operation("WEBSOCKET", str(context.path_format), context.dependant, False)
        elif getattr(route, "include_in_schema", False) is False and \
                getattr(route, "methods", None):
            for method in sorted(route.methods or ()):  # type: ignore[attr-defined]
                yield Operation(method, str(getattr(route, "path", "")),
                                Dependant(), False)


def _calls(dependant: Dependant) -> set[Callable[..., Any]]:
    found: set[Callable[..., Any]] = set()
    for sub in dependant.dependencies:
        if sub.call is not None:
            found.add(sub.call)
        found |= _calls(sub)
    return found


def needs_login(dependant: Dependant) -> bool:
    from callcenter.auth.deps import current_user

    return current_user in _calls(dependant)


def _has_parameters(dependant: Dependant) -> bool:
    if dependant.path_params or dependant.query_params or dependant.body_params or \
            dependant.header_params or dependant.cookie_params:
        return True
    return any(_has_parameters(sub) for sub in dependant.dependencies)


def error_codes(operation: Operation) -> set[int]:
    codes: set[int] = set()
    if needs_login(operation.dependant):
        codes |= {401, 403}
    if operation.method in UNSAFE_METHODS:
        codes |= {400, 403, 413, 422}
    if _has_parameters(operation.dependant):
        codes.add(422)
    return codes


def describe_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` document the errors of every operation as ``Problem``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Problem"] = PROBLEM
        schemas["FieldProblem"] = FIELD_PROBLEM
        for op in operations(app):
            if not op.in_schema:
                continue
            operation = schema["paths"].get(op.path, {}).get(op.method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for code in error_codes(op):
                responses.setdefault(str(code), {"description": DESCRIPTIONS[code]})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Problem"}}}
                    if int(code) in DESCRIPTIONS and \
                            response.get("description") in ("Validation Error", None):
                        response["description"] = DESCRIPTIONS[int(code)]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
