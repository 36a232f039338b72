"""Acceptance: the bridge killed with SIGKILL mid-call and restarted picks up its calls.

`hotline serve` (today's deployment: the API and the bridge in one process) runs as a
subprocess on the real sandboxed Asterisk. Two real SIPp callers are in the main menu when the
process is killed with SIGKILL. While no bridge runs, the callers' channels stay parked in
AsyncAGI (checked here with CoreShowChannels: what Asterisk does with an AsyncAGI channel whose
AMI connection dropped). A new `hotline serve` adopts both (ivr/recovery.py): each resumes in
the menu node it was in, its prompt played again. Then one caller presses keys and hears an
FAQ answer, the other hangs up; each call is exactly one contact with one ``call_started``, a
complete timeline and the right outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from callcenter.contacts.models import Contact
from callcenter.contacts.services import ContactFilters, ContactService
from ivr.ami.client import AmiClient
from ivr.pbx.sandbox import AsteriskSandbox
from ivr.pbx.sipp import Dtmf, Hangup, Pause, SippResult, SippRunner, Step
from ivr.recovery import RESTART_REASON, LiveChannel, live_channels
from tests.conftest import events_of, kinds
from tests.support import CALL_LIMIT_S, HTTP_TEST_PORT, TEST_PORTS, driver_ami, serve_env

pytestmark = pytest.mark.asterisk

HOTLINE = str(Path(sys.executable).with_name("hotline"))
ALWAYS_OPEN = Path(__file__).parent / "data" / "hours_always_open.yaml"
FAQ_CALLER = "13900001601"
HANGUP_CALLER = "13900001602"
# The main menu's prompt starts about 5.5 s after the answer (the welcome) and lasts 21.4 s,
# with 3 tries (about 80 s): the bridge is killed once both callers are in it, and a new one
# is up well within it. The keys come 60 s after the answer: to the resumed main menu.
KEYS_AT_MS = 60_000
HANGUP_AT_MS = 50_000
OUTAGE_S = 4.0        # how long no bridge runs (at least)
STEPS: dict[str, list[Step]] = {
    # 1 consultation -> 1 VAT -> 1 "since when is the VAT law in force" (tests/test_calls.py)
    FAQ_CALLER: [Pause(KEYS_AT_MS), Dtmf("1"), Dtmf("11", mode="info", gap_ms=1500)],
    HANGUP_CALLER: [Pause(HANGUP_AT_MS), Hangup()],
}


def start_serve(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen([HOTLINE, "serve", "--port", str(HTTP_TEST_PORT)], env=env,
                                stdout=log, stderr=subprocess.STDOUT)


async def healthy(proc: subprocess.Popen[bytes], log_path: Path) -> dict[str, object]:
    """The health report once ``/api/v1/health`` is ok (fails with the log's tail if not
    within 90 s)."""
    base = f"http://127.0.0.1:{HTTP_TEST_PORT}"
    health: dict[str, object] = {}
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(300):
            if proc.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError, ValueError):
                health = (await client.get(f"{base}/api/v1/health")).json()
                if health.get("status") == "ok":
                    return health
            await asyncio.sleep(0.3)
    raise AssertionError((health, tail(log_path)))


def tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-3000:]


@pytest.fixture
async def driver(pbx: AsteriskSandbox) -> AsyncIterator[AmiClient]:
    client = driver_ami(ping_interval=2.0, ping_timeout=6.0, backoff_initial=0.2,
                        backoff_max=2.0)
    await client.start()
    await client.wait_ready(20)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.send_action({"Action": "Command",
                                      "Command": "channel request hangup all"})
        await client.close()


async def channels_of(driver: AmiClient, numbers: set[str]) -> dict[str, LiveChannel]:
    response = await driver.send_action({"Action": "CoreShowChannels"}, as_list=True,
                                        timeout=10)
    live = live_channels(response if isinstance(response, list) else [])
    return {c.caller: c for c in live.values() if c.caller in numbers}


def finish(proc: subprocess.Popen[str]) -> SippResult:
    """Wait for a SIPp caller to end its scenario."""
    out, err = proc.communicate(timeout=CALL_LIMIT_S + 15)
    return SippResult(proc.returncode, out, err)


def contact_of(contacts: ContactService, caller: str) -> Contact | None:
    _total, rows = contacts.search(ContactFilters(caller=caller), 5, 0)
    return contacts.get(rows[0].id) if rows else None


async def until(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        await asyncio.sleep(0.3)


async def test_a_bridge_killed_mid_call_resumes_its_calls_with_one_contact_each(
        pbx: AsteriskSandbox, contacts: ContactService, db_url: str, driver: AmiClient,
        tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    log_path = tmp_path / "serve.log"
    first = start_serve(serve_env(db_url, ALWAYS_OPEN), log_path)
    try:
        await healthy(first, log_path)
        sipp = SippRunner(pbx.root, TEST_PORTS.sip)
        callers = {number: await asyncio.to_thread(
                       sipp.start_call, steps, TEST_PORTS.sip + 20 + n, number, "12366",
                       CALL_LIMIT_S)
                   for n, (number, steps) in enumerate(STEPS.items())}

        def in_main() -> bool:
            found = [contact_of(contacts, number) for number in STEPS]
            return all(c is not None and any(e.kind == "menu_node" and e.data["node"] == "main"
                                             for e in c.events) for c in found)

        await until("both callers in the main menu", in_main, 60)
    finally:
        first.kill()  # SIGKILL: no clean-up of any kind
        await asyncio.to_thread(first.wait)

    # no bridge: Asterisk keeps both channels parked in AsyncAGI (no time limit, no hang-up)
    parked = await channels_of(driver, set(STEPS))
    await asyncio.sleep(OUTAGE_S)
    still = await channels_of(driver, set(STEPS))
    assert set(parked) == set(still) == set(STEPS), (parked, still)
    for number, channel in still.items():
        assert channel.in_agi, channel
        assert channel.uniqueid == parked[number].uniqueid
    record_property("summary", "with no bridge, parked: " + ", ".join(
        f"{c.channel} {c.application}({c.application_data})" for c in still.values()))

    # a new process (its clock runs on from now: the suite's clock, like the first one's)
    second = start_serve(serve_env(db_url, ALWAYS_OPEN), log_path)
    try:
        await healthy(second, log_path)
        results = {number: await asyncio.to_thread(finish, proc)
                   for number, proc in callers.items()}

        def ended() -> bool:
            found = [contact_of(contacts, number) for number in STEPS]
            return all(c is not None and c.ended_at is not None for c in found)

        await until("both contacts ended", ended, 30)
        async with httpx.AsyncClient(timeout=5) as client:
            health = (await client.get(f"http://127.0.0.1:{HTTP_TEST_PORT}/api/v1/health"
                                       )).json()
        adopted = health["checks"]["bridge"]
    finally:
        second.terminate()
        try:
            await asyncio.to_thread(second.wait, 15)
        except subprocess.TimeoutExpired:
            second.kill()
            await asyncio.to_thread(second.wait)

    for number, result in results.items():
        assert result.ok, (number, result.stderr[-800:], tail(log_path))
    assert adopted["adopted"] == 2, adopted

    total, _rows = contacts.search(ContactFilters())
    assert total == 2  # exactly one contact per call
    for number in STEPS:
        c = contact_of(contacts, number)
        assert c is not None
        k = kinds(c)
        assert Counter(k)["call_started"] == 1, k
        assert Counter(k)["call_ended"] == 1, k
        assert k[0] == "call_started", k
        # the call ends last; only the result of the prompt the hang-up cut may come after it
        # (under load Asterisk reported an adopted channel's AGI result after its Hangup)
        after = k[k.index("call_ended") + 1:]
        assert len(after) <= 1, k
        assert set(after) <= {"prompt", "prompt_unheard"}, k
        assert c.reconciled is False  # its hang-up was seen, not inferred
        # resumed once, in the main menu, by the new process
        assert events_of(c, "resumed") == [{"node": "main", "reason": RESTART_REASON}]
        resumed_at = k.index("resumed")
        assert "main" in [e["node"] for e in events_of(c, "menu_node")][:3]
        assert k[resumed_at + 1] == "menu_node"
        assert c.events[resumed_at + 1].data["node"] == "main"
        # one timeline, in order, across both processes
        moments = [e.at for e in c.events]
        assert moments == sorted(moments), [(e.kind, e.at) for e in c.events]
        assert len({e.event_key for e in c.events}) == len(c.events)

    c = contact_of(contacts, FAQ_CALLER)
    assert c is not None
    assert c.outcome == "self_service", kinds(c)
    assert events_of(c, "digits") == [{"node": "main", "digits": "1"},
                                      {"node": "consult", "digits": "1"},
                                      {"node": "cat_vat", "digits": "1"}]
    assert events_of(c, "faq_played")[0]["faq_id"] == "vat.law.effective_date"
    path = [e["node"] for e in events_of(c, "menu_node")]
    assert path[-5:] == ["consult", "cat_vat", "faq_vat_law", "survey", "goodbye"], path
    assert c.hangup_cause == 16

    c = contact_of(contacts, HANGUP_CALLER)
    assert c is not None
    assert c.outcome == "abandoned_ivr", kinds(c)
    assert c.last_node == "main"
    assert "self_service" not in kinds(c)
