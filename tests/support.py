"""Shared test infrastructure: the test sandbox's ports and paths, database URLs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from callcenter.settings import PROJECT_ROOT
from ivr.ami.client import AmiClient
from ivr.clock import RunningClock
from ivr.pbx.sandbox import AsteriskSandbox, PbxCredentials, PbxPorts, host_support

# -- the suite's clock ----------------------------------------------------------------------
# Nothing in the suite reads the wall clock. The suite runs as if it were SUITE_START (the
# environment's HOTLINE_TEST_CLOCK, ISO 8601 with an offset; `make test` runs the whole suite
# at several moments, see tests/clock_runs.py) and SUITE_CLOCK runs on from there. A test that
# needs a particular moment (agents in, a holiday...) pins its own clock.
DEFAULT_SUITE_START = "2026-12-01T10:00:00+08:00"


def _suite_start() -> datetime:
    raw = os.environ.get("HOTLINE_TEST_CLOCK", "") or DEFAULT_SUITE_START
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise SystemExit(f"HOTLINE_TEST_CLOCK={raw!r}: not an ISO 8601 moment") from exc
    if moment.tzinfo is None:
        raise SystemExit(f"HOTLINE_TEST_CLOCK={raw!r}: give an offset, e.g. +08:00")
    return moment


SUITE_START = _suite_start()
SUITE_CLOCK = RunningClock(SUITE_START)


def suite_start() -> datetime:
    """The suite's moment (SUITE_START), read through its clock: a helper that computes from
    the moment calls this rather than naming the constant, so that today's run records the
    tests that depend on it (tests/plugins/clock_readers.py sees clock reads, not constants)."""
    SUITE_CLOCK()
    return SUITE_START


# The named moments `make test` runs the suite at besides today (tests/clock_runs.py); the
# calls that must work at each of them pin it themselves (the ``suite_moment`` fixture).
SHANGHAI = timezone(timedelta(hours=8))
NAMED_MOMENTS: dict[str, datetime] = {
    # the runs cross into 2027
    "new-years-eve": datetime(2026, 12, 31, 23, 59, 30, tzinfo=SHANGHAI),
    # the first day of the Spring Festival holiday
    "spring-festival": datetime(2026, 2, 17, 10, 0, tzinfo=SHANGHAI),
    # a Saturday worked in exchange (调休) for it
    "make-up-saturday": datetime(2026, 2, 14, 10, 0, tzinfo=SHANGHAI),
}

# Tests run their own Asterisk on ports apart from `make run`'s (5038/5060). Two test runs on one
# machine (e.g. two checkouts) keep apart by giving each its own HOTLINE_TEST_PORT_BASE; each
# pytest-xdist worker (gw0, gw1...) of a run has its own Asterisk, database and ports, 1000 apart.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
WORKER_INDEX = int(WORKER[2:]) if WORKER.startswith("gw") and WORKER[2:].isdigit() else 0
PORT_BASE = int(os.environ.get("HOTLINE_TEST_PORT_BASE", "15000")) + 1000 * WORKER_INDEX
TEST_PORTS = PbxPorts(ami=PORT_BASE + 38, sip=PORT_BASE + 60, rtp_start=PORT_BASE + 100,
                      rtp_end=PORT_BASE + 299)
HTTP_TEST_PORT = PORT_BASE + 366
# the longest a SIPp caller of a test may stay on the line: a silent caller walks the main menu
# (a 22 s prompt) three times, and a loaded machine stretches every step
CALL_LIMIT_S = 300
# the longest `hotline serve` may take to say it is healthy (migrations, the knowledge base):
# about 20 s alone, over 60 s once in CI beside seven other workers
SERVE_START_S = 180
TEST_STATE_DIR = PROJECT_ROOT / "var" / f"pbx-test-{PORT_BASE}"
RECORDINGS_DIR = PROJECT_ROOT / "var" / f"recordings-test-{PORT_BASE}"
SOUNDS_DIR = PROJECT_ROOT / "sounds" / "zh"
REDIS_URL = "redis://127.0.0.1:6379/0"  # the shared Redis; each test its own key prefix
PG_ADMIN_URL = os.environ.get(
    "HOTLINE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def serve_env(db_url: str, hours_file: Path, **extra: str) -> dict[str, str]:
    """Environment of a `hotline serve` subprocess wired to the test sandbox."""
    return {
        **os.environ,
        "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_AMI_PORT": str(TEST_PORTS.ami),
        "HOTLINE_PBX_SIP_PORT": str(TEST_PORTS.sip),
        "HOTLINE_PBX_RTP_START": str(TEST_PORTS.rtp_start),
        "HOTLINE_PBX_RTP_END": str(TEST_PORTS.rtp_end),
        "HOTLINE_PBX_STATE_DIR": str(TEST_STATE_DIR),
        "HOTLINE_RECORDINGS_DIR": str(RECORDINGS_DIR),
        "HOTLINE_HOURS_FILE": str(hours_file),
        "HOTLINE_CLOCK_START": SUITE_CLOCK().isoformat(),  # the server runs on the suite's clock
        # no survey texts to a gateway that is not there (the SMS survey test turns them on)
        "HOTLINE_SMS_SURVEY_ENABLED": "false",
        **extra,
    }


def _health_ok(health: dict[str, object]) -> bool:
    return health.get("status") == "ok"


@contextlib.contextmanager
def serving(env: dict[str, str], port: int, log_path: Path,
            ready: Callable[[dict[str, object]], bool] = _health_ok) -> Iterator[str]:
    """`hotline serve` on ``port`` with ``env``, its output in ``log_path``: yields its base URL
    once ``/api/v1/health`` says ok (or what ``ready`` accepts; fails with the log's tail if
    not within ``SERVE_START_S``) and stops the process on exit."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("hotline")), "serve",
                                 "--port", str(port)], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVE_START_S
        health: dict[str, object] = {}
        # one client for the polls: each `httpx.get` builds a TLS context, 19 ms of CPU
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    health = client.get(f"{base}/api/v1/health").json()
                    if ready(health):
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.3)
        assert ready(health), (health, log_path.read_text(errors="replace")[-3000:])
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_kannel() -> None:
    """Skip without Kannel, saying why; with ``CI=true`` fail instead."""
    import pytest

    from callcenter.sms.gateway import host_support

    reason = host_support()
    if reason:
        if in_ci():
            pytest.fail(f"Kannel is required in CI but unavailable: {reason}", pytrace=False)
        pytest.skip(f"Kannel unavailable: {reason}")


