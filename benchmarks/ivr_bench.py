"""N concurrent SIPp callers walking the 12366 menu through the real Asterisk and the bridge.

For N = 20, 50, 100 (``--calls``): one SIPp instance places N calls at once (``--rate`` calls
per second); each caller waits for the menu, presses 1 (consultation), 2 (personal income
tax), 1 (an FAQ) as SIP INFO, listens to the start of the answer, presses 2 (another
question: the answer counts as heard) and hangs up. Printed:

* the bridge's added latency per key: from the moment the bridge has the key (its DTMFEnd
  event; for a key that stopped a prompt, the AsyncAGIExec of that STREAM FILE) to the next
  AGI command the bridge sends on that channel, p50 and p99 (in-process clock);
* CPU seconds of the bridge process (AMI, menu sessions, contact log on SQLite) per call;
* calls whose contact ended as ``self_service`` (all of them, when nothing was lost).

Runs its own sandboxed Asterisk on ``HOTLINE_BENCH_PORT_BASE`` (default 25000; ports base+38,
base+60, RTP base+100..base+499) so it never meets `make run` or a test run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from callcenter.contacts.models import Outcome
from callcenter.contacts.services import ContactFilters, ContactLog, ContactService
from callcenter.db import Database
from callcenter.migrate import upgrade
from callcenter.runtime import load_shared
from callcenter.selfservice.services import build_ivr_services, seed_demo
from callcenter.settings import PROJECT_ROOT, Settings
from ivr.ami.client import AmiClient
from ivr.bridge import IvrBridge
from ivr.calendar import ServiceCalendar
from ivr.clock import RunningClock
from ivr.menu.loader import load_menu
from ivr.pbx.sandbox import AsteriskSandbox, PbxPorts, host_support
from ivr.pbx.sipp import Dtmf, Hangup, Pause, SippRunner, Step, caller_scenario
from knowledge_base import KnowledgeBase

OPEN_TIME = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Shanghai: agents in
BASE = int(os.environ.get("HOTLINE_BENCH_PORT_BASE", "25000"))
PORTS = PbxPorts(ami=BASE + 38, sip=BASE + 60, rtp_start=BASE + 100, rtp_end=BASE + 499)
WALK: list[Step] = [
    Pause(7000), Dtmf("1", mode="info", gap_ms=1500), Dtmf("2", mode="info", gap_ms=1500),
    Dtmf("1", mode="info", gap_ms=3000), Dtmf("2", mode="info", gap_ms=1000), Hangup(),
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run_round(sandbox: AsteriskSandbox, db_url: str, n: int, rate: int) -> dict[str, float]:
    db = Database(db_url)
    contacts = ContactService(db)
    settings = Settings(recordings_dir=sandbox.recordings_dir, vosk_model_path=None)
    clock = RunningClock(OPEN_TIME)
    # the calendar and the ticket service as the app builds them (the knowledge base below)
    shared = load_shared(settings.model_copy(update={"kb_enabled": False}), db, clock)
    assert isinstance(shared.calendar, ServiceCalendar)
    assert shared.tickets is not None
    services = build_ivr_services(
        settings, db, clock, calendar=shared.calendar, tickets=shared.tickets,
        kb=KnowledgeBase.load(settings.kb_data_dir, cache_dir=settings.kb_cache_dir))
    menu = load_menu(PROJECT_ROOT / "ivr" / "menus" / "12366.yaml")
    ami = AmiClient("127.0.0.1", PORTS.ami, sandbox.credentials.ami_user,
                    sandbox.credentials.ami_secret)
    log = ContactLog(contacts)
    bridge = IvrBridge(ami, lambda: menu, log, services=services)
    bridge.agi.turnarounds = []
    log.start()
    await ami.start()
    await ami.wait_ready(20)
    runner = SippRunner(sandbox.root, PORTS.sip)
    scenario = runner._write(caller_scenario(WALK, "13600000000"), "bench")
    cmd = runner._command(scenario, PORTS.caller, [
        "-s", "12366", "-m", str(n), "-l", str(n), "-r", str(rate), "-timeout", "240s",
        "-timeout_error"])
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _out, err = await proc.communicate()
    await asyncio.sleep(2.0)
    await log.flush()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    await ami.close()
    await log.close()
    total, _rows = contacts.search(ContactFilters(), limit=1)
    self_served, _rows = contacts.search(ContactFilters(outcome=Outcome.SELF_SERVICE), limit=1)
    db.dispose()
    if proc.returncode != 0:
        print(f"  SIPp exit {proc.returncode}: {err.decode(errors='replace')[-300:]}",
              file=sys.stderr)
    turnarounds = [t * 1000 for t in bridge.agi.turnarounds]
    return {"calls": n, "contacts": total, "self_service": self_served,
            "keys": len(turnarounds),
            "p50_ms": statistics.median(turnarounds) if turnarounds else float("nan"),
            "p99_ms": percentile(turnarounds, 99), "max_ms": max(turnarounds, default=0.0),
            "cpu_s_per_call": cpu / n, "wall_s": wall}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="20,50,100")
    parser.add_argument("--rate", type=int, default=20, help="new calls per second")
    args = parser.parse_args()
    reason = host_support()
    if reason:
        print(f"ivr_bench: skipped: {reason}")
        return 0
    state = PROJECT_ROOT / "var" / f"pbx-bench-{BASE}"
    sandbox = AsteriskSandbox(state, PROJECT_ROOT / "sounds" / "zh",
                              PROJECT_ROOT / "var" / f"recordings-bench-{BASE}", ports=PORTS)
    sandbox.start()
    try:
        print("N calls | keys | added latency p50 | p99 | max | bridge CPU s/call | "
              "self_service contacts | wall s")
        for n in (int(x) for x in args.calls.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{Path(tmp) / 'bench.db'}"
                upgrade(url)
                seed_db = Database(url)
                seed_demo(seed_db, ServiceCalendar.load(), RunningClock(OPEN_TIME))
                seed_db.dispose()
                r = await run_round(sandbox, url, n, args.rate)
            print(f"{n} | {r['keys']:.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | "
                  f"{r['max_ms']:.2f} ms | {r['cpu_s_per_call']:.4f} | "
                  f"{r['self_service']:.0f}/{n} | {r['wall_s']:.1f}", flush=True)
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
