"""`python -m tests.clock_runs [pytest args]`: the suite, once per named moment.

Nothing in the suite reads the wall clock: each run sets the suite's clock
(``HOTLINE_TEST_CLOCK``, tests/support.py) to one moment, and the suite must pass at every one:

* ``today``: the moment this command starts (read once, here, from the process clock): the
  whole suite (scope ``full``, tests/conftest.py);
* ``new-years-eve``: 2026-12-31 23:59:30 in Shanghai, so the runs cross into 2027;
* ``spring-festival``: 2026-02-17 10:00, the first day of the Spring Festival holiday;
* ``make-up-saturday``: 2026-02-14 10:00, a Saturday worked in exchange (调休) for it.

Today's run goes first and records which tests read the suite's clock
(tests/plugins/clock_readers.py); the three named moments follow, one after another (side by
side they took about half the time, but three runs' workers on two cores stretched the calls'
timing: a caller hung up in the welcome instead of the menu, AMI connections were lost).

Those three run scope ``clock`` (tests/plugins/scope.py): every fast test that reads the
suite's clock, on both databases, and the calls marked ``every_clock`` (a call through the real
Asterisk takes a minute or more of real time: the whole suite four times would not fit CI's 90
minutes on two cores). ``HOTLINE_TEST_SCOPE`` overrides the scope of every run.

A run that fails is given one second chance, for its real-time tests only (marks ``asterisk``,
``browser``, ``kannel``: calls, pages and texts timed in real time, beside seven other
workers on two cores): those of its failed tests are run again, two workers, no others
running. The run passes only if every failed test is among them and passes again; each one
that did is printed as FLAKY and listed in var/test-reports/NAME-flaky.txt, to be looked
into (one such, a call card left at 振铃, was an ordering bug). A failed unit test, or a
real-time test that fails twice, fails the run.

``HOTLINE_TEST_CLOCKS=today,spring-festival`` runs a subset; ``HOTLINE_TEST_WORKERS`` sets the
pytest-xdist workers of each run (default 8: the call tests mostly wait on real-time audio,
so the two cores are far from busy; each worker has its own Asterisk, databases and ports).
Every run is named in the log, with its result and duration; each writes its JUnit report to
var/test-reports/NAME.xml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

from callcenter.settings import PROJECT_ROOT
from ivr.clock import system_clock
from tests.plugins.clock_readers import READERS_ENV, RECORD_ENV

SHANGHAI = timezone(timedelta(hours=8))
REPORTS_DIR = PROJECT_ROOT / "var" / "test-reports"


def readers_dir() -> Path:
    """Where today's run records the clock's readers (read at each call: the unit tests of
    this module point ``REPORTS_DIR`` at a folder of their own, and must not clear the real
    record, as they did while this was a constant: the two runs after new-years-eve's then ran
    without it, on the wider guess from the source)."""
    return REPORTS_DIR / "clock-readers"


MOMENTS: dict[str, datetime | None] = {
    "today": None,
    "new-years-eve": datetime(2026, 12, 31, 23, 59, 30, tzinfo=SHANGHAI),
    "spring-festival": datetime(2026, 2, 17, 10, 0, tzinfo=SHANGHAI),
    "make-up-saturday": datetime(2026, 2, 14, 10, 0, tzinfo=SHANGHAI),
}


def selected(names: str) -> list[str]:
    chosen = [n.strip() for n in names.split(",") if n.strip()] or list(MOMENTS)
    unknown = [n for n in chosen if n not in MOMENTS]
    if unknown:
        raise SystemExit(f"unknown clock run(s) {unknown}; choose from {list(MOMENTS)}")
    return chosen


REAL_TIME_MARKS = "asterisk or browser or kannel"
MAX_RERUNS = 10  # more failures than this is not load: no second chance
RERUN_WORKERS = "2"


def node_id(classname: str, name: str) -> str:
    """The pytest node id of a JUnit test case (``tests.a.test_b.TestC`` + ``test_d[x]``)."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        path = Path(*parts[:cut]).with_suffix(".py")
        if (PROJECT_ROOT / path).is_file():
            return "::".join([path.as_posix(), *parts[cut:], name])
    return f"{classname}::{name}"


def outcomes(report: Path) -> dict[str, bool]:
    """Node id -> passed, for every test case a JUnit report names (skipped ones left out)."""
    if not report.is_file():
        return {}
    result: dict[str, bool] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        if "skipped" in tags:
            continue
        node = node_id(case.get("classname", ""), case.get("name", ""))
        result[node] = result.get(node, True) and not tags & {"failure", "error"}
    return result


