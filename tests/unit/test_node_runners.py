"""Every node type of the menu schema has a runner, and every service name a handler.

The engine dispatches a node on its type through :mod:`ivr.menu.runners`; the self-service
modules register theirs when :mod:`ivr.services` is imported. A node type added to the schema
without a runner, or a service name without a handler, fails here rather than on a call."""

from __future__ import annotations

from typing import get_args

import pytest

import ivr.menu.engine  # noqa: F401 - registers the engine's own runners
from ivr.menu import runners
from ivr.menu.schema import NODE_TYPES, Node, ServiceName
from ivr.services.handlers import HANDLERS


def _schema_node_types() -> set[str]:
    union = get_args(Node)[0]                    # Annotated[Union[...], Field(...)]
    types: set[str] = set()
    for model in get_args(union):
        (literal,) = get_args(model.model_fields["type"].annotation)
        types.add(literal)
    return types


def test_node_types_listed_match_the_schema() -> None:
    assert set(NODE_TYPES) == _schema_node_types()


def test_every_node_type_has_a_runner() -> None:
    table = runners.registered()
    missing = sorted(set(NODE_TYPES) - set(table))
    assert not missing, f"node types without a runner: {missing}"
    assert not set(table) - set(NODE_TYPES), "a runner for a node type the schema lacks"
    # the self-service nodes are run by the services, not by the engine
    assert table["faq"].__module__ == "ivr.services.faq"
    assert table["speech"].__module__ == "ivr.services.speech"
    assert table["service"].__module__ == "ivr.services.handlers"


def test_every_service_name_has_a_handler() -> None:
    assert set(get_args(ServiceName)) == set(HANDLERS)


def test_a_second_runner_for_a_type_is_refused() -> None:
    async def other(session: object, node_id: str, node: object) -> str | None:
        return None

    with pytest.raises(ValueError, match="already has a runner"):
        runners.register("faq", other)
    assert runners.runner_for("faq") is not other
