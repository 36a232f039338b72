"""`python -m tests.clock_runs [pytest args]`: the suite, once per named moment.

Nothing in the suite reads the wall clock: each run sets the suite's clock
(``HOTLINE_TEST_CLOCK``, tests/support.py) to one moment, and the suite must pass at every one:

* ``today``: the moment this command starts (read once, here, from the process clock): the
  whole suite (scope ``full``, tests/conftest.py);
* ``new-years-eve``: 2026-12-31 23:59:30 in Shanghai, so the runs cross into 2027;
* ``spring-festival``: 2026-02-17 10:00, the first day of the Spring Festival holiday;
* ``make-up-saturday``: 2026-02-14 10:00, a Saturday worked in exchange (调休) for it.

Today's run goes first and records which tests read the suite's clock
(tests/plugins/clock_readers.py); the three named moments follow, one after another.
``HOTLINE_TEST_CLOCKS_TOGETHER=1`` runs those three together instead, each with
``HOTLINE_TEST_CLOCK_WORKERS`` workers (default 3) and a port base of its own (10,000 apart),
their output in var/test-reports/NAME.log, printed when the run ends (all of it when it failed):
about half the time, but the three runs' workers on two cores stretched the calls' timing
(a caller hung up in the welcome instead of the menu; AMI connections lost), so `make test`
does not use it.

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
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from callcenter.settings import PROJECT_ROOT
from ivr.clock import system_clock
from tests.plugins.clock_readers import READERS_ENV, RECORD_ENV

SHANGHAI = timezone(timedelta(hours=8))
REPORTS_DIR = PROJECT_ROOT / "var" / "test-reports"
READERS_DIR = REPORTS_DIR / "clock-readers"
# the port base of each run that goes alongside others (a worker takes 1,000 ports above it)
PORT_STRIDE = 10_000
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


@dataclass
class Run:
    name: str
    moment: str
    scope: str
    workers: str
    port_base: int
    log: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    seconds: float = 0.0
    code: int = -1


def _start(run: Run, args: list[str]) -> None:
    env = {**os.environ, "HOTLINE_TEST_CLOCK": run.moment, "HOTLINE_TEST_CLOCK_RUN": run.name,
           "HOTLINE_TEST_SCOPE": run.scope, "HOTLINE_TEST_PORT_BASE": str(run.port_base)}
    if run.scope == "full":  # record which tests read the clock, for the runs after it
        shutil.rmtree(READERS_DIR, ignore_errors=True)
        env[RECORD_ENV] = str(READERS_DIR)
    elif READERS_DIR.is_dir():
        env[READERS_ENV] = str(READERS_DIR)
    command = [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider",
               "--durations=15", f"--junitxml={REPORTS_DIR / run.name}.xml"]
    if run.workers not in ("", "0"):
        # two tests at a time to each worker: xdist's default first hands each worker a run
        # of consecutive tests (a 32nd of the suite), so the call tests, sorted first, all
        # went to the first worker, one after the other
        command += ["-n", run.workers, "--maxschedchunk", "2"]
    output = None
    if run.log is not None:
        run.log.parent.mkdir(parents=True, exist_ok=True)
        output = run.log.open("wb")
    run.started = time.monotonic()
    run.process = subprocess.Popen([*command, *args], env=env, stdout=output,
                                   stderr=subprocess.STDOUT if output else None)
    if output is not None:
        output.close()


def _wait(run: Run) -> None:
    assert run.process is not None
    run.code = run.process.wait()
    run.seconds = time.monotonic() - run.started
    if run.log is not None:
        lines = run.log.read_text(encoding="utf-8", errors="replace").splitlines()
        shown = lines if run.code != 0 else lines[-25:]
        print(f"\n== clock run {run.name!r} ({run.log.relative_to(PROJECT_ROOT)}"
              f"{'' if run.code != 0 else ', its last lines'}):")
        print("\n".join(shown), flush=True)


def main(args: list[str]) -> int:
    workers = os.environ.get("HOTLINE_TEST_WORKERS", "8")
    together_workers = os.environ.get("HOTLINE_TEST_CLOCK_WORKERS", "3")
    base = int(os.environ.get("HOTLINE_TEST_PORT_BASE", "15000"))
    today = system_clock().astimezone(SHANGHAI).replace(microsecond=0)
    forced = os.environ.get("HOTLINE_TEST_SCOPE")
    runs: list[Run] = []
    for name in selected(os.environ.get("HOTLINE_TEST_CLOCKS", "")):
        scope = forced or ("full" if name == "today" else "clock")
        runs.append(Run(name, (MOMENTS[name] or today).isoformat(), scope, workers, base))
    began = time.monotonic()
    # today's run first: it records which tests read the clock. The runs at the other moments
    # follow one after another, or together with HOTLINE_TEST_CLOCKS_TOGETHER=1, each with
    # HOTLINE_TEST_CLOCK_WORKERS workers and ports of its own (faster, but three runs' workers
    # on two cores stretch the calls' timing: not the default)
    first = [r for r in runs if r.scope == "full"]
    later = [r for r in runs if r.scope != "full"]
    together = os.environ.get("HOTLINE_TEST_CLOCKS_TOGETHER", "") == "1" and len(later) > 1
    for run in first + ([] if together else later):
        print(f"\n== clock run {run.name!r}: the suite at {run.moment} (scope {run.scope}, "
              f"{(time.monotonic() - began) / 60:.1f} min into the runs)", flush=True)
        _start(run, args)
        _wait(run)
    if together:
        for k, run in enumerate(later, start=1):
            run.workers = together_workers
            run.port_base = base + PORT_STRIDE * k
            run.log = REPORTS_DIR / f"{run.name}.log"
        print(f"\n== clock runs {[r.name for r in later]} together "
              f"({(time.monotonic() - began) / 60:.1f} min into the runs), "
              f"{together_workers} workers each", flush=True)
        for run in later:
            _start(run, args)
        for run in later:
            _wait(run)
    print(f"\n== clock runs ({(time.monotonic() - began) / 60:.1f} min in all)")
    for run in runs:
        verdict = "passed" if run.code == 0 else f"FAILED (pytest exit {run.code})"
        print(f"   {run.name + ' (' + run.scope + ')':<25} {run.moment}  {verdict} "
              f"in {run.seconds / 60:.1f} min")
    return 0 if all(run.code == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
