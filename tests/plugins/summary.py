"""Figures a test wants shown in every run: ``record_property("summary", text)`` in the test;
the text is printed in the terminal summary, under "figures", whether the test passed or not
and without ``-s``. Stateless: it reads the reports the terminal kept, so under pytest-xdist
the lines come from the workers with each report (user properties travel with it)."""

from __future__ import annotations

import pytest

KEY = "summary"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines: list[str] = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for name, value in getattr(report, "user_properties", ()):
                if name == KEY:
                    lines.append(f"{report.nodeid}:")
                    lines.extend(f"  {line}" for line in str(value).splitlines())
    if lines:
        terminalreporter.write_sep("-", "figures")
        for line in lines:
            terminalreporter.write_line(line)
