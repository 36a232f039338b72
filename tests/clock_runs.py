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
from datetime import datetime, timedelta, timezone

from callcenter.settings import PROJECT_ROOT
from ivr.clock import system_clock
from tests.plugins.clock_readers import READERS_ENV, RECORD_ENV

SHANGHAI = timezone(timedelta(hours=8))
REPORTS_DIR = PROJECT_ROOT / "var" / "test-reports"
READERS_DIR = REPORTS_DIR / "clock-readers"
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


def run_once(name: str, moment: str, scope: str, workers: str, args: list[str]) -> int:
    """One pytest run of the suite at ``moment``; its exit code."""
    env = {**os.environ, "HOTLINE_TEST_CLOCK": moment, "HOTLINE_TEST_CLOCK_RUN": name,
           "HOTLINE_TEST_SCOPE": scope}
    if scope == "full":  # record which tests read the clock, for the runs after it
        shutil.rmtree(READERS_DIR, ignore_errors=True)
        env[RECORD_ENV] = str(READERS_DIR)
    elif READERS_DIR.is_dir():
        env[READERS_ENV] = str(READERS_DIR)
    command = [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider",
               "--durations=15", f"--junitxml={REPORTS_DIR / name}.xml"]
    if workers not in ("", "0"):
        # two tests at a time to each worker: xdist's default first hands each worker a run
        # of consecutive tests (a 32nd of the suite), so the call tests, sorted first, all
        # went to the first worker, one after the other
        command += ["-n", workers, "--maxschedchunk", "2"]
    return subprocess.run([*command, *args], env=env, check=False).returncode


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
        print(f"   {label:<25} {moment}  {verdict} in {seconds / 60:.1f} min")
    return 0 if all(code == 0 for _l, _m, code, _s in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
