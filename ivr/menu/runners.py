"""Node runners, registered by node type: the one table the menu engine dispatches on.

A runner runs one node of a call: ``runner(session, node_id, node)`` plays, asks, calls a
service, records the steps in the contact timeline and returns the id of the next node (None
when the call leaves the IVR). The engine registers the runners of the nodes it runs itself
(``play``, ``menu``, ``collect``, ``hours``, ``survey``, ``subflow``, ``return``, ``transfer``,
``hangup``); the self-service modules of :mod:`ivr.services` register theirs (``speech``,
``faq``, ``service``) when they are imported, which importing :mod:`ivr.services` does.

Nothing here imports the engine or the services at run time, so neither imports the other:
the engine reads this table, the services write to it.
``tests/unit/test_node_runners.py`` checks that every node type of the menu schema has a
runner.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ivr.menu.engine import MenuSession

# the node argument is the node class of its type (PlayNode for "play", ...)
NodeRunner = Callable[["MenuSession", str, Any], Awaitable[str | None]]
R = TypeVar("R", bound=NodeRunner)

_RUNNERS: dict[str, NodeRunner] = {}


def register(node_type: str, runner: NodeRunner) -> None:
    """Make ``runner`` the runner of ``node_type``. A second, different runner for a type
    is a mistake (two modules claiming one node type) and raises; the same function again
    (a module reloaded) replaces the first."""
    known = _RUNNERS.get(node_type)
    if known is not None and _qualified(known) != _qualified(runner):
        raise ValueError(f"node type {node_type!r} already has a runner: {_qualified(known)}")
    _RUNNERS[node_type] = runner


def node_runner(node_type: str) -> Callable[[R], R]:
    """Decorator form of :func:`register`."""

    def decorate(runner: R) -> R:
        register(node_type, runner)
        return runner

    return decorate


def runner_for(node_type: str) -> NodeRunner | None:
    return _RUNNERS.get(node_type)


def registered() -> dict[str, NodeRunner]:
    """A copy of the table: node type -> runner."""
    return dict(_RUNNERS)


def _qualified(runner: NodeRunner) -> str:
    return f"{getattr(runner, '__module__', '?')}.{getattr(runner, '__qualname__', repr(runner))}"
