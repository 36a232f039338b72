"""Coverage cannot silently shrink: in CI (`CI=true`) a skipped test is a failure unless the
test is marked ``@pytest.mark.allowed_skip("reason")``.

Loaded by `tests/conftest.py` (``pytest_plugins``). It acts where the test runs, in the hooks
that build the reports, so under pytest-xdist each worker sends the failure to the controller.

- A test that skips in setup (``skip`` / ``skipif`` marks, a fixture calling ``pytest.skip``,
  an empty parameter set), in its body or in teardown fails in CI, unless it carries
  ``allowed_skip`` with a non-empty reason; that reason is then added to the skip's own in
  the ``-rs`` summary (in and outside CI).
- ``allowed_skip`` without a reason fails the test, in and outside CI.
- A module that skips itself at import (``pytest.skip(allow_module_level=True)``, a module-level
  ``pytest.importorskip``) is a collection error in CI. Such a skip cannot be allowed: the
  marks of a module that did not import cannot be read. Skip in a fixture of the tests
  concerned instead, and mark them.
- An expected failure (``xfail``) is not a skip and is left alone.
- Outside CI skips stay skips.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.support import in_ci

MARK = "allowed_skip"
USAGE = f'@pytest.mark.{MARK}("why this test may skip in CI")'


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARK}(reason): the test may skip in CI (CI=true); without it a skip there is a "
        "failure (tests/plugins/skip_policy.py)",
    )


def allowed_reason(item: pytest.Item) -> str | None:
    """The reason of the item's `allowed_skip` mark; None without the mark; ValueError when
    the mark has no non-empty reason."""
    mark = item.get_closest_marker(MARK)
    if mark is None:
        return None
    reason = mark.args[0] if mark.args else mark.kwargs.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"{item.nodeid}: {MARK} needs a reason: {USAGE}")
    return reason.strip()


def _skip_message(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    try:
        allowed = allowed_reason(item)
    except ValueError as exc:
        if report.when == "setup":
            report.outcome = "failed"
            report.longrepr = str(exc)
        return report
    if not report.skipped or hasattr(report, "wasxfail"):
        return report
    if allowed is not None:
        if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
            path, line, message = report.longrepr
            report.longrepr = (path, line, f"{message} [allowed to skip in CI: {allowed}]")
        return report
    if in_ci():
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} skipped in CI ({_skip_message(report)}). In CI a test must run; "
            f"one that may skip there says why: {USAGE}"
        )
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.skipped and in_ci():
        report.outcome = "failed"
        report.longrepr = (
            f"{collector.nodeid or '.'} skipped at collection in CI ({_skip_message(report)}). "
            f"In CI its tests must run; skip in a fixture of the tests concerned and mark them "
            f"{USAGE} if they may skip there"
        )
    return report
