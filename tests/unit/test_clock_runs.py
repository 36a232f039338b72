"""The clock runs' second chance (tests/clock_runs.py): which failed tests are run again, and
when a run then counts as passed. pytest itself is replaced by a fake that writes the JUnit
reports a real run would."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import clock_runs
from tests.plugins.clock_readers import READERS_ENV, RECORD_ENV
from tests.support import NAMED_MOMENTS

CALL = "tests/callcenter/test_hold_console_pbx.py::test_hold_from_the_card_and_listen_from_the_board[postgresql]"  # noqa: E501
UNIT = "tests/unit/test_ami_client.py::test_unanswered_action_times_out"


def junit(path: Path, cases: dict[str, str]) -> None:
    """A JUnit report: node id -> 'passed', 'failed', 'error' or 'skipped'."""
    rows = []
    for node, outcome in cases.items():
        file, name = node.split("::", 1)
        classname = file.removesuffix(".py").replace("/", ".")
        inner = "" if outcome == "passed" else f"<{'failure' if outcome == 'failed' else outcome}/>"
        rows.append(f'<testcase classname="{classname}" name="{name}">{inner}</testcase>')
    path.write_text(f'<testsuites><testsuite>{"".join(rows)}</testsuite></testsuites>')


class FakePytest:
    """subprocess.run for the clock runs: the first call is the run, the next the rerun."""

    def __init__(self, first: dict[str, str], rerun: dict[str, str]) -> None:
        self.reports = [first, rerun]
        self.commands: list[list[str]] = []
        self.envs: list[dict[str, str]] = []

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        self.envs.append(kwargs.get("env") or {})
        cases = self.reports[len(self.commands) - 1]
        report = next(a.split("=", 1)[1] for a in command if a.startswith("--junitxml="))
        junit(Path(report), cases)
        code = 1 if any(v in ("failed", "error") for v in cases.values()) else 0
        return subprocess.CompletedProcess(command, code)


TODAY = clock_runs.Session("today", "2026-11-30T10:00:00+08:00", "full", 8, 15000, record=True)
EVE = clock_runs.Session("new-years-eve", "2026-12-31T23:59:30+08:00", "clock", 1, 23000)


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(clock_runs, "REPORTS_DIR", tmp_path)
    return tmp_path


def test_junit_cases_become_node_ids(tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    junit(report, {CALL: "failed", UNIT: "passed",
                   "tests/unit/test_clock.py::test_settings_choose_the_process_clock": "skipped"})
    assert clock_runs.outcomes(report) == {CALL: False, UNIT: True}
    assert clock_runs.node_id("tests.unit.test_ami_client.TestX", "test_y[a]") == (
        "tests/unit/test_ami_client.py::TestX::test_y[a]")
    # a subtest (schemathesis' operations) is named by its test
    assert clock_runs.node_id("tests.security.test_schemathesis",
                              "test_api[postgresql][POST /api/v1/auth/login]") == (
        "tests/security/test_schemathesis.py::test_api[postgresql]")


def test_a_real_time_test_that_passes_alone_lets_the_run_pass(
        reports: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePytest({CALL: "failed", UNIT: "passed"}, {CALL: "passed"})
    monkeypatch.setattr(subprocess, "run", fake)
    assert clock_runs.run_once(TODAY, []) == 0
    rerun = fake.commands[1]
    assert rerun[-1] == CALL
    assert ["-m", clock_runs.REAL_TIME_MARKS] in [rerun[i:i + 2] for i in range(len(rerun))]
    assert (reports / "today-flaky.txt").read_text() == CALL + "\n"
    # the rerun on the session's own ports: never more workers than it had
    fake = FakePytest({CALL: "failed"}, {CALL: "passed"})
    monkeypatch.setattr(subprocess, "run", fake)
    assert clock_runs.run_once(EVE, []) == 0
    assert fake.commands[1][fake.commands[1].index("-n") + 1] == "1"
    assert fake.envs[1]["HOTLINE_TEST_PORT_BASE"] == "23000"


def test_a_failed_unit_test_or_a_second_failure_fails_the_run(
        reports: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the unit test is not among the real-time ones: the rerun leaves it out
    fake = FakePytest({CALL: "failed", UNIT: "failed"}, {CALL: "passed"})
    monkeypatch.setattr(subprocess, "run", fake)
    assert clock_runs.run_once(TODAY, []) == 1
    fake = FakePytest({CALL: "failed"}, {CALL: "error"})
    monkeypatch.setattr(subprocess, "run", fake)
    assert clock_runs.run_once(TODAY, []) == 1
    assert not (reports / "today-flaky.txt").exists()


def test_the_record_of_the_clocks_readers_is_kept_where_the_reports_go(
        reports: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # today's run clears and records the folder; the other moments read it. Both in the
    # reports folder of the moment: a test of this module once cleared the real record
    kept = reports / "clock-readers"
    kept.mkdir()
    (kept / "old.json").write_text("{}")
    fake = FakePytest({UNIT: "passed"}, {})
    monkeypatch.setattr(subprocess, "run", fake)
    assert clock_runs.run_once(TODAY, []) == 0
    assert fake.envs[0][RECORD_ENV] == str(kept)
    assert not kept.exists()  # cleared for today's run to record afresh
    kept.mkdir()
    fake = FakePytest({UNIT: "passed"}, {})
    monkeypatch.setattr(subprocess, "run", fake)
    assert clock_runs.run_once(EVE, []) == 0
    assert fake.envs[0][READERS_ENV] == str(kept)
    # nor does a run of another moment record, even when started where the variable is set
    # (this test itself runs inside today's recording run)
    assert RECORD_ENV not in fake.envs[0]
    monkeypatch.setenv(RECORD_ENV, "elsewhere")
    fake = FakePytest({UNIT: "passed"}, {})
    monkeypatch.setattr(subprocess, "run", fake)
    assert clock_runs.run_once(EVE, []) == 0
    assert RECORD_ENV not in fake.envs[0]


def test_the_plan_runs_today_first_then_the_other_moments_side_by_side_on_ports_apart(
        ) -> None:
    groups = clock_runs.plan(list(clock_runs.MOMENTS), "2026-11-30T10:00:00+08:00", 8, None,
                             15000)
    assert [[s.name for s in group] for group in groups] == [
        ["today"], ["new-years-eve", "spring-festival", "make-up-saturday"]]
    sessions = [s for group in groups for s in group]
    # each worker's ports (base + 1000 n, up to base + 999) belong to one session only, and
    # stay below the kernel's ephemeral ports (32768 on)
    blocks = [range(s.port_base, s.port_base + 1000 * max(s.workers, 1)) for s in sessions]
    taken = [port for block in blocks for port in block]
    assert len(taken) == len(set(taken))
    assert max(taken) < 32768
    # only today's run records who reads the clock, with every test; the others read it
    assert [(s.name, s.scope, s.workers) for s in sessions if s.record] == [("today", "full", 8)]
    assert {s.scope for s in sessions if not s.record} == {"clock"}
    assert [s.moment for s in groups[1]] == [m.isoformat() for m in NAMED_MOMENTS.values()]
    # new year's eve on both databases, the February moments one each, today's on both
    assert [(s.name, s.databases) for s in sessions] == [
        ("today", ("sqlite", "postgresql")), ("new-years-eve", ("sqlite", "postgresql")),
        ("spring-festival", ("postgresql",)), ("make-up-saturday", ("sqlite",))]
    # one moment alone gets the three workers
    groups = clock_runs.plan(["spring-festival"], "2026-11-30T10:00:00+08:00", 8, None, 15000)
    assert [[(s.name, s.workers) for s in group] for group in groups] == [
        [("spring-festival", 3)]]


def test_a_session_runs_at_its_moment_on_its_own_ports_writing_bytecode(
        reports: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePytest({UNIT: "passed"}, {})
    monkeypatch.setattr(subprocess, "run", fake)
    assert clock_runs.run_once(EVE, []) == 0
    env = fake.envs[0]
    assert (env["HOTLINE_TEST_CLOCK"], env["HOTLINE_TEST_SCOPE"], env["HOTLINE_TEST_CLOCK_RUN"],
            env["HOTLINE_TEST_PORT_BASE"]) == ("2026-12-31T23:59:30+08:00", "clock",
                                               "new-years-eve", "23000")
    assert env["HOTLINE_TEST_DATABASES"] == "sqlite,postgresql"
    # each process would otherwise compile the project and rewrite the tests' asserts again
    assert env["PYTHONDONTWRITEBYTECODE"] == ""
    assert (reports / "new-years-eve.log").is_file()