def second_chance(name: str, env: dict[str, str], failed: list[str]) -> list[str]:
    """Run the real-time ones of ``failed`` again; the node ids that passed this time (the
    run passes when that is all of ``failed``)."""
    report = REPORTS_DIR / f"{name}-rerun.xml"
    report.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider",
               f"--junitxml={report}", "-m", REAL_TIME_MARKS, "-n", RERUN_WORKERS, *failed]
    print(f"\n== {name}: {len(failed)} failed test(s) run again (real-time ones only, "
          f"{RERUN_WORKERS} workers)", flush=True)
    subprocess.run(command, env=env, check=False)
    again = outcomes(report)
    passed = [node for node in failed if again.get(node) is True]
    if passed:
        (REPORTS_DIR / f"{name}-flaky.txt").write_text("".join(f"{n}\n" for n in passed))
        for node in passed:
            print(f"   FLAKY (failed under load, passed alone): {node}", flush=True)
    return passed


def run_once(name: str, moment: str, scope: str, workers: str, args: list[str]) -> int:
    """One pytest run of the suite at ``moment``; its exit code (0 as well when every test
    that failed was a real-time one that passed its second chance)."""
    (REPORTS_DIR / f"{name}-flaky.txt").unlink(missing_ok=True)
    env = {**os.environ, "HOTLINE_TEST_CLOCK": moment, "HOTLINE_TEST_CLOCK_RUN": name,
           "HOTLINE_TEST_SCOPE": scope}
    env.pop(RECORD_ENV, None)  # only today's run records (not one started inside it)
    env.pop(READERS_ENV, None)
    readers = readers_dir()
    if scope == "full":  # record which tests read the clock, for the runs after it
        shutil.rmtree(readers, ignore_errors=True)
        env[RECORD_ENV] = str(readers)
    elif readers.is_dir():
        env[READERS_ENV] = str(readers)
    command = [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider",
               "--durations=15", f"--junitxml={REPORTS_DIR / name}.xml"]
    if workers not in ("", "0"):
        # two tests at a time to each worker: xdist's default first hands each worker a run
        # of consecutive tests (a 32nd of the suite), so the call tests, sorted first, all
        # went to the first worker, one after the other
        command += ["-n", workers, "--maxschedchunk", "2"]
    code = subprocess.run([*command, *args], env=env, check=False).returncode
    if code != 1:  # passed, or not a test failure (usage, interrupted, collection)
        return code
    failed = [node for node, ok in outcomes(REPORTS_DIR / f"{name}.xml").items() if not ok]
    if not failed or len(failed) > MAX_RERUNS:
        return code
    env.pop(RECORD_ENV, None)  # the full run has recorded the clock's readers
    return 0 if len(second_chance(name, env, failed)) == len(failed) else code


def main(args: list[str]) -> int:
    workers = os.environ.get("HOTLINE_TEST_WORKERS", "8")
    today = system_clock().astimezone(SHANGHAI).replace(microsecond=0)
    forced = os.environ.get("HOTLINE_TEST_SCOPE")
    # today's run first (in MOMENTS' order): it records which tests read the clock
    results: list[tuple[str, str, int, float]] = []
    began = time.monotonic()
    for name in selected(os.environ.get("HOTLINE_TEST_CLOCKS", "")):
        moment = (MOMENTS[name] or today).isoformat()
        scope = forced or ("full" if name == "today" else "clock")
        print(f"\n== clock run {name!r}: the suite at {moment} (scope {scope}, "
              f"{(time.monotonic() - began) / 60:.1f} min into the runs)", flush=True)
        started = time.monotonic()
        code = run_once(name, moment, scope, workers, args)
        results.append((f"{name} ({scope})", moment, code, time.monotonic() - started))
    print(f"\n== clock runs ({(time.monotonic() - began) / 60:.1f} min in all)")
    for label, moment, code, seconds in results:
        verdict = "passed" if code == 0 else f"FAILED (pytest exit {code})"
        flaky = REPORTS_DIR / f"{label.split()[0]}-flaky.txt"
        if code == 0 and flaky.is_file():
            verdict += f" ({len(flaky.read_text().split())} FLAKY: {flaky.name})"
        print(f"   {label:<25} {moment}  {verdict} in {seconds / 60:.1f} min")
    return 0 if all(code == 0 for _l, _m, code, _s in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