def pbx_call(env: dict[str, str], http_port: int, digits: str, number: str) -> dict[str, Any]:
    """`hotline pbx call 12366 --digits D --number N` against the `hotline serve` on
    ``http_port``: a scripted SIPp caller; the resulting contact as the command prints it."""
    import json

    call = subprocess.run(
        [str(Path(sys.executable).with_name("hotline")), "pbx", "call", "12366", "--digits",
         digits, "--number", number, "--http-port", str(http_port)],
        env=env, capture_output=True, text=True, timeout=CALL_LIMIT_S, check=False)
    assert call.returncode == 0, call.stderr[-3000:]
    contact: dict[str, Any] = json.loads(call.stdout)
    return contact


@contextlib.contextmanager
def kannel_for_serve(directory: Path, db_url: str, http_port: int, sms_port_base: int,
                     **extra: str) -> Iterator[tuple[Any, dict[str, str]]]:
    """The real Kannel and its simulated SMSC for a `hotline serve` on ``http_port``: yields
    the gateway (``KannelGateway``) and the serve environment (``serve_env`` with the SMS
    settings and ``extra``); stops Kannel on exit. Skips where Kannel cannot run (fails in
    CI)."""
    import pytest

    from callcenter.settings import Settings
    from callcenter.sms.gateway import GatewayError, KannelGateway, SmsPorts

    require_kannel()
    defaults = Settings()
    kannel = KannelGateway(directory / "kannel", SmsPorts(sms_port_base),
                           app_url=f"http://127.0.0.1:{http_port}",
                           key=defaults.sms_gateway_key,
                           sendsms_password=defaults.sms_sendsms_password)
    env = serve_env(db_url, Path(__file__).parent / "data" / "hours_always_open.yaml",
                    HOTLINE_SMS_PORT_BASE=str(kannel.ports.base),
                    HOTLINE_SMS_STATE_DIR=str(kannel.state_dir),
                    HOTLINE_SMS_APP_URL=kannel.app_url,
                    HOTLINE_SMS_WORKER_INTERVAL_S="0.2", **extra)
    try:
        try:
            kannel.start()
        except GatewayError as exc:
            pytest.fail(f"the Kannel gateway did not start: {exc}", pytrace=False)
        yield kannel, env
    finally:
        kannel.stop()


# the bridge logs in with the production account (only the rights it uses); tests place and
# hang up calls with a driver account that exists only in the test sandbox
TEST_CREDENTIALS = PbxCredentials(driver_user="test-driver", driver_secret="test-driver-12366")


def make_test_sandbox() -> AsteriskSandbox:
    # 120 s to boot: with three clock runs' workers busy on two cores, a boot took over 30 s
    return AsteriskSandbox(TEST_STATE_DIR, SOUNDS_DIR, RECORDINGS_DIR, ports=TEST_PORTS,
                           credentials=TEST_CREDENTIALS, boot_timeout=120.0)


def driver_ami(**options: Any) -> AmiClient:
    """An AMI client on the test sandbox's driver account (Originate, Command)."""
    assert TEST_CREDENTIALS.driver_user is not None
    return AmiClient("127.0.0.1", TEST_PORTS.ami, TEST_CREDENTIALS.driver_user,
                     TEST_CREDENTIALS.driver_secret, **options)


def sandbox_unsupported() -> str | None:
    return host_support()


def create_pg_database() -> tuple[str, str]:
    """Create a fresh PostgreSQL database; returns (url, name)."""
    name = f"hotline_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", name


def drop_pg_database(name: str) -> None:
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'hotline-test.db'}"


@contextlib.contextmanager
def serving_app(app: Any, port: int, start_timeout_s: float = 180) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on 127.0.0.1:``port``; yields its base URL
    (for the browser tests)."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


# a knowledge base of one entry (faq.yaml), for tests of what serves it rather than of answers
ONE_ENTRY_FAQ = """
- id: t.vat.rates
  category: 增值税
  question: 增值税的税率有哪几档？
  similar: [增值税税率是多少]
  keywords: [增值税, 税率]
  answer: 增值税税率分为13%、9%、6%三档，另有零税率。
  effective_from: 2019-04-01
  effective_to: null
  source: 增值税法
"""
